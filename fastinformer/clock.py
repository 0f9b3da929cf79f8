"""Injectable clocks: :class:`RealClock` for production, :class:`FakeClock` for tests.

Every component that waits or measures time takes a ``clock``; nothing else calls
``time.monotonic`` or ``time.sleep`` directly, so tests run on a deterministic,
manually advanced clock.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """What fastinformer needs from a clock."""

    def now(self) -> float:
        """Monotonic seconds (for deadlines and durations)."""
        ...

    def time(self) -> float:
        """Wall-clock seconds since the epoch (for timestamps)."""
        ...

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> bool:
        """Wait ``seconds`` of this clock; return False early if ``stop`` is set, else True."""
        ...

    def wait(self, cond: threading.Condition, timeout: float | None) -> None:
        """Wait on ``cond`` (caller holds it) until notified or ``timeout`` clock seconds pass.

        May return early (spurious wake-up): callers re-check their predicate.
        """
        ...


class RealClock:
    """The system's clocks: ``time.monotonic`` and ``time.time``."""

    __slots__ = ()

    def now(self) -> float:
        """Monotonic seconds."""
        return time.monotonic()

    def time(self) -> float:
        """Wall-clock seconds since the epoch."""
        return time.time()

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> bool:
        """Sleep, or return False as soon as ``stop`` is set."""
        if seconds <= 0:
            return not (stop is not None and stop.is_set())
        if stop is None:
            time.sleep(seconds)
            return True
        return not stop.wait(seconds)

    def wait(self, cond: threading.Condition, timeout: float | None) -> None:
        """``cond.wait(timeout)``; the caller holds ``cond``."""
        cond.wait(None if timeout is None else max(timeout, 0.0))


REAL_CLOCK = RealClock()


class FakeClock:
    """A clock that only moves when a test calls :meth:`step` or :meth:`set`.

    Threads blocked in :meth:`sleep` or :meth:`wait` are woken after every step.
    ``sleepers`` counts threads currently inside :meth:`sleep`/:meth:`wait`, so a
    test can wait until a component is blocked before advancing time. Thread-safe.
    """

    # Real seconds a blocked thread waits between re-checks; bounds how late a
    # wake-up can be if a notification races with the start of a wait.
    POLL = 0.02

    def __init__(self, start: float = 1_000.0, wall_start: float = 1_700_000_000.0) -> None:
        self._lock = threading.Condition()
        self._now = start
        self._wall_offset = wall_start - start
        self._conds: dict[int, tuple[threading.Condition, int]] = {}
        self.sleepers = 0

    def now(self) -> float:
        """Current fake monotonic time."""
        with self._lock:
            return self._now

    def time(self) -> float:
        """Fake wall time, moving with :meth:`now`."""
        with self._lock:
            return self._now + self._wall_offset

    def step(self, seconds: float) -> None:
        """Advance time by ``seconds`` (>= 0) and wake every waiter."""
        if seconds < 0:
            raise ValueError("a clock cannot step backwards")
        with self._lock:
            self._now += seconds
        self._wake()

    def set(self, t: float) -> None:
        """Move time to ``t`` (not before now) and wake every waiter."""
        with self._lock:
            if t < self._now:
                raise ValueError("a clock cannot step backwards")
            self._now = t
        self._wake()

    def _wake(self) -> None:
        with self._lock:
            self._lock.notify_all()
            conds = [c for c, _ in self._conds.values()]
        for cond in conds:
            with cond:
                cond.notify_all()

    def sleep(self, seconds: float, stop: threading.Event | None = None) -> bool:
        """Block until fake time has advanced ``seconds``, or ``stop`` is set (False)."""
        with self._lock:
            deadline = self._now + seconds
            self.sleepers += 1
            try:
                while self._now < deadline:
                    if stop is not None and stop.is_set():
                        return False
                    self._lock.wait(self.POLL)
            finally:
                self.sleepers -= 1
        return not (stop is not None and stop.is_set())

    def wait(self, cond: threading.Condition, timeout: float | None) -> None:
        """Wait on ``cond`` until notified, or until a step reaches the fake deadline."""
        with self._lock:
            _, users = self._conds.get(id(cond), (cond, 0))
            self._conds[id(cond)] = (cond, users + 1)
            self.sleepers += 1
            deadline = None if timeout is None else self._now + timeout
            expired = deadline is not None and self._now >= deadline
        try:
            if not expired:
                cond.wait(self.POLL)
        finally:
            with self._lock:
                self.sleepers -= 1
                _, users = self._conds[id(cond)]
                if users == 1:
                    del self._conds[id(cond)]
                else:
                    self._conds[id(cond)] = (cond, users - 1)

    def wait_for_sleepers(self, n: int = 1, timeout: float = 10.0) -> bool:
        """Block (real time) until at least ``n`` threads sleep or wait on this clock."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                if self.sleepers >= n:
                    return True
            time.sleep(0.001)
        return False
