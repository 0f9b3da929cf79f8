"""Pure-Python twin of ``_core_queue.pxi``: work queues with client-go semantics.

:class:`Queue` hands each item to one worker at a time: items are deduplicated while
they wait (the *dirty* set), an item added again while a worker holds it (the
*processing* set) is queued once more when the worker calls :meth:`Queue.done`.
:class:`DelayingQueue` adds items after a delay and :class:`RateLimitingQueue` takes the
delay from a rate limiter.

Locking: each queue has one lock and one condition built on it. Every public method
takes the lock itself; ``..._locked`` helpers expect the caller to hold it. Waiting
goes through the queue's clock (``clock.wait(cond, timeout)``), so a ``FakeClock``
drives delays and timeouts deterministically. There is no background thread: waiting
items whose time has come are moved to the queue by the next operation on it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Any

from fastinformer._py_ratelimit import RateLimiterLike, default_controller_rate_limiter
from fastinformer.clock import REAL_CLOCK

if TYPE_CHECKING:
    from collections.abc import Callable

    from fastinformer.clock import Clock
    from fastinformer.workqueue.metrics import MetricsProvider, QueueMetrics

__all__ = ["DelayingQueue", "Queue", "RateLimitingQueue"]


def _queue_metrics(
    name: str, provider: MetricsProvider | None, now: Callable[[], float]
) -> QueueMetrics | None:
    """The recorder for a named queue, or None when nothing is to be recorded."""
    if not isinstance(name, str):
        raise TypeError(f"name must be str, not {type(name).__name__}")
    if not name:
        return None
    from fastinformer.workqueue.metrics import new_queue_metrics

    return new_queue_metrics(name, provider, now)


def _check_timeout(timeout: float | None) -> None:
    if timeout is not None and not timeout >= 0.0:
        raise ValueError(f"timeout must be None or >= 0 seconds, got {timeout!r}")


class Queue:
    """A FIFO work queue; an item is never handed to two workers at once.

    ``name`` turns on metrics (see :mod:`fastinformer.workqueue.metrics`); ``clock``
    (default: the real clock) measures timeouts; ``metrics_provider`` overrides the
    default provider for this queue.
    """

    __slots__ = (
        "_clock",
        "_cond",
        "_dirty",
        "_drain",
        "_lock",
        "_metrics",
        "_now",
        "_processing",
        "_queue",
        "_shutting_down",
        "_waiters",
        "name",
    )

    def __init__(
        self,
        name: str = "",
        clock: Clock | None = None,
        metrics_provider: MetricsProvider | None = None,
    ) -> None:
        self._clock: Clock = REAL_CLOCK if clock is None else clock
        self._now: Callable[[], float] = (
            time.monotonic if self._clock is REAL_CLOCK else self._clock.now
        )
        self._metrics = _queue_metrics(name, metrics_provider, self._now)
        self.name = name
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._queue: deque[Any] = deque()
        self._dirty: set[Any] = set()
        self._processing: set[Any] = set()
        self._shutting_down = False
        self._drain = False
        self._waiters = 0

    # -- overridden by DelayingQueue -------------------------------------------------

    def _promote_locked(self) -> float:
        """Queue the waiting items that are ready; seconds until the next one, or -1."""
        return -1.0

    def _drop_waiting_locked(self) -> None:
        """Forget every waiting item (at shut-down)."""

    # -- bookkeeping (caller holds the lock) -------------------------------------------

    def _add_locked(self, item: Any) -> None:
        if self._shutting_down or item in self._dirty:
            return
        if self._metrics is not None:
            self._metrics.add(item)
        self._dirty.add(item)
        if item in self._processing:
            return
        self._queue.append(item)
        if self._waiters:
            self._cond.notify()

    def _wait_locked(self, timeout: float | None) -> None:
        self._waiters += 1
        try:
            self._clock.wait(self._cond, timeout)
        finally:
            self._waiters -= 1

    # -- public API -------------------------------------------------------------------

    def add(self, item: Any) -> None:
        """Queue ``item`` unless it is already queued; ignored once shutting down.

        An item a worker is processing is queued again when the worker calls :meth:`done`.
        """
        with self._lock:
            self._promote_locked()
            self._add_locked(item)

    def get(self, timeout: float | None = None) -> tuple[Any, bool]:
        """Take the next item: ``(item, False)``, or ``(None, True)`` once shut down and empty.

        Blocks until an item is available; with ``timeout`` (clock seconds, 0 = do not
        wait) raises ``TimeoutError`` if none came. The caller must call :meth:`done`.
        """
        _check_timeout(timeout)
        deadline: float | None = None
        with self._lock:
            while True:
                ready_in = self._promote_locked()
                if self._queue:
                    item = self._queue.popleft()
                    if self._metrics is not None:
                        self._metrics.get(item)
                    self._processing.add(item)
                    self._dirty.discard(item)
                    if self._queue and self._waiters:
                        self._cond.notify()
                    return item, False
                if self._shutting_down:
                    return None, True
                wait: float | None = None if ready_in < 0.0 else ready_in
                if timeout is not None:
                    now = self._now()
                    if deadline is None:
                        deadline = now + timeout
                    remaining = deadline - now
                    if remaining <= 0.0:
                        raise TimeoutError(f"no item became available within {timeout} s")
                    if wait is None or remaining < wait:
                        wait = remaining
                self._wait_locked(wait)

    def done(self, item: Any) -> None:
        """Mark ``item`` processed; queue it again if it was added meanwhile.

        Raises ``ValueError`` if ``item`` is not being processed.
        """
        with self._lock:
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
            elif not self._processing and self._waiters:
                self._cond.notify_all()  # wake shut_down_with_drain

    def shut_down(self) -> None:
        """Stop accepting items and wake every waiter; queued items can still be taken."""
        with self._lock:
            self._promote_locked()  # items already due count as added
            self._shutting_down = True
            self._drain = False
            self._drop_waiting_locked()
            self._cond.notify_all()

    def shut_down_with_drain(self, timeout: float | None = None) -> bool:
        """Shut down, then wait until every item handed out is done.

        Returns True once nothing is in flight; False if ``timeout`` (clock seconds)
        passed first or :meth:`shut_down` cut the drain short.
        """
        _check_timeout(timeout)
        deadline: float | None = None
        with self._lock:
            self._promote_locked()  # items already due count as added
            self._shutting_down = True
            self._drain = True
            self._drop_waiting_locked()
            self._cond.notify_all()
            while self._processing and self._drain:
                wait: float | None = None
                if timeout is not None:
                    now = self._now()
                    if deadline is None:
                        deadline = now + timeout
                    wait = deadline - now
                    if wait <= 0.0:
                        break
                self._wait_locked(wait)
            return not self._processing

    def shutting_down(self) -> bool:
        """Whether :meth:`shut_down` (or the drain variant) was called."""
        with self._lock:
            return self._shutting_down

    def update_unfinished_work(self) -> None:
        """Refresh the unfinished-work and longest-running gauges (a metrics exporter calls it)."""
        with self._lock:
            if self._metrics is not None:
                self._metrics.update_unfinished_work()

    def __len__(self) -> int:
        """Items ready to be taken (not those being processed or still waiting)."""
        with self._lock:
            self._promote_locked()
            return len(self._queue)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, len={len(self)})"


class DelayingQueue(Queue):
    """A :class:`Queue` that can also add an item after a delay (see :meth:`add_after`)."""

    __slots__ = ("_heap", "_seq", "_waiting")

    def __init__(
        self,
        name: str = "",
        clock: Clock | None = None,
        metrics_provider: MetricsProvider | None = None,
    ) -> None:
        super().__init__(name, clock, metrics_provider)
        self._heap: list[tuple[float, int, Any]] = []
        self._waiting: dict[Any, tuple[float, int, Any]] = {}
        self._seq = 0

    def _promote_locked(self) -> float:
        heap = self._heap
        if not heap:
            return -1.0
        now = self._now()
        while heap:
            entry = heap[0]
            if entry[0] > now:
                return entry[0] - now
            heappop(heap)
            item = entry[2]
            if self._waiting.get(item) is entry:  # else superseded by an earlier time
                del self._waiting[item]
                self._add_locked(item)
        return -1.0

    def _drop_waiting_locked(self) -> None:
        self._heap.clear()
        self._waiting.clear()

    def add_after(self, item: Any, delay: float) -> None:
        """Add ``item`` once ``delay`` clock seconds have passed (now if ``delay <= 0``).

        An item already waiting keeps the earlier of its two ready times. Ignored once
        shutting down; shutting down drops waiting items.
        """
        if isinstance(delay, bool) or not isinstance(delay, (int, float)):
            raise TypeError(f"delay must be a number of seconds, not {type(delay).__name__}")
        if delay != delay:
            raise ValueError("delay must be a number of seconds, got nan")
        hash(item)
        with self._lock:
            if self._shutting_down:
                return
            if self._metrics is not None:
                self._metrics.retry()
            self._promote_locked()
            if delay <= 0:
                self._add_locked(item)
                return
            ready = self._now() + delay
            entry = self._waiting.get(item)
            if entry is not None and entry[0] <= ready:
                return
            self._seq += 1
            entry = (ready, self._seq, item)
            self._waiting[item] = entry
            heappush(self._heap, entry)
            if self._heap[0] is entry and self._waiters:
                self._cond.notify_all()  # getters may be waiting for a later item


class RateLimitingQueue(DelayingQueue):
    """A :class:`DelayingQueue` whose retries are paced by ``rate_limiter``.

    The default limiter is ``default_controller_rate_limiter(clock)``.
    """

    __slots__ = ("rate_limiter",)

    def __init__(
        self,
        rate_limiter: RateLimiterLike | None = None,
        name: str = "",
        clock: Clock | None = None,
        metrics_provider: MetricsProvider | None = None,
    ) -> None:
        if rate_limiter is None:
            rate_limiter = default_controller_rate_limiter(clock)
        elif not all(
            callable(getattr(rate_limiter, m, None)) for m in ("when", "forget", "num_requeues")
        ):
            raise TypeError(
                f"{rate_limiter!r} is not a rate limiter (needs when, forget and num_requeues)"
            )
        super().__init__(name, clock, metrics_provider)
        self.rate_limiter: RateLimiterLike = rate_limiter

    def add_rate_limited(self, item: Any) -> None:
        """Add ``item`` after the delay the rate limiter gives for it (counts a failure)."""
        self.add_after(item, self.rate_limiter.when(item))

    def forget(self, item: Any) -> None:
        """Clear ``item``'s failure history in the rate limiter (call after a success)."""
        self.rate_limiter.forget(item)

    def num_requeues(self, item: Any) -> int:
        """How many times ``item`` was rate-limited since it was last forgotten."""
        return self.rate_limiter.num_requeues(item)
