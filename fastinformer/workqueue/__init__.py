"""Rate-limited work queues with client-go's ``util/workqueue`` semantics.

Typical controller loop::

    queue = RateLimitingQueue(name="pods")
    key, shutdown = queue.get()
    try:
        reconcile(key)
        queue.forget(key)
    except Exception:
        queue.add_rate_limited(key)
    finally:
        queue.done(key)
"""

from __future__ import annotations

from fastinformer.workqueue.delaying import DelayingQueue
from fastinformer.workqueue.metrics import (
    InMemoryMetricsProvider,
    MetricsProvider,
    NoopMetricsProvider,
    set_default_provider,
)
from fastinformer.workqueue.queue import Queue
from fastinformer.workqueue.rate_limiters import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter,
    MaxOfRateLimiter,
    RateLimiter,
    RateLimiterLike,
    default_controller_rate_limiter,
)
from fastinformer.workqueue.rate_limiting import RateLimitingQueue

__all__ = [
    "BucketRateLimiter",
    "DelayingQueue",
    "InMemoryMetricsProvider",
    "ItemExponentialFailureRateLimiter",
    "ItemFastSlowRateLimiter",
    "MaxOfRateLimiter",
    "MetricsProvider",
    "NoopMetricsProvider",
    "Queue",
    "RateLimiter",
    "RateLimiterLike",
    "RateLimitingQueue",
    "default_controller_rate_limiter",
    "set_default_provider",
]
