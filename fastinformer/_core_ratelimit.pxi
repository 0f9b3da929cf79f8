# Rate limiters: per-item exponential and fast/slow backoff, an overall token bucket,
# and their maximum. Each limiter guards its state with one PyThread lock of its own,
# held only around the bookkeeping (never while calling a clock or another limiter).
import time as _rl_time

from cpython.pythread cimport (
    NOWAIT_LOCK,
    WAIT_LOCK,
    PyThread_acquire_lock,
    PyThread_allocate_lock,
    PyThread_free_lock,
    PyThread_release_lock,
)
from libc.math cimport INFINITY, ldexp

from fastinformer.clock import REAL_CLOCK as _RL_REAL_CLOCK

# Failure counts at or past this exponent give ``max_delay`` without computing 2**n.
cdef enum:
    _RL_MAX_EXPONENT = 2048


cdef inline void _rl_lock(PyThread_type_lock lock) noexcept:
    """Take ``lock``, releasing the GIL only if another thread holds it."""
    if not PyThread_acquire_lock(lock, NOWAIT_LOCK):
        with nogil:
            PyThread_acquire_lock(lock, WAIT_LOCK)


cdef PyThread_type_lock _rl_new_lock() except NULL:
    cdef PyThread_type_lock lock = PyThread_allocate_lock()
    if lock == NULL:
        raise MemoryError("cannot allocate a lock")
    return lock


cdef double _rl_seconds(str name, object value) except -1.0:
    """``value`` as a non-negative number of seconds, or a clear TypeError/ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    cdef double seconds = float(value)
    if not seconds >= 0.0:
        raise ValueError(f"{name} must be >= 0 seconds, got {value!r}")
    return seconds


cdef Py_ssize_t _rl_count(str name, object value, Py_ssize_t minimum) except -1:
    """``value`` as an integer >= ``minimum``, or a clear TypeError/ValueError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return value


cdef inline double _rl_backoff(double base, double cap, Py_ssize_t exponent) noexcept:
    """``min(base * 2**exponent, cap)`` without overflow."""
    cdef double delay
    if base == 0.0:
        return 0.0
    if exponent >= _RL_MAX_EXPONENT:
        return cap
    delay = ldexp(base, <int>exponent)
    return cap if delay > cap else delay


cdef inline Py_ssize_t _rl_count_failure(
    PyThread_type_lock lock, dict failures, object item
) except -1:
    """Increment ``failures[item]`` under ``lock``; return the count before it."""
    cdef object seen
    cdef Py_ssize_t before
    _rl_lock(lock)
    try:
        seen = failures.get(item)
        before = 0 if seen is None else <Py_ssize_t>seen
        failures[item] = before + 1
    finally:
        PyThread_release_lock(lock)
    return before


cdef class RateLimiter:
    """Base class of the built-in limiters; subclass it, or pass any object with
    ``when``, ``forget`` and ``num_requeues``."""

    cpdef double when(self, object item) except? -1.0:
        """Seconds to wait before ``item`` is retried; records one more failure."""
        raise NotImplementedError(f"{type(self).__name__}.when is not implemented")

    cpdef forget(self, object item):
        """Drop ``item``'s failure history."""
        raise NotImplementedError(f"{type(self).__name__}.forget is not implemented")

    cpdef Py_ssize_t num_requeues(self, object item) except -1:
        """Failures recorded for ``item`` since it was last forgotten."""
        raise NotImplementedError(f"{type(self).__name__}.num_requeues is not implemented")


cdef class _ItemFailureRateLimiter(RateLimiter):
    """Base of the limiters that count failures per item: ``forget`` and
    ``num_requeues`` read the counts, kept under the limiter's own lock."""

    def __cinit__(self, *args, **kwargs):
        self._lock = _rl_new_lock()
        self._failures = {}

    def __dealloc__(self):
        if self._lock != NULL:
            PyThread_free_lock(self._lock)

    cpdef forget(self, object item):
        """Reset ``item`` to no failures."""
        _rl_lock(self._lock)
        try:
            self._failures.pop(item, None)
        finally:
            PyThread_release_lock(self._lock)

    cpdef Py_ssize_t num_requeues(self, object item) except -1:
        """Failures of ``item`` since it was last forgotten."""
        cdef object seen
        _rl_lock(self._lock)
        try:
            seen = self._failures.get(item)
        finally:
            PyThread_release_lock(self._lock)
        return 0 if seen is None else <Py_ssize_t>seen


cdef class ItemExponentialFailureRateLimiter(_ItemFailureRateLimiter):
    """Per-item exponential backoff: ``base_delay * 2**failures``, capped at ``max_delay``."""

    def __init__(self, base_delay, max_delay):
        self.base_delay = _rl_seconds("base_delay", base_delay)
        self.max_delay = _rl_seconds("max_delay", max_delay)

    cpdef double when(self, object item) except? -1.0:
        """The backoff for this failure of ``item``; counts the failure."""
        cdef Py_ssize_t exponent = _rl_count_failure(self._lock, self._failures, item)
        return _rl_backoff(self.base_delay, self.max_delay, exponent)

    def __repr__(self):
        return f"ItemExponentialFailureRateLimiter({self.base_delay!r}, {self.max_delay!r})"


cdef class ItemFastSlowRateLimiter(_ItemFailureRateLimiter):
    """Per-item: ``fast_delay`` for the first ``max_fast_attempts`` failures, then ``slow_delay``.

    ``max_fast_attempts`` may be 0 (always slow).
    """

    def __init__(self, fast_delay, slow_delay, max_fast_attempts):
        self.fast_delay = _rl_seconds("fast_delay", fast_delay)
        self.slow_delay = _rl_seconds("slow_delay", slow_delay)
        self.max_fast_attempts = _rl_count("max_fast_attempts", max_fast_attempts, 0)

    cpdef double when(self, object item) except? -1.0:
        """The delay for this failure of ``item``; counts the failure."""
        cdef Py_ssize_t failures = _rl_count_failure(self._lock, self._failures, item) + 1
        return self.fast_delay if failures <= self.max_fast_attempts else self.slow_delay

    def __repr__(self):
        return (
            f"ItemFastSlowRateLimiter({self.fast_delay!r}, {self.slow_delay!r}, "
            f"{self.max_fast_attempts!r})"
        )


cdef class BucketRateLimiter(RateLimiter):
    """Overall token bucket: ``qps`` tokens a second, at most ``burst`` saved up.

    ``when`` reserves one token and returns the wait until it is available (0 while the
    bucket has tokens). Items are not tracked: ``forget`` does nothing and
    ``num_requeues`` is always 0. ``qps`` may be ``math.inf`` (never waits).
    """

    def __cinit__(self, *args, **kwargs):
        self._lock = _rl_new_lock()

    def __dealloc__(self):
        if self._lock != NULL:
            PyThread_free_lock(self._lock)

    def __init__(self, qps, burst, clock=None):
        if isinstance(qps, bool) or not isinstance(qps, (int, float)):
            raise TypeError(f"qps must be a number, not {type(qps).__name__}")
        if not qps > 0.0:
            raise ValueError(f"qps must be > 0, got {qps!r}")
        self.qps = float(qps)
        self.burst = _rl_count("burst", burst, 1)
        self._now = _rl_time.monotonic if clock is None or clock is _RL_REAL_CLOCK else clock.now
        self._tokens = <double>self.burst
        self._last = float(self._now())

    cpdef double when(self, object item) except? -1.0:
        """Reserve a token; seconds until it is available."""
        cdef double now, elapsed, tokens
        if self.qps == INFINITY:
            return 0.0
        now = float(self._now())
        _rl_lock(self._lock)
        elapsed = now - self._last
        if elapsed > 0.0:
            self._tokens = min(<double>self.burst, self._tokens + elapsed * self.qps)
            self._last = now
        self._tokens -= 1.0
        tokens = self._tokens
        PyThread_release_lock(self._lock)
        return -tokens / self.qps if tokens < 0.0 else 0.0

    cpdef forget(self, object item):
        """Nothing to forget: the bucket is shared by all items."""

    cpdef Py_ssize_t num_requeues(self, object item) except -1:
        """Always 0: the bucket does not track items."""
        return 0

    def __repr__(self):
        return f"BucketRateLimiter(qps={self.qps!r}, burst={self.burst!r})"


cdef class MaxOfRateLimiter(RateLimiter):
    """Combines limiters: the longest of their delays; forget and count over all of them.

    Every limiter's ``when`` is called each time (each records the failure).
    """

    def __cinit__(self, *args, **kwargs):
        self.limiters = ()

    def __init__(self, *limiters):
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one rate limiter")
        for limiter in limiters:
            if not all(
                callable(getattr(limiter, m, None)) for m in ("when", "forget", "num_requeues")
            ):
                raise TypeError(
                    f"{limiter!r} is not a rate limiter (needs when, forget and num_requeues)"
                )
        self.limiters = limiters

    cpdef double when(self, object item) except? -1.0:
        """The longest delay any limiter asks for."""
        cdef double longest = 0.0, delay
        for limiter in self.limiters:
            if isinstance(limiter, RateLimiter):
                delay = (<RateLimiter>limiter).when(item)
            else:
                delay = float(limiter.when(item))
            if delay > longest:
                longest = delay
        return longest

    cpdef forget(self, object item):
        """Forget ``item`` in every limiter."""
        for limiter in self.limiters:
            if isinstance(limiter, RateLimiter):
                (<RateLimiter>limiter).forget(item)
            else:
                limiter.forget(item)

    cpdef Py_ssize_t num_requeues(self, object item) except -1:
        """The largest failure count any limiter holds for ``item``."""
        cdef Py_ssize_t most = 0, n
        for limiter in self.limiters:
            if isinstance(limiter, RateLimiter):
                n = (<RateLimiter>limiter).num_requeues(item)
            else:
                n = limiter.num_requeues(item)
            if n > most:
                most = n
        return most

    def __repr__(self):
        return f"MaxOfRateLimiter{self.limiters!r}"


def default_controller_rate_limiter(clock=None):
    """client-go's default: per-item 5 ms doubling to 1000 s, overall 10 qps with burst 100."""
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(0.005, 1000.0),
        BucketRateLimiter(10.0, 100, clock),
    )
