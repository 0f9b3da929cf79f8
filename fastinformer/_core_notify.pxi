# Notifications: from popped deltas to per-handler buffers.
#
# Twin: fastinformer/_py_notify.py (same names, same behaviour, same docstrings).
# NotificationBuffer: a PyThread lock guards its state; a second PyThread lock, held
# while nobody waits, is the consumer's wake-up (released once per wait).
# DeltaDistributor: the informer's process step for DeltaFIFO.pop.
cimport cython

from fastinformer.protocol import resource_version_of as _notify_rv_of

NOTE_ADD = 0
NOTE_UPDATE = 1
NOTE_DELETE = 2

cdef enum:
    _NOTE_ADD = 0
    _NOTE_UPDATE = 1
    _NOTE_DELETE = 2


@cython.no_gc
cdef class _Note:
    """One pending notification (mutable while buffered, under the buffer's lock).

    Notes, slots and their lists are not tracked by the cyclic GC: they only refer to
    each other one way and to the objects notified, which never refer back to them.
    """


cdef inline _Note _new_note(int kind, object old, object new, bint initial):
    cdef _Note note = _Note.__new__(_Note)
    note.kind = kind
    note.old = old
    note.new = new
    note.initial = initial
    return note


@cython.no_gc
cdef class _Slot:
    """The notes pending for one key, in its place in the delivery order (``dead`` once
    they are all gone; a later notification for the key gets a new slot at the end)."""


cdef class NotificationBuffer:
    """One handler's pending notifications: at most two per key, keys in arrival order.

    Merge rule per key: add+update -> add(newest); update+update -> update(first old,
    newest); add+delete -> nothing; update+delete -> delete(final state); delete+add
    stays two notes (a second note only ever follows a delete). So the memory is bounded
    by the number of keys, not the event rate, whatever the sequence.

    Producers call :meth:`put` from any thread; one consumer thread calls :meth:`run`
    (or :meth:`take`). The buffer's own lock guards its state; handlers are called
    without it.
    """

    def __cinit__(self):
        self._lock = PyThread_allocate_lock()
        self._wake = PyThread_allocate_lock()
        if self._lock == NULL or self._wake == NULL:
            raise MemoryError("cannot allocate the buffer's locks")
        PyThread_acquire_lock(self._wake, WAIT_LOCK)
        self._pending = {}
        self._queue = []
        self._head = 0

    def __dealloc__(self):
        if self._lock != NULL:
            PyThread_free_lock(self._lock)
        if self._wake != NULL:
            PyThread_release_lock(self._wake)
            PyThread_free_lock(self._wake)

    def __repr__(self):
        return f"<NotificationBuffer pending={len(self._pending)} stopped={self._stopped}>"

    # -- producer side --

    cdef int _put(self, str key, int kind, object old, object new, bint initial) except -1:
        cdef object found
        cdef _Slot slot
        cdef list notes
        cdef _Note last
        _store_lock(self._lock)
        try:
            if self._stopped:
                return 0
            found = self._pending.get(key)
            if found is None:
                slot = _Slot.__new__(_Slot)
                slot.key = key
                notes = [_new_note(kind, old, new, initial)]
                PyObject_GC_UnTrack(<void *>notes)
                slot.notes = notes
                self._pending[key] = slot
                self._queue.append(slot)
                if initial:
                    self._initial_pending += 1
                if self._waiting:
                    self._waiting = False
                    PyThread_release_lock(self._wake)
                return 0
            slot = <_Slot>found
            notes = slot.notes
            last = <_Note>notes[len(notes) - 1]
            if kind != _NOTE_DELETE:
                if last.kind != _NOTE_DELETE:
                    last.new = new  # add/update then add/update: one note, newest object
                else:
                    notes.append(_new_note(kind, old, new, initial))
                    if initial:
                        self._initial_pending += 1
            elif last.kind == _NOTE_ADD:
                notes.pop()  # added then deleted before delivery: nothing to say
                if last.initial:
                    self._initial_pending -= 1
                if not notes:
                    slot.dead = True
                    del self._pending[key]
            elif len(notes) == 2:
                notes.pop()  # delete, update, delete: one delete of the final state
                (<_Note>notes[0]).new = new
            else:
                last.kind = _NOTE_DELETE  # update (or delete) then delete: the final state
                last.old = None
                last.new = new
            # The key was pending, so the consumer is not waiting: no wake-up.
            return 0
        finally:
            _store_unlock(self._lock)

    def put(self, key, int kind, old, new, bint initial):
        """Buffer one notification (``NOTE_ADD``/``NOTE_UPDATE``/``NOTE_DELETE``) for
        ``key``, merged with what is pending for it; ignored once stopped."""
        if kind < _NOTE_ADD or kind > _NOTE_DELETE:
            raise ValueError(f"unknown notification kind {kind}")
        self._put(_store_str(key, "notification key"), kind, old, new, initial)

    def prime(self):
        """Mark that every initial-list notification has been put."""
        _store_lock(self._lock)
        self._primed = True
        _store_unlock(self._lock)

    def stop(self):
        """Drop what is pending and make :meth:`take` return None (after the current
        handler call returns); idempotent."""
        cdef dict dropped
        cdef list dropped_queue
        _store_lock(self._lock)
        try:
            self._stopped = True
            dropped, dropped_queue = self._pending, self._queue
            self._pending = {}
            self._queue = []
            self._head = 0
            self._initial_pending = 0
            if self._waiting:
                self._waiting = False
                PyThread_release_lock(self._wake)
        finally:
            _store_unlock(self._lock)
        # The dropped objects are released here, after the lock.

    # -- queries --

    def synced(self):
        """Primed, and every initial-list notification has been handled."""
        _store_lock(self._lock)
        try:
            return self._primed and self._initial_pending == 0
        finally:
            _store_unlock(self._lock)

    def pending(self):
        """Number of keys with pending notifications."""
        _store_lock(self._lock)
        try:
            return len(self._pending)
        finally:
            _store_unlock(self._lock)

    def idle(self):
        """Nothing pending and no handler call in progress."""
        _store_lock(self._lock)
        try:
            return not self._pending and not self._busy
        finally:
            _store_unlock(self._lock)

    def is_stopped(self):
        """:meth:`stop` was called."""
        return self._stopped

    # -- consumer side (one thread) --

    cdef void _finish_locked(self) noexcept:
        if self._busy:
            self._busy = False
            if self._busy_initial and not self._stopped:
                self._initial_pending -= 1

    cdef _Note _next_locked(self):
        cdef list queue = self._queue
        cdef _Slot slot
        cdef _Note note
        while self._head < len(queue):
            slot = <_Slot>queue[self._head]
            if slot.dead:
                self._head += 1
                continue
            note = <_Note>slot.notes.pop(0)
            if not slot.notes:
                slot.dead = True
                del self._pending[slot.key]
                self._head += 1
            return note
        self._queue = []
        self._head = 0
        return None

    cdef _Note _take(self):
        """The next note (None once stopped); blocks with the GIL released."""
        cdef _Note note
        while True:
            _store_lock(self._lock)
            try:
                self._finish_locked()
                if self._stopped:
                    return None
                # An exhausted queue is dropped here, under the lock: its dead slots
                # hold no objects (their notes were delivered or dropped by put()).
                note = self._next_locked()
                if note is not None:
                    self._busy = True
                    self._busy_initial = note.initial
                    return note
                self._waiting = True
            finally:
                _store_unlock(self._lock)
            with nogil:
                PyThread_acquire_lock(self._wake, WAIT_LOCK)  # released by put() or stop()

    def take(self):
        """Finish the previous notification, then return the next ``(kind, old, new,
        initial)``, blocking while there is none; None once stopped."""
        cdef _Note note = self._take()
        if note is None:
            return None
        return (note.kind, note.old, note.new, note.initial)

    def run(self, on_add, bint add_with_flag, on_update, on_delete, on_error):
        """Deliver notifications until stopped: ``on_add(new)`` (or ``on_add(new,
        initial)`` with ``add_with_flag``), ``on_update(old, new)``, ``on_delete(obj)``;
        a missing callback skips its kind. When a callback raises an ``Exception``,
        ``on_error()`` is called from the ``except`` block (so it can log the traceback)
        and delivery goes on; other exceptions end the loop and propagate."""
        cdef _Note note
        cdef int kind
        while True:
            note = self._take()
            if note is None:
                return
            kind = note.kind
            try:
                if kind == _NOTE_ADD:
                    if on_add is not None:
                        if add_with_flag:
                            on_add(note.new, note.initial)
                        else:
                            on_add(note.new)
                elif kind == _NOTE_UPDATE:
                    if on_update is not None:
                        on_update(note.old, note.new)
                elif on_delete is not None:
                    on_delete(note.new)
            except Exception:
                on_error()
            except BaseException:
                _store_lock(self._lock)
                self._finish_locked()
                _store_unlock(self._lock)
                raise
            # Release the objects before waiting again.
            note.old = None
            note.new = None
            note = None


cdef class DeltaDistributor:
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

    def __init__(self, indexer, key_func=meta_namespace_key, lock=None):
        if not callable(key_func):
            raise TypeError(f"key_func is not callable: {key_func!r}")
        self.indexer = indexer
        self.key_func = key_func
        self.lock = lock if lock is not None else _fifo_threading.RLock()
        self._buffers = ()
        self.full_list_applied = False

    def __repr__(self):
        return f"<DeltaDistributor buffers={len(self._buffers)}>"

    @property
    def buffers(self):
        """The buffers notified, a tuple; replace it (under ``lock``) to add or remove one."""
        return self._buffers

    @buffers.setter
    def buffers(self, value):
        cdef tuple checked = tuple(value)
        for b in checked:
            if not isinstance(b, NotificationBuffer):
                raise TypeError(f"buffers must be NotificationBuffer, not {type(b).__name__}")
        self._buffers = checked

    def __call__(self, deltas, bint is_in_initial_list):
        cdef list batch = deltas if type(deltas) is list else list(deltas)
        cdef Py_ssize_t n = len(batch)
        cdef object lock
        if n == 0:
            return None
        if is_in_initial_list or (<Delta?>batch[n - 1])._code == _FIFO_REPLACED:
            self.full_list_applied = True
        lock = self.lock
        lock.__enter__()
        try:
            self._apply(batch, is_in_initial_list)
        finally:
            lock.__exit__(None, None, None)
        return None

    cdef int _apply(self, list batch, bint initial) except -1:
        cdef tuple buffers = self._buffers
        cdef object indexer = self.indexer
        cdef bint fast = (type(indexer) is Indexer
                          and (<Indexer>indexer)._key_func is self.key_func)
        cdef bint default_key = fast and self.key_func is meta_namespace_key
        cdef ThreadSafeStore store = (<Indexer>indexer)._store if fast else None
        cdef Delta d
        cdef object obj, old, md = _MD_UNREAD
        cdef str key
        cdef Py_ssize_t i, j, nb = len(buffers)
        cdef str rv
        for i in range(len(batch)):
            d = <Delta?>batch[i]
            obj = d.object
            if default_key:  # metadata read once, for the key and the built-in indexes
                md = _store_key_metadata(obj)
                key = _store_default_key(obj, md)
            else:
                key = _store_call_key(self.key_func, obj)
            if d._code == _FIFO_DELETED:
                if fast:
                    store._remove(key)
                else:
                    indexer.delete(obj)
                for j in range(nb):
                    (<NotificationBuffer>buffers[j])._put(key, _NOTE_DELETE, None, obj, False)
                continue
            if fast:  # one look-up and one lock: the store hands back what it replaced
                old = store._put_read(key, obj, md)
            else:
                old = indexer.get_by_key(key)
                if old is None:
                    indexer.add(obj)
                else:
                    indexer.update(obj)
            if old is None:
                for j in range(nb):
                    (<NotificationBuffer>buffers[j])._put(key, _NOTE_ADD, None, obj, initial)
                continue
            if d._code == _FIFO_REPLACED:
                rv = _notify_rv_of(obj)
                if rv and rv == _notify_rv_of(old):
                    continue  # relisted but unchanged: not an update
            for j in range(nb):
                (<NotificationBuffer>buffers[j])._put(key, _NOTE_UPDATE, old, obj, False)
        return 0
