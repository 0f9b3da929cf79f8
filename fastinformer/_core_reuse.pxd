# Field reuse declarations (implementation in _core_reuse.pxi).
from cpython.object cimport PyObject

cdef enum:
    _REUSE_MAX = 8


cdef class _ReuseEntry:
    cdef Py_hash_t _hashes[_REUSE_MAX]
    cdef PyObject *_values[_REUSE_MAX]
    cdef Py_ssize_t count

    cdef replace(self, list values, Py_hash_t *digests)

cdef class FieldReuser:
    cdef readonly object model
    cdef readonly tuple names
    cdef readonly tuple reusable
    cdef tuple decoders
    cdef Py_ssize_t _positions[_REUSE_MAX]
    cdef readonly object missing
    cdef readonly object absent
    cdef readonly object inner
    cdef readonly tuple inner_names
    cdef tuple _inner_decoders
    cdef Py_ssize_t _inner_position
    cdef char _inner_shared[_REUSE_MAX]
    cdef object _share
