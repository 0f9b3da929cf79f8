"""Controller on the simulator: sources, reconcile results, per-key exclusivity, drain."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest

from fastinformer.clock import FakeClock
from fastinformer.controller import Controller, Result, owner_key_func
from fastinformer.factory import SharedInformerFactory
from fastinformer.models import Pod
from fastinformer.resources import Resource, resource_for
from fastinformer.sim import Simulator
from fastinformer.workqueue import ItemExponentialFailureRateLimiter

GUARD = 15.0  # seconds: only a deadlock guard, never a timing assertion


def wait_until(cond: Callable[[], bool], timeout: float = GUARD) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached before the deadlock guard")
        time.sleep(0.005)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as s:
        yield s


@pytest.fixture
def factory(sim: Simulator) -> Iterator[SharedInformerFactory]:
    f = SharedInformerFactory(sim.kube_configuration())
    yield f
    f.shutdown()


class Calls:
    """Thread-safe record of reconcile calls."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.keys: list[str] = []

    def add(self, key: str) -> None:
        with self.lock:
            self.keys.append(key)

    def count(self, key: str) -> int:
        with self.lock:
            return self.keys.count(key)

    def distinct(self) -> set[str]:
        with self.lock:
            return set(self.keys)


def pod(name: str, namespace: str = "default", **meta: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace, **meta},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }


def owner_ref(kind: str, name: str, api_version: str, controller: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": "u-" + name,
        "controller": controller,
    }


def test_every_cached_object_is_reconciled_once_caches_have_synced(
    sim: Simulator, factory: SharedInformerFactory
) -> None:
    sim.populate(nodes=2, pods=6)
    calls = Calls()
    synced_at_call: list[bool] = []
    ctl: Controller

    def reconcile(key: str) -> None:
        synced_at_call.append(ctl.has_synced())
        calls.add(key)

    ctl = Controller("pods", reconcile, workers=2).watch_primary(factory.pods())
    ctl.start()
    expected = {
        f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in sim.store.list("pods")
    }
    wait_until(lambda: calls.distinct() == expected)
    wait_until(ctl.workers_started)
    assert ctl.stop()
    assert synced_at_call and all(synced_at_call)


def test_a_key_is_never_reconciled_by_two_workers_at_once(
    sim: Simulator, factory: SharedInformerFactory
) -> None:
    for name in ("a", "b"):
        sim.store.create("pods", pod(name))
    active: set[str] = set()
    overlaps: list[str] = []
    lock = threading.Lock()
    calls = Calls()
    a_running = threading.Event()
    b_running = threading.Event()
    release_a = threading.Event()
    ctl: Controller

    def reconcile(key: str) -> None:
        with lock:
            if key in active:
                overlaps.append(key)
            active.add(key)
        try:
            first = calls.count(key) == 0
            calls.add(key)
            if key == "default/a" and first:
                a_running.set()
                assert b_running.wait(GUARD), "keys a and b were not reconciled in parallel"
                assert release_a.wait(GUARD)
            elif key == "default/b":
                b_running.set()
        finally:
            with lock:
                active.discard(key)

    ctl = Controller("exclusive", reconcile, workers=4).watch_primary(factory.pods())
    ctl.start()
    assert a_running.wait(GUARD)
    assert b_running.wait(GUARD)
    wait_until(lambda: len(ctl.queue) == 0)
    # Idle workers, and "a" is added again while one worker holds it:
    ctl.enqueue("default/a")
    ctl.enqueue("default/a")
    assert len(ctl.queue) == 0  # held back until the running reconcile is done
    assert calls.count("default/a") == 1
    release_a.set()
    wait_until(lambda: calls.count("default/a") == 2)

    # Hammer both keys from several threads; overlaps would be recorded.
    def hammer() -> None:
        for _ in range(200):
            ctl.enqueue("default/a")
            ctl.enqueue("default/b")

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ctl.stop()
    assert overlaps == []
    assert calls.count("default/a") >= 3


def test_an_exception_is_logged_with_the_key_and_retried_until_success(
    sim: Simulator, factory: SharedInformerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    sim.store.create("pods", pod("flaky"))
    calls = Calls()
    requeues_seen: list[int] = []
    ctl: Controller

    def reconcile(key: str) -> None:
        calls.add(key)
        requeues_seen.append(ctl.queue.num_requeues(key))
        if calls.count(key) <= 2:
            raise RuntimeError("transient failure")

    limiter = ItemExponentialFailureRateLimiter(0.001, 0.01)
    ctl = Controller("flaky", reconcile, rate_limiter=limiter).watch_primary(factory.pods())
    with caplog.at_level(logging.ERROR, logger="fastinformer.controller"):
        ctl.start()
        wait_until(lambda: calls.count("default/flaky") == 3)
        assert ctl.stop()
    assert requeues_seen == [0, 1, 2]
    assert ctl.queue.num_requeues("default/flaky") == 0  # forgotten after the success
    failures = [r for r in caplog.records if "'default/flaky'" in r.getMessage()]
    assert len(failures) == 2
    assert all(r.exc_info is not None for r in failures)


def test_requeue_after_reconciles_again_when_the_delay_has_passed(
    sim: Simulator, factory: SharedInformerFactory
) -> None:
    sim.store.create("pods", pod("periodic"))
    clock = FakeClock()
    calls = Calls()

    def reconcile(key: str) -> Result:
        calls.add(key)
        return Result(requeue_after=30.0)

    ctl = Controller("periodic", reconcile, clock=clock).watch_primary(factory.pods())
    ctl.start()
    wait_until(lambda: calls.count("default/periodic") == 1)
    assert clock.wait_for_sleepers(1)  # the worker waits for the delayed key
    assert len(ctl.queue) == 0
    clock.step(30.0)
    wait_until(lambda: calls.count("default/periodic") == 2)
    assert ctl.queue.num_requeues("default/periodic") == 0  # not a failure
    ctl.stop()


def test_requeue_true_goes_through_the_rate_limiter(
    sim: Simulator, factory: SharedInformerFactory
) -> None:
    sim.store.create("pods", pod("again"))
    calls = Calls()
    requeues_seen: list[int] = []
    ctl: Controller

    def reconcile(key: str) -> Result | None:
        calls.add(key)
        requeues_seen.append(ctl.queue.num_requeues(key))
        return Result(requeue=True) if calls.count(key) < 3 else None

    limiter = ItemExponentialFailureRateLimiter(0.001, 0.01)
    ctl = Controller("again", reconcile, rate_limiter=limiter).watch_primary(factory.pods())
    ctl.start()
    wait_until(lambda: calls.count("default/again") == 3)
    ctl.stop()
    assert requeues_seen == [0, 1, 2]
    assert ctl.queue.num_requeues("default/again") == 0


def test_a_reconcile_returning_something_else_is_treated_as_a_failure(
    sim: Simulator, factory: SharedInformerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    sim.store.create("pods", pod("odd"))
    calls = Calls()

    def reconcile(key: str) -> Any:
        calls.add(key)
        return True if calls.count(key) == 1 else None

    limiter = ItemExponentialFailureRateLimiter(0.001, 0.01)
    ctl = Controller("odd", reconcile, rate_limiter=limiter).watch_primary(factory.pods())
    with caplog.at_level(logging.ERROR, logger="fastinformer.controller"):
        ctl.start()
        wait_until(lambda: calls.count("default/odd") == 2)
        ctl.stop()
    errors = [r.exc_info[1] for r in caplog.records if r.exc_info is not None]
    assert len(errors) == 1
    assert isinstance(errors[0], TypeError)
    assert "expected a Result or None" in str(errors[0])


def test_owned_objects_enqueue_the_key_of_their_controlling_owner(
    sim: Simulator, factory: SharedInformerFactory
) -> None:
    rs = "apps/v1"
    sim.store.create("pods", pod("p1", ownerReferences=[owner_ref("ReplicaSet", "web", rs)]))
    sim.store.create(
        "pods",
        pod(
            "p2",
            ownerReferences=[
                owner_ref("ReplicaSet", "not-controller", rs, controller=False),
                owner_ref("ReplicaSet", "api", rs),
            ],
        ),
    )
    sim.store.create("pods", pod("p3", ownerReferences=[owner_ref("Job", "batch", "batch/v1")]))
    sim.store.create("pods", pod("p4", ownerReferences=[owner_ref("ReplicaSet", "x", "v1")]))
    sim.store.create("pods", pod("p5"))
    calls = Calls()
    ctl = Controller("replicasets", calls.add).watch_owned(factory.pods(), "ReplicaSet")
    ctl.start()
    wait_until(lambda: calls.distinct() == {"default/web", "default/api"})
    sim.store.delete("pods", "p1", "default")
    wait_until(lambda: calls.count("default/web") == 2)
    ctl.stop()
    assert calls.distinct() == {"default/web", "default/api"}


def test_owner_key_func_reads_dicts_and_typed_objects_and_cluster_scoped_owners() -> None:
    ref = owner_ref("ReplicaSet", "web", "apps/v1")
    as_dict = pod("p", "ns", ownerReferences=[ref])
    typed = msgspec.json.decode(msgspec.json.encode(as_dict), type=Pod)
    keys = owner_key_func(resource_for("replicasets"))
    assert keys(as_dict) == ["ns/web"]
    assert keys(typed) == ["ns/web"]
    node_owner = Resource("", "v1", "nodes", "Node", False)
    node_ref = owner_ref("Node", "n1", "v1")
    assert owner_key_func(node_owner)(pod("p", "ns", ownerReferences=[node_ref])) == ["n1"]
    assert keys({"metadata": {"name": "orphan", "namespace": "ns"}}) == []
    assert keys({}) == []


def test_mapped_sources_and_predicates_choose_what_is_enqueued(
    sim: Simulator, factory: SharedInformerFactory
) -> None:
    sim.store.create("pods", pod("keep", labels={"app": "x"}))
    sim.store.create("pods", pod("skip", labels={"app": "y"}))
    calls = Calls()

    def labelled_x(obj: Any) -> bool:
        return bool((obj.metadata.labels or {}).get("app") == "x")

    def to_app_key(obj: Any) -> list[str]:
        return [f"app/{obj.metadata.labels['app']}"]

    ctl = (
        Controller("mapped", calls.add)
        .watch_primary(factory.pods(), predicate=labelled_x)
        .watch_mapped(factory.pods(), to_app_key)
    )
    ctl.start()
    wait_until(lambda: calls.distinct() == {"default/keep", "app/x", "app/y"})
    ctl.stop()
    assert "default/skip" not in calls.distinct()


def test_stop_lets_in_flight_and_queued_work_finish(
    sim: Simulator, factory: SharedInformerFactory
) -> None:
    sim.store.create("pods", pod("slow"))
    started = threading.Event()
    release = threading.Event()
    finished: list[str] = []

    def reconcile(key: str) -> None:
        if key == "default/slow":
            started.set()
            assert release.wait(GUARD)
        finished.append(key)

    ctl = Controller("drain", reconcile).watch_primary(factory.pods())
    ctl.start()
    assert started.wait(GUARD)
    ctl.enqueue("queued/while-slow-runs")
    result: list[bool] = []
    stopper = threading.Thread(target=lambda: result.append(ctl.stop()))
    stopper.start()
    wait_until(lambda: ctl.queue.shutting_down())
    assert result == []  # still draining: the slow reconcile holds it
    release.set()
    stopper.join(GUARD)
    assert result == [True]
    assert finished == ["default/slow", "queued/while-slow-runs"]
    ctl.enqueue("after/stop")  # ignored once shut down
    assert len(ctl.queue) == 0


def test_events_after_stop_are_not_enqueued_and_informers_keep_running(
    sim: Simulator, factory: SharedInformerFactory
) -> None:
    calls = Calls()
    pods = factory.pods()
    ctl = Controller("stopped", calls.add).watch_primary(pods)
    ctl.start()
    wait_until(ctl.workers_started)
    ctl.stop()
    sim.store.create("pods", pod("late"))
    wait_until(lambda: pods.get_indexer().get_by_key("default/late") is not None)
    assert calls.distinct() == set()


def test_misuse_is_refused_with_clear_errors(factory: SharedInformerFactory) -> None:
    with pytest.raises(ValueError, match="name"):
        Controller("", lambda key: None)
    with pytest.raises(ValueError, match="workers"):
        Controller("c", lambda key: None, workers=0)
    with pytest.raises(TypeError, match="callable"):
        Controller("c", "not a function")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="requeue_after"):
        Result(requeue_after=-1.0)
    ctl = Controller("c", lambda key: None)
    with pytest.raises(RuntimeError, match="watches nothing"):
        ctl.start()
    ctl = Controller("c2", lambda key: None).watch_primary(factory.pods())
    ctl.start()
    with pytest.raises(RuntimeError, match="already started"):
        ctl.start()
    with pytest.raises(RuntimeError, match="before start"):
        ctl.watch_primary(factory.nodes())
    ctl.stop()


def test_updates_and_deletions_enqueue_the_key_again(
    sim: Simulator, factory: SharedInformerFactory
) -> None:
    sim.store.create("pods", pod("changing"))
    calls = Calls()
    ctl = Controller("changes", calls.add).watch_primary(factory.pods())
    ctl.start()
    wait_until(lambda: calls.count("default/changing") == 1)
    sim.store.patch("pods", "changing", {"metadata": {"labels": {"v": "2"}}}, "default")
    wait_until(lambda: calls.count("default/changing") == 2)
    sim.store.delete("pods", "changing", "default")
    wait_until(lambda: calls.count("default/changing") == 3)
    ctl.stop()
