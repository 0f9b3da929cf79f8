# Rate limiters: when(item) -> seconds to wait, forget(item), num_requeues(item).
from cpython.pythread cimport PyThread_type_lock


cdef class RateLimiter:
    cpdef double when(self, object item) except? -1.0
    cpdef forget(self, object item)
    cpdef Py_ssize_t num_requeues(self, object item) except -1


cdef class _ItemFailureRateLimiter(RateLimiter):
    cdef dict _failures
    cdef PyThread_type_lock _lock


cdef class ItemExponentialFailureRateLimiter(_ItemFailureRateLimiter):
    cdef readonly double base_delay
    cdef readonly double max_delay


cdef class ItemFastSlowRateLimiter(_ItemFailureRateLimiter):
    cdef readonly double fast_delay
    cdef readonly double slow_delay
    cdef readonly Py_ssize_t max_fast_attempts


cdef class BucketRateLimiter(RateLimiter):
    cdef readonly double qps
    cdef readonly Py_ssize_t burst
    cdef double _tokens
    cdef double _last
    cdef object _now
    cdef PyThread_type_lock _lock


cdef class MaxOfRateLimiter(RateLimiter):
    cdef readonly tuple limiters
