# DeltaFIFO declarations (implementation and contracts in _core_fifo.pxi).
from cpython.pythread cimport PyThread_type_lock


cdef class _FifoRLock:
    cdef PyThread_type_lock _lock
    cdef long _owner
    cdef Py_ssize_t _count

    cdef int enter(self) except -1
    cdef void exit(self) noexcept
    cdef bint owned(self) noexcept

cdef class Delta:
    cdef readonly str type
    cdef readonly object object
    cdef int _code


cdef class DeltaFIFO:
    cdef object _key_func
    cdef bint _default_key
    cdef object _known_objects
    cdef readonly bint emit_delta_type_replaced
    cdef readonly bint compress
    # key -> list of Delta; a key is in _items iff it is in _queue[_head:]
    cdef dict _items
    cdef list _queue
    cdef Py_ssize_t _head
    cdef _FifoRLock _lock
    cdef object _cond
    cdef Py_ssize_t _waiters
    cdef bint _closed
    cdef bint _populated
    cdef bint _processing
    cdef Py_ssize_t _initial_count
    cdef str _last_rv

    cdef str _key_of(self, object obj)
    cdef int _check_open_locked(self) except -1
    cdef int _queue_action_locked(self, int code, object obj, str key) except -1
    cdef str _pop_key_locked(self)
    cdef int _requeue_locked(self, str key, list deltas) except -1
    cdef object _process_first_locked(self, object process)
    cdef int _wait_locked(self, object timeout, double deadline) except -1
