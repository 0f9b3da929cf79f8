"""Jittered exponential backoff with a reset after a healthy period.

The reflector waits on a :class:`Backoff` after every list or watch failure: 0.8 s,
then doubling up to 30 s, each delay stretched by a random jitter so that many clients
do not retry in step, and back to 0.8 s once ``reset_after`` seconds have passed without
a failure (client-go's reflector uses the same numbers).
"""

from __future__ import annotations

import random
import threading

from fastinformer.clock import REAL_CLOCK, Clock

__all__ = ["Backoff"]


class Backoff:
    """Delays for successive failures: ``initial * factor**n`` plus jitter, at most ``maximum``.

    Each :meth:`next` call is one failure. Its delay is ``base * (1 + jitter * u)`` with
    ``u`` uniform in ``[0, 1)`` from ``rng``, clamped to ``maximum``; ``base`` starts at
    ``initial`` and is multiplied by ``factor`` (up to ``maximum``) after each call. When
    ``reset_after`` clock seconds have passed since the previous call, ``base`` restarts
    at ``initial``. Thread-safe (one internal lock); deterministic with a seeded ``rng``.
    """

    def __init__(
        self,
        initial: float = 0.8,
        maximum: float = 30.0,
        factor: float = 2.0,
        jitter: float = 1.0,
        reset_after: float = 120.0,
        clock: Clock = REAL_CLOCK,
        rng: random.Random | None = None,
    ) -> None:
        if not initial > 0:
            raise ValueError(f"initial must be > 0, got {initial!r}")
        if not maximum >= initial:
            raise ValueError(f"maximum ({maximum!r}) must be >= initial ({initial!r})")
        if not factor >= 1:
            raise ValueError(f"factor must be >= 1, got {factor!r}")
        if not jitter >= 0:
            raise ValueError(f"jitter must be >= 0, got {jitter!r}")
        if not reset_after > 0:
            raise ValueError(f"reset_after must be > 0, got {reset_after!r}")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self.reset_after = reset_after
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._lock = threading.Lock()
        self._base = initial
        self._last_failure: float | None = None

    def next(self) -> float:
        """Record one failure and return how many seconds to wait before retrying."""
        with self._lock:
            now = self._clock.now()
            if self._last_failure is not None and now - self._last_failure >= self.reset_after:
                self._base = self.initial
            base = self._base
            self._base = min(base * self.factor, self.maximum)
            self._last_failure = now
            u = self._rng.random()
        return min(base * (1.0 + self.jitter * u), self.maximum)

    def reset(self) -> None:
        """Forget past failures: the next delay is based on ``initial`` again."""
        with self._lock:
            self._base = self.initial
            self._last_failure = None

    def wait(self, stop: threading.Event | None = None) -> bool:
        """Sleep :meth:`next` seconds on the clock; False if ``stop`` was set meanwhile."""
        return self._clock.sleep(self.next(), stop)
