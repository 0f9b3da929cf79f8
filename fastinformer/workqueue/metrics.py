"""Work queue metrics with client-go's names, behind a pluggable provider.

A queue with a ``name`` asks a :class:`MetricsProvider` for seven metrics, once, when
it is created: ``workqueue_depth`` (gauge), ``workqueue_adds_total`` (counter),
``workqueue_queue_duration_seconds`` (histogram, add to get),
``workqueue_work_duration_seconds`` (histogram, get to done),
``workqueue_unfinished_work_seconds`` and ``workqueue_longest_running_processor_seconds``
(gauges, refreshed when :meth:`Queue.update_unfinished_work` is called) and
``workqueue_retries_total`` (counter, every ``add_after``/``add_rate_limited``).
Values are seconds on the queue's clock. The provider used is the queue's
``metrics_provider`` or else the process default (:func:`set_default_provider`), which
starts as a no-op: then, as for a queue without a name, nothing is recorded at all.

To export to a metrics system, implement the seven ``new_*_metric(queue_name)``
methods of :class:`MetricsProvider` returning objects with ``inc``/``dec``, ``set`` or
``observe``; the metric names to use are in :data:`METRIC_NAMES`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

__all__ = [
    "ADDS",
    "DEPTH",
    "LONGEST_RUNNING_PROCESSOR",
    "METRIC_NAMES",
    "QUEUE_DURATION",
    "RETRIES",
    "UNFINISHED_WORK",
    "WORK_DURATION",
    "CounterMetric",
    "GaugeMetric",
    "HistogramMetric",
    "InMemoryMetric",
    "InMemoryMetricsProvider",
    "MetricsProvider",
    "NoopMetricsProvider",
    "QueueMetrics",
    "SettableGaugeMetric",
    "default_provider",
    "new_queue_metrics",
    "set_default_provider",
]

DEPTH = "workqueue_depth"
ADDS = "workqueue_adds_total"
QUEUE_DURATION = "workqueue_queue_duration_seconds"
WORK_DURATION = "workqueue_work_duration_seconds"
UNFINISHED_WORK = "workqueue_unfinished_work_seconds"
LONGEST_RUNNING_PROCESSOR = "workqueue_longest_running_processor_seconds"
RETRIES = "workqueue_retries_total"

#: Every metric name, mapped to its kind ("gauge", "counter" or "histogram").
METRIC_NAMES: dict[str, str] = {
    DEPTH: "gauge",
    ADDS: "counter",
    QUEUE_DURATION: "histogram",
    WORK_DURATION: "histogram",
    UNFINISHED_WORK: "gauge",
    LONGEST_RUNNING_PROCESSOR: "gauge",
    RETRIES: "counter",
}


class GaugeMetric(Protocol):
    """A gauge moved up and down by one."""

    def inc(self) -> None: ...

    def dec(self) -> None: ...


class SettableGaugeMetric(Protocol):
    """A gauge set to a value."""

    def set(self, value: float) -> None: ...


class CounterMetric(Protocol):
    """A counter that only goes up."""

    def inc(self) -> None: ...


class HistogramMetric(Protocol):
    """A distribution of observed values (seconds)."""

    def observe(self, value: float) -> None: ...


class MetricsProvider(Protocol):
    """Creates the metrics of the queue named ``name``; called once per metric per queue."""

    def new_depth_metric(self, name: str) -> GaugeMetric: ...

    def new_adds_metric(self, name: str) -> CounterMetric: ...

    def new_latency_metric(self, name: str) -> HistogramMetric: ...

    def new_work_duration_metric(self, name: str) -> HistogramMetric: ...

    def new_unfinished_work_seconds_metric(self, name: str) -> SettableGaugeMetric: ...

    def new_longest_running_processor_seconds_metric(self, name: str) -> SettableGaugeMetric: ...

    def new_retries_metric(self, name: str) -> CounterMetric: ...


class _NoopMetric:
    """Every kind of metric, recording nothing."""

    __slots__ = ()

    def inc(self) -> None:
        """Do nothing."""

    def dec(self) -> None:
        """Do nothing."""

    def set(self, value: float) -> None:
        """Do nothing."""

    def observe(self, value: float) -> None:
        """Do nothing."""


_NOOP_METRIC = _NoopMetric()


class NoopMetricsProvider:
    """Records nothing; queues using it skip metrics entirely (the default)."""

    __slots__ = ()

    def new_depth_metric(self, name: str) -> GaugeMetric:
        return _NOOP_METRIC

    def new_adds_metric(self, name: str) -> CounterMetric:
        return _NOOP_METRIC

    def new_latency_metric(self, name: str) -> HistogramMetric:
        return _NOOP_METRIC

    def new_work_duration_metric(self, name: str) -> HistogramMetric:
        return _NOOP_METRIC

    def new_unfinished_work_seconds_metric(self, name: str) -> SettableGaugeMetric:
        return _NOOP_METRIC

    def new_longest_running_processor_seconds_metric(self, name: str) -> SettableGaugeMetric:
        return _NOOP_METRIC

    def new_retries_metric(self, name: str) -> CounterMetric:
        return _NOOP_METRIC


class InMemoryMetric:
    """One in-memory metric: ``value``, and for histograms the list of ``observations``.

    Updates come from the owning queue with its lock held; the metric's own lock makes
    reads from other threads consistent.
    """

    __slots__ = ("_lock", "kind", "name", "observations", "queue", "value")

    def __init__(self, name: str, queue: str) -> None:
        self.name = name
        self.queue = queue
        self.kind = METRIC_NAMES[name]
        self.value = 0.0
        self.observations: list[float] = []
        self._lock = threading.Lock()

    def inc(self) -> None:
        """Add one."""
        with self._lock:
            self.value += 1.0

    def dec(self) -> None:
        """Subtract one."""
        with self._lock:
            self.value -= 1.0

    def set(self, value: float) -> None:
        """Set the value."""
        with self._lock:
            self.value = value

    def observe(self, value: float) -> None:
        """Record an observation; ``value`` counts them."""
        with self._lock:
            self.observations.append(value)
            self.value += 1.0

    def __repr__(self) -> str:
        return f"InMemoryMetric({self.name!r}, queue={self.queue!r}, value={self.value!r})"


class InMemoryMetricsProvider:
    """Keeps every metric in memory, for tests: ``provider.get(ADDS, "queue-name").value``."""

    def __init__(self) -> None:
        self._metrics: dict[tuple[str, str], InMemoryMetric] = {}
        self._lock = threading.Lock()

    def get(self, metric: str, queue: str) -> InMemoryMetric:
        """The metric ``metric`` of the queue named ``queue``; KeyError if never created."""
        with self._lock:
            return self._metrics[(metric, queue)]

    def _new(self, metric: str, queue: str) -> InMemoryMetric:
        m = InMemoryMetric(metric, queue)
        with self._lock:
            self._metrics[(metric, queue)] = m
        return m

    def new_depth_metric(self, name: str) -> GaugeMetric:
        return self._new(DEPTH, name)

    def new_adds_metric(self, name: str) -> CounterMetric:
        return self._new(ADDS, name)

    def new_latency_metric(self, name: str) -> HistogramMetric:
        return self._new(QUEUE_DURATION, name)

    def new_work_duration_metric(self, name: str) -> HistogramMetric:
        return self._new(WORK_DURATION, name)

    def new_unfinished_work_seconds_metric(self, name: str) -> SettableGaugeMetric:
        return self._new(UNFINISHED_WORK, name)

    def new_longest_running_processor_seconds_metric(self, name: str) -> SettableGaugeMetric:
        return self._new(LONGEST_RUNNING_PROCESSOR, name)

    def new_retries_metric(self, name: str) -> CounterMetric:
        return self._new(RETRIES, name)


_default_provider: MetricsProvider = NoopMetricsProvider()


def set_default_provider(provider: MetricsProvider) -> None:
    """Use ``provider`` for named queues created from now on without a ``metrics_provider``."""
    global _default_provider
    for method in (
        "new_depth_metric",
        "new_adds_metric",
        "new_latency_metric",
        "new_work_duration_metric",
        "new_unfinished_work_seconds_metric",
        "new_longest_running_processor_seconds_metric",
        "new_retries_metric",
    ):
        if not callable(getattr(provider, method, None)):
            raise TypeError(f"{provider!r} is not a MetricsProvider (no {method})")
    _default_provider = provider


def default_provider() -> MetricsProvider:
    """The provider named queues use when given none."""
    return _default_provider


class QueueMetrics:
    """The metrics of one named queue. The queue calls every method with its lock held."""

    __slots__ = (
        "_add_times",
        "_adds",
        "_depth",
        "_latency",
        "_longest",
        "_now",
        "_retries",
        "_start_times",
        "_unfinished",
        "_work_duration",
    )

    def __init__(self, name: str, provider: MetricsProvider, now: Callable[[], float]) -> None:
        self._now = now
        self._depth = provider.new_depth_metric(name)
        self._adds = provider.new_adds_metric(name)
        self._latency = provider.new_latency_metric(name)
        self._work_duration = provider.new_work_duration_metric(name)
        self._unfinished = provider.new_unfinished_work_seconds_metric(name)
        self._longest = provider.new_longest_running_processor_seconds_metric(name)
        self._retries = provider.new_retries_metric(name)
        self._add_times: dict[Any, float] = {}
        self._start_times: dict[Any, float] = {}

    def add(self, item: Any) -> None:
        """``item`` became dirty (queued, or to be requeued when done)."""
        self._adds.inc()
        self._depth.inc()
        if item not in self._add_times:
            self._add_times[item] = self._now()

    def get(self, item: Any) -> None:
        """A worker took ``item``."""
        now = self._now()
        self._depth.dec()
        added = self._add_times.pop(item, None)
        if added is not None:
            self._latency.observe(now - added)
        self._start_times[item] = now

    def done(self, item: Any) -> None:
        """The worker finished ``item``."""
        started = self._start_times.pop(item, None)
        if started is not None:
            self._work_duration.observe(self._now() - started)

    def retry(self) -> None:
        """An item was added with a delay."""
        self._retries.inc()

    def update_unfinished_work(self) -> None:
        """Set the unfinished-work total and the longest running processor's age."""
        now = self._now()
        total = 0.0
        oldest = 0.0
        for started in self._start_times.values():
            age = now - started
            total += age
            if age > oldest:
                oldest = age
        self._unfinished.set(total)
        self._longest.set(oldest)


def new_queue_metrics(
    name: str, provider: MetricsProvider | None, now: Callable[[], float]
) -> QueueMetrics | None:
    """The recorder for queue ``name``, or None when nothing would be recorded.

    ``provider`` None means the default provider; a no-op provider or an empty name
    gives None, so the queue skips metrics with no cost.
    """
    if provider is None:
        provider = _default_provider
    if not name or isinstance(provider, NoopMetricsProvider):
        return None
    return QueueMetrics(name, provider, now)
