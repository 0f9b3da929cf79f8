"""Pure-Python twin of ``_core_fifo.pxi``: DeltaFIFO with client-go semantics."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from time import monotonic
from typing import Any, Final, NoReturn, Protocol

from fastinformer._py_keys import DeletedFinalStateUnknown, meta_namespace_key
from fastinformer.errors import FIFOClosedError, KeyFuncError, RequeueError

__all__ = ["Delta", "DeltaFIFO", "DeltaType"]


class KeyListerGetter(Protocol):
    """What a DeltaFIFO needs to know of the consumer's objects (an Indexer fits)."""

    def list_keys(self) -> list[str]: ...

    def get_by_key(self, key: str) -> Any | None: ...


class DeltaType:
    """The kinds of :class:`Delta` (client-go's names)."""

    ADDED: Final = "Added"
    UPDATED: Final = "Updated"
    DELETED: Final = "Deleted"
    # Replaced: the object was listed again by a relist (Replace).
    REPLACED: Final = "Replaced"
    # Sync: periodic resync of a known object, or Replace with emit_delta_type_replaced=False.
    SYNC: Final = "Sync"


_ADDED: Final = DeltaType.ADDED
_UPDATED: Final = DeltaType.UPDATED
_DELETED: Final = DeltaType.DELETED
_REPLACED: Final = DeltaType.REPLACED
_SYNC: Final = DeltaType.SYNC
# Canonical (interned) type strings: the FIFO compares delta types by identity.
_TYPES: Final[dict[str, str]] = {t: t for t in (_ADDED, _UPDATED, _DELETED, _REPLACED, _SYNC)}
_setattr = object.__setattr__


class Delta:
    """One change to one object: ``type`` (a :class:`DeltaType` value) and ``object``.

    Immutable. Equal to another Delta with an equal type and an equal object;
    unhashable, since objects usually are.
    """

    __slots__ = ("object", "type")
    type: str
    object: Any

    def __init__(self, type: str, object: Any) -> None:
        if not isinstance(type, str):
            raise TypeError(f"delta type must be str, not {type.__class__.__name__}")
        canonical = _TYPES.get(type)
        if canonical is None:
            raise ValueError(f"unknown delta type {type!r}; expected one of {tuple(_TYPES)}")
        _setattr(self, "type", canonical)
        _setattr(self, "object", object)

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError(f"Delta is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"Delta is immutable: cannot delete {name!r}")

    def __repr__(self) -> str:
        return f"Delta({self.type!r}, {self.object!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Delta):
            return NotImplemented
        return self.type is other.type and bool(self.object == other.object)

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return (Delta, (self.type, self.object))


def _is_tombstone(d: Delta) -> bool:
    return isinstance(d.object, DeletedFinalStateUnknown)


def _append(deltas: list[Delta], d: Delta, compress: bool) -> None:
    """Append ``d`` to the deltas of one key, applying the dedup/compression rules.

    ``deltas`` must already obey the rules (see DeltaFIFO's docstring).
    """
    if not deltas:
        deltas.append(d)
        return
    last = deltas[-1]
    if d.type is _DELETED:
        if last.type is _DELETED:
            # Rule 1: two deletions in a row are one; keep the newer unless it is a tombstone.
            if not _is_tombstone(d):
                deltas[-1] = d
            return
        if compress:
            # Rule 2: an earlier Deleted with a run after it: drop the run and ``d``.
            for i in range(len(deltas) - 2, -1, -1):
                if deltas[i].type is _DELETED:
                    del deltas[i + 1 :]
                    return
        deltas.append(d)
        return
    if not compress or last.type is _DELETED:
        deltas.append(d)
        return
    # Rule 3: fold into the previous non-Deleted delta unless it is the Added opening its run.
    if last.type is _ADDED and (len(deltas) == 1 or deltas[-2].type is _DELETED):
        deltas.append(d)
        return
    deltas[-1] = Delta(last.type, d.object) if d.type is _SYNC and last.type is not _SYNC else d


class DeltaFIFO:
    """A queue of per-key deltas for informers, with client-go's DeltaFIFO semantics.

    Each key (``key_func(obj)``; tombstones key by their ``.key``) holds an ordered
    list of :class:`Delta`; keys pop in the order they were first queued, all their
    deltas at once. ``known_objects`` (``list_keys()``/``get_by_key(key)``, e.g. the
    informer's indexer) is what the consumer already holds: it drives deletion
    detection in :meth:`replace`, :meth:`resync` and :meth:`delete`.

    Dedup and compression, applied whenever a delta is appended to a key:

    1. ``Deleted`` right after ``Deleted``: one deletion, the newer unless it is a
       tombstone (always on, as in client-go).
    2. ``Deleted`` while an earlier ``Deleted`` of the key is queued: the object was
       re-created and deleted again while queued; the deltas between the two and
       the new ``Deleted`` are dropped, the earlier ``Deleted`` stays.
    3. A non-Deleted delta after a non-Deleted delta folds into it (newest object,
       newest type, except that ``Sync`` keeps the previous type), unless the
       previous one is the ``Added`` that follows a ``Deleted`` or starts the list.

    Rules 2 and 3 apply only with ``compress=True`` (the default). They keep each
    key in the shape ``[run] [Deleted [run]]`` where a run is one non-Deleted delta
    or ``Added`` plus one, so a key never holds more than 5 deltas under any storm.
    ``compress=False`` keeps every delta (client-go's exact behaviour).

    One reentrant lock guards everything; :meth:`pop` calls ``process`` with it
    held, so consumers are serialised and producers wait while ``process`` runs.
    ``process`` may call the FIFO's other methods (not :meth:`pop`).
    """

    def __init__(
        self,
        key_func: Callable[[Any], str] | None = meta_namespace_key,
        known_objects: KeyListerGetter | None = None,
        emit_delta_type_replaced: bool = True,
        compress: bool = True,
    ) -> None:
        if key_func is None:
            key_func = meta_namespace_key
        if not callable(key_func):
            raise TypeError(f"key_func must be callable, not {type(key_func).__name__}")
        if known_objects is not None and not (
            hasattr(known_objects, "list_keys") and hasattr(known_objects, "get_by_key")
        ):
            raise TypeError("known_objects must have list_keys() and get_by_key(key)")
        self._key_func = key_func
        self._default_key = key_func is meta_namespace_key
        self._known_objects = known_objects
        self.emit_delta_type_replaced = bool(emit_delta_type_replaced)
        self.compress = bool(compress)
        # key -> deltas; a key is in _items iff it is in _queue.
        self._items: dict[str, list[Delta]] = {}
        self._queue: deque[str] = deque()
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._waiters = 0
        self._closed = False
        self._populated = False
        self._processing = False
        self._initial_count = 0
        self._last_rv = ""

    def __repr__(self) -> str:
        return f"<DeltaFIFO keys={len(self._items)} compress={self.compress} closed={self._closed}>"

    # -- helpers --------------------------------------------------------------

    def _key_of(self, obj: Any) -> str:
        """The key of ``obj``; any failure surfaces as KeyFuncError (no lock needed)."""
        if self._default_key:
            return meta_namespace_key(obj)
        if isinstance(obj, DeletedFinalStateUnknown):
            return obj.key
        try:
            key = self._key_func(obj)
        except KeyFuncError:
            raise
        except Exception as exc:
            raise KeyFuncError(f"key function failed on {type(obj).__name__}: {exc!r}") from exc
        if not isinstance(key, str):
            raise KeyFuncError(f"key function returned {type(key).__name__}, expected str")
        return key

    def _check_open_locked(self) -> None:
        if self._closed:
            raise FIFOClosedError("DeltaFIFO is closed")

    def _queue_action_locked(self, type_: str, obj: Any, key: str) -> None:
        d = Delta(type_, obj)
        deltas = self._items.get(key)
        if deltas is None:
            self._items[key] = [d]
            self._queue.append(key)
            if self._waiters:
                self._cond.notify()
        else:
            _append(deltas, d, self.compress)

    def _requeue_locked(self, key: str, deltas: list[Delta]) -> None:
        """Put popped ``deltas`` back: in front, or merged before newer ones."""
        if not deltas:
            return
        newer = self._items.get(key)
        if newer is None:
            self._items[key] = deltas
            self._queue.appendleft(key)
            if self._waiters:
                self._cond.notify()
            return
        merged = list(deltas)
        for d in newer:
            _append(merged, d, self.compress)
        self._items[key] = merged

    def _wait_locked(self, timeout: float | None, deadline: float) -> None:
        """Wait on the condition until notified or ``deadline`` (monotonic) passes."""
        if timeout is None:
            remaining = None
        else:
            remaining = deadline - monotonic()
            if remaining <= 0:
                raise TimeoutError(f"DeltaFIFO.pop: nothing queued within {timeout} s")
        self._waiters += 1
        try:
            self._cond.wait(remaining)
        finally:
            self._waiters -= 1

    # -- producers ------------------------------------------------------------

    def add(self, obj: Any) -> None:
        """Queue ``Added`` for ``obj``.

        Raises KeyFuncError (nothing changes) or FIFOClosedError after :meth:`close`.
        """
        key = self._key_of(obj)
        with self._lock:
            self._check_open_locked()
            self._populated = True
            self._queue_action_locked(_ADDED, obj, key)

    def update(self, obj: Any) -> None:
        """Queue ``Updated`` for ``obj``; errors as :meth:`add`."""
        key = self._key_of(obj)
        with self._lock:
            self._check_open_locked()
            self._populated = True
            self._queue_action_locked(_UPDATED, obj, key)

    def delete(self, obj: Any) -> None:
        """Queue ``Deleted`` for ``obj`` (an object or a tombstone); errors as :meth:`add`.

        Ignored, as in client-go, when the key has nothing queued and is not in
        ``known_objects`` (or there are no known objects): that deletion was already
        reported, e.g. by a relist's tombstone.
        """
        key = self._key_of(obj)
        with self._lock:
            self._check_open_locked()
            self._populated = True
            if key not in self._items and (
                self._known_objects is None or self._known_objects.get_by_key(key) is None
            ):
                return
            self._queue_action_locked(_DELETED, obj, key)

    def replace(self, items: Iterable[Any], resource_version: str = "") -> None:
        """Queue the full state after a relist.

        ``Replaced`` (``Sync`` when ``emit_delta_type_replaced`` is false) for every
        item; then ``Deleted(DeletedFinalStateUnknown(key, newest known state))``,
        once per key, for every key absent from ``items`` that is either queued with
        a newest delta other than ``Deleted`` or listed by ``known_objects``.
        Records ``resource_version``. The first call (if no add/update/delete came
        before) fixes the initial population: every key queued when it returns.
        A key error in ``items`` raises KeyFuncError before anything is queued.
        """
        if not isinstance(resource_version, str):
            raise TypeError(f"resource_version must be str, not {type(resource_version).__name__}")
        objs = list(items)
        keys = [self._key_of(o) for o in objs]
        listed = set(keys)
        action = _REPLACED if self.emit_delta_type_replaced else _SYNC
        with self._lock:
            self._check_open_locked()
            # Only keys queued before this call can be queued yet absent from ``items``.
            queued_before = list(self._items)
            for key, obj in zip(keys, objs, strict=True):
                self._queue_action_locked(action, obj, key)
            for key in queued_before:
                if key in listed:
                    continue
                newest = self._items[key][-1]
                if newest.type is _DELETED:
                    continue
                last = newest.object
                if isinstance(last, DeletedFinalStateUnknown):
                    last = last.obj
                self._queue_action_locked(_DELETED, DeletedFinalStateUnknown(key, last), key)
            if self._known_objects is not None:
                for key in self._known_objects.list_keys():
                    if key in listed or key in self._items:
                        continue
                    tombstone = DeletedFinalStateUnknown(key, self._known_objects.get_by_key(key))
                    self._queue_action_locked(_DELETED, tombstone, key)
            self._last_rv = resource_version
            if not self._populated:
                self._populated = True
                self._initial_count = len(self._items)

    def resync(self) -> None:
        """Queue ``Sync`` for every known object whose key has nothing queued.

        Does nothing without ``known_objects``. Raises FIFOClosedError after close.
        """
        with self._lock:
            self._check_open_locked()
            if self._known_objects is None:
                return
            pending: list[tuple[str, Any]] = []
            for known_key in self._known_objects.list_keys():
                obj = self._known_objects.get_by_key(known_key)
                if obj is None:
                    continue
                key = self._key_of(obj)
                if key not in self._items:
                    pending.append((key, obj))
            for key, obj in pending:
                if key not in self._items:
                    self._queue_action_locked(_SYNC, obj, key)

    # -- consumer -------------------------------------------------------------

    def pop(self, process: Callable[[list[Delta], bool], Any], timeout: float | None = None) -> Any:
        """Remove the first key and return ``process(deltas, is_in_initial_list)``.

        Blocks until a key is queued (TimeoutError after ``timeout`` seconds).
        ``process`` runs with the FIFO lock held. If it raises RequeueError, the
        deltas go back in front (or, if the key was queued again meanwhile, before
        the newer deltas) and ``err.err`` (or the RequeueError) is raised; any other
        exception propagates and the deltas are dropped. Raises FIFOClosedError
        once the FIFO is closed and empty; RuntimeError if called from ``process``.
        """
        deadline = 0.0 if timeout is None else monotonic() + timeout
        with self._lock:
            if self._processing:
                raise RuntimeError("DeltaFIFO.pop called from inside a process callback")
            while not self._items:
                if self._closed:
                    raise FIFOClosedError("DeltaFIFO is closed")
                self._wait_locked(timeout, deadline)
            return self._process_first_locked(process)

    def drain(self, process: Callable[[list[Delta], bool], Any]) -> int:
        """Pop and process queued keys one after the other, as :meth:`pop` does, until
        none is queued; never waits. Returns how many keys were processed (0 when none
        was queued, also once closed). The lock is released between keys. An error from
        ``process`` ends the drain as it ends :meth:`pop` (RequeueError requeues the
        key's deltas first); RuntimeError if called from ``process``.
        """
        count = 0
        while True:
            with self._lock:
                if self._processing:
                    raise RuntimeError("DeltaFIFO.drain called from inside a process callback")
                if not self._items:
                    return count
                self._process_first_locked(process)
            count += 1

    def _process_first_locked(self, process: Callable[[list[Delta], bool], Any]) -> Any:
        """Pop the first key (one is queued) and return ``process(deltas, initial)``,
        requeueing on RequeueError (lock held)."""
        key = self._queue.popleft()
        deltas = self._items.pop(key)
        initial = not (self._populated and self._initial_count == 0)
        if self._initial_count > 0:
            self._initial_count -= 1
        self._processing = True
        try:
            return process(deltas, initial)
        except RequeueError as exc:
            self._requeue_locked(key, deltas)
            if exc.err is not None:
                raise exc.err  # noqa: B904 - the wrapped error is the one to surface
            raise
        finally:
            self._processing = False

    def close(self) -> None:
        """Close the FIFO: blocked and future pops raise FIFOClosedError once it is
        empty; add/update/delete/replace/resync raise FIFOClosedError."""
        with self._lock:
            self._closed = True
            self._cond.notify_all()

    # -- queries --------------------------------------------------------------

    def is_closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def has_synced(self) -> bool:
        """True once the first add/update/delete/replace happened and every key of
        the initial population (see :meth:`replace`) has been popped."""
        with self._lock:
            return self._populated and self._initial_count == 0

    def list_keys(self) -> list[str]:
        """The queued keys, in pop order."""
        with self._lock:
            return list(self._queue)

    def get_by_key(self, key: str) -> list[Delta] | None:
        """A copy of the deltas queued for ``key``, or None."""
        with self._lock:
            deltas = self._items.get(key)
            return None if deltas is None else list(deltas)

    def last_sync_resource_version(self) -> str:
        """The resource version passed to the latest :meth:`replace` (``""`` before)."""
        return self._last_rv

    def __len__(self) -> int:
        """The number of queued keys."""
        return len(self._items)
