"""Queue: FIFO order, dedup, one worker per item, dirty re-adds, timeouts, shut-down, drain."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from fastinformer import _core_py, workqueue
from fastinformer._compat import core as chosen_core
from fastinformer.clock import FakeClock

GUARD = 10.0  # real seconds: only a deadlock guard, never part of an assertion


class Runner:
    """Runs a call in a thread and keeps its result or exception."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self.finished = threading.Event()
        self._call = call
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.result = self._call()
        except BaseException as exc:
            self.error = exc
        finally:
            self.finished.set()

    def join(self) -> Any:
        assert self.finished.wait(GUARD), "thread did not finish"
        if self.error is not None:
            raise self.error
        return self.result


def drain(queue: Any) -> list[Any]:
    """Take and finish every ready item."""
    items = []
    while len(queue):
        item, shutdown = queue.get(timeout=0)
        assert not shutdown
        queue.done(item)
        items.append(item)
    return items


def test_get_returns_items_in_the_order_they_were_added(core: ModuleType) -> None:
    queue = core.Queue()
    for item in ("c", "a", "b", 1, ("t", 2)):
        queue.add(item)
    assert drain(queue) == ["c", "a", "b", 1, ("t", 2)]


def test_adding_an_item_already_queued_is_a_no_op(core: ModuleType) -> None:
    queue = core.Queue()
    for item in ("a", "b", "a", "a", "b"):
        queue.add(item)
    assert len(queue) == 2
    assert drain(queue) == ["a", "b"]


def test_an_item_added_while_processing_waits_until_done(core: ModuleType) -> None:
    queue = core.Queue()
    queue.add("a")
    assert queue.get(timeout=0) == ("a", False)
    queue.add("a")
    queue.add("a")
    assert len(queue) == 0
    with pytest.raises(TimeoutError):
        queue.get(timeout=0)  # never handed to a second worker while processing
    queue.done("a")
    assert len(queue) == 1
    assert queue.get(timeout=0) == ("a", False)
    queue.done("a")
    assert len(queue) == 0


def test_a_requeued_item_goes_to_the_back_of_the_queue(core: ModuleType) -> None:
    queue = core.Queue()
    queue.add("a")
    queue.get(timeout=0)
    queue.add("a")
    queue.add("b")
    queue.done("a")
    assert drain(queue) == ["b", "a"]


def test_done_of_an_item_not_being_processed_raises_and_changes_nothing(
    core: ModuleType,
) -> None:
    queue = core.Queue()
    queue.add("a")
    with pytest.raises(ValueError, match="not being processed"):
        queue.done("a")
    with pytest.raises(ValueError, match="not being processed"):
        queue.done("never-added")
    assert drain(queue) == ["a"]
    with pytest.raises(ValueError):
        queue.done("a")  # done twice


def test_an_unhashable_item_raises_type_error_and_loses_nothing(core: ModuleType) -> None:
    queue = core.Queue()
    queue.add("a")
    with pytest.raises(TypeError):
        queue.add(["unhashable"])
    assert drain(queue) == ["a"]


def test_get_with_zero_timeout_raises_timeout_error_at_once(core: ModuleType) -> None:
    clock = FakeClock()
    queue = core.Queue(clock=clock)
    with pytest.raises(TimeoutError):
        queue.get(timeout=0)
    assert clock.sleepers == 0


def test_a_negative_or_nan_timeout_is_rejected(core: ModuleType) -> None:
    queue = core.Queue()
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="timeout"):
            queue.get(timeout=bad)
        with pytest.raises(ValueError, match="timeout"):
            queue.shut_down_with_drain(timeout=bad)
    assert not queue.shutting_down()


def test_get_with_timeout_waits_for_clock_time_then_raises(core: ModuleType) -> None:
    clock = FakeClock()
    queue = core.Queue(clock=clock)
    getter = Runner(lambda: queue.get(timeout=5.0))
    assert clock.wait_for_sleepers(1)
    clock.step(4.0)
    assert clock.wait_for_sleepers(1)
    assert not getter.finished.is_set()
    clock.step(1.0)
    with pytest.raises(TimeoutError):
        getter.join()


def test_timeouts_work_on_a_clock_whose_readings_are_negative(core: ModuleType) -> None:
    clock = FakeClock(start=-100.0)
    queue = core.Queue(clock=clock)
    getter = Runner(lambda: queue.get(timeout=5.0))
    assert clock.wait_for_sleepers(1)
    clock.step(5.0)
    with pytest.raises(TimeoutError):
        getter.join()
    queue.add("a")
    queue.get()
    drainer = Runner(lambda: queue.shut_down_with_drain(timeout=5.0))
    assert clock.wait_for_sleepers(1)
    clock.step(5.0)
    assert drainer.join() is False


def test_get_with_timeout_returns_an_item_added_before_the_deadline(core: ModuleType) -> None:
    clock = FakeClock()
    queue = core.Queue(clock=clock)
    getter = Runner(lambda: queue.get(timeout=5.0))
    assert clock.wait_for_sleepers(1)
    clock.step(3.0)
    queue.add("a")
    assert getter.join() == ("a", False)


def test_a_blocked_get_wakes_when_an_item_is_added(core: ModuleType) -> None:
    queue = core.Queue()
    getter = Runner(queue.get)
    queue.add("a")
    assert getter.join() == ("a", False)


def test_shut_down_wakes_every_blocked_getter(core: ModuleType) -> None:
    clock = FakeClock()
    queue = core.Queue(clock=clock)
    getters = [Runner(queue.get) for _ in range(3)]
    assert clock.wait_for_sleepers(3)
    queue.shut_down()
    assert [g.join() for g in getters] == [(None, True)] * 3
    assert queue.shutting_down()


def test_queued_items_can_still_be_taken_after_shut_down(core: ModuleType) -> None:
    queue = core.Queue()
    queue.add("a")
    queue.add("b")
    queue.shut_down()
    assert queue.get() == ("a", False)
    assert queue.get() == ("b", False)
    assert queue.get() == (None, True)
    assert queue.get(timeout=0) == (None, True)


def test_adds_after_shut_down_are_ignored(core: ModuleType) -> None:
    queue = core.Queue()
    assert not queue.shutting_down()
    queue.shut_down()
    queue.add("a")
    assert len(queue) == 0
    assert queue.get() == (None, True)


def test_a_dirty_item_is_requeued_by_done_during_shut_down(core: ModuleType) -> None:
    queue = core.Queue()
    queue.add("a")
    queue.get()
    queue.add("a")
    queue.shut_down()
    queue.done("a")
    assert queue.get() == ("a", False)
    queue.done("a")
    assert queue.get() == (None, True)


def test_shut_down_with_drain_waits_for_items_in_flight(core: ModuleType) -> None:
    clock = FakeClock()
    queue = core.Queue(clock=clock)
    for item in ("a", "b", "c"):
        queue.add(item)
    queue.get()
    queue.get()
    drainer = Runner(queue.shut_down_with_drain)
    assert clock.wait_for_sleepers(1)
    assert queue.shutting_down()
    queue.add("d")  # ignored: shutting down
    queue.done("a")
    assert clock.wait_for_sleepers(1)
    assert not drainer.finished.is_set()
    queue.done("b")
    assert drainer.join() is True
    assert queue.get() == ("c", False)  # queued items were never in flight
    assert queue.get() == (None, True)


def test_shut_down_with_drain_returns_at_once_when_nothing_is_in_flight(
    core: ModuleType,
) -> None:
    queue = core.Queue(clock=FakeClock())
    queue.add("a")
    assert queue.shut_down_with_drain() is True
    assert queue.shutting_down()


def test_shut_down_with_drain_gives_up_after_its_timeout(core: ModuleType) -> None:
    clock = FakeClock()
    queue = core.Queue(clock=clock)
    queue.add("a")
    queue.get()
    assert queue.shut_down_with_drain(timeout=0) is False
    drainer = Runner(lambda: queue.shut_down_with_drain(timeout=2.0))
    assert clock.wait_for_sleepers(1)
    clock.step(2.0)
    assert drainer.join() is False


def test_shut_down_cuts_a_drain_short(core: ModuleType) -> None:
    clock = FakeClock()
    queue = core.Queue(clock=clock)
    queue.add("a")
    queue.get()
    drainer = Runner(queue.shut_down_with_drain)
    assert clock.wait_for_sleepers(1)
    queue.shut_down()
    assert drainer.join() is False


def test_len_counts_only_items_waiting_to_be_taken(core: ModuleType) -> None:
    queue = core.Queue()
    queue.add("a")
    queue.add("b")
    queue.get()
    assert len(queue) == 1
    assert "len=1" in repr(queue)


def test_the_name_must_be_a_string(core: ModuleType) -> None:
    with pytest.raises(TypeError, match="name must be str"):
        core.Queue(name=42)
    assert core.Queue(name="pods").name == "pods"


def test_a_long_fifo_keeps_its_order_across_compaction(core: ModuleType) -> None:
    queue = core.Queue()
    taken = []
    for i in range(5000):
        queue.add(i)
        if i % 3 == 0:
            item, _ = queue.get(timeout=0)
            queue.done(item)
            taken.append(item)
    taken.extend(drain(queue))
    assert taken == list(range(5000))


def test_a_compiled_queue_subclass_that_skips_init_still_works(core: ModuleType) -> None:
    if core is _core_py:
        pytest.skip("the twin follows plain Python rules: attributes come from __init__")

    class Lazy(core.Queue):  # type: ignore[name-defined,misc]
        def __init__(self) -> None:
            pass

    queue = Lazy()
    queue.add("a")
    assert queue.get(timeout=0) == ("a", False)


@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    """Make the interpreter switch threads very often, so races get a chance to show."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


@pytest.mark.usefixtures("frequent_thread_switches")
def test_workers_never_share_an_item_and_every_add_is_processed_after_it(
    core: ModuleType,
) -> None:
    """Producers add, workers sometimes re-add what they hold; checks the core guarantees.

    Every add bumps the item's version (under ``track``); a worker records the version
    it sees when it starts. At the end each item's last processing must have seen its
    last version: no add was lost, and re-adds during processing were processed again.
    """
    queue = core.Queue()
    track = threading.Lock()
    versions: dict[int, int] = {}
    seen: dict[int, int] = {}
    in_flight: set[int] = set()
    violations: list[str] = []
    processed = [0]
    stop_readding = False

    def add(item: int) -> None:
        with track:
            versions[item] = versions.get(item, 0) + 1
            queue.add(item)

    def produce(seed: int) -> None:
        for i in range(1000):
            add((seed * 7 + i * 13) % 40)

    def work() -> None:
        try:
            work_until_shut_down()
        except Exception as exc:  # reported below, not lost in the thread
            violations.append(repr(exc))

    def work_until_shut_down() -> None:
        while True:
            item, shutdown = queue.get()
            if shutdown:
                return
            with track:
                if item in in_flight:
                    violations.append(f"{item} handed to two workers")
                in_flight.add(item)
                seen[item] = versions[item]
                processed[0] += 1
                readd = not stop_readding and processed[0] % 5 == 0
                if readd:  # added while processing: must come back after done
                    versions[item] += 1
                    queue.add(item)
            time.sleep(0)  # let other threads run while this item is held
            with track:
                in_flight.discard(item)
            queue.done(item)

    workers = [threading.Thread(target=work, daemon=True) for _ in range(4)]
    producers = [threading.Thread(target=produce, args=(s,), daemon=True) for s in range(3)]
    for t in workers + producers:
        t.start()
    for t in producers:
        t.join(GUARD * 3)
    with track:
        stop_readding = True
    queue.shut_down()
    for t in workers:
        t.join(GUARD * 3)
    assert not any(t.is_alive() for t in workers + producers)
    assert violations == []
    assert seen == versions
    assert len(queue) == 0


def test_public_module_exports_the_chosen_cores_queues() -> None:
    assert workqueue.Queue is chosen_core.Queue
    assert workqueue.DelayingQueue is chosen_core.DelayingQueue
    assert workqueue.RateLimitingQueue is chosen_core.RateLimitingQueue
    assert issubclass(workqueue.RateLimitingQueue, workqueue.Queue)
