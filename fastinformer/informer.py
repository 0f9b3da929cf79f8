"""SharedIndexInformer: one reflector, one DeltaFIFO and one indexed cache shared by many handlers.

Pipeline: reflector -> (transform) -> DeltaFIFO -> indexer -> one bounded buffer and one
thread per handler. A slow or failing handler never blocks the reflector or another
handler; a handler's buffer holds at most two notifications per object key, so its
memory is bounded by the number of keys, not by the event rate.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from fastinformer.clock import REAL_CLOCK, Clock
from fastinformer.decode import freeze_gc, gc_paused
from fastinformer.delta_fifo import DeltaFIFO, DeltaType
from fastinformer.errors import FIFOClosedError
from fastinformer.keys import DeletedFinalStateUnknown, meta_namespace_key
from fastinformer.protocol import ListerWatcher, resource_version_of
from fastinformer.reflector import Reflector
from fastinformer.store import Indexer, IndexFunc

log = logging.getLogger("fastinformer.informer")

Transform = Callable[[Any], Any]
KeyFunc = Callable[[Any], str]

_ADD = 0
_UPDATE = 1
_DELETE = 2


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


class _Note:
    """One pending notification for one key (mutable while buffered)."""

    __slots__ = ("initial", "kind", "new", "old")

    def __init__(self, kind: int, old: Any, new: Any, initial: bool) -> None:
        self.kind = kind
        self.old = old
        self.new = new
        self.initial = initial


class _Listener:
    """One handler's buffer and thread.

    Buffer rule (per key, at most two pending notes): add+update -> add(newest);
    update+update -> update(first old, newest); add+delete -> nothing; update+delete ->
    delete(final state); delete+add stays two notes. ``_lock`` guards the buffer and the
    flags; the thread sleeps on ``_wake``, which is released once per sleep.
    """

    def __init__(
        self,
        informer: SharedIndexInformer,
        on_add: Callable[..., Any] | None,
        on_update: Callable[[Any, Any], Any] | None,
        on_delete: Callable[[Any], Any] | None,
        name: str,
    ) -> None:
        self._informer = informer
        self._on_add = on_add
        self._add_with_flag = on_add is not None and _accepts_two_args(on_add)
        self._on_update = on_update
        self._on_delete = on_delete
        self.name = name
        self._lock = threading.Lock()
        # Released once per wait of the thread (by enqueue or stop): a bare lock, cheaper
        # than a Condition on this path taken up to twice per event.
        self._wake = threading.Lock()
        self._wake.acquire()
        self._pending: OrderedDict[str, list[_Note]] = OrderedDict()
        self._initial_pending = 0
        self._primed = False
        self._stopped = False
        self._busy = False
        self._waiting = False  # the thread is (about to be) blocked on _wake
        self._thread: threading.Thread | None = None

    # -- producer side (informer's distribution lock held) --

    def enqueue(self, key: str, kind: int, old: Any, new: Any, initial: bool) -> None:
        """Buffer one notification, merging it with what is pending for ``key``."""
        with self._lock:
            notes = self._pending.get(key)
            if notes is None:
                self._pending[key] = [_Note(kind, old, new, initial)]
                if initial:
                    self._initial_pending += 1
                if self._waiting:  # else the thread is busy and will look again
                    self._waiting = False
                    self._wake.release()
                return
            last = notes[-1]
            if kind == _UPDATE and last.kind in (_ADD, _UPDATE):
                last.new = new
            elif kind == _DELETE and last.kind == _ADD:
                notes.pop()
                if last.initial:
                    self._initial_pending -= 1
                if not notes:
                    del self._pending[key]
            elif kind == _DELETE and last.kind == _UPDATE:
                last.kind = _DELETE
                last.old = None
                last.new = new
            else:
                notes.append(_Note(kind, old, new, initial))
                if initial:
                    self._initial_pending += 1
            # ``key`` was already pending, so the thread is not waiting: no wake-up.

    def prime(self) -> None:
        """Mark that every initial-list notification for this handler has been queued."""
        with self._lock:
            self._primed = True

    # -- consumer side --

    def start(self) -> None:
        """Start the handler's thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"fastinformer-handler-{self.name}", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Drop pending notifications and end the thread (after the current call returns)."""
        with self._lock:
            self._stopped = True
            self._pending.clear()
            self._initial_pending = 0
            if self._waiting:
                self._waiting = False
                self._wake.release()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)

    def synced(self) -> bool:
        """Every initial-list notification has been handed to the handler."""
        with self._lock:
            return self._primed and self._initial_pending == 0

    def pending(self) -> int:
        """Number of keys with pending notifications."""
        with self._lock:
            return len(self._pending)

    def idle(self) -> bool:
        """Nothing pending and no handler call in progress."""
        with self._lock:
            return not self._pending and not self._busy

    def _run(self) -> None:
        """Deliver notes one at a time, oldest key first. One lock round trip per note:
        the previous note is accounted for in the same critical section that takes the
        next one."""
        pending = self._pending
        done: _Note | None = None
        while True:
            note: _Note | None = None
            with self._lock:
                if done is not None:
                    self._busy = False
                    if done.initial and not self._stopped:
                        self._initial_pending -= 1
                    done = None
                if self._stopped:
                    return
                if pending:
                    key, notes = pending.popitem(last=False)
                    note = notes.pop(0)
                    if notes:
                        pending[key] = notes
                        pending.move_to_end(key, last=False)
                    self._busy = True
                else:
                    self._waiting = True
            if note is None:
                self._wake.acquire()  # released once by enqueue() or stop()
                continue
            try:
                self._call(note)
            except BaseException:
                with self._lock:
                    self._busy = False
                raise
            done = note

    def _call(self, note: _Note) -> None:
        try:
            if note.kind == _ADD:
                if self._on_add is not None:
                    if self._add_with_flag:
                        self._on_add(note.new, note.initial)
                    else:
                        self._on_add(note.new)
            elif note.kind == _UPDATE:
                if self._on_update is not None:
                    self._on_update(note.old, note.new)
            elif self._on_delete is not None:
                self._on_delete(note.new)
        except Exception:
            log.exception("event handler %s raised; the event is dropped for it", self.name)


class HandlerRegistration:
    """Returned by :meth:`SharedIndexInformer.add_event_handler`; has its own ``has_synced``."""

    def __init__(self, informer: SharedIndexInformer, listener: _Listener) -> None:
        self._informer = informer
        self._listener = listener

    def has_synced(self) -> bool:
        """The informer has synced and this handler has seen every object of the initial list."""
        return self._informer.has_synced() and self._listener.synced()

    def pending(self) -> int:
        """Keys with notifications not yet delivered to this handler."""
        return self._listener.pending()

    def idle(self) -> bool:
        """No notification pending and no handler call in progress."""
        return self._listener.idle()

    def remove(self) -> None:
        """Same as ``informer.remove_event_handler(self)``."""
        self._informer.remove_event_handler(self)


class _TransformingStore:
    """Applies the informer's transform to every object before it enters the FIFO."""

    def __init__(self, fifo: DeltaFIFO, transform: Transform) -> None:
        self._fifo = fifo
        self._t = transform

    def add(self, obj: Any) -> None:
        self._fifo.add(self._t(obj))

    def update(self, obj: Any) -> None:
        self._fifo.update(self._t(obj))

    def delete(self, obj: Any) -> None:
        self._fifo.delete(self._t(obj))

    def replace(self, items: Iterable[Any], resource_version: str) -> None:
        t = self._t
        self._fifo.replace([t(o) for o in items], resource_version)

    def resync(self) -> None:
        self._fifo.resync()


class SharedIndexInformer:
    """Lists and watches one resource into an indexed cache and notifies many handlers.

    ``transform(obj) -> obj`` runs before an object enters the FIFO (drop fields you do
    not need to save memory). ``resync_period`` > 0 re-delivers every cached object as
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
        store: Any = self._fifo if transform is None else _TransformingStore(self._fifo, transform)
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
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = False
        self._clock = clock
        self._gc_freeze = gc_freeze
        self._freeze_due = False  # a full list is being applied (process thread only)

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
            listener = _Listener(self, on_add, on_update, on_delete, label)
            reg = HandlerRegistration(self, listener)
            if self._started:
                for obj in self._indexer.list():
                    listener.enqueue(self._key_func(obj), _ADD, None, obj, True)
                listener.prime()
                listener.start()
            self._listeners[reg] = listener
        return reg

    def remove_event_handler(self, registration: HandlerRegistration) -> None:
        """Stop delivering to a handler; pending notifications are dropped. Idempotent."""
        with self._dist_lock:
            listener = self._listeners.pop(registration, None)
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
        """Start the reflector, the processing thread and the handler threads (non-blocking)."""
        with self._dist_lock:
            if self._stop.is_set():
                raise RuntimeError("an informer cannot be restarted after stop()")
            if self._started:
                return
            self._started = True
            for listener in self._listeners.values():
                listener.prime()
                listener.start()
        for target, suffix in ((self._run_reflector, "reflector"), (self._process, "process")):
            t = threading.Thread(target=target, name=f"fastinformer-{self.name}-{suffix}")
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

    def _process(self) -> None:
        fifo = self._fifo
        pop = fifo.pop
        handle = self._handle_deltas
        while not self._stop.is_set():
            try:
                pop(handle)
            except FIFOClosedError:
                return
            except Exception:
                log.exception("informer %s failed to process deltas", self.name)
            if self._freeze_due and not len(fifo):
                self._freeze_due = False
                freeze_gc()

    def _handle_deltas(self, deltas: list[Any], is_in_initial_list: bool) -> None:
        """Apply deltas to the cache and fan them out. Runs with the FIFO lock held."""
        indexer = self._indexer
        key_func = self._key_func
        if self._gc_freeze and (is_in_initial_list or deltas[-1].type == DeltaType.REPLACED):
            self._freeze_due = True
        with self._dist_lock:
            listeners = list(self._listeners.values())
            for d in deltas:
                obj = d.object
                dtype = d.type
                key = key_func(obj)
                if dtype == DeltaType.DELETED:
                    indexer.delete(obj)
                    for lst in listeners:
                        lst.enqueue(key, _DELETE, None, obj, False)
                    continue
                old = indexer.get_by_key(key)
                if old is None:
                    indexer.add(obj)
                    for lst in listeners:
                        lst.enqueue(key, _ADD, None, obj, is_in_initial_list)
                    continue
                indexer.update(obj)
                if dtype == DeltaType.REPLACED:
                    rv = resource_version_of(obj)
                    if rv and rv == resource_version_of(old):
                        continue  # relisted but unchanged: not an update
                for lst in listeners:
                    lst.enqueue(key, _UPDATE, old, obj, False)


def unwrap_tombstone(obj: Any) -> Any:
    """The last known object of a tombstone, or ``obj`` itself."""
    return obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj
