"""RateLimitingQueue: add_rate_limited uses the limiter's delay; forget and num_requeues."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from fastinformer.clock import FakeClock


def take_ready(queue: Any) -> list[Any]:
    items: list[Any] = []
    while True:
        try:
            item, _ = queue.get(timeout=0)
        except TimeoutError:
            return items
        queue.done(item)
        items.append(item)


class ScriptedLimiter:
    """A duck-typed limiter returning the given delays in turn."""

    def __init__(self, *delays: float) -> None:
        self.delays = list(delays)
        self.forgotten: list[Any] = []
        self.count = 0

    def when(self, item: Any) -> float:
        self.count += 1
        return self.delays.pop(0)

    def forget(self, item: Any) -> None:
        self.forgotten.append(item)

    def num_requeues(self, item: Any) -> int:
        return self.count


def test_add_rate_limited_adds_after_the_limiters_delay(core: ModuleType) -> None:
    clock = FakeClock()
    queue = core.RateLimitingQueue(core.ItemExponentialFailureRateLimiter(1.0, 60.0), clock=clock)
    queue.add_rate_limited("a")
    assert take_ready(queue) == []
    clock.step(1.0)
    assert take_ready(queue) == ["a"]
    queue.add_rate_limited("a")
    clock.step(1.0)
    assert take_ready(queue) == []
    clock.step(1.0)
    assert take_ready(queue) == ["a"]
    assert queue.num_requeues("a") == 2


def test_forget_resets_the_backoff_of_an_item(core: ModuleType) -> None:
    clock = FakeClock()
    queue = core.RateLimitingQueue(core.ItemExponentialFailureRateLimiter(1.0, 60.0), clock=clock)
    for _ in range(3):
        queue.add_rate_limited("a")
    assert queue.num_requeues("a") == 3
    queue.forget("a")
    assert queue.num_requeues("a") == 0
    assert queue.rate_limiter.when("a") == 1.0


def test_the_default_limiter_is_the_controller_default_on_the_queues_clock(
    core: ModuleType,
) -> None:
    clock = FakeClock()
    start = clock.now()
    queue = core.RateLimitingQueue(clock=clock)
    assert isinstance(queue.rate_limiter, core.MaxOfRateLimiter)
    for i in range(100):
        queue.add_rate_limited(i)  # 5 ms each: first failure, burst still has tokens
    queue.add_rate_limited("over-burst")  # the bucket on the fake clock is empty: 0.1 s
    clock.set(start + 0.005)
    assert take_ready(queue) == list(range(100))
    clock.set(start + 0.099)
    assert take_ready(queue) == []
    clock.set(start + 0.1)
    assert take_ready(queue) == ["over-burst"]


def test_a_duck_typed_limiter_is_accepted(core: ModuleType) -> None:
    clock = FakeClock()
    limiter = ScriptedLimiter(0.0, 5.0)
    queue = core.RateLimitingQueue(limiter, name="", clock=clock)
    queue.add_rate_limited("a")
    assert take_ready(queue) == ["a"]
    queue.add_rate_limited("b")
    clock.step(5.0)
    assert take_ready(queue) == ["b"]
    queue.forget("a")
    assert limiter.forgotten == ["a"]
    assert queue.num_requeues("zzz") == 2


def test_an_object_that_is_not_a_rate_limiter_is_rejected(core: ModuleType) -> None:
    with pytest.raises(TypeError, match="not a rate limiter"):
        core.RateLimitingQueue(object())


def test_add_rate_limited_after_shut_down_adds_nothing(core: ModuleType) -> None:
    clock = FakeClock()
    queue = core.RateLimitingQueue(core.ItemFastSlowRateLimiter(0.0, 1.0, 5), clock=clock)
    queue.shut_down()
    queue.add_rate_limited("a")
    assert queue.get() == (None, True)


def test_a_controller_loop_retries_failures_with_backoff_until_success(
    core: ModuleType,
) -> None:
    clock = FakeClock()
    queue = core.RateLimitingQueue(core.ItemExponentialFailureRateLimiter(0.5, 10.0), clock=clock)
    failures_left = {"ns/pod": 3}
    attempts: list[float] = []
    queue.add("ns/pod")
    while True:
        try:
            key, _ = queue.get(timeout=0)
        except TimeoutError:
            if queue.num_requeues("ns/pod") == 0:
                break
            clock.step(0.5)
            continue
        attempts.append(clock.now())
        if failures_left[key]:
            failures_left[key] -= 1
            queue.add_rate_limited(key)
        else:
            queue.forget(key)
        queue.done(key)
    start = attempts[0]
    assert [t - start for t in attempts] == [0.0, 0.5, 1.5, 3.5]
