"""asyncio facade: informers and controllers usable from a running event loop.

Nothing here blocks the loop. The engine keeps its threads (reflector, handler threads,
worker threads); the facade hands data across:

* :class:`AsyncInformer` wraps a :class:`~fastinformer.informer.SharedIndexInformer`:
  ``await wait_for_cache_sync()``; ``async for event in informer.events()`` gives
  :class:`InformerEvent` objects through a bounded per-consumer buffer filled from the
  informer's handler thread with ``loop.call_soon_threadsafe``. A consumer that falls
  behind blocks only its own handler thread, whose pending notifications the informer
  merges per key (so memory stays bounded by the number of objects).
* :class:`AsyncController` is a :class:`~fastinformer.controller.Controller` whose
  reconcile is a coroutine function: worker threads submit each reconcile to the loop
  (``asyncio.run_coroutine_threadsafe``) and wait for it, so the workqueue's guarantees
  hold unchanged (one reconcile per key at a time, rate-limited retries, drain on stop)
  while the reconcile code awaits freely on the loop.

Beside kopf (or any asyncio framework), start them on the framework's loop and keep them
in its memo, e.g. in a ``@kopf.on.startup()`` handler::

    memo.pods = AsyncInformer(factory.pods())
    memo.pods.start()
    await memo.pods.wait_for_cache_sync()

and stop them in a ``@kopf.on.cleanup()`` handler with ``await memo.pods.stop()``.
Handlers then read ``memo.pods.get_indexer()`` (a plain, thread-safe cache read) instead
of calling the API server.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastinformer.controller import Controller, MapFunc, Predicate, Result
from fastinformer.informer import SharedIndexInformer
from fastinformer.protocol import ADDED, DELETED, MODIFIED
from fastinformer.resources import Resource
from fastinformer.store import Indexer
from fastinformer.workqueue import RateLimitingQueue

__all__ = ["AsyncController", "AsyncInformer", "AsyncReconciler", "InformerEvent"]

AsyncReconciler = Callable[[str], Awaitable[Result | None]]
"""``async def reconcile(key) -> Result | None``."""


@dataclass(frozen=True, slots=True)
class InformerEvent:
    """One notification: ``type`` is ``"ADDED"``, ``"MODIFIED"`` or ``"DELETED"``;
    ``old_object`` is set for MODIFIED; ``object`` of a DELETED may be a
    ``DeletedFinalStateUnknown``."""

    type: str
    object: Any
    old_object: Any = None
    is_in_initial_list: bool = False


_END = object()


class _Buffer:
    """Bounded hand-off from one handler thread to one consumer on ``loop``.

    The handler thread blocks in :meth:`put` while ``maxsize`` events are in flight;
    the consumer frees a slot with each :meth:`get`. ``_cond`` guards the counters.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, maxsize: int) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._maxsize = maxsize
        self._cond = threading.Condition(threading.Lock())
        self._in_flight = 0
        self._closed = False

    def put(self, event: InformerEvent) -> None:
        """Hand ``event`` to the loop (handler thread); dropped once closed."""
        with self._cond:
            while self._in_flight >= self._maxsize and not self._closed:
                self._cond.wait()
            if self._closed:
                return
            self._in_flight += 1
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, event)
        except RuntimeError:  # the loop is closed: nobody will read
            self.close()

    def finish(self) -> None:
        """End the consumer's iteration after what is buffered (any thread)."""
        with contextlib.suppress(RuntimeError):  # a closed loop has no consumer left
            self._loop.call_soon_threadsafe(self._queue.put_nowait, _END)
        self.close()

    async def get(self) -> object:
        """The next event, or ``_END`` (loop thread)."""
        item = await self._queue.get()
        if item is not _END:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify()
        return item

    def close(self) -> None:
        """Release a blocked producer and drop later events."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class AsyncInformer:
    """An asyncio view of ``informer`` (which keeps running on its own threads)."""

    def __init__(self, informer: SharedIndexInformer) -> None:
        self.informer = informer
        self._buffers: set[_Buffer] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the informer (non-blocking, idempotent)."""
        self.informer.start()

    async def stop(self) -> None:
        """Stop the informer (joined in a worker thread) and end every ``events()`` loop."""
        with self._lock:
            buffers = list(self._buffers)
        for buf in buffers:
            buf.finish()
        await asyncio.get_running_loop().run_in_executor(None, self.informer.stop)

    async def __aenter__(self) -> AsyncInformer:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def has_synced(self) -> bool:
        """The first full list has been applied to the cache."""
        return self.informer.has_synced()

    def get_indexer(self) -> Indexer:
        """The informer's cache (thread-safe reads; never write to it)."""
        return self.informer.get_indexer()

    async def wait_for_cache_sync(self, timeout: float | None = None, poll: float = 0.01) -> bool:
        """True once synced; False after ``timeout`` seconds or if the informer stopped."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not self.informer.has_synced():
            if self.informer.is_stopped():
                return False
            if deadline is not None and loop.time() >= deadline:
                return False
            await asyncio.sleep(poll)
        return True

    async def events(self, maxsize: int = 1000) -> AsyncGenerator[InformerEvent, None]:
        """Every notification from now on, starting with an ADDED (``is_in_initial_list``)
        for each cached object; ends when :meth:`stop` is called.

        At most ``maxsize`` events wait for this consumer; beyond that the informer merges
        further changes per object until it catches up. Closing the iterator (``break``)
        removes its handler.
        """
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ValueError(f"maxsize must be an int >= 1, got {maxsize!r}")
        buf = _Buffer(asyncio.get_running_loop(), maxsize)

        def on_add(obj: Any, is_in_initial_list: bool) -> None:
            buf.put(InformerEvent(ADDED, obj, None, is_in_initial_list))

        def on_update(old: Any, new: Any) -> None:
            buf.put(InformerEvent(MODIFIED, new, old))

        def on_delete(obj: Any) -> None:
            buf.put(InformerEvent(DELETED, obj))

        with self._lock:
            self._buffers.add(buf)
        registration = self.informer.add_event_handler(
            on_add=on_add, on_update=on_update, on_delete=on_delete, name="aio-events"
        )
        try:
            while True:
                item = await buf.get()
                if item is _END:
                    return
                assert isinstance(item, InformerEvent)
                yield item
        finally:
            buf.close()
            with self._lock:
                self._buffers.discard(buf)
            # Removing joins the handler thread: do it off the loop.
            threading.Thread(target=registration.remove, daemon=True).start()


def _is_async_callable(fn: object) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004  (an object with an async __call__)
    )


class AsyncController:
    """A :class:`~fastinformer.controller.Controller` reconciling with a coroutine function
    on the event loop that calls :meth:`start` (or :meth:`run`).

    Keyword arguments are the Controller's (``workers``, ``rate_limiter``, ...): each
    worker thread waits on one reconcile at a time, so ``workers`` bounds how many
    reconciles run concurrently on the loop.
    """

    def __init__(self, name: str, reconcile: AsyncReconciler, **kwargs: Any) -> None:
        if not _is_async_callable(reconcile):
            raise TypeError(
                f"reconcile must be a coroutine function (async def), got {reconcile!r}"
            )
        self._reconcile = reconcile
        self._loop: asyncio.AbstractEventLoop | None = None
        self.controller = Controller(name, self._reconcile_on_loop, **kwargs)

    @property
    def queue(self) -> RateLimitingQueue:
        """The controller's rate-limited workqueue."""
        return self.controller.queue

    def watch_primary(
        self, informer: SharedIndexInformer, *, predicate: Predicate | None = None
    ) -> AsyncController:
        """See :meth:`Controller.watch_primary`."""
        self.controller.watch_primary(informer, predicate=predicate)
        return self

    def watch_owned(
        self,
        informer: SharedIndexInformer,
        owner: Resource | str,
        *,
        predicate: Predicate | None = None,
    ) -> AsyncController:
        """See :meth:`Controller.watch_owned`."""
        self.controller.watch_owned(informer, owner, predicate=predicate)
        return self

    def watch_mapped(
        self,
        informer: SharedIndexInformer,
        map_func: MapFunc,
        *,
        predicate: Predicate | None = None,
    ) -> AsyncController:
        """See :meth:`Controller.watch_mapped`."""
        self.controller.watch_mapped(informer, map_func, predicate=predicate)
        return self

    def start(self) -> None:
        """Start on the running loop (non-blocking): reconciles will run on it."""
        self._loop = asyncio.get_running_loop()
        self.controller.start()

    async def wait_for_cache_sync(self, timeout: float | None = None, poll: float = 0.01) -> bool:
        """True once every source has synced; False after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not self.controller.has_synced():
            if deadline is not None and loop.time() >= deadline:
                return False
            await asyncio.sleep(poll)
        return True

    async def stop(self, timeout: float | None = 30.0) -> bool:
        """Drain queued and in-flight reconciles (they keep running on the loop meanwhile)
        and stop the workers; False if work remained after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.controller.stop, timeout)

    async def run(self) -> None:
        """Start, then run until cancelled; stops (draining) on cancellation."""
        self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    def _reconcile_on_loop(self, key: str) -> Result | None:
        """Worker-thread side: run the coroutine on the loop and wait for its result."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("AsyncController.start() was not called from a running loop")
        future = asyncio.run_coroutine_threadsafe(self._call(key), loop)
        while True:
            try:
                return future.result(timeout=0.5)
            except concurrent.futures.TimeoutError:
                if loop.is_closed() or not loop.is_running():
                    future.cancel()
                    raise RuntimeError(
                        f"the event loop stopped while reconciling {key!r}"
                    ) from None
            except concurrent.futures.CancelledError:
                raise RuntimeError(f"the reconcile of {key!r} was cancelled") from None

    async def _call(self, key: str) -> Result | None:
        return await self._reconcile(key)
