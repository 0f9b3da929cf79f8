# Lines: declarations of the extension types of _core_lines.pxi.


cdef class LineReader:
    cdef object _read1
    cdef bint _chunked
    cdef Py_ssize_t _chunk_size
    cdef bytes _buf
    cdef Py_ssize_t _pos
    cdef int _state
    cdef Py_ssize_t _left
    cdef list _pending
    cdef bytes _meta

    cdef int _consume(self, Py_ssize_t new_pos) except -1
    cdef int _read_more(self) except -1
    cdef int _read_meta_line(self) except -1
    cdef int _read_data_end(self) except -1
    cdef int _end_of_body(self) except -1
    cdef bytes _take_pending(self)
    cdef int _fail(self) except -1
