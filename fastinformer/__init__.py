"""fastinformer: Kubernetes informers for Python with a native core.

Public names are re-exported here and imported on first use, so ``import fastinformer``
stays cheap; the simulator (``fastinformer.sim``) is imported only when asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from fastinformer._compat import IS_ACCELERATED
from fastinformer.keys import (
    DeletedFinalStateUnknown,
    meta_namespace_key,
    split_meta_namespace_key,
)

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    # engine
    "SharedIndexInformer": "fastinformer.informer",
    "HandlerRegistration": "fastinformer.informer",
    "SharedInformerFactory": "fastinformer.factory",
    "Lister": "fastinformer.listers",
    "NamespaceLister": "fastinformer.listers",
    "Reflector": "fastinformer.reflector",
    "Backoff": "fastinformer.backoff",
    "ListWatch": "fastinformer.listwatch",
    "Transport": "fastinformer.transport",
    "TransportError": "fastinformer.transport",
    "TLSError": "fastinformer.transport",
    "Resource": "fastinformer.resources",
    "resource_for": "fastinformer.resources",
    "ListOptions": "fastinformer.protocol",
    "WatchEvent": "fastinformer.protocol",
    "decoder_for": "fastinformer.decode",
    "gc_paused": "fastinformer.decode",
    # core
    "Indexer": "fastinformer.store",
    "ThreadSafeStore": "fastinformer.store",
    "NAMESPACE_INDEX": "fastinformer.store",
    "namespace_index_func": "fastinformer.store",
    "label_index_func": "fastinformer.store",
    "node_name_index_func": "fastinformer.store",
    "DeltaFIFO": "fastinformer.delta_fifo",
    "Delta": "fastinformer.delta_fifo",
    "DeltaType": "fastinformer.delta_fifo",
    "Queue": "fastinformer.workqueue",
    "DelayingQueue": "fastinformer.workqueue",
    "RateLimitingQueue": "fastinformer.workqueue",
    "RateLimiter": "fastinformer.workqueue",
    "ItemExponentialFailureRateLimiter": "fastinformer.workqueue",
    "ItemFastSlowRateLimiter": "fastinformer.workqueue",
    "BucketRateLimiter": "fastinformer.workqueue",
    "MaxOfRateLimiter": "fastinformer.workqueue",
    "default_controller_rate_limiter": "fastinformer.workqueue",
    # selectors
    "parse_label_selector": "fastinformer.selectors",
    "parse_field_selector": "fastinformer.selectors",
    "LabelSelector": "fastinformer.selectors",
    "FieldSelector": "fastinformer.selectors",
    "SelectorError": "fastinformer.selectors",
    "label_selector_from_dict": "fastinformer.selectors",
    "label_selector_from_match_labels": "fastinformer.selectors",
    # controllers
    "Controller": "fastinformer.controller",
    "Result": "fastinformer.controller",
    "LeaderElector": "fastinformer.leaderelection",
    "LeaseLock": "fastinformer.leaderelection",
    "AsyncInformer": "fastinformer.aio",
    "AsyncController": "fastinformer.aio",
    "enable_prometheus_metrics": "fastinformer.metrics",
    "serve_health": "fastinformer.health",
    # time
    "FakeClock": "fastinformer.clock",
    "REAL_CLOCK": "fastinformer.clock",
}

if TYPE_CHECKING:
    from fastinformer.aio import AsyncController, AsyncInformer
    from fastinformer.backoff import Backoff
    from fastinformer.clock import REAL_CLOCK, FakeClock
    from fastinformer.controller import Controller, Result
    from fastinformer.decode import decoder_for, gc_paused
    from fastinformer.delta_fifo import Delta, DeltaFIFO, DeltaType
    from fastinformer.factory import SharedInformerFactory
    from fastinformer.health import serve_health
    from fastinformer.informer import HandlerRegistration, SharedIndexInformer
    from fastinformer.leaderelection import LeaderElector, LeaseLock
    from fastinformer.listers import Lister, NamespaceLister
    from fastinformer.listwatch import ListWatch
    from fastinformer.metrics import enable_prometheus_metrics
    from fastinformer.protocol import ListOptions, WatchEvent
    from fastinformer.reflector import Reflector
    from fastinformer.resources import Resource, resource_for
    from fastinformer.selectors import (
        FieldSelector,
        LabelSelector,
        SelectorError,
        label_selector_from_dict,
        label_selector_from_match_labels,
        parse_field_selector,
        parse_label_selector,
    )
    from fastinformer.store import (
        NAMESPACE_INDEX,
        Indexer,
        ThreadSafeStore,
        label_index_func,
        namespace_index_func,
        node_name_index_func,
    )
    from fastinformer.transport import TLSError, Transport, TransportError
    from fastinformer.workqueue import (
        BucketRateLimiter,
        DelayingQueue,
        ItemExponentialFailureRateLimiter,
        ItemFastSlowRateLimiter,
        MaxOfRateLimiter,
        Queue,
        RateLimiter,
        RateLimitingQueue,
        default_controller_rate_limiter,
    )


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fastinformer' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "IS_ACCELERATED",
    "NAMESPACE_INDEX",
    "REAL_CLOCK",
    "AsyncController",
    "AsyncInformer",
    "Backoff",
    "BucketRateLimiter",
    "Controller",
    "DelayingQueue",
    "DeletedFinalStateUnknown",
    "Delta",
    "DeltaFIFO",
    "DeltaType",
    "FakeClock",
    "FieldSelector",
    "HandlerRegistration",
    "Indexer",
    "ItemExponentialFailureRateLimiter",
    "ItemFastSlowRateLimiter",
    "LabelSelector",
    "LeaderElector",
    "LeaseLock",
    "ListOptions",
    "ListWatch",
    "Lister",
    "MaxOfRateLimiter",
    "NamespaceLister",
    "Queue",
    "RateLimiter",
    "RateLimitingQueue",
    "Reflector",
    "Resource",
    "Result",
    "SelectorError",
    "SharedIndexInformer",
    "SharedInformerFactory",
    "TLSError",
    "ThreadSafeStore",
    "Transport",
    "TransportError",
    "WatchEvent",
    "__version__",
    "decoder_for",
    "default_controller_rate_limiter",
    "enable_prometheus_metrics",
    "gc_paused",
    "label_index_func",
    "label_selector_from_dict",
    "label_selector_from_match_labels",
    "meta_namespace_key",
    "namespace_index_func",
    "node_name_index_func",
    "parse_field_selector",
    "parse_label_selector",
    "resource_for",
    "serve_health",
    "split_meta_namespace_key",
]
