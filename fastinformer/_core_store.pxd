# Store / indexer: declarations of the extension types of _core_store.pxi.
from cpython.pythread cimport PyThread_type_lock


cdef class _BuiltinIndexFunc:
    cdef object values_of(self, object obj, object md)


cdef class _NamespaceIndexFunc(_BuiltinIndexFunc):
    pass


cdef class _LabelIndexFunc(_BuiltinIndexFunc):
    cdef readonly str label_key


cdef class _NodeNameIndexFunc(_BuiltinIndexFunc):
    pass


cdef class _StoreBucket:
    cdef object value
    cdef set entries


cdef class _StoreEntry:
    cdef str key
    cdef object obj
    cdef tuple buckets


cdef class ThreadSafeStore:
    cdef PyThread_type_lock _lock
    cdef dict _items
    cdef tuple _names
    cdef tuple _funcs
    cdef dict _positions
    cdef list _indices

    cdef int _put(self, str key, object obj) except -1
    cdef object _put_read(self, str key, object obj, object md)
    cdef int _remove(self, str key) except -1
    cdef int _replace(self, dict objs) except -1
    cdef object _get(self, str key)
    cdef Py_ssize_t _position(self, str name) except -1


cdef class Indexer:
    cdef ThreadSafeStore _store
    cdef object _key_func
    cdef bint _default_key

    cdef str _key(self, object obj)
    cdef int _put_obj(self, object obj) except -1


cdef class _SharePlan:
    cdef Py_ssize_t n
    cdef Py_ssize_t *offsets
    cdef char *shared
    cdef bint trims


cdef class FieldSharer:
    cdef dict _strings
    cdef object _trim
    cdef dict _plans

    cdef _SharePlan _plan_for(self, type cls)
