# Work queues: Queue, DelayingQueue, RateLimitingQueue.
from cpython.pythread cimport PyThread_type_lock


cdef class _QueueLock:
    cdef PyThread_type_lock _handle
    cdef bint _held

    cdef inline void take(self) noexcept
    cdef inline void give(self) noexcept

cdef class Queue:
    cdef readonly str name
    cdef object _clock
    cdef object _now
    cdef _QueueLock _lock
    cdef object _cond
    cdef list _queue
    cdef Py_ssize_t _head
    cdef set _dirty
    cdef set _processing
    cdef bint _shutting_down
    cdef bint _drain
    cdef Py_ssize_t _waiters
    cdef object _metrics

    cdef double _promote_locked(self) except? -2.0
    cdef int _drop_waiting_locked(self) except -1
    cdef int _add_locked(self, object item) except -1
    cdef object _pop_locked(self)
    cdef int _wait_locked(self, object timeout) except -1


cdef class DelayingQueue(Queue):
    cdef list _heap
    cdef dict _waiting
    cdef Py_ssize_t _seq


cdef class RateLimitingQueue(DelayingQueue):
    cdef readonly object rate_limiter
