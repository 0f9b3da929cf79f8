cdef class DeletedFinalStateUnknown:
    cdef readonly str key
    cdef readonly object obj

cpdef str meta_namespace_key(object obj)
