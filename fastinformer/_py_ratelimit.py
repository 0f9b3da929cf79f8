"""Pure-Python twin of ``_core_ratelimit.pxi``: per-item and overall rate limiters.

A rate limiter answers ``when(item)``: how many seconds to wait before ``item`` may be
retried. Calling ``when`` records a failure (or reserves a token); ``forget(item)`` clears
the item's history; ``num_requeues(item)`` reports how many failures are recorded.
Every limiter is thread-safe (one internal lock each).
"""

from __future__ import annotations

import math
import threading
import time
from typing import TYPE_CHECKING, Any, Protocol

from fastinformer.clock import REAL_CLOCK

if TYPE_CHECKING:
    from collections.abc import Callable

    from fastinformer.clock import Clock

__all__ = [
    "BucketRateLimiter",
    "ItemExponentialFailureRateLimiter",
    "ItemFastSlowRateLimiter",
    "MaxOfRateLimiter",
    "RateLimiter",
    "default_controller_rate_limiter",
]

# Failure counts at or past this exponent give ``max_delay`` without computing 2**n.
_MAX_EXPONENT = 2048


class RateLimiterLike(Protocol):
    """What a work queue needs from a rate limiter (any object with these methods)."""

    def when(self, item: Any) -> float:
        """Seconds to wait before ``item`` is retried; records one more failure."""
        ...

    def forget(self, item: Any) -> None:
        """Drop ``item``'s failure history."""
        ...

    def num_requeues(self, item: Any) -> int:
        """Failures recorded for ``item`` since it was last forgotten."""
        ...


def _seconds(name: str, value: object) -> float:
    """``value`` as a non-negative number of seconds, or a clear ``TypeError``/``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    seconds = float(value)
    if not seconds >= 0.0:
        raise ValueError(f"{name} must be >= 0 seconds, got {value!r}")
    return seconds


def _count(name: str, value: object, minimum: int) -> int:
    """``value`` as an integer >= ``minimum``, or a clear ``TypeError``/``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return value


def _backoff(base: float, cap: float, exponent: int) -> float:
    """``min(base * 2**exponent, cap)`` without overflow."""
    if base == 0.0:
        return 0.0
    if exponent >= _MAX_EXPONENT:
        return cap
    try:
        delay = math.ldexp(base, exponent)
    except OverflowError:
        return cap
    return cap if delay > cap else delay


class RateLimiter:
    """Base class of the built-in limiters; subclass it, or pass any :class:`RateLimiterLike`."""

    __slots__ = ()

    def when(self, item: Any) -> float:
        """Seconds to wait before ``item`` is retried; records one more failure."""
        raise NotImplementedError(f"{type(self).__name__}.when is not implemented")

    def forget(self, item: Any) -> None:
        """Drop ``item``'s failure history."""
        raise NotImplementedError(f"{type(self).__name__}.forget is not implemented")

    def num_requeues(self, item: Any) -> int:
        """Failures recorded for ``item`` since it was last forgotten."""
        raise NotImplementedError(f"{type(self).__name__}.num_requeues is not implemented")


class _ItemFailureRateLimiter(RateLimiter):
    """Base of the limiters that count failures per item: ``forget`` and
    ``num_requeues`` read the counts, kept under the limiter's own lock."""

    __slots__ = ("_failures", "_lock")

    def __init__(self) -> None:
        self._failures: dict[Any, int] = {}
        self._lock = threading.Lock()

    def _count_failure(self, item: Any) -> int:
        """Count one more failure of ``item``; return the count before it."""
        with self._lock:
            before = self._failures.get(item, 0)
            self._failures[item] = before + 1
        return before

    def forget(self, item: Any) -> None:
        """Reset ``item`` to no failures."""
        with self._lock:
            self._failures.pop(item, None)

    def num_requeues(self, item: Any) -> int:
        """Failures of ``item`` since it was last forgotten."""
        with self._lock:
            return self._failures.get(item, 0)


class ItemExponentialFailureRateLimiter(_ItemFailureRateLimiter):
    """Per-item exponential backoff: ``base_delay * 2**failures``, capped at ``max_delay``."""

    __slots__ = ("base_delay", "max_delay")

    def __init__(self, base_delay: float, max_delay: float) -> None:
        super().__init__()
        self.base_delay = _seconds("base_delay", base_delay)
        self.max_delay = _seconds("max_delay", max_delay)

    def when(self, item: Any) -> float:
        """The backoff for this failure of ``item``; counts the failure."""
        exponent = self._count_failure(item)
        return _backoff(self.base_delay, self.max_delay, exponent)

    def __repr__(self) -> str:
        return f"ItemExponentialFailureRateLimiter({self.base_delay!r}, {self.max_delay!r})"


class ItemFastSlowRateLimiter(_ItemFailureRateLimiter):
    """Per-item: ``fast_delay`` for the first ``max_fast_attempts`` failures, then ``slow_delay``.

    ``max_fast_attempts`` may be 0 (always slow).
    """

    __slots__ = ("fast_delay", "max_fast_attempts", "slow_delay")

    def __init__(self, fast_delay: float, slow_delay: float, max_fast_attempts: int) -> None:
        super().__init__()
        self.fast_delay = _seconds("fast_delay", fast_delay)
        self.slow_delay = _seconds("slow_delay", slow_delay)
        self.max_fast_attempts = _count("max_fast_attempts", max_fast_attempts, 0)

    def when(self, item: Any) -> float:
        """The delay for this failure of ``item``; counts the failure."""
        failures = self._count_failure(item) + 1
        return self.fast_delay if failures <= self.max_fast_attempts else self.slow_delay

    def __repr__(self) -> str:
        return (
            f"ItemFastSlowRateLimiter({self.fast_delay!r}, {self.slow_delay!r}, "
            f"{self.max_fast_attempts!r})"
        )


class BucketRateLimiter(RateLimiter):
    """Overall token bucket: ``qps`` tokens a second, at most ``burst`` saved up.

    ``when`` reserves one token and returns the wait until it is available (0 while the
    bucket has tokens). Items are not tracked: ``forget`` does nothing and
    ``num_requeues`` is always 0. ``qps`` may be ``math.inf`` (never waits).
    """

    __slots__ = ("_last", "_lock", "_now", "_tokens", "burst", "qps")

    def __init__(self, qps: float, burst: int, clock: Clock | None = None) -> None:
        if isinstance(qps, bool) or not isinstance(qps, (int, float)):
            raise TypeError(f"qps must be a number, not {type(qps).__name__}")
        if not qps > 0.0:
            raise ValueError(f"qps must be > 0, got {qps!r}")
        self.qps = float(qps)
        self.burst = _count("burst", burst, 1)
        self._now: Callable[[], float] = (
            time.monotonic if clock is None or clock is REAL_CLOCK else clock.now
        )
        self._lock = threading.Lock()
        self._tokens = float(self.burst)
        self._last = self._now()

    def when(self, item: Any) -> float:
        """Reserve a token; seconds until it is available."""
        if self.qps == math.inf:
            return 0.0
        now = self._now()
        with self._lock:
            elapsed = now - self._last
            if elapsed > 0.0:
                self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps)
                self._last = now
            self._tokens -= 1.0
            tokens = self._tokens
        return -tokens / self.qps if tokens < 0.0 else 0.0

    def forget(self, item: Any) -> None:
        """Nothing to forget: the bucket is shared by all items."""

    def num_requeues(self, item: Any) -> int:
        """Always 0: the bucket does not track items."""
        return 0

    def __repr__(self) -> str:
        return f"BucketRateLimiter(qps={self.qps!r}, burst={self.burst!r})"


class MaxOfRateLimiter(RateLimiter):
    """Combines limiters: the longest of their delays; forget and count over all of them.

    Every limiter's ``when`` is called each time (each records the failure).
    """

    __slots__ = ("limiters",)

    def __init__(self, *limiters: RateLimiterLike) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one rate limiter")
        for limiter in limiters:
            if not all(
                callable(getattr(limiter, m, None)) for m in ("when", "forget", "num_requeues")
            ):
                raise TypeError(
                    f"{limiter!r} is not a rate limiter (needs when, forget and num_requeues)"
                )
        self.limiters: tuple[RateLimiterLike, ...] = limiters

    def when(self, item: Any) -> float:
        """The longest delay any limiter asks for."""
        longest = 0.0
        for limiter in self.limiters:
            delay = float(limiter.when(item))
            if delay > longest:
                longest = delay
        return longest

    def forget(self, item: Any) -> None:
        """Forget ``item`` in every limiter."""
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: Any) -> int:
        """The largest failure count any limiter holds for ``item``."""
        return max(limiter.num_requeues(item) for limiter in self.limiters)

    def __repr__(self) -> str:
        return f"MaxOfRateLimiter{self.limiters!r}"


def default_controller_rate_limiter(clock: Clock | None = None) -> MaxOfRateLimiter:
    """client-go's default: per-item 5 ms doubling to 1000 s, overall 10 qps with burst 100."""
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(0.005, 1000.0),
        BucketRateLimiter(10.0, 100, clock),
    )
