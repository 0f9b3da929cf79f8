# Notification buffers and the delta distributor (implementation in _core_notify.pxi).
from cpython.pythread cimport PyThread_type_lock


cdef class _Note:
    cdef int kind
    cdef object old
    cdef object new
    cdef bint initial


cdef class _Slot:
    cdef str key
    cdef list notes
    cdef bint dead


cdef class NotificationBuffer:
    cdef PyThread_type_lock _lock
    cdef PyThread_type_lock _wake
    cdef dict _pending
    cdef list _queue
    cdef Py_ssize_t _head
    cdef Py_ssize_t _initial_pending
    cdef bint _primed
    cdef bint _stopped
    cdef bint _busy
    cdef bint _busy_initial
    cdef bint _waiting

    cdef int _put(self, str key, int kind, object old, object new, bint initial) except -1
    cdef void _finish_locked(self) noexcept
    cdef _Note _next_locked(self)
    cdef _Note _take(self)


cdef class DeltaDistributor:
    cdef readonly object indexer
    cdef readonly object key_func
    cdef readonly object lock
    cdef tuple _buffers
    cdef public bint full_list_applied

    cdef int _apply(self, list batch, bint initial) except -1

