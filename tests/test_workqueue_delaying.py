"""DelayingQueue: add_after, earliest ready time wins, ready order, waking getters, shut-down."""

from __future__ import annotations

import threading
from types import ModuleType
from typing import Any

import pytest

from fastinformer.clock import FakeClock

GUARD = 10.0  # real seconds: only a deadlock guard, never part of an assertion


def take_ready(queue: Any) -> list[Any]:
    """Take and finish every item ready now, without waiting."""
    items: list[Any] = []
    while True:
        try:
            item, _ = queue.get(timeout=0)
        except TimeoutError:
            return items
        queue.done(item)
        items.append(item)


def in_thread(call: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(call()), daemon=True)
    thread.start()
    return thread, out


def test_add_after_with_a_delay_of_zero_or_less_adds_now(core: ModuleType) -> None:
    queue = core.DelayingQueue(clock=FakeClock())
    queue.add_after("a", 0)
    queue.add_after("b", -3.5)
    assert take_ready(queue) == ["a", "b"]


def test_an_item_becomes_available_once_its_delay_has_passed(core: ModuleType) -> None:
    clock = FakeClock()
    queue = core.DelayingQueue(clock=clock)
    queue.add_after("a", 2.0)
    assert len(queue) == 0
    clock.step(1.999)
    assert take_ready(queue) == []
    clock.step(0.001)
    assert len(queue) == 1
    assert take_ready(queue) == ["a"]
    clock.step(100.0)
    assert take_ready(queue) == []  # added once only


def test_re_adding_a_waiting_item_keeps_the_earliest_ready_time(core: ModuleType) -> None:
    clock = FakeClock()
    queue = core.DelayingQueue(clock=clock)
    queue.add_after("later-first", 10.0)
    queue.add_after("later-first", 5.0)
    queue.add_after("sooner-first", 5.0)
    queue.add_after("sooner-first", 10.0)
    clock.step(5.0)
    assert take_ready(queue) == ["later-first", "sooner-first"]
    clock.step(10.0)
    assert take_ready(queue) == []  # the superseded ready times add nothing


def test_waiting_items_become_ready_in_order_of_ready_time(core: ModuleType) -> None:
    clock = FakeClock()
    queue = core.DelayingQueue(clock=clock)
    for item, delay in (("c", 3.0), ("a", 1.0), ("b2", 2.0), ("b1", 2.0), ("d", 4.0)):
        queue.add_after(item, delay)
    queue.add_after("b1", 2.0)  # same ready time again: keeps its place
    clock.step(3.0)
    assert take_ready(queue) == ["a", "b2", "b1", "c"]
    clock.step(1.0)
    assert take_ready(queue) == ["d"]


def test_items_that_became_ready_come_before_items_added_later(core: ModuleType) -> None:
    clock = FakeClock()
    queue = core.DelayingQueue(clock=clock)
    queue.add_after("delayed", 1.0)
    clock.step(2.0)
    queue.add("direct")
    assert take_ready(queue) == ["delayed", "direct"]


def test_a_waiting_item_added_directly_is_queued_now_and_again_when_ready(
    core: ModuleType,
) -> None:
    clock = FakeClock()
    queue = core.DelayingQueue(clock=clock)
    queue.add_after("a", 5.0)
    queue.add("a")
    assert take_ready(queue) == ["a"]
    clock.step(5.0)
    assert take_ready(queue) == ["a"]


def test_a_ready_item_being_processed_is_requeued_by_done(core: ModuleType) -> None:
    clock = FakeClock()
    queue = core.DelayingQueue(clock=clock)
    queue.add("a")
    queue.get(timeout=0)
    queue.add_after("a", 1.0)
    clock.step(1.0)
    assert len(queue) == 0  # dirty, but held by a worker
    queue.done("a")
    assert take_ready(queue) == ["a"]


def test_a_blocked_get_wakes_when_a_waiting_item_becomes_ready(core: ModuleType) -> None:
    clock = FakeClock()
    queue = core.DelayingQueue(clock=clock)
    queue.add_after("a", 30.0)
    thread, out = in_thread(queue.get)
    assert clock.wait_for_sleepers(1)
    clock.step(29.0)
    assert clock.wait_for_sleepers(1)
    assert out == []
    clock.step(1.0)
    thread.join(GUARD)
    assert out == [("a", False)]


def test_get_with_a_timeout_returns_an_item_ready_before_the_deadline(core: ModuleType) -> None:
    clock = FakeClock()
    queue = core.DelayingQueue(clock=clock)
    queue.add_after("a", 3.0)
    thread, out = in_thread(lambda: queue.get(timeout=10.0))
    assert clock.wait_for_sleepers(1)
    clock.step(3.0)
    thread.join(GUARD)
    assert out == [("a", False)]


def test_get_with_a_timeout_raises_before_a_later_item_is_ready(core: ModuleType) -> None:
    clock = FakeClock()
    queue = core.DelayingQueue(clock=clock)
    queue.add_after("a", 10.0)
    errors: list[BaseException] = []

    def get() -> None:
        try:
            queue.get(timeout=4.0)
        except TimeoutError as exc:
            errors.append(exc)

    thread = threading.Thread(target=get, daemon=True)
    thread.start()
    assert clock.wait_for_sleepers(1)
    clock.step(4.0)
    thread.join(GUARD)
    assert len(errors) == 1
    clock.step(6.0)
    assert take_ready(queue) == ["a"]


class RecordingClock(FakeClock):
    """A fake clock whose ``wait`` returns only when the condition is notified.

    Records every timeout asked for, so a test can see a getter re-plan its wait.
    """

    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[float | None] = []
        self.recorded = threading.Condition()

    def wait(self, cond: threading.Condition, timeout: float | None) -> None:
        with self.recorded:
            self.timeouts.append(timeout)
            self.recorded.notify_all()
        cond.wait(GUARD)

    def wait_for_timeouts(self, n: int) -> list[float | None]:
        with self.recorded:
            assert self.recorded.wait_for(lambda: len(self.timeouts) >= n, GUARD)
            return list(self.timeouts)


def test_a_blocked_get_replans_its_wait_for_an_earlier_item(core: ModuleType) -> None:
    clock = RecordingClock()
    queue = core.DelayingQueue(clock=clock)
    queue.add_after("late", 100.0)
    thread, out = in_thread(queue.get)
    assert clock.wait_for_timeouts(1) == [100.0]
    queue.add_after("later", 200.0)  # not the next item: no need to wake the getter
    queue.add_after("soon", 1.0)
    assert clock.wait_for_timeouts(2) == [100.0, 1.0]
    queue.add("now")
    thread.join(GUARD)
    assert out == [("now", False)]


def test_a_blocked_get_with_nothing_waiting_blocks_without_a_timeout(core: ModuleType) -> None:
    clock = RecordingClock()
    queue = core.DelayingQueue(clock=clock)
    thread, out = in_thread(queue.get)
    assert clock.wait_for_timeouts(1) == [None]
    queue.shut_down()
    thread.join(GUARD)
    assert out == [(None, True)]


def test_shut_down_drops_waiting_items(core: ModuleType) -> None:
    clock = FakeClock()
    queue = core.DelayingQueue(clock=clock)
    queue.add_after("a", 1.0)
    queue.add("b")
    queue.shut_down()
    clock.step(5.0)
    assert queue.get() == ("b", False)
    assert queue.get() == (None, True)


def test_shut_down_keeps_waiting_items_whose_time_had_come(core: ModuleType) -> None:
    clock = FakeClock()
    queue = core.DelayingQueue(clock=clock)
    queue.add_after("due", 1.0)
    queue.add_after("not-yet", 2.0)
    clock.step(1.0)
    queue.shut_down()
    clock.step(1.0)
    assert queue.get() == ("due", False)
    assert queue.get() == (None, True)


def test_shut_down_with_drain_drops_waiting_items_too(core: ModuleType) -> None:
    clock = FakeClock()
    queue = core.DelayingQueue(clock=clock)
    queue.add_after("a", 1.0)
    assert queue.shut_down_with_drain() is True
    clock.step(5.0)
    assert queue.get() == (None, True)


def test_add_after_is_ignored_after_shut_down(core: ModuleType) -> None:
    clock = FakeClock()
    queue = core.DelayingQueue(clock=clock)
    queue.shut_down()
    queue.add_after("a", 0)
    queue.add_after("b", 1.0)
    clock.step(2.0)
    assert len(queue) == 0
    assert queue.get() == (None, True)


@pytest.mark.parametrize(
    ("delay", "error"),
    [(float("nan"), ValueError), ("1s", TypeError), (None, TypeError), (True, TypeError)],
)
def test_add_after_rejects_a_delay_that_is_not_a_number_of_seconds(
    core: ModuleType, delay: Any, error: type[Exception]
) -> None:
    queue = core.DelayingQueue(clock=FakeClock())
    with pytest.raises(error, match="delay must be a number of seconds"):
        queue.add_after("a", delay)
    assert len(queue) == 0


def test_add_after_rejects_an_unhashable_item_and_keeps_the_rest(core: ModuleType) -> None:
    clock = FakeClock()
    queue = core.DelayingQueue(clock=clock)
    queue.add_after("a", 1.0)
    with pytest.raises(TypeError):
        queue.add_after({"un": "hashable"}, 1.0)
    clock.step(1.0)
    assert take_ready(queue) == ["a"]


def test_an_infinite_delay_never_becomes_ready(core: ModuleType) -> None:
    clock = FakeClock()
    queue = core.DelayingQueue(clock=clock)
    queue.add_after("a", float("inf"))
    clock.step(1e12)
    assert take_ready(queue) == []
    queue.add_after("a", 1.0)
    clock.step(1.0)
    assert take_ready(queue) == ["a"]


def test_workers_get_every_delayed_item_once_as_the_clock_moves(core: ModuleType) -> None:
    clock = FakeClock()
    queue = core.RateLimitingQueue(core.ItemFastSlowRateLimiter(1.0, 3.0, 1), clock=clock)
    received: list[Any] = []
    lock = threading.Lock()

    def work() -> None:
        while True:
            item, shutdown = queue.get()
            if shutdown:
                return
            with lock:
                received.append(item)
            queue.done(item)

    workers = [threading.Thread(target=work, daemon=True) for _ in range(3)]
    for t in workers:
        t.start()
    for i in range(60):
        queue.add_after(f"delayed-{i}", float(1 + i % 10))
        queue.add_rate_limited(f"limited-{i % 20}")  # 1 s the first time, then 3 s
    for _ in range(10):
        assert clock.wait_for_sleepers(3)
        clock.step(1.0)
    assert queue.shut_down_with_drain() is True
    for t in workers:
        t.join(GUARD)
    assert not any(t.is_alive() for t in workers)
    expected = [f"delayed-{i}" for i in range(60)] + [f"limited-{i}" for i in range(20)]
    assert sorted(received) == sorted(expected)
