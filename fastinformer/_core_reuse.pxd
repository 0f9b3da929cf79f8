# Field reuse declarations (implementation in _core_reuse.pxi).

cdef enum:
    _REUSE_MAX = 8


cdef class _ReuseEntry:
    cdef Py_hash_t hashes[_REUSE_MAX]
    cdef list values

cdef class FieldReuser:
    cdef readonly object model
    cdef readonly tuple names
    cdef readonly tuple reusable
    cdef tuple decoders
    cdef Py_ssize_t _positions[_REUSE_MAX]
    cdef readonly object missing
    cdef readonly object absent
