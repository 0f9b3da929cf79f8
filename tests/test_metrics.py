"""Prometheus export of workqueue and reflector metrics (client-go names, ``name`` label)."""

from __future__ import annotations

import gc
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from fastinformer import metrics as fi_metrics
from fastinformer import reflector_metrics
from fastinformer.clock import FakeClock
from fastinformer.controller import Controller
from fastinformer.factory import SharedInformerFactory
from fastinformer.metrics import enable_prometheus_metrics, track_queue
from fastinformer.reflector_metrics import (
    InMemoryReflectorMetricsProvider,
    new_reflector_metrics,
    resource_version_number,
    set_reflector_metrics_provider,
)
from fastinformer.sim import Simulator
from fastinformer.workqueue import RateLimitingQueue
from fastinformer.workqueue import metrics as wq_metrics

GUARD = 15.0


def wait_until(cond: Callable[[], bool], timeout: float = GUARD) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached before the deadlock guard")
        time.sleep(0.005)


@pytest.fixture(autouse=True)
def restore_providers() -> Iterator[None]:
    queues = wq_metrics.default_provider()
    reflectors = reflector_metrics.reflector_metrics_provider()
    try:
        yield
    finally:
        wq_metrics.set_default_provider(queues)
        set_reflector_metrics_provider(reflectors)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def sample(registry: CollectorRegistry, metric: str, name: str) -> float | None:
    return registry.get_sample_value(metric, {"name": name})


def test_fastinformer_imports_without_prometheus_client_and_enabling_says_what_to_install() -> None:
    code = (
        "import sys\n"
        "sys.modules['prometheus_client'] = None\n"
        "import fastinformer, fastinformer.metrics, fastinformer.controller, fastinformer.health\n"
        "try:\n"
        "    fastinformer.metrics.enable_prometheus_metrics()\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "pip install 'fastinformer[metrics]'" in out.stdout


def test_workqueue_metrics_have_client_gos_names_and_a_name_label(
    registry: CollectorRegistry,
) -> None:
    enable_prometheus_metrics(registry)
    clock = FakeClock()
    queue = RateLimitingQueue(name="jobs", clock=clock)
    queue.add("a")
    queue.add("b")
    clock.step(2.0)
    item, _ = queue.get()
    clock.step(0.5)
    queue.done(item)
    queue.add_rate_limited("c")
    assert sample(registry, "workqueue_adds_total", "jobs") == 2.0
    assert sample(registry, "workqueue_depth", "jobs") == 1.0
    assert sample(registry, "workqueue_retries_total", "jobs") == 1.0
    assert sample(registry, "workqueue_queue_duration_seconds_count", "jobs") == 1.0
    assert sample(registry, "workqueue_queue_duration_seconds_sum", "jobs") == 2.0
    assert sample(registry, "workqueue_work_duration_seconds_sum", "jobs") == 0.5
    families = {f.name: f.type for f in registry.collect()}
    for name, kind in wq_metrics.METRIC_NAMES.items():
        assert families[name.removesuffix("_total")] == kind
    assert 'workqueue_depth{name="jobs"} 1.0' in generate_latest(registry).decode()


def test_unfinished_work_gauges_are_refreshed_when_metrics_are_collected(
    registry: CollectorRegistry,
) -> None:
    enable_prometheus_metrics(registry)
    clock = FakeClock()
    queue = RateLimitingQueue(name="slow", clock=clock)
    untrack = track_queue(queue)
    queue.add("x")
    queue.add("y")
    queue.get()
    clock.step(1.0)
    queue.get()
    clock.step(2.0)
    assert sample(registry, "workqueue_unfinished_work_seconds", "slow") == 5.0
    assert sample(registry, "workqueue_longest_running_processor_seconds", "slow") == 3.0
    untrack()
    clock.step(10.0)
    assert sample(registry, "workqueue_longest_running_processor_seconds", "slow") == 3.0


def test_enabling_twice_with_one_registry_reuses_its_metrics(registry: CollectorRegistry) -> None:
    first = enable_prometheus_metrics(registry)
    assert enable_prometheus_metrics(registry) is first
    assert wq_metrics.default_provider() is first.workqueue_provider
    assert reflector_metrics.reflector_metrics_provider() is first.reflector_provider
    fi_metrics.disable_prometheus_metrics()
    assert wq_metrics.new_queue_metrics("q", None, FakeClock().now) is None
    assert new_reflector_metrics("r", str) is None


def test_reflector_metrics_follow_lists_watches_and_events_on_the_simulator(
    registry: CollectorRegistry,
) -> None:
    enable_prometheus_metrics(registry)
    with Simulator() as sim:
        sim.populate(nodes=1, pods=4)
        with SharedInformerFactory(sim.kube_configuration()) as factory:
            pods = factory.pods()
            calls: list[str] = []
            ctl = Controller("podctl", calls.append).watch_primary(pods)
            ctl.start()
            wait_until(lambda: len(calls) == 4)
            assert sample(registry, "reflector_lists_total", "pods") == 1.0
            assert sample(registry, "reflector_list_items_total", "pods") == 4.0
            assert (sample(registry, "reflector_watches_total", "pods") or 0) >= 1.0
            sim.store.create(
                "pods",
                {
                    "metadata": {"name": "extra", "namespace": "default"},
                    "spec": {"containers": [{"name": "c", "image": "i"}]},
                },
            )
            wait_until(lambda: (sample(registry, "reflector_events_total", "pods") or 0) >= 1)
            wait_until(lambda: "default/extra" in calls)
            rv = pods.reflector.last_sync_resource_version()
            assert sample(registry, "reflector_last_resource_version", "pods") == float(rv)
            assert (sample(registry, "workqueue_adds_total", "podctl") or 0) >= 5.0
            ctl.stop()


def test_a_reflector_that_is_gone_leaves_the_last_resource_version_series(
    registry: CollectorRegistry,
) -> None:
    installed = enable_prometheus_metrics(registry)

    class Holder:
        def rv(self) -> str:
            return "42"

    holder = Holder()
    installed.reflector_provider.new_reflector_metrics("gone", holder.rv)
    assert sample(registry, "reflector_last_resource_version", "gone") == 42.0
    del holder
    gc.collect()
    assert sample(registry, "reflector_last_resource_version", "gone") is None


def test_without_a_provider_reflectors_record_nothing_and_in_memory_counts() -> None:
    set_reflector_metrics_provider(None)
    assert new_reflector_metrics("r", str) is None
    provider = InMemoryReflectorMetricsProvider()
    set_reflector_metrics_provider(provider)
    recorder = new_reflector_metrics("r", lambda: "7")
    assert recorder is not None
    recorder.listed(3)
    recorder.watch_started()
    recorder.event()
    recorder.event()
    got = provider.get("r")
    assert (got.lists, got.list_items, got.watches, got.events) == (1, 3, 1, 2)
    assert got.last_resource_version() == "7"
    with pytest.raises(TypeError):
        set_reflector_metrics_provider(object())  # type: ignore[arg-type]


def test_resource_versions_that_are_not_numbers_export_as_zero() -> None:
    assert resource_version_number("123") == 123.0
    assert resource_version_number("") == 0.0
    assert resource_version_number("abc") == 0.0
