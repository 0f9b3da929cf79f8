"""Rate limiters: how long to wait before an item is retried.

``RateLimiterLike`` is the protocol a work queue accepts; the built-in limiters
subclass ``RateLimiter``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastinformer._compat import core
from fastinformer._py_ratelimit import RateLimiterLike

if TYPE_CHECKING:
    from fastinformer._core_py import (
        BucketRateLimiter,
        ItemExponentialFailureRateLimiter,
        ItemFastSlowRateLimiter,
        MaxOfRateLimiter,
        RateLimiter,
        default_controller_rate_limiter,
    )
else:
    BucketRateLimiter = core.BucketRateLimiter
    ItemExponentialFailureRateLimiter = core.ItemExponentialFailureRateLimiter
    ItemFastSlowRateLimiter = core.ItemFastSlowRateLimiter
    MaxOfRateLimiter = core.MaxOfRateLimiter
    RateLimiter = core.RateLimiter
    default_controller_rate_limiter = core.default_controller_rate_limiter

__all__ = [
    "BucketRateLimiter",
    "ItemExponentialFailureRateLimiter",
    "ItemFastSlowRateLimiter",
    "MaxOfRateLimiter",
    "RateLimiter",
    "RateLimiterLike",
    "default_controller_rate_limiter",
]
