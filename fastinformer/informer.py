"""SharedIndexInformer: one reflector, one DeltaFIFO and one indexed cache shared by many handlers.

Pipeline: reflector -> (transform) -> DeltaFIFO -> indexer -> one bounded buffer and one
thread per handler. A slow or failing handler never blocks the reflector or another
handler; a handler's buffer holds at most two notifications per object key, so its
memory is bounded by the number of keys, not by the event rate.

The FIFO is drained by the thread that fills it: after queueing, the reflector (lists
and watch events) or its supervisor (resyncs) pops and applies what is queued
(:meth:`DeltaFIFO.drain`), instead of a separate processing thread as in client-go.
Applying deltas only updates the cache and the handlers' buffers, so it never waits on
a handler; under the GIL a separate thread would only add hand-offs between threads.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from fastinformer.clock import REAL_CLOCK, Clock
from fastinformer.decode import freeze_gc, gc_paused
from fastinformer.delta_fifo import DeltaFIFO
from fastinformer.keys import DeletedFinalStateUnknown, meta_namespace_key
from fastinformer.notify import NOTE_ADD, DeltaDistributor, NotificationBuffer
from fastinformer.protocol import ListerWatcher
from fastinformer.reflector import Reflector
from fastinformer.store import Indexer, IndexFunc

log = logging.getLogger("fastinformer.informer")

Transform = Callable[[Any], Any]
KeyFunc = Callable[[Any], str]


class ResourceEventHandler(Protocol):
    """What a handler object implements (every method optional on plain objects)."""

    def on_add(self, obj: Any, is_in_initial_list: bool) -> None: ...

    def on_update(self, old: Any, new: Any) -> None: ...

    def on_delete(self, obj: Any) -> None: ...


def _accepts_two_args(fn: Callable[..., Any]) -> bool:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    positional = 0
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            return True
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            positional += 1
    return positional >= 2


class _Listener:
    """One handler's buffer (:class:`NotificationBuffer`: at most two pending notes
    per key, see its merge rule) and the thread that delivers from it."""

    def __init__(
        self,
        on_add: Callable[..., Any] | None,
        on_update: Callable[[Any, Any], Any] | None,
        on_delete: Callable[[Any], Any] | None,
        name: str,
    ) -> None:
        self._on_add = on_add
        self._add_with_flag = on_add is not None and _accepts_two_args(on_add)
        self._on_update = on_update
        self._on_delete = on_delete
        self.name = name
        self.buffer = NotificationBuffer()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the handler's thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"fastinformer-handler-{self.name}", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Drop pending notifications and end the thread (after the current call returns)."""
        self.buffer.stop()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)

    def _run(self) -> None:
        self.buffer.run(
            self._on_add, self._add_with_flag, self._on_update, self._on_delete, self._failed
        )

    def _failed(self) -> None:
        log.exception("event handler %s raised; the event is dropped for it", self.name)


class HandlerRegistration:
    """Returned by :meth:`SharedIndexInformer.add_event_handler`; has its own ``has_synced``."""

    def __init__(self, informer: SharedIndexInformer, listener: _Listener) -> None:
        self._informer = informer
        self._listener = listener

    def has_synced(self) -> bool:
        """The informer has synced and this handler has seen every object of the initial list."""
        return self._informer.has_synced() and bool(self._listener.buffer.synced())

    def pending(self) -> int:
        """Keys with notifications not yet delivered to this handler."""
        return int(self._listener.buffer.pending())

    def idle(self) -> bool:
        """No notification pending and no handler call in progress."""
        return bool(self._listener.buffer.idle())

    def remove(self) -> None:
        """Same as ``informer.remove_event_handler(self)``."""
        self._informer.remove_event_handler(self)


class _ProcessingStore:
    """The reflector's store: queues in the DeltaFIFO (after the informer's transform),
    then applies what is queued on the calling thread (``drain``). The FIFO's lock keeps
    each key's deltas in order when two threads (the reflector and its supervisor) drain
    at once."""

    def __init__(self, fifo: DeltaFIFO, transform: Transform | None, drain: Callable[[], None]):
        self._fifo = fifo
        self._t = transform
        self._drain = drain
        self._add, self._update, self._delete = fifo.add, fifo.update, fifo.delete

    def add(self, obj: Any) -> None:
        self._add(obj if self._t is None else self._t(obj))
        self._drain()

    def update(self, obj: Any) -> None:
        self._update(obj if self._t is None else self._t(obj))
        self._drain()

    def delete(self, obj: Any) -> None:
        self._delete(obj if self._t is None else self._t(obj))
        self._drain()

    def replace(self, items: Iterable[Any], resource_version: str) -> None:
        t = self._t
        self._fifo.replace(items if t is None else [t(o) for o in items], resource_version)
        self._drain()

    def resync(self) -> None:
        self._fifo.resync()
        self._drain()


class SharedIndexInformer:
    """Lists and watches one resource into an indexed cache and notifies many handlers.

    ``transform(obj) -> obj`` runs before an object enters the FIFO (drop fields you do
    not need to save memory). A transform that mutates objects in place must be
    idempotent, or the ListWatch built with ``reuse_unchanged=False`` (it may hand the
    same unchanged ``spec`` to two versions; :class:`SharedInformerFactory` turns reuse
    off whenever a transform is set). ``resync_period`` > 0 re-delivers every cached object as
    ``on_update(obj, obj)`` on that period, without any API call. The cyclic GC is
    paused around every full relist (``reflector_options={"gc_pause": None}`` turns
    that off). Thread-safe.

    GC policy (``gc_freeze=True``, the default): once the deltas of a full list (the
    initial one or a relist) have all been applied, :func:`fastinformer.decode.freeze_gc`
    moves every object then alive in the process into the GC's permanent generation, so
    full collections stop walking the cache and the rest of the long-lived heap (each
    would otherwise pause every thread for tens of milliseconds). The trade-off:
    reference cycles that were already garbage, or that later form only among frozen
    objects, are not collected until ``gc.unfreeze()``; everything else is still freed
    by reference counting. Pass ``gc_freeze=False`` to leave the GC alone.
    """

    def __init__(
        self,
        lister_watcher: ListerWatcher,
        *,
        resync_period: float = 0.0,
        indexers: Mapping[str, IndexFunc] | None = None,
        key_func: KeyFunc = meta_namespace_key,
        transform: Transform | None = None,
        name: str = "",
        clock: Clock = REAL_CLOCK,
        watch_error_handler: Callable[[Any, BaseException], None] | None = None,
        reflector_options: Mapping[str, Any] | None = None,
        gc_freeze: bool = True,
    ) -> None:
        if resync_period < 0:
            raise ValueError("resync_period must be >= 0")
        self.name = name or "informer"
        self._key_func = key_func
        self._indexer = Indexer(key_func, dict(indexers or {}))
        self._fifo = DeltaFIFO(key_func, known_objects=self._indexer)
        store = _ProcessingStore(self._fifo, transform, self._drain)
        options = dict(reflector_options or {})
        options.setdefault("gc_pause", gc_paused)  # bulk decoding with the GC on is ~5x slower
        self._reflector = Reflector(
            lister_watcher,
            store,
            name=self.name,
            resync_period=resync_period,
            clock=clock,
            watch_error_handler=watch_error_handler,
            **options,
        )
        self._dist_lock = threading.RLock()
        self._listeners: dict[HandlerRegistration, _Listener] = {}
        # The process step; its buffers are the listeners' (replaced under _dist_lock).
        self._distribute = DeltaDistributor(self._indexer, key_func, self._dist_lock)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = False
        self._clock = clock
        self._gc_freeze = gc_freeze

    # -- handlers --

    def add_event_handler(
        self,
        handler: object | None = None,
        *,
        on_add: Callable[..., Any] | None = None,
        on_update: Callable[[Any, Any], Any] | None = None,
        on_delete: Callable[[Any], Any] | None = None,
        name: str = "",
    ) -> HandlerRegistration:
        """Register a handler object (``on_add``/``on_update``/``on_delete``) or functions.

        ``on_add(obj)`` or ``on_add(obj, is_in_initial_list)``; ``on_update(old, new)``;
        ``on_delete(obj)`` where ``obj`` may be a ``DeletedFinalStateUnknown``. A handler
        added after start first receives an add for every cached object, flagged initial.
        """
        if handler is not None:
            on_add = on_add or getattr(handler, "on_add", None)
            on_update = on_update or getattr(handler, "on_update", None)
            on_delete = on_delete or getattr(handler, "on_delete", None)
        if on_add is None and on_update is None and on_delete is None:
            raise ValueError("a handler needs at least one of on_add, on_update, on_delete")
        for fn in (on_add, on_update, on_delete):
            if fn is not None and not callable(fn):
                raise TypeError(f"handler callbacks must be callable, got {fn!r}")
        with self._dist_lock:
            label = name or f"{self.name}-{len(self._listeners)}"
            listener = _Listener(on_add, on_update, on_delete, label)
            reg = HandlerRegistration(self, listener)
            if self._started:
                put = listener.buffer.put
                for obj in self._indexer.list():
                    put(self._key_func(obj), NOTE_ADD, None, obj, True)
                listener.buffer.prime()
                listener.start()
            self._listeners[reg] = listener
            self._distribute.buffers = tuple(lst.buffer for lst in self._listeners.values())
        return reg

    def remove_event_handler(self, registration: HandlerRegistration) -> None:
        """Stop delivering to a handler; pending notifications are dropped. Idempotent."""
        with self._dist_lock:
            listener = self._listeners.pop(registration, None)
            self._distribute.buffers = tuple(lst.buffer for lst in self._listeners.values())
        if listener is not None:
            listener.stop()

    # -- indexes and cache --

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        """Add indexes; existing cached objects are re-indexed."""
        self._indexer.add_indexers(dict(indexers))

    def get_store(self) -> Indexer:
        """The cache (read it, never write it)."""
        return self._indexer

    def get_indexer(self) -> Indexer:
        """The cache with its indexes (read it, never write it)."""
        return self._indexer

    @property
    def reflector(self) -> Reflector:
        """The reflector feeding this informer."""
        return self._reflector

    def last_sync_resource_version(self) -> str:
        """The resourceVersion the cache reflects (last list or event seen)."""
        return self._reflector.last_sync_resource_version()

    # -- lifecycle --

    def has_synced(self) -> bool:
        """The first full list has been applied to the cache."""
        return bool(self._fifo.has_synced())

    def start(self) -> None:
        """Start the reflector and the handler threads (non-blocking)."""
        with self._dist_lock:
            if self._stop.is_set():
                raise RuntimeError("an informer cannot be restarted after stop()")
            if self._started:
                return
            self._started = True
            for listener in self._listeners.values():
                listener.buffer.prime()
                listener.start()
        t = threading.Thread(target=self._run_reflector, name=f"fastinformer-{self.name}-reflector")
        t.daemon = True
        t.start()
        self._threads.append(t)

    def run(self, stop: threading.Event | None = None) -> None:
        """Start, then block until ``stop`` is set (or :meth:`stop` is called)."""
        self.start()
        if stop is None:
            self._stop.wait()
        else:
            while not stop.wait(0.2):
                if self._stop.is_set():
                    return
        self.stop()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching, processing and delivering; joins the threads. Idempotent."""
        self._stop.set()
        self._fifo.close()
        with self._dist_lock:
            listeners = list(self._listeners.values())
        for listener in listeners:
            listener.stop(timeout)
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout)

    def is_stopped(self) -> bool:
        """:meth:`stop` was called."""
        return self._stop.is_set()

    def wait_for_cache_sync(self, timeout: float | None = None) -> bool:
        """Block until :meth:`has_synced` (True) or ``timeout`` seconds / stop (False)."""
        deadline = None if timeout is None else self._clock.now() + timeout
        while not self.has_synced():
            if self._stop.is_set():
                return False
            if deadline is not None and self._clock.now() >= deadline:
                return False
            self._stop.wait(0.005)
        return True

    # -- internals --

    def _run_reflector(self) -> None:
        try:
            self._reflector.run(self._stop)
        except Exception:
            log.exception("reflector %s crashed", self.name)

    def _drain(self) -> None:
        """Apply what the FIFO holds (see :class:`DeltaDistributor`) on this thread; an
        error is logged and drops that key's deltas, as a pop would. Once the deltas of a
        full list have all been applied, freeze the GC (``gc_freeze``)."""
        try:
            self._fifo.drain(self._distribute)
        except Exception:
            self._drain_after_error()
        if self._distribute.full_list_applied:
            self._after_full_list()

    def _drain_after_error(self) -> None:
        """Log the error being handled, then drain on: each error drops one key's deltas
        (as a pop would); stop at a key that was requeued instead."""
        log.exception("informer %s failed to process deltas", self.name)
        fifo = self._fifo
        while True:
            left = len(fifo)
            try:
                fifo.drain(self._distribute)
                return
            except Exception:
                log.exception("informer %s failed to process deltas", self.name)
                if len(fifo) >= left:
                    return

    def _after_full_list(self) -> None:
        with self._dist_lock:
            if not self._distribute.full_list_applied or len(self._fifo):
                return
            self._distribute.full_list_applied = False
        if self._gc_freeze:
            freeze_gc()


def unwrap_tombstone(obj: Any) -> Any:
    """The last known object of a tombstone, or ``obj`` itself."""
    return obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj
