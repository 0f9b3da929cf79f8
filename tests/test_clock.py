"""clock: the real clock's contract and the fake clock's deterministic time."""

from __future__ import annotations

import threading

import pytest

from fastinformer.clock import REAL_CLOCK, FakeClock


def test_real_clock_sleep_returns_false_when_stopped() -> None:
    stop = threading.Event()
    stop.set()
    assert REAL_CLOCK.sleep(5.0, stop) is False
    assert REAL_CLOCK.sleep(0.0) is True


def test_real_clock_is_monotonic() -> None:
    a = REAL_CLOCK.now()
    assert REAL_CLOCK.now() >= a


def test_fake_clock_moves_only_when_stepped() -> None:
    clock = FakeClock(start=10.0)
    assert clock.now() == 10.0
    clock.step(2.5)
    assert clock.now() == 12.5
    wall = clock.time()
    clock.set(20.0)
    assert clock.time() - wall == pytest.approx(7.5)


def test_fake_clock_refuses_to_go_backwards() -> None:
    clock = FakeClock(start=10.0)
    with pytest.raises(ValueError):
        clock.step(-1)
    with pytest.raises(ValueError):
        clock.set(9.0)


def test_fake_sleep_finishes_when_time_reaches_the_deadline() -> None:
    clock = FakeClock()
    done = threading.Event()
    result: list[bool] = []

    def sleeper() -> None:
        result.append(clock.sleep(5.0))
        done.set()

    t = threading.Thread(target=sleeper)
    t.start()
    assert clock.wait_for_sleepers(1)
    clock.step(4.9)
    assert not done.wait(0.1)
    clock.step(0.1)
    assert done.wait(5.0)
    t.join(5.0)
    assert result == [True]


def test_fake_sleep_returns_false_when_stop_is_set() -> None:
    clock = FakeClock()
    stop = threading.Event()
    result: list[bool] = []
    t = threading.Thread(target=lambda: result.append(clock.sleep(100.0, stop)))
    t.start()
    assert clock.wait_for_sleepers(1)
    stop.set()
    t.join(5.0)
    assert result == [False]


def test_fake_wait_wakes_a_condition_waiter_on_step() -> None:
    clock = FakeClock()
    cond = threading.Condition()
    woke = threading.Event()

    def waiter() -> None:
        with cond:
            while clock.now() < 1_001.0:
                clock.wait(cond, 1.0)
        woke.set()

    t = threading.Thread(target=waiter)
    t.start()
    assert clock.wait_for_sleepers(1)
    clock.step(1.0)
    assert woke.wait(5.0)
    t.join(5.0)
    assert clock.sleepers == 0
