"""Prometheus export of the workqueue and reflector metrics, with client-go's metric names.

:func:`enable_prometheus_metrics` installs two providers: one for named work queues
(:mod:`fastinformer.workqueue.metrics`: ``workqueue_depth``, ``workqueue_adds_total``,
``workqueue_queue_duration_seconds``, ``workqueue_work_duration_seconds``,
``workqueue_unfinished_work_seconds``, ``workqueue_longest_running_processor_seconds``,
``workqueue_retries_total``) and one for reflectors (:mod:`fastinformer.reflector_metrics`:
``reflector_lists_total``, ``reflector_list_items_total``, ``reflector_watches_total``,
``reflector_events_total``, ``reflector_last_resource_version``). Every metric has a
``name`` label: the queue's or the reflector's name. Call it before creating informers
and controllers: providers are asked for metrics when those are created.

``prometheus_client`` is an optional dependency (``pip install 'fastinformer[metrics]'``):
this module imports without it; :func:`enable_prometheus_metrics` then raises ImportError.

The two unfinished-work gauges are computed from the queue's in-flight items; a queue
passed to :func:`track_queue` (every :class:`~fastinformer.controller.Controller` does
it) has them refreshed each time the registry is collected.
"""

from __future__ import annotations

import inspect
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from fastinformer.reflector_metrics import (
    EVENTS,
    LAST_RESOURCE_VERSION,
    LIST_ITEMS,
    LISTS,
    WATCHES,
    resource_version_number,
    set_reflector_metrics_provider,
)
from fastinformer.workqueue import metrics as wq
from fastinformer.workqueue.metrics import NoopMetricsProvider, set_default_provider

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

__all__ = [
    "DURATION_BUCKETS",
    "PrometheusMetrics",
    "PrometheusReflectorMetricsProvider",
    "PrometheusWorkqueueMetricsProvider",
    "disable_prometheus_metrics",
    "enable_prometheus_metrics",
    "track_queue",
]

#: Histogram buckets of the queue and work durations: 10 ns to 10 s, as client-go.
DURATION_BUCKETS: tuple[float, ...] = tuple(1e-8 * 10**i for i in range(10))

_INSTALL_HINT = (
    "fastinformer's Prometheus metrics need the prometheus_client package: "
    "pip install 'fastinformer[metrics]'"
)


class _UnfinishedWork(Protocol):
    def update_unfinished_work(self) -> None: ...


_tracked_lock = threading.Lock()
_tracked: dict[int, _UnfinishedWork] = {}


def track_queue(queue: _UnfinishedWork) -> Callable[[], None]:
    """Refresh ``queue``'s unfinished-work gauges whenever metrics are collected.

    Returns the function that stops tracking (and drops the reference to the queue).
    Costs nothing when metrics are not collected.
    """
    if not callable(getattr(queue, "update_unfinished_work", None)):
        raise TypeError(f"{queue!r} has no update_unfinished_work()")
    key = id(queue)
    with _tracked_lock:
        _tracked[key] = queue

    def untrack() -> None:
        with _tracked_lock:
            if _tracked.get(key) is queue:
                del _tracked[key]

    return untrack


def _refresh_tracked_queues() -> None:
    with _tracked_lock:
        queues = list(_tracked.values())
    for queue in queues:
        queue.update_unfinished_work()


def _import_prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return prometheus_client


class PrometheusWorkqueueMetricsProvider:
    """A workqueue :class:`~fastinformer.workqueue.metrics.MetricsProvider` registering
    client-go's seven workqueue metrics (label ``name``) in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        prom = _import_prometheus()
        self.registry = registry

        def gauge(name: str, doc: str) -> Any:
            return prom.Gauge(name, doc, ["name"], registry=registry)

        def counter(name: str, doc: str) -> Any:
            return prom.Counter(name, doc, ["name"], registry=registry)

        def histogram(name: str, doc: str) -> Any:
            return prom.Histogram(name, doc, ["name"], registry=registry, buckets=DURATION_BUCKETS)

        self._depth = gauge(wq.DEPTH, "Items waiting in the work queue.")
        self._adds = counter(wq.ADDS, "Items added to the work queue.")
        self._latency = histogram(
            wq.QUEUE_DURATION, "Seconds an item waits in the work queue before a worker takes it."
        )
        self._work = histogram(wq.WORK_DURATION, "Seconds a worker spends on an item.")
        self._unfinished = gauge(
            wq.UNFINISHED_WORK, "Seconds of work in progress and not yet done, summed over items."
        )
        self._longest = gauge(
            wq.LONGEST_RUNNING_PROCESSOR, "Seconds the longest-running item has been in progress."
        )
        self._retries = counter(wq.RETRIES, "Items added again after a delay (retries).")

    def new_depth_metric(self, name: str) -> wq.GaugeMetric:
        return self._depth.labels(name=name)  # type: ignore[no-any-return]

    def new_adds_metric(self, name: str) -> wq.CounterMetric:
        return self._adds.labels(name=name)  # type: ignore[no-any-return]

    def new_latency_metric(self, name: str) -> wq.HistogramMetric:
        return self._latency.labels(name=name)  # type: ignore[no-any-return]

    def new_work_duration_metric(self, name: str) -> wq.HistogramMetric:
        return self._work.labels(name=name)  # type: ignore[no-any-return]

    def new_unfinished_work_seconds_metric(self, name: str) -> wq.SettableGaugeMetric:
        return self._unfinished.labels(name=name)  # type: ignore[no-any-return]

    def new_longest_running_processor_seconds_metric(self, name: str) -> wq.SettableGaugeMetric:
        return self._longest.labels(name=name)  # type: ignore[no-any-return]

    def new_retries_metric(self, name: str) -> wq.CounterMetric:
        return self._retries.labels(name=name)  # type: ignore[no-any-return]


class _PrometheusReflectorMetrics:
    """One reflector's counters (children of the provider's labelled metrics)."""

    __slots__ = ("_events", "_list_items", "_lists", "_watches")

    def __init__(self, lists: Any, list_items: Any, watches: Any, events: Any) -> None:
        self._lists = lists
        self._list_items = list_items
        self._watches = watches
        self._events = events

    def listed(self, items: int) -> None:
        self._lists.inc()
        self._list_items.inc(items)

    def watch_started(self) -> None:
        self._watches.inc()

    def event(self) -> None:
        self._events.inc()


class PrometheusReflectorMetricsProvider:
    """A :class:`~fastinformer.reflector_metrics.ReflectorMetricsProvider` registering the
    reflector metrics (label ``name``) in ``registry``. ``reflector_last_resource_version``
    is read from each live reflector when the registry is collected."""

    def __init__(self, registry: CollectorRegistry) -> None:
        prom = _import_prometheus()
        self.registry = registry

        def counter(name: str, doc: str) -> Any:
            return prom.Counter(name, doc, ["name"], registry=registry)

        self._lists = counter(LISTS, "Full syncs (LIST or streaming list) of the reflector.")
        self._list_items = counter(LIST_ITEMS, "Objects received by the reflector's full syncs.")
        self._watches = counter(WATCHES, "Watches opened by the reflector.")
        self._events = counter(EVENTS, "Watch events (bookmarks included) the reflector applied.")
        self._lock = threading.Lock()
        self._getters: dict[str, Callable[[], str | None]] = {}
        registry.register(_LastResourceVersionCollector(self))

    def new_reflector_metrics(
        self, name: str, last_resource_version: Callable[[], str]
    ) -> _PrometheusReflectorMetrics:
        if inspect.ismethod(last_resource_version):
            getter: Callable[[], str | None] = _call_weak(weakref.WeakMethod(last_resource_version))
        else:
            getter = last_resource_version
        with self._lock:
            self._getters[name] = getter
        return _PrometheusReflectorMetrics(
            self._lists.labels(name=name),
            self._list_items.labels(name=name),
            self._watches.labels(name=name),
            self._events.labels(name=name),
        )

    def last_resource_versions(self) -> dict[str, float]:
        """Each live reflector's resourceVersion as a number; forgets reflectors gone."""
        out: dict[str, float] = {}
        with self._lock:
            items = list(self._getters.items())
        for name, getter in items:
            rv = getter()
            if rv is None:
                with self._lock:
                    if self._getters.get(name) is getter:
                        del self._getters[name]
                continue
            out[name] = resource_version_number(rv)
        return out


def _call_weak(ref: weakref.WeakMethod[Callable[[], str]]) -> Callable[[], str | None]:
    def get() -> str | None:
        method = ref()
        return None if method is None else method()

    return get


class _LastResourceVersionCollector:
    """Yields ``reflector_last_resource_version`` at collection time."""

    def __init__(self, provider: PrometheusReflectorMetricsProvider) -> None:
        self._provider = provider

    def describe(self) -> list[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        return [GaugeMetricFamily(LAST_RESOURCE_VERSION, _LAST_RV_DOC, labels=["name"])]

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        family = GaugeMetricFamily(LAST_RESOURCE_VERSION, _LAST_RV_DOC, labels=["name"])
        for name, value in sorted(self._provider.last_resource_versions().items()):
            family.add_metric([name], value)
        yield family


_LAST_RV_DOC = "The last resourceVersion the reflector synced to (0 when not a number)."


class _QueueRefresher:
    """Refreshes the tracked queues' unfinished-work gauges; registered first, so it runs
    before the gauges are read. Exports nothing itself."""

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        _refresh_tracked_queues()
        return iter(())


class PrometheusMetrics:
    """What :func:`enable_prometheus_metrics` installed, and in which ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        registry.register(_QueueRefresher())
        self.workqueue_provider = PrometheusWorkqueueMetricsProvider(registry)
        self.reflector_provider = PrometheusReflectorMetricsProvider(registry)

    def install(self) -> None:
        """Make these the providers used by queues and reflectors created from now on."""
        set_default_provider(self.workqueue_provider)
        set_reflector_metrics_provider(self.reflector_provider)


_installed_lock = threading.Lock()
_installed: dict[CollectorRegistry, PrometheusMetrics] = {}  # registries live as long


def enable_prometheus_metrics(registry: CollectorRegistry | None = None) -> PrometheusMetrics:
    """Export workqueue and reflector metrics to ``registry`` (default: prometheus_client's
    global ``REGISTRY``) for queues and reflectors created from now on.

    Calling it again with the same registry reinstalls the same metrics (no duplicate
    registration). Raises ImportError, naming the extra to install, without
    prometheus_client.
    """
    prom = _import_prometheus()
    reg: CollectorRegistry = prom.REGISTRY if registry is None else registry
    with _installed_lock:
        installed = _installed.get(reg)
        if installed is None:
            installed = PrometheusMetrics(reg)
            _installed[reg] = installed
        installed.install()
    return installed


def disable_prometheus_metrics() -> None:
    """Stop recording for queues and reflectors created from now on (existing ones keep
    their metrics)."""
    set_default_provider(NoopMetricsProvider())
    set_reflector_metrics_provider(None)
