# DeltaFIFO: per-key deltas popped in FIFO order (client-go tools/cache semantics).
#
# Twin: fastinformer/_py_fifo.py (same names, same behaviour, same docstrings).
import threading as _fifo_threading
from time import monotonic as _fifo_monotonic

from cpython.pythread cimport (
    NOWAIT_LOCK,
    PY_LOCK_ACQUIRED,
    WAIT_LOCK,
    PyLockStatus,
    PyThread_acquire_lock,
    PyThread_allocate_lock,
    PyThread_free_lock,
    PyThread_get_thread_ident,
    PyThread_release_lock,
)
cimport cython
from cpython.exc cimport PyErr_CheckSignals

from fastinformer.errors import FIFOClosedError, KeyFuncError, RequeueError

cdef extern from "pythread.h":
    PyLockStatus PyThread_acquire_lock_timed(
        PyThread_type_lock lock, long long microseconds, int intr_flag) nogil


cdef class _FifoRLock:
    """The DeltaFIFO's reentrant lock: C-level enter/exit for the FIFO's own methods,
    plus the methods ``threading.Condition`` uses (its waits are the slow path).

    Every field is read and written with the GIL held.
    """

    def __cinit__(self):
        self._lock = PyThread_allocate_lock()
        if self._lock == NULL:
            raise MemoryError("cannot allocate a lock")
        self._owner = 0
        self._count = 0

    def __dealloc__(self):
        if self._lock != NULL:
            PyThread_free_lock(self._lock)

    cdef bint owned(self) noexcept:
        return self._count > 0 and self._owner == PyThread_get_thread_ident()

    cdef int enter(self) except -1:
        """Acquire (reentrantly); a signal handler's exception leaves it unacquired."""
        cdef long me = PyThread_get_thread_ident()
        cdef PyLockStatus status
        if self._count > 0 and self._owner == me:
            self._count += 1
            return 0
        if not PyThread_acquire_lock(self._lock, NOWAIT_LOCK):
            while True:
                with nogil:
                    status = PyThread_acquire_lock_timed(self._lock, -1, 1)
                if status == PY_LOCK_ACQUIRED:
                    break
                PyErr_CheckSignals()
        self._owner = me
        self._count = 1
        return 0

    cdef void exit(self) noexcept:
        """Release once; the caller holds the lock."""
        self._count -= 1
        if self._count == 0:
            self._owner = 0
            PyThread_release_lock(self._lock)

    def acquire(self, bint blocking=True, timeout=-1):
        if not blocking:
            if self.owned():
                self._count += 1
                return True
            if not PyThread_acquire_lock(self._lock, NOWAIT_LOCK):
                return False
            self._owner = PyThread_get_thread_ident()
            self._count = 1
            return True
        if timeout != -1:
            raise ValueError("timed acquire is not supported")
        self.enter()
        return True

    def release(self):
        if not self.owned():
            raise RuntimeError("cannot release un-acquired lock")
        self.exit()

    def _is_owned(self):
        return self.owned()

    def _release_save(self):
        if not self.owned():
            raise RuntimeError("cannot release un-acquired lock")
        state = (self._count, self._owner)
        self._count = 0
        self._owner = 0
        PyThread_release_lock(self._lock)
        return state

    def _acquire_restore(self, tuple state not None):
        # Not interruptible: the caller's finally clause relies on holding the lock.
        if not PyThread_acquire_lock(self._lock, NOWAIT_LOCK):
            with nogil:
                PyThread_acquire_lock(self._lock, WAIT_LOCK)
        self._count, self._owner = state

    def __enter__(self):
        self.enter()
        return self

    def __exit__(self, *exc_info):
        self.release()


cdef enum:
    _FIFO_ADDED = 0
    _FIFO_UPDATED = 1
    _FIFO_DELETED = 2
    _FIFO_REPLACED = 3
    _FIFO_SYNC = 4

cdef tuple _FIFO_TYPE_NAMES = ("Added", "Updated", "Deleted", "Replaced", "Sync")
cdef dict _FIFO_TYPE_CODES = {name: code for code, name in enumerate(_FIFO_TYPE_NAMES)}


class DeltaType:
    """The kinds of :class:`Delta` (client-go's names)."""

    ADDED = "Added"
    UPDATED = "Updated"
    DELETED = "Deleted"
    # Replaced: the object was listed again by a relist (Replace).
    REPLACED = "Replaced"
    # Sync: periodic resync of a known object, or Replace with emit_delta_type_replaced=False.
    SYNC = "Sync"


@cython.no_gc
cdef class Delta:
    """One change to one object: ``type`` (a :class:`DeltaType` value) and ``object``.

    Immutable. Equal to another Delta with an equal type and an equal object;
    unhashable, since objects usually are. Not tracked by the cyclic GC (nor are the
    FIFO's lists of deltas): a delta cannot be part of a reference cycle unless its
    object refers back to it, which nothing in fastinformer does.
    """

    def __init__(self, str type not None, object object):
        code = _FIFO_TYPE_CODES.get(type)
        if code is None:
            raise ValueError(f"unknown delta type {type!r}; expected one of {_FIFO_TYPE_NAMES}")
        self._code = code
        self.type = <str>_FIFO_TYPE_NAMES[self._code]
        self.object = object

    def __repr__(self):
        return f"Delta({self.type!r}, {self.object!r})"

    def __eq__(self, other):
        if not isinstance(other, Delta):
            return NotImplemented
        return self._code == (<Delta>other)._code and bool(self.object == (<Delta>other).object)

    def __reduce__(self):
        return (Delta, (self.type, self.object))


cdef inline Delta _fifo_delta(int code, object obj):
    cdef Delta d = Delta.__new__(Delta)
    d._code = code
    d.type = <str>_FIFO_TYPE_NAMES[code]
    d.object = obj
    return d


cdef inline bint _fifo_is_tombstone(Delta d):
    return isinstance(d.object, DeletedFinalStateUnknown)


cdef int _fifo_append(list deltas, Delta d, bint compress) except -1:
    """Append ``d`` to the deltas of one key, applying the dedup/compression rules.

    ``deltas`` must already obey the rules (see DeltaFIFO's docstring).
    """
    cdef Py_ssize_t n = len(deltas)
    cdef Py_ssize_t i
    cdef Delta last
    cdef int code
    if n == 0:
        deltas.append(d)
        return 0
    last = <Delta>deltas[n - 1]
    if d._code == _FIFO_DELETED:
        if last._code == _FIFO_DELETED:
            # Rule 1: two deletions in a row are one; keep the newer unless it is a tombstone.
            if not _fifo_is_tombstone(d):
                deltas[n - 1] = d
            return 0
        if compress:
            # Rule 2: an earlier Deleted with a run after it: drop the run and ``d``.
            for i in range(n - 2, -1, -1):
                if (<Delta>deltas[i])._code == _FIFO_DELETED:
                    del deltas[i + 1:]
                    return 0
        deltas.append(d)
        return 0
    if not compress or last._code == _FIFO_DELETED:
        deltas.append(d)
        return 0
    # Rule 3: fold into the previous non-Deleted delta unless it is the Added opening its run.
    if last._code == _FIFO_ADDED and (
        n == 1 or (<Delta>deltas[n - 2])._code == _FIFO_DELETED
    ):
        deltas.append(d)
        return 0
    if d._code == _FIFO_SYNC and last._code != _FIFO_SYNC:
        deltas[n - 1] = _fifo_delta(last._code, d.object)
    else:
        deltas[n - 1] = d
    return 0


cdef class DeltaFIFO:
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

    def __init__(self, key_func=meta_namespace_key, known_objects=None,
                 bint emit_delta_type_replaced=True, bint compress=True):
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
        self.emit_delta_type_replaced = emit_delta_type_replaced
        self.compress = compress
        self._items = {}
        self._queue = []
        self._head = 0
        self._lock = _FifoRLock()
        self._cond = _fifo_threading.Condition(self._lock)
        self._waiters = 0
        self._closed = False
        self._populated = False
        self._processing = False
        self._initial_count = 0
        self._last_rv = ""

    def __repr__(self):
        return (f"<DeltaFIFO keys={len(self._items)} compress={self.compress} "
                f"closed={self._closed}>")

    # -- helpers --------------------------------------------------------------

    cdef str _key_of(self, object obj):
        """The key of ``obj``; any failure surfaces as KeyFuncError (no lock needed)."""
        cdef object key
        if self._default_key:
            return meta_namespace_key(obj)
        if isinstance(obj, DeletedFinalStateUnknown):
            return (<DeletedFinalStateUnknown>obj).key
        try:
            key = self._key_func(obj)
        except KeyFuncError:
            raise
        except Exception as exc:
            raise KeyFuncError(
                f"key function failed on {type(obj).__name__}: {exc!r}") from exc
        if not isinstance(key, str):
            raise KeyFuncError(f"key function returned {type(key).__name__}, expected str")
        return <str>key

    cdef int _check_open_locked(self) except -1:
        if self._closed:
            raise FIFOClosedError("DeltaFIFO is closed")
        return 0

    cdef int _queue_action_locked(self, int code, object obj, str key) except -1:
        cdef Delta d = _fifo_delta(code, obj)
        cdef object deltas = self._items.get(key)
        if deltas is None:
            deltas = [d]
            PyObject_GC_UnTrack(<void *>deltas)  # it only ever holds deltas
            self._items[key] = deltas
            self._queue.append(key)
            if self._waiters:
                self._cond.notify()
        else:
            _fifo_append(<list>deltas, d, self.compress)
        return 0

    cdef str _pop_key_locked(self):
        """Remove and return the first queued key; the queue must not be empty."""
        cdef Py_ssize_t n = len(self._queue)
        cdef str key = <str>self._queue[self._head]
        self._queue[self._head] = None
        self._head += 1
        if self._head == n:
            del self._queue[:]
            self._head = 0
        elif self._head >= 256 and self._head * 2 >= n:
            del self._queue[:self._head]
            self._head = 0
        return key

    cdef int _requeue_locked(self, str key, list deltas) except -1:
        """Put popped ``deltas`` back: in front, or merged before newer ones."""
        cdef object newer = self._items.get(key)
        cdef list merged
        if not deltas:
            return 0
        if newer is None:
            self._items[key] = deltas
            if self._head > 0:
                self._head -= 1
                self._queue[self._head] = key
            else:
                self._queue.insert(0, key)
            if self._waiters:
                self._cond.notify()
            return 0
        merged = list(deltas)
        for d in <list>newer:
            _fifo_append(merged, <Delta?>d, self.compress)
        self._items[key] = merged
        return 0

    cdef int _wait_locked(self, object timeout, double deadline) except -1:
        """Wait on the condition until notified or ``deadline`` (monotonic) passes."""
        cdef double remaining
        if timeout is None:
            self._waiters += 1
            try:
                self._cond.wait()
            finally:
                self._waiters -= 1
            return 0
        remaining = deadline - _fifo_monotonic()
        if remaining <= 0:
            raise TimeoutError(f"DeltaFIFO.pop: nothing queued within {timeout} s")
        self._waiters += 1
        try:
            self._cond.wait(remaining)
        finally:
            self._waiters -= 1
        return 0

    # -- producers ------------------------------------------------------------

    def add(self, obj):
        """Queue ``Added`` for ``obj``.

        Raises KeyFuncError (nothing changes) or FIFOClosedError after :meth:`close`.
        """
        cdef str key = self._key_of(obj)
        self._lock.enter()
        try:
            self._check_open_locked()
            self._populated = True
            self._queue_action_locked(_FIFO_ADDED, obj, key)
        finally:
            self._lock.exit()

    def update(self, obj):
        """Queue ``Updated`` for ``obj``; errors as :meth:`add`."""
        cdef str key = self._key_of(obj)
        self._lock.enter()
        try:
            self._check_open_locked()
            self._populated = True
            self._queue_action_locked(_FIFO_UPDATED, obj, key)
        finally:
            self._lock.exit()

    def delete(self, obj):
        """Queue ``Deleted`` for ``obj`` (an object or a tombstone); errors as :meth:`add`.

        Ignored, as in client-go, when the key has nothing queued and is not in
        ``known_objects`` (or there are no known objects): that deletion was already
        reported, e.g. by a relist's tombstone.
        """
        cdef str key = self._key_of(obj)
        self._lock.enter()
        try:
            self._check_open_locked()
            self._populated = True
            if key not in self._items and (
                self._known_objects is None or self._known_objects.get_by_key(key) is None
            ):
                return
            self._queue_action_locked(_FIFO_DELETED, obj, key)
        finally:
            self._lock.exit()

    def replace(self, items, str resource_version not None=""):
        """Queue the full state after a relist.

        ``Replaced`` (``Sync`` when ``emit_delta_type_replaced`` is false) for every
        item; then ``Deleted(DeletedFinalStateUnknown(key, newest known state))``,
        once per key, for every key absent from ``items`` that is either queued with
        a newest delta other than ``Deleted`` or listed by ``known_objects``.
        Records ``resource_version``. The first call (if no add/update/delete came
        before) fixes the initial population: every key queued when it returns.
        A key error in ``items`` raises KeyFuncError before anything is queued.
        """
        cdef list objs = list(items)
        cdef list keys = [self._key_of(o) for o in objs]
        cdef set listed = set(keys)
        cdef int action = _FIFO_REPLACED if self.emit_delta_type_replaced else _FIFO_SYNC
        cdef Py_ssize_t i
        cdef list deltas
        cdef Delta newest
        cdef object obj
        self._lock.enter()
        try:
            self._check_open_locked()
            # Only keys queued before this call can be queued yet absent from ``items``.
            queued_before = list(self._items)
            for i in range(len(objs)):
                self._queue_action_locked(action, objs[i], <str>keys[i])
            for key in queued_before:
                if key in listed:
                    continue
                deltas = <list>self._items[key]
                newest = <Delta>deltas[len(deltas) - 1]
                if newest._code == _FIFO_DELETED:
                    continue
                obj = newest.object
                if isinstance(obj, DeletedFinalStateUnknown):
                    obj = (<DeletedFinalStateUnknown>obj).obj
                self._queue_action_locked(
                    _FIFO_DELETED, DeletedFinalStateUnknown(key, obj), <str>key)
            if self._known_objects is not None:
                for key in self._known_objects.list_keys():
                    if key in listed or key in self._items:
                        continue
                    tombstone = DeletedFinalStateUnknown(key, self._known_objects.get_by_key(key))
                    self._queue_action_locked(_FIFO_DELETED, tombstone, <str>key)
            self._last_rv = resource_version
            if not self._populated:
                self._populated = True
                self._initial_count = len(self._items)
        finally:
            self._lock.exit()

    def resync(self):
        """Queue ``Sync`` for every known object whose key has nothing queued.

        Does nothing without ``known_objects``. Raises FIFOClosedError after close.
        """
        cdef list pending = []
        cdef str key
        self._lock.enter()
        try:
            self._check_open_locked()
            if self._known_objects is None:
                return
            for known_key in self._known_objects.list_keys():
                obj = self._known_objects.get_by_key(known_key)
                if obj is None:
                    continue
                key = self._key_of(obj)
                if key not in self._items:
                    pending.append((key, obj))
            for key, obj in pending:
                if key not in self._items:
                    self._queue_action_locked(_FIFO_SYNC, obj, key)
        finally:
            self._lock.exit()

    # -- consumer -------------------------------------------------------------

    def pop(self, process, timeout=None):
        """Remove the first key and return ``process(deltas, is_in_initial_list)``.

        Blocks until a key is queued (TimeoutError after ``timeout`` seconds).
        ``process`` runs with the FIFO lock held. If it raises RequeueError, the
        deltas go back in front (or, if the key was queued again meanwhile, before
        the newer deltas) and ``err.err`` (or the RequeueError) is raised; any other
        exception propagates and the deltas are dropped. Raises FIFOClosedError
        once the FIFO is closed and empty; RuntimeError if called from ``process``.
        """
        cdef double deadline = 0.0
        if timeout is not None:
            deadline = _fifo_monotonic() + <double>timeout
        self._lock.enter()
        try:
            if self._processing:
                raise RuntimeError("DeltaFIFO.pop called from inside a process callback")
            while not self._items:
                if self._closed:
                    raise FIFOClosedError("DeltaFIFO is closed")
                self._wait_locked(timeout, deadline)
            return self._process_first_locked(process)
        finally:
            self._lock.exit()

    def drain(self, process):
        """Pop and process queued keys one after the other, as :meth:`pop` does, until
        none is queued; never waits. Returns how many keys were processed (0 when none
        was queued, also once closed). The lock is released between keys. An error from
        ``process`` ends the drain as it ends :meth:`pop` (RequeueError requeues the
        key's deltas first); RuntimeError if called from ``process``.
        """
        cdef Py_ssize_t count = 0
        while True:
            self._lock.enter()
            try:
                if self._processing:
                    raise RuntimeError("DeltaFIFO.drain called from inside a process callback")
                if not self._items:
                    return count
                self._process_first_locked(process)
                count += 1
                if not self._items:
                    return count
            finally:
                self._lock.exit()

    cdef object _process_first_locked(self, object process):
        """Pop the first key (one is queued) and return ``process(deltas, initial)``,
        requeueing on RequeueError (lock held)."""
        cdef str key = self._pop_key_locked()
        cdef list deltas = <list>self._items.pop(key)
        cdef bint initial = not (self._populated and self._initial_count == 0)
        if self._initial_count > 0:
            self._initial_count -= 1
        self._processing = True
        try:
            return process(deltas, initial)
        except RequeueError as exc:
            self._requeue_locked(key, deltas)
            err = (<object>exc).err
            if err is not None:
                raise err
            raise
        finally:
            self._processing = False

    def close(self):
        """Close the FIFO: blocked and future pops raise FIFOClosedError once it is
        empty; add/update/delete/replace/resync raise FIFOClosedError."""
        self._lock.enter()
        try:
            self._closed = True
            self._cond.notify_all()
        finally:
            self._lock.exit()

    # -- queries --------------------------------------------------------------

    def is_closed(self):
        """Whether :meth:`close` was called."""
        return self._closed

    def has_synced(self):
        """True once the first add/update/delete/replace happened and every key of
        the initial population (see :meth:`replace`) has been popped."""
        self._lock.enter()
        try:
            return self._populated and self._initial_count == 0
        finally:
            self._lock.exit()

    def list_keys(self):
        """The queued keys, in pop order."""
        self._lock.enter()
        try:
            return self._queue[self._head:]
        finally:
            self._lock.exit()

    def get_by_key(self, key):
        """A copy of the deltas queued for ``key``, or None."""
        self._lock.enter()
        try:
            deltas = self._items.get(key)
            return None if deltas is None else list(<list>deltas)
        finally:
            self._lock.exit()

    def last_sync_resource_version(self):
        """The resource version passed to the latest :meth:`replace` (``""`` before)."""
        return self._last_rv

    def __len__(self):
        """The number of queued keys."""
        return len(self._items)
