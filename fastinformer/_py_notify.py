"""Pure-Python twin of ``_core_notify.pxi``: from popped deltas to per-handler buffers.

:class:`NotificationBuffer` holds one handler's pending notifications and feeds its
thread; :class:`DeltaDistributor` is the informer's ``process`` step for
``DeltaFIFO.pop``: it applies deltas to the cache and fans them out to the buffers
(client-go's ``HandleDeltas`` plus the processor's ``distribute``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from fastinformer._py_fifo import Delta, DeltaType
from fastinformer._py_keys import meta_namespace_key
from fastinformer._py_store import _call_key
from fastinformer.protocol import resource_version_of

__all__ = ["NOTE_ADD", "NOTE_DELETE", "NOTE_UPDATE", "DeltaDistributor", "NotificationBuffer"]

NOTE_ADD = 0
NOTE_UPDATE = 1
NOTE_DELETE = 2


class _Note:
    """One pending notification (mutable while buffered)."""

    __slots__ = ("initial", "kind", "new", "old")

    def __init__(self, kind: int, old: Any, new: Any, initial: bool) -> None:
        self.kind = kind
        self.old = old
        self.new = new
        self.initial = initial


class _Slot:
    """The notes pending for one key, in its place in the delivery order (``dead`` once
    they are all gone; a later notification for the key gets a new slot at the end)."""

    __slots__ = ("dead", "key", "notes")

    def __init__(self, key: str, note: _Note) -> None:
        self.key = key
        self.notes = [note]
        self.dead = False


class NotificationBuffer:
    """One handler's pending notifications: at most two per key, keys in arrival order.

    Merge rule per key: add+update -> add(newest); update+update -> update(first old,
    newest); add+delete -> nothing; update+delete -> delete(final state); delete+add
    stays two notes (a second note only ever follows a delete). So the memory is bounded
    by the number of keys, not the event rate, whatever the sequence.

    Producers call :meth:`put` from any thread; one consumer thread calls :meth:`run`
    (or :meth:`take`). The buffer's own lock guards its state; handlers are called
    without it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Released once per wait of the consumer (by put or stop).
        self._wake = threading.Lock()
        self._wake.acquire()
        self._pending: dict[str, _Slot] = {}
        self._queue: list[_Slot] = []
        self._head = 0
        self._initial_pending = 0
        self._primed = False
        self._stopped = False
        self._busy = False
        self._busy_initial = False
        self._waiting = False

    def __repr__(self) -> str:
        return f"<NotificationBuffer pending={len(self._pending)} stopped={self._stopped}>"

    # -- producer side --

    def put(self, key: str, kind: int, old: Any, new: Any, initial: bool) -> None:
        """Buffer one notification (``NOTE_ADD``/``NOTE_UPDATE``/``NOTE_DELETE``) for
        ``key``, merged with what is pending for it; ignored once stopped."""
        if not isinstance(key, str):
            raise TypeError(f"notification key must be str, not {type(key).__name__}")
        if kind not in (NOTE_ADD, NOTE_UPDATE, NOTE_DELETE):
            raise ValueError(f"unknown notification kind {kind}")
        with self._lock:
            if self._stopped:
                return
            slot = self._pending.get(key)
            if slot is None:
                slot = _Slot(key, _Note(kind, old, new, initial))
                self._pending[key] = slot
                self._queue.append(slot)
                if initial:
                    self._initial_pending += 1
                if self._waiting:
                    self._waiting = False
                    self._wake.release()
                return
            notes = slot.notes
            last = notes[-1]
            if kind != NOTE_DELETE:
                if last.kind != NOTE_DELETE:
                    last.new = new  # add/update then add/update: one note, newest object
                else:
                    notes.append(_Note(kind, old, new, initial))
                    if initial:
                        self._initial_pending += 1
            elif last.kind == NOTE_ADD:
                notes.pop()  # added then deleted before delivery: nothing to say
                if last.initial:
                    self._initial_pending -= 1
                if not notes:
                    slot.dead = True
                    del self._pending[key]
            elif len(notes) == 2:
                notes.pop()  # delete, update, delete: one delete of the final state
                notes[0].new = new
            else:
                last.kind = NOTE_DELETE  # update (or delete) then delete: the final state
                last.old = None
                last.new = new
            # The key was pending, so the consumer is not waiting: no wake-up.

    def prime(self) -> None:
        """Mark that every initial-list notification has been put."""
        with self._lock:
            self._primed = True

    def stop(self) -> None:
        """Drop what is pending and make :meth:`take` return None (after the current
        handler call returns); idempotent."""
        with self._lock:
            self._stopped = True
            self._pending.clear()
            self._queue = []
            self._head = 0
            self._initial_pending = 0
            if self._waiting:
                self._waiting = False
                self._wake.release()

    # -- queries --

    def synced(self) -> bool:
        """Primed, and every initial-list notification has been handled."""
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

    def is_stopped(self) -> bool:
        """:meth:`stop` was called."""
        return self._stopped

    # -- consumer side (one thread) --

    def take(self) -> tuple[int, Any, Any, bool] | None:
        """Finish the previous notification, then return the next ``(kind, old, new,
        initial)``, blocking while there is none; None once stopped."""
        while True:
            with self._lock:
                self._finish_locked()
                if self._stopped:
                    return None
                note = self._next_locked()
                if note is not None:
                    self._busy = True
                    self._busy_initial = note.initial
                    return note.kind, note.old, note.new, note.initial
                self._waiting = True
            self._wake.acquire()  # released once by put() or stop()

    def run(
        self,
        on_add: Callable[..., Any] | None,
        add_with_flag: bool,
        on_update: Callable[[Any, Any], Any] | None,
        on_delete: Callable[[Any], Any] | None,
        on_error: Callable[[], Any],
    ) -> None:
        """Deliver notifications until stopped: ``on_add(new)`` (or ``on_add(new,
        initial)`` with ``add_with_flag``), ``on_update(old, new)``, ``on_delete(obj)``;
        a missing callback skips its kind. When a callback raises an ``Exception``,
        ``on_error()`` is called from the ``except`` block (so it can log the traceback)
        and delivery goes on; other exceptions end the loop and propagate."""
        while True:
            got = self.take()
            if got is None:
                return
            kind, old, new, initial = got
            try:
                if kind == NOTE_ADD:
                    if on_add is not None:
                        if add_with_flag:
                            on_add(new, initial)
                        else:
                            on_add(new)
                elif kind == NOTE_UPDATE:
                    if on_update is not None:
                        on_update(old, new)
                elif on_delete is not None:
                    on_delete(new)
            except Exception:
                on_error()
            except BaseException:
                with self._lock:
                    self._finish_locked()
                raise
            del got, old, new  # the objects are released before waiting again

    def _finish_locked(self) -> None:
        if self._busy:
            self._busy = False
            if self._busy_initial and not self._stopped:
                self._initial_pending -= 1

    def _next_locked(self) -> _Note | None:
        queue = self._queue
        while self._head < len(queue):
            slot = queue[self._head]
            if slot.dead:
                self._head += 1
                continue
            note = slot.notes.pop(0)
            if not slot.notes:
                slot.dead = True
                del self._pending[slot.key]
                self._head += 1
            return note
        self._queue = []
        self._head = 0
        return None


class DeltaDistributor:
    """``distributor(deltas, is_in_initial_list)``: apply one key's deltas to
    ``indexer`` and put the matching notifications in every buffer of ``buffers``.

    For each delta: Deleted removes the object and notifies a delete; otherwise the
    object is added (notifying an add, flagged ``is_in_initial_list``) or replaces the
    cached one (notifying an update with the old object), except that a Replaced delta
    whose resourceVersion equals the cached one changes nothing visible (a relist of an
    unchanged object). Meant to be called by ``DeltaFIFO.pop`` (FIFO lock held); takes
    ``lock`` (the informer's handler-registration lock) around the whole batch.
    ``full_list_applied`` becomes True when a batch came from a full list (initial or
    Replaced); the informer resets it.
    """

    def __init__(
        self,
        indexer: Any,
        key_func: Callable[[Any], str] = meta_namespace_key,
        lock: Any = None,
    ) -> None:
        if not callable(key_func):
            raise TypeError(f"key_func is not callable: {key_func!r}")
        self.indexer = indexer
        self.key_func = key_func
        self.lock = lock if lock is not None else threading.RLock()
        self._buffers: tuple[NotificationBuffer, ...] = ()
        self.full_list_applied = False

    def __repr__(self) -> str:
        return f"<DeltaDistributor buffers={len(self._buffers)}>"

    @property
    def buffers(self) -> tuple[NotificationBuffer, ...]:
        """The buffers notified, a tuple; replace it (under ``lock``) to add or remove one."""
        return self._buffers

    @buffers.setter
    def buffers(self, value: Sequence[NotificationBuffer]) -> None:
        checked = tuple(value)
        for b in checked:
            if not isinstance(b, NotificationBuffer):
                raise TypeError(f"buffers must be NotificationBuffer, not {type(b).__name__}")
        self._buffers = checked

    def __call__(self, deltas: Sequence[Delta], is_in_initial_list: bool) -> None:
        indexer = self.indexer
        key_func = self.key_func
        if is_in_initial_list or (deltas and deltas[-1].type == DeltaType.REPLACED):
            self.full_list_applied = True
        with self.lock:
            buffers = self._buffers
            for d in deltas:
                obj = d.object
                key = _call_key(key_func, obj)
                if d.type == DeltaType.DELETED:
                    indexer.delete(obj)
                    for b in buffers:
                        b.put(key, NOTE_DELETE, None, obj, False)
                    continue
                old = indexer.get_by_key(key)
                if old is None:
                    indexer.add(obj)
                    for b in buffers:
                        b.put(key, NOTE_ADD, None, obj, is_in_initial_list)
                    continue
                indexer.update(obj)
                if d.type == DeltaType.REPLACED:
                    rv = resource_version_of(obj)
                    if rv and rv == resource_version_of(old):
                        continue  # relisted but unchanged: not an update
                for b in buffers:
                    b.put(key, NOTE_UPDATE, old, obj, False)
