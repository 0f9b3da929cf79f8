"""Work queue metrics: client-go names, what each records, providers, named queues only."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from fastinformer.clock import FakeClock
from fastinformer.workqueue import metrics
from fastinformer.workqueue.metrics import (
    ADDS,
    DEPTH,
    LONGEST_RUNNING_PROCESSOR,
    QUEUE_DURATION,
    RETRIES,
    UNFINISHED_WORK,
    WORK_DURATION,
    InMemoryMetricsProvider,
    NoopMetricsProvider,
)


@pytest.fixture
def provider() -> InMemoryMetricsProvider:
    return InMemoryMetricsProvider()


@pytest.fixture
def restore_default_provider() -> Iterator[None]:
    before = metrics.default_provider()
    try:
        yield
    finally:
        metrics.set_default_provider(before)


def value(provider: InMemoryMetricsProvider, metric: str, queue: str = "q") -> float:
    return provider.get(metric, queue).value


def test_metric_names_are_client_gos() -> None:
    assert metrics.METRIC_NAMES == {
        "workqueue_depth": "gauge",
        "workqueue_adds_total": "counter",
        "workqueue_queue_duration_seconds": "histogram",
        "workqueue_work_duration_seconds": "histogram",
        "workqueue_unfinished_work_seconds": "gauge",
        "workqueue_longest_running_processor_seconds": "gauge",
        "workqueue_retries_total": "counter",
    }


def test_a_named_queue_creates_all_seven_metrics_for_its_name(
    core: ModuleType, provider: InMemoryMetricsProvider
) -> None:
    core.Queue(name="pods", metrics_provider=provider)
    for name in metrics.METRIC_NAMES:
        assert provider.get(name, "pods").value == 0.0


def test_a_queue_without_a_name_records_nothing(
    core: ModuleType, provider: InMemoryMetricsProvider
) -> None:
    queue = core.RateLimitingQueue(metrics_provider=provider)
    queue.add("a")
    queue.add_rate_limited("b")
    with pytest.raises(KeyError):
        provider.get(ADDS, "")


def test_the_default_provider_is_a_no_op() -> None:
    assert isinstance(metrics.default_provider(), NoopMetricsProvider)
    assert metrics.new_queue_metrics("q", None, FakeClock().now) is None
    assert metrics.new_queue_metrics("", InMemoryMetricsProvider(), FakeClock().now) is None


@pytest.mark.usefixtures("restore_default_provider")
def test_a_new_default_provider_applies_to_named_queues_created_afterwards(
    core: ModuleType, provider: InMemoryMetricsProvider
) -> None:
    core.Queue(name="before").add("a")
    metrics.set_default_provider(provider)
    core.Queue(name="after").add("a")
    assert value(provider, ADDS, "after") == 1.0
    with pytest.raises(KeyError):
        provider.get(ADDS, "before")


def test_set_default_provider_rejects_an_object_that_is_not_a_provider() -> None:
    with pytest.raises(TypeError, match="not a MetricsProvider"):
        metrics.set_default_provider(object())  # type: ignore[arg-type]
    assert isinstance(metrics.default_provider(), NoopMetricsProvider)


def test_depth_and_adds_follow_adds_and_gets(
    core: ModuleType, provider: InMemoryMetricsProvider
) -> None:
    queue = core.Queue(name="q", clock=FakeClock(), metrics_provider=provider)
    queue.add("a")
    queue.add("a")  # deduplicated: not an add
    queue.add("b")
    assert (value(provider, ADDS), value(provider, DEPTH)) == (2.0, 2.0)
    queue.get()
    assert (value(provider, ADDS), value(provider, DEPTH)) == (2.0, 1.0)


def test_an_item_re_added_while_processing_counts_once_in_depth(
    core: ModuleType, provider: InMemoryMetricsProvider
) -> None:
    queue = core.Queue(name="q", clock=FakeClock(), metrics_provider=provider)
    queue.add("a")
    queue.get()
    queue.add("a")
    queue.add("a")
    assert (value(provider, ADDS), value(provider, DEPTH)) == (2.0, 1.0)
    queue.done("a")
    queue.get()
    assert value(provider, DEPTH) == 0.0


def test_queue_duration_is_the_time_from_add_to_get(
    core: ModuleType, provider: InMemoryMetricsProvider
) -> None:
    clock = FakeClock()
    queue = core.Queue(name="q", clock=clock, metrics_provider=provider)
    queue.add("a")
    clock.step(3.0)
    queue.add("a")  # the first add's time counts
    clock.step(1.0)
    queue.add("b")
    queue.get()
    queue.get()
    assert provider.get(QUEUE_DURATION, "q").observations == [4.0, 0.0]


def test_work_duration_is_the_time_from_get_to_done(
    core: ModuleType, provider: InMemoryMetricsProvider
) -> None:
    clock = FakeClock()
    queue = core.Queue(name="q", clock=clock, metrics_provider=provider)
    queue.add("a")
    clock.step(1.0)
    queue.get()
    clock.step(2.5)
    queue.done("a")
    assert provider.get(WORK_DURATION, "q").observations == [2.5]


def test_unfinished_work_gauges_change_only_when_updated(
    core: ModuleType, provider: InMemoryMetricsProvider
) -> None:
    clock = FakeClock()
    queue = core.Queue(name="q", clock=clock, metrics_provider=provider)
    queue.add("a")
    queue.add("b")
    queue.get()
    clock.step(2.0)
    queue.get()
    clock.step(3.0)
    assert value(provider, UNFINISHED_WORK) == 0.0
    queue.update_unfinished_work()
    assert value(provider, UNFINISHED_WORK) == 8.0  # 5 s + 3 s in flight
    assert value(provider, LONGEST_RUNNING_PROCESSOR) == 5.0
    queue.done("a")
    queue.done("b")
    queue.update_unfinished_work()
    assert (value(provider, UNFINISHED_WORK), value(provider, LONGEST_RUNNING_PROCESSOR)) == (
        0.0,
        0.0,
    )


def test_retries_count_every_delayed_add(
    core: ModuleType, provider: InMemoryMetricsProvider
) -> None:
    clock = FakeClock()
    queue = core.RateLimitingQueue(
        core.ItemExponentialFailureRateLimiter(1.0, 10.0),
        name="q",
        clock=clock,
        metrics_provider=provider,
    )
    queue.add("a")
    assert value(provider, RETRIES) == 0.0
    queue.add_rate_limited("a")
    queue.add_rate_limited("b")
    queue.add_after("c", 0)
    assert value(provider, RETRIES) == 3.0
    assert value(provider, ADDS) == 2.0  # "a" (deduplicated later) and "c"
    clock.step(2.0)
    assert len(queue) == 3
    assert value(provider, DEPTH) == 3.0


def test_delayed_items_count_in_depth_only_once_ready(
    core: ModuleType, provider: InMemoryMetricsProvider
) -> None:
    clock = FakeClock()
    queue = core.DelayingQueue(name="q", clock=clock, metrics_provider=provider)
    queue.add_after("a", 5.0)
    assert value(provider, DEPTH) == 0.0
    clock.step(5.0)
    queue.get()
    assert provider.get(QUEUE_DURATION, "q").observations == [0.0]


def test_a_custom_provider_gets_the_queue_name_for_every_metric(core: ModuleType) -> None:
    asked: list[tuple[str, str]] = []

    class Recording(InMemoryMetricsProvider):
        def _new(self, metric: str, queue: str) -> Any:
            asked.append((metric, queue))
            return super()._new(metric, queue)

    core.Queue(name="deployments", metrics_provider=Recording())
    assert sorted(asked) == sorted((m, "deployments") for m in metrics.METRIC_NAMES)


def test_the_no_op_provider_metrics_accept_every_call() -> None:
    noop = NoopMetricsProvider()
    noop.new_depth_metric("q").inc()
    noop.new_depth_metric("q").dec()
    noop.new_unfinished_work_seconds_metric("q").set(1.0)
    noop.new_latency_metric("q").observe(1.0)
    noop.new_retries_metric("q").inc()
