"""Rate limiters: exponential and fast/slow per-item backoff, token bucket, max-of, default."""

from __future__ import annotations

import math
import threading
from types import ModuleType
from typing import Any

import pytest

from fastinformer import workqueue
from fastinformer._compat import core as chosen_core
from fastinformer.clock import FakeClock


class CountingLimiter:
    """A duck-typed limiter (no base class) returning a fixed delay."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls: dict[Any, int] = {}

    def when(self, item: Any) -> float:
        self.calls[item] = self.calls.get(item, 0) + 1
        return self.delay

    def forget(self, item: Any) -> None:
        self.calls.pop(item, None)

    def num_requeues(self, item: Any) -> int:
        return self.calls.get(item, 0)


def test_exponential_delay_doubles_per_failure_from_the_base_delay(core: ModuleType) -> None:
    limiter = core.ItemExponentialFailureRateLimiter(0.005, 1000.0)
    assert [limiter.when("a") for _ in range(5)] == [0.005 * 2**k for k in range(5)]
    assert limiter.num_requeues("a") == 5


def test_exponential_delay_is_capped_at_the_max_delay(core: ModuleType) -> None:
    limiter = core.ItemExponentialFailureRateLimiter(1.0, 10.0)
    assert [limiter.when("a") for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_exponential_delay_stays_at_the_cap_for_huge_failure_counts(core: ModuleType) -> None:
    limiter = core.ItemExponentialFailureRateLimiter(1e-300, 1e308)
    delays = [limiter.when("a") for _ in range(3000)]
    assert delays[-1] == 1e308
    assert all(math.isfinite(d) for d in delays)
    assert delays == sorted(delays)
    assert limiter.num_requeues("a") == 3000


def test_exponential_with_zero_base_delay_never_waits(core: ModuleType) -> None:
    limiter = core.ItemExponentialFailureRateLimiter(0, 5)
    assert {limiter.when("a") for _ in range(3000)} == {0.0}


def test_exponential_counts_failures_per_item_and_forget_resets_one(core: ModuleType) -> None:
    limiter = core.ItemExponentialFailureRateLimiter(1.0, 100.0)
    limiter.when("a")
    limiter.when("a")
    limiter.when("b")
    assert (limiter.num_requeues("a"), limiter.num_requeues("b")) == (2, 1)
    limiter.forget("a")
    limiter.forget("never-seen")
    assert (limiter.num_requeues("a"), limiter.num_requeues("b")) == (0, 1)
    assert limiter.when("a") == 1.0
    assert limiter.when("b") == 2.0


def test_exponential_rejects_an_unhashable_item_and_keeps_its_counts(core: ModuleType) -> None:
    limiter = core.ItemExponentialFailureRateLimiter(1.0, 100.0)
    limiter.when("a")
    with pytest.raises(TypeError):
        limiter.when(["not", "hashable"])
    assert limiter.num_requeues("a") == 1
    assert limiter.when("a") == 2.0


def test_fast_slow_uses_the_fast_delay_first_then_the_slow_one(core: ModuleType) -> None:
    limiter = core.ItemFastSlowRateLimiter(0.5, 30.0, 3)
    assert [limiter.when("a") for _ in range(5)] == [0.5, 0.5, 0.5, 30.0, 30.0]
    assert limiter.num_requeues("a") == 5
    assert limiter.when("b") == 0.5
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0
    assert limiter.when("a") == 0.5


def test_fast_slow_with_no_fast_attempts_is_always_slow(core: ModuleType) -> None:
    limiter = core.ItemFastSlowRateLimiter(0.5, 30.0, 0)
    assert [limiter.when("a") for _ in range(2)] == [30.0, 30.0]


def test_bucket_allows_a_burst_then_spaces_tokens_by_qps(core: ModuleType) -> None:
    limiter = core.BucketRateLimiter(2.0, 3, FakeClock())
    assert [limiter.when(i) for i in range(6)] == [0.0, 0.0, 0.0, 0.5, 1.0, 1.5]


def test_bucket_refills_with_time_but_never_beyond_the_burst(core: ModuleType) -> None:
    clock = FakeClock()
    limiter = core.BucketRateLimiter(1.0, 2, clock)
    assert [limiter.when("x") for _ in range(2)] == [0.0, 0.0]
    clock.step(1.0)
    assert limiter.when("x") == 0.0
    assert limiter.when("x") == 1.0  # reserved: the next token is one second away
    clock.step(1000.0)
    assert [limiter.when("x") for _ in range(3)] == [0.0, 0.0, 1.0]


def test_bucket_does_not_track_items(core: ModuleType) -> None:
    limiter = core.BucketRateLimiter(1.0, 1, FakeClock())
    limiter.when("a")
    assert limiter.num_requeues("a") == 0
    limiter.forget("a")
    assert limiter.when("a") == 1.0


def test_bucket_with_infinite_qps_never_waits(core: ModuleType) -> None:
    limiter = core.BucketRateLimiter(math.inf, 1, FakeClock())
    assert {limiter.when(i) for i in range(100)} == {0.0}


def test_bucket_on_the_real_clock_starts_full(core: ModuleType) -> None:
    limiter = core.BucketRateLimiter(0.001, 2)
    assert [limiter.when("a"), limiter.when("a")] == [0.0, 0.0]
    assert limiter.when("a") > 900.0


def test_max_of_returns_the_longest_delay_and_asks_every_limiter(core: ModuleType) -> None:
    short, long_ = CountingLimiter(1.0), CountingLimiter(7.0)
    expo = core.ItemExponentialFailureRateLimiter(2.0, 100.0)
    limiter = core.MaxOfRateLimiter(short, expo, long_)
    assert limiter.when("a") == 7.0
    assert limiter.when("a") == 7.0
    assert limiter.when("a") == 8.0
    assert (short.calls["a"], long_.calls["a"], expo.num_requeues("a")) == (3, 3, 3)
    assert limiter.limiters == (short, expo, long_)


def test_max_of_forgets_everywhere_and_reports_the_largest_count(core: ModuleType) -> None:
    counting = CountingLimiter(0.0)
    fast_slow = core.ItemFastSlowRateLimiter(0.0, 1.0, 1)
    limiter = core.MaxOfRateLimiter(fast_slow, counting)
    limiter.when("a")
    counting.when("a")
    assert limiter.num_requeues("a") == 2
    limiter.forget("a")
    assert (limiter.num_requeues("a"), fast_slow.num_requeues("a"), counting.calls) == (0, 0, {})


def test_max_of_calls_python_overrides_of_the_base_class(core: ModuleType) -> None:
    class Fixed(core.RateLimiter):  # type: ignore[name-defined,misc]
        def when(self, item: Any) -> float:
            return 42.0

        def forget(self, item: Any) -> None:
            pass

        def num_requeues(self, item: Any) -> int:
            return 9

    limiter = core.MaxOfRateLimiter(Fixed(), core.ItemExponentialFailureRateLimiter(1.0, 2.0))
    assert limiter.when("a") == 42.0
    assert limiter.num_requeues("a") == 9


def test_rate_limiter_base_class_methods_must_be_overridden(core: ModuleType) -> None:
    base = core.RateLimiter()
    for call in (base.when, base.forget, base.num_requeues):
        with pytest.raises(NotImplementedError):
            call("a")


def test_max_of_rejects_no_limiters_and_objects_that_are_not_limiters(core: ModuleType) -> None:
    with pytest.raises(ValueError, match="at least one"):
        core.MaxOfRateLimiter()
    with pytest.raises(TypeError, match="not a rate limiter"):
        core.MaxOfRateLimiter(core.BucketRateLimiter(1.0, 1), object())


def test_default_controller_rate_limiter_combines_backoff_and_bucket(core: ModuleType) -> None:
    limiter = core.default_controller_rate_limiter(FakeClock())
    assert [limiter.when(f"item-{i}") for i in range(100)] == [0.005] * 100
    # The burst of 100 is spent: 10 qps spaces further tokens 0.1 s apart.
    assert limiter.when("next") == pytest.approx(0.1)
    assert limiter.when("next") == pytest.approx(0.2)
    assert limiter.num_requeues("next") == 2
    ten_doublings = core.default_controller_rate_limiter(FakeClock())
    delays = [ten_doublings.when("a") for _ in range(20)]
    assert delays[:10] == [0.005 * 2**k for k in range(10)]
    assert max(delays) <= 1000.0


def test_default_controller_rate_limiter_caps_at_1000_seconds(core: ModuleType) -> None:
    limiter = core.default_controller_rate_limiter(FakeClock())
    delays = [limiter.when("a") for _ in range(40)]
    assert delays[-1] == 1000.0


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda c: c.ItemExponentialFailureRateLimiter(-0.1, 1.0), "base_delay must be >= 0"),
        (lambda c: c.ItemExponentialFailureRateLimiter(0.1, -1.0), "max_delay must be >= 0"),
        (lambda c: c.ItemExponentialFailureRateLimiter(math.nan, 1.0), "base_delay must be >= 0"),
        (lambda c: c.ItemFastSlowRateLimiter(-1.0, 1.0, 1), "fast_delay must be >= 0"),
        (lambda c: c.ItemFastSlowRateLimiter(1.0, -1.0, 1), "slow_delay must be >= 0"),
        (lambda c: c.ItemFastSlowRateLimiter(1.0, 1.0, -1), "max_fast_attempts must be >= 0"),
        (lambda c: c.BucketRateLimiter(0.0, 1), "qps must be > 0"),
        (lambda c: c.BucketRateLimiter(-5.0, 1), "qps must be > 0"),
        (lambda c: c.BucketRateLimiter(math.nan, 1), "qps must be > 0"),
        (lambda c: c.BucketRateLimiter(1.0, 0), "burst must be >= 1"),
    ],
)
def test_bad_arguments_raise_value_error_with_a_clear_message(
    core: ModuleType, factory: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        factory(core)


@pytest.mark.parametrize(
    "factory",
    [
        lambda c: c.ItemExponentialFailureRateLimiter("5ms", 1.0),
        lambda c: c.ItemExponentialFailureRateLimiter(None, 1.0),
        lambda c: c.BucketRateLimiter("10", 1),
        lambda c: c.BucketRateLimiter(10.0, 1.5),
        lambda c: c.ItemFastSlowRateLimiter(1.0, 2.0, 2.5),
    ],
)
def test_arguments_of_the_wrong_type_raise_type_error(core: ModuleType, factory: Any) -> None:
    with pytest.raises(TypeError, match="must be"):
        factory(core)


def test_concurrent_failures_are_all_counted(core: ModuleType) -> None:
    limiter = core.MaxOfRateLimiter(
        core.ItemExponentialFailureRateLimiter(0.001, 1.0),
        core.ItemFastSlowRateLimiter(0.0, 1.0, 5),
    )
    start = threading.Barrier(4)

    def fail_many() -> None:
        start.wait(10.0)
        for i in range(2000):
            limiter.when(i % 7)

    threads = [threading.Thread(target=fail_many) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30.0)
    assert sum(limiter.num_requeues(i) for i in range(7)) == 8000


def test_public_module_exports_the_chosen_cores_limiters() -> None:
    assert workqueue.BucketRateLimiter is chosen_core.BucketRateLimiter
    assert workqueue.MaxOfRateLimiter is chosen_core.MaxOfRateLimiter
    assert workqueue.default_controller_rate_limiter is chosen_core.default_controller_rate_limiter
    assert isinstance(workqueue.default_controller_rate_limiter(), workqueue.RateLimiter)
