# Scan declarations (implementation in _core_scan.pxi); needs _REUSE_MAX from
# _core_reuse.pxd, included before it.


cdef class CutEvent:
    cdef readonly bytes line
    cdef readonly bytes shell
    cdef Py_ssize_t starts[_REUSE_MAX]
    cdef Py_ssize_t ends[_REUSE_MAX]
    cdef Py_ssize_t count


cdef class EventCutter:
    cdef readonly tuple reusable
    cdef readonly tuple inner
    cdef readonly bint drop_managed_fields
    cdef list _names
    cdef list _inner_names

    cdef Py_ssize_t _cut_object(self, const char *b, Py_ssize_t n, Py_ssize_t i, int level,
                                char *out, Py_ssize_t *o, CutEvent cut) noexcept
