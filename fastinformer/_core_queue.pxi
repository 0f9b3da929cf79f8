# Work queues with client-go semantics: Queue, DelayingQueue, RateLimitingQueue.
#
# Queue hands each item to one worker at a time: items are deduplicated while they
# wait (the dirty set); an item added again while a worker holds it (the processing
# set) is queued once more when the worker calls done().
#
# Locking: each queue has one lock (a _QueueLock, taken from C without a Python call)
# and one threading.Condition built on it. Every public method takes the lock itself;
# ..._locked methods expect the caller to hold it. Waiting goes through the queue's
# clock (clock.wait(cond, timeout)), so a FakeClock drives delays and timeouts
# deterministically. There is no background thread: waiting items whose time has
# come are moved to the queue by the next operation on it.
import threading as _q_threading
import time as _q_time
from heapq import heappop as _q_heappop, heappush as _q_heappush

from cpython.pythread cimport (
    NOWAIT_LOCK,
    PyThread_acquire_lock,
    PyThread_free_lock,
    PyThread_release_lock,
)

from fastinformer.clock import REAL_CLOCK as _Q_REAL_CLOCK

# Compact the FIFO list once this many taken slots lead it (and they are half of it).
cdef enum:
    _Q_COMPACT_AT = 1024


cdef object _q_metrics(object name, object provider, object now):
    """The recorder for a named queue, or None when nothing is to be recorded."""
    if not isinstance(name, str):
        raise TypeError(f"name must be str, not {type(name).__name__}")
    if not name:
        return None
    from fastinformer.workqueue.metrics import new_queue_metrics

    return new_queue_metrics(name, provider, now)


cdef inline int _q_check_timeout(object timeout) except -1:
    if timeout is not None and not timeout >= 0.0:
        raise ValueError(f"timeout must be None or >= 0 seconds, got {timeout!r}")
    return 0


cdef class _QueueLock:
    """A non-reentrant lock the queue takes from C.

    ``acquire`` (blocking or not, no timeout), ``release`` and the context manager behave
    like ``threading.Lock``'s, so a ``threading.Condition`` can be built on it.
    """

    def __cinit__(self):
        self._handle = _rl_new_lock()
        self._held = False

    def __dealloc__(self):
        if self._handle != NULL:
            PyThread_free_lock(self._handle)

    cdef inline void take(self) noexcept:
        _rl_lock(self._handle)
        self._held = True

    cdef inline void give(self) noexcept:
        self._held = False
        PyThread_release_lock(self._handle)

    def acquire(self, bint blocking=True):
        """Take the lock; without ``blocking``, return False at once if it is held."""
        if blocking:
            self.take()
            return True
        if not PyThread_acquire_lock(self._handle, NOWAIT_LOCK):
            return False
        self._held = True
        return True

    def release(self):
        """Release the lock; RuntimeError if it is not held."""
        if not self._held:
            raise RuntimeError("release unlocked lock")
        self.give()

    def locked(self):
        """Whether some thread holds the lock."""
        return self._held

    def __enter__(self):
        self.take()
        return True

    def __exit__(self, *exc_info):
        self.give()


cdef class Queue:
    """A FIFO work queue; an item is never handed to two workers at once.

    ``name`` turns on metrics (see :mod:`fastinformer.workqueue.metrics`); ``clock``
    (default: the real clock) measures timeouts; ``metrics_provider`` overrides the
    default provider for this queue.
    """

    def __cinit__(self, *args, **kwargs):
        # Everything C code dereferences exists even if a subclass skips __init__.
        self.name = ""
        self._clock = _Q_REAL_CLOCK
        self._now = _q_time.monotonic
        self._lock = _QueueLock()
        self._cond = _q_threading.Condition(self._lock)
        self._queue = []
        self._head = 0
        self._dirty = set()
        self._processing = set()

    def __init__(self, name="", clock=None, metrics_provider=None):
        self._clock = _Q_REAL_CLOCK if clock is None else clock
        self._now = _q_time.monotonic if self._clock is _Q_REAL_CLOCK else self._clock.now
        self._metrics = _q_metrics(name, metrics_provider, self._now)
        self.name = name

    # -- overridden by DelayingQueue -------------------------------------------------

    cdef double _promote_locked(self) except? -2.0:
        """Queue the waiting items that are ready; seconds until the next one, or -1."""
        return -1.0

    cdef int _drop_waiting_locked(self) except -1:
        """Forget every waiting item (at shut-down)."""
        return 0

    # -- bookkeeping (caller holds the lock) -------------------------------------------

    cdef int _add_locked(self, object item) except -1:
        if self._shutting_down or item in self._dirty:
            return 0
        if self._metrics is not None:
            self._metrics.add(item)
        self._dirty.add(item)
        if item in self._processing:
            return 0
        self._queue.append(item)
        if self._waiters:
            self._cond.notify()
        return 0

    cdef object _pop_locked(self):
        """Take the head of the FIFO (which must not be empty)."""
        cdef list queue = self._queue
        cdef Py_ssize_t head = self._head
        cdef object item = queue[head]
        head += 1
        if head == len(queue):
            queue.clear()
            head = 0
        else:
            queue[head - 1] = None
            if head >= _Q_COMPACT_AT and head * 2 >= len(queue):
                del queue[:head]
                head = 0
        self._head = head
        return item

    cdef int _wait_locked(self, object timeout) except -1:
        self._waiters += 1
        try:
            self._clock.wait(self._cond, timeout)
        finally:
            self._waiters -= 1
        return 0

    # -- public API -------------------------------------------------------------------

    def add(self, item):
        """Queue ``item`` unless it is already queued; ignored once shutting down.

        An item a worker is processing is queued again when the worker calls :meth:`done`.
        """
        self._lock.take()
        try:
            self._promote_locked()
            self._add_locked(item)
        finally:
            self._lock.give()

    def get(self, timeout=None):
        """Take the next item: ``(item, False)``, or ``(None, True)`` once shut down and empty.

        Blocks until an item is available; with ``timeout`` (clock seconds, 0 = do not
        wait) raises ``TimeoutError`` if none came. The caller must call :meth:`done`.
        """
        cdef double ready_in, now, remaining
        cdef double deadline = 0.0
        cdef bint has_deadline = False
        cdef object item, wait
        _q_check_timeout(timeout)
        self._lock.take()
        try:
            while True:
                ready_in = self._promote_locked()
                if self._head < len(self._queue):
                    item = self._pop_locked()
                    if self._metrics is not None:
                        self._metrics.get(item)
                    self._processing.add(item)
                    self._dirty.discard(item)
                    if self._waiters and self._head < len(self._queue):
                        self._cond.notify()
                    return item, False
                if self._shutting_down:
                    return None, True
                wait = None if ready_in < 0.0 else ready_in
                if timeout is not None:
                    now = self._now()
                    if not has_deadline:
                        deadline = now + <double>timeout
                        has_deadline = True
                    remaining = deadline - now
                    if remaining <= 0.0:
                        raise TimeoutError(f"no item became available within {timeout} s")
                    if ready_in < 0.0 or remaining < ready_in:
                        wait = remaining
                self._wait_locked(wait)
        finally:
            self._lock.give()

    def done(self, item):
        """Mark ``item`` processed; queue it again if it was added meanwhile.

        Raises ``ValueError`` if ``item`` is not being processed.
        """
        self._lock.take()
        try:
            self._promote_locked()
            if item not in self._processing:
                raise ValueError(f"done({item!r}): the item is not being processed")
            if self._metrics is not None:
                self._metrics.done(item)
            self._processing.discard(item)
            if item in self._dirty:
                self._queue.append(item)
                if self._waiters:
                    if self._shutting_down:
                        self._cond.notify_all()  # a drain may be waiting too
                    else:
                        self._cond.notify()
            elif self._waiters and not self._processing:
                self._cond.notify_all()  # wake shut_down_with_drain
        finally:
            self._lock.give()

    def shut_down(self):
        """Stop accepting items and wake every waiter; queued items can still be taken."""
        self._lock.take()
        try:
            self._promote_locked()  # items already due count as added
            self._shutting_down = True
            self._drain = False
            self._drop_waiting_locked()
            self._cond.notify_all()
        finally:
            self._lock.give()

    def shut_down_with_drain(self, timeout=None):
        """Shut down, then wait until every item handed out is done.

        Returns True once nothing is in flight; False if ``timeout`` (clock seconds)
        passed first or :meth:`shut_down` cut the drain short.
        """
        cdef double now
        cdef double deadline = 0.0
        cdef bint has_deadline = False
        cdef object wait
        _q_check_timeout(timeout)
        self._lock.take()
        try:
            self._promote_locked()  # items already due count as added
            self._shutting_down = True
            self._drain = True
            self._drop_waiting_locked()
            self._cond.notify_all()
            while self._processing and self._drain:
                wait = None
                if timeout is not None:
                    now = self._now()
                    if not has_deadline:
                        deadline = now + <double>timeout
                        has_deadline = True
                    if deadline - now <= 0.0:
                        break
                    wait = deadline - now
                self._wait_locked(wait)
            return not self._processing
        finally:
            self._lock.give()

    def shutting_down(self):
        """Whether :meth:`shut_down` (or the drain variant) was called."""
        return self._shutting_down  # one flag read: atomic under the GIL

    def update_unfinished_work(self):
        """Refresh the unfinished-work and longest-running gauges (a metrics exporter calls it)."""
        self._lock.take()
        try:
            if self._metrics is not None:
                self._metrics.update_unfinished_work()
        finally:
            self._lock.give()

    def __len__(self):
        """Items ready to be taken (not those being processed or still waiting)."""
        self._lock.take()
        try:
            self._promote_locked()
            return len(self._queue) - self._head
        finally:
            self._lock.give()

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r}, len={len(self)})"


cdef class DelayingQueue(Queue):
    """A :class:`Queue` that can also add an item after a delay (see :meth:`add_after`)."""

    def __cinit__(self, *args, **kwargs):
        self._heap = []
        self._waiting = {}

    def __init__(self, name="", clock=None, metrics_provider=None):
        Queue.__init__(self, name, clock, metrics_provider)

    cdef double _promote_locked(self) except? -2.0:
        cdef list heap = self._heap
        cdef tuple entry
        cdef double now, ready
        cdef object item
        if not heap:
            return -1.0
        now = self._now()
        while heap:
            entry = <tuple>heap[0]
            ready = <double>entry[0]
            if ready > now:
                return ready - now
            _q_heappop(heap)
            item = entry[2]
            if self._waiting.get(item) is entry:  # else superseded by an earlier time
                del self._waiting[item]
                self._add_locked(item)
        return -1.0

    cdef int _drop_waiting_locked(self) except -1:
        self._heap.clear()
        self._waiting.clear()
        return 0

    def add_after(self, item, delay):
        """Add ``item`` once ``delay`` clock seconds have passed (now if ``delay <= 0``).

        An item already waiting keeps the earlier of its two ready times. Ignored once
        shutting down; shutting down drops waiting items.
        """
        cdef double seconds, ready
        cdef tuple entry
        cdef object seen
        if isinstance(delay, bool) or not isinstance(delay, (int, float)):
            raise TypeError(f"delay must be a number of seconds, not {type(delay).__name__}")
        seconds = delay
        if seconds != seconds:
            raise ValueError("delay must be a number of seconds, got nan")
        hash(item)
        self._lock.take()
        try:
            if self._shutting_down:
                return
            if self._metrics is not None:
                self._metrics.retry()
            self._promote_locked()
            if seconds <= 0.0:
                self._add_locked(item)
                return
            ready = <double>self._now() + seconds
            seen = self._waiting.get(item)
            if seen is not None and <double>(<tuple>seen)[0] <= ready:
                return
            self._seq += 1
            entry = (ready, self._seq, item)
            self._waiting[item] = entry
            _q_heappush(self._heap, entry)
            if self._waiters and self._heap[0] is entry:
                self._cond.notify_all()  # getters may be waiting for a later item
        finally:
            self._lock.give()


cdef class RateLimitingQueue(DelayingQueue):
    """A :class:`DelayingQueue` whose retries are paced by ``rate_limiter``.

    The default limiter is ``default_controller_rate_limiter(clock)``.
    """

    def __init__(self, rate_limiter=None, name="", clock=None, metrics_provider=None):
        if rate_limiter is None:
            rate_limiter = default_controller_rate_limiter(clock)
        elif not all(
            callable(getattr(rate_limiter, m, None)) for m in ("when", "forget", "num_requeues")
        ):
            raise TypeError(
                f"{rate_limiter!r} is not a rate limiter (needs when, forget and num_requeues)"
            )
        DelayingQueue.__init__(self, name, clock, metrics_provider)
        self.rate_limiter = rate_limiter

    def add_rate_limited(self, item):
        """Add ``item`` after the delay the rate limiter gives for it (counts a failure)."""
        cdef object limiter = self.rate_limiter
        if isinstance(limiter, RateLimiter):
            self.add_after(item, (<RateLimiter>limiter).when(item))
        else:
            self.add_after(item, limiter.when(item))

    def forget(self, item):
        """Clear ``item``'s failure history in the rate limiter (call after a success)."""
        self.rate_limiter.forget(item)

    def num_requeues(self, item):
        """How many times ``item`` was rate-limited since it was last forgotten."""
        return self.rate_limiter.num_requeues(item)
