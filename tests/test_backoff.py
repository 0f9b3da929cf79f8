"""backoff: exponential growth, jitter bounds, the cap, the reset after health, waiting."""

from __future__ import annotations

import random
import threading

import pytest

from fastinformer.backoff import Backoff
from fastinformer.clock import FakeClock


def test_delays_double_from_initial_up_to_the_maximum() -> None:
    b = Backoff(initial=0.8, maximum=30.0, factor=2.0, jitter=0.0, clock=FakeClock())
    delays = [b.next() for _ in range(8)]
    expected = []
    base = 0.8
    for _ in range(8):
        expected.append(min(base, 30.0))
        base *= 2
    assert delays == pytest.approx(expected)
    assert delays[-1] == 30.0


def test_jitter_stretches_each_delay_within_its_bounds() -> None:
    b = Backoff(
        initial=1.0, maximum=1000.0, factor=2.0, jitter=1.0, clock=FakeClock(), rng=random.Random(3)
    )
    delays = [b.next() for _ in range(8)]
    for n, d in enumerate(delays):
        base = 2.0**n
        assert base <= d < 2 * base
    assert any(d != 2.0**n for n, d in enumerate(delays)), "jitter never moved a delay"


def test_delays_never_exceed_the_maximum_even_with_jitter() -> None:
    b = Backoff(initial=0.8, maximum=30.0, jitter=1.0, clock=FakeClock(), rng=random.Random(5))
    assert max(b.next() for _ in range(40)) <= 30.0


def test_same_seed_gives_the_same_delays() -> None:
    def run(seed: int) -> list[float]:
        b = Backoff(clock=FakeClock(), rng=random.Random(seed))
        return [b.next() for _ in range(6)]

    assert run(11) == run(11)
    assert run(11) != run(12)


def test_delays_reset_to_initial_after_reset_after_seconds_without_failure() -> None:
    clock = FakeClock()
    b = Backoff(initial=0.8, jitter=0.0, reset_after=120.0, clock=clock)
    b.next()
    b.next()
    assert b.next() == pytest.approx(3.2)
    clock.step(119.0)
    assert b.next() == pytest.approx(6.4), "reset before reset_after elapsed"
    clock.step(120.0)
    assert b.next() == pytest.approx(0.8)


def test_reset_starts_over_at_initial() -> None:
    b = Backoff(initial=0.5, jitter=0.0, clock=FakeClock())
    for _ in range(4):
        b.next()
    b.reset()
    assert b.next() == pytest.approx(0.5)


def test_wait_sleeps_the_delay_on_the_clock() -> None:
    clock = FakeClock()
    b = Backoff(initial=2.0, jitter=0.0, clock=clock)
    result: list[bool] = []
    t = threading.Thread(target=lambda: result.append(b.wait()))
    t.start()
    assert clock.wait_for_sleepers(1)
    clock.step(1.9)
    t.join(0.1)
    assert t.is_alive()
    clock.step(0.1)
    t.join(5.0)
    assert result == [True]


def test_wait_returns_false_when_stop_is_set() -> None:
    clock = FakeClock()
    b = Backoff(initial=5.0, clock=clock)
    stop = threading.Event()
    result: list[bool] = []
    t = threading.Thread(target=lambda: result.append(b.wait(stop)))
    t.start()
    assert clock.wait_for_sleepers(1)
    stop.set()
    t.join(5.0)
    assert result == [False]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial": 0.0},
        {"initial": -1.0},
        {"initial": 5.0, "maximum": 1.0},
        {"factor": 0.5},
        {"jitter": -0.1},
        {"reset_after": 0.0},
        {"initial": float("nan")},
    ],
)
def test_invalid_parameters_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)  # type: ignore[arg-type]
