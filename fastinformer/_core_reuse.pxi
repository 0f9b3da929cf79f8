# Reuse: a decoded object's unchanged top-level fields taken from its previous version.
#
# Twin: fastinformer/_py_reuse.py (same names, same behaviour, same docstrings).
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer

from cpython.bytes cimport PyBytes_AS_STRING
from cpython.list cimport PyList_GET_ITEM, PyList_New, PyList_SET_ITEM
from cpython.object cimport PyObject

cdef extern from "Python.h":
    Py_hash_t _Py_HashBytes(const void *src, Py_ssize_t length)
    object PyMemoryView_FromMemory(char *mem, Py_ssize_t size, int flags)
    object PyObject_Vectorcall(object callable, PyObject **args, size_t nargsf, object kwnames)
    PyObject **PySequence_Fast_ITEMS(object seq)
    int PyBUF_READ

REUSE_MAX_FIELDS = _REUSE_MAX


cdef inline Py_hash_t _reuse_hash_span(const char *data, Py_ssize_t length) noexcept:
    """``hash(data[:length])`` as bytes (the same keyed SipHash), without making them."""
    cdef Py_hash_t digest = _Py_HashBytes(data, length)
    return -2 if digest == -1 else digest  # as CPython does: -1 is never a hash


cdef Py_hash_t _reuse_hash(object raw) except? -1:
    """``hash(bytes(raw))`` without the copy (the same keyed SipHash of the bytes)."""
    cdef Py_buffer view
    cdef Py_hash_t digest
    PyObject_GetBuffer(raw, &view, PyBUF_SIMPLE)
    try:
        digest = _reuse_hash_span(<const char *>view.buf, view.len)
    finally:
        PyBuffer_Release(&view)
    return digest


cdef class FieldReuser:
    """Builds ``model`` objects from decoded shells, reusing unchanged fields.

    ``names``: every field of ``model`` (attribute names, also those of the shell);
    ``reusable``: the names of the fields the shell holds as raw JSON (``msgspec.Raw``),
    ``decoders`` decoding each of them (``decode(buffer) -> value``), ``missing`` the raw
    value a shell holds for an absent field and ``absent`` the value ``model`` then gets.
    See :meth:`fastinformer.decode.ObjectDecoder.decode_event_reusing` for the memo.
    """

    def __init__(self, model, tuple names not None, tuple reusable not None,
                 tuple decoders not None, missing, absent=None):
        if len(reusable) != len(decoders):
            raise ValueError("one decoder per reusable field is needed")
        if len(reusable) > _REUSE_MAX:
            raise ValueError(f"at most {_REUSE_MAX} reusable fields")
        unknown = set(reusable) - set(names)
        if unknown:
            raise ValueError(f"reusable fields not among the names: {sorted(unknown)}")
        for name in names:
            if not isinstance(name, str):
                raise TypeError(f"field names must be str, not {type(name).__name__}")
        self.model = model
        self.names = names
        self.reusable = reusable
        self.decoders = tuple([d.decode for d in decoders])
        for i, name in enumerate(reusable):
            self._positions[i] = names.index(name)
        self.missing = missing
        self.absent = absent

    def __repr__(self):
        return f"<FieldReuser reusable={self.reusable!r}>"

    def build(self, shell, ident, dict memo not None, bint forget, CutEvent cut=None):
        """``model(**fields of shell)`` where each reusable field is the value recorded in
        ``memo[ident]`` if the hash of its raw bytes is the recorded one, else decoded.
        Then records the new hashes and values under ``ident``, or, with ``forget``,
        removes ``ident`` from ``memo``. A decoding error propagates; ``memo`` is then
        unchanged. With ``cut``, the :class:`CutEvent` of the line ``shell`` was decoded
        from (its ``shell``), a reusable field's raw bytes are its span in ``cut.line``
        (absent without one), in the order of ``reusable``."""
        cdef object found = memo.get(ident)
        cdef _ReuseEntry previous = None
        cdef _ReuseEntry entry
        cdef Py_ssize_t i, n = len(self.reusable)
        cdef Py_ssize_t count = len(self.names)
        cdef Py_hash_t digests[_REUSE_MAX]
        cdef list args = PyList_New(count)
        cdef list values
        cdef object raw, value
        cdef const char *data = NULL
        cdef bint absent
        if cut is not None:
            if cut.count != n:
                raise ValueError(f"the cut has {cut.count} spans for {n} reusable fields")
            data = PyBytes_AS_STRING(cut.line)
        if type(found) is _ReuseEntry and len((<_ReuseEntry>found).values) == n:
            previous = <_ReuseEntry>found
        for i in range(count):
            value = getattr(shell, <str>self.names[i])
            Py_INCREF(value)
            PyList_SET_ITEM(args, i, value)
        for i in range(n):
            raw = None
            if data == NULL:
                raw = <object>PyList_GET_ITEM(args, self._positions[i])
                absent = raw is self.missing
            else:
                absent = cut.starts[i] < 0
            if absent:
                digests[i] = 0
                value = self.absent
            else:
                if data == NULL:
                    digests[i] = _reuse_hash(raw)
                else:
                    digests[i] = _reuse_hash_span(data + cut.starts[i],
                                                  cut.ends[i] - cut.starts[i])
                if previous is not None and previous.hashes[i] == digests[i]:
                    value = previous.values[i]
                else:
                    if data != NULL:
                        raw = PyMemoryView_FromMemory(
                            <char *>data + cut.starts[i], cut.ends[i] - cut.starts[i], PyBUF_READ
                        )
                    value = self.decoders[i](raw)
                    # decoded values are untracked unless a decoder made them otherwise
                    _untrack_tree(value, 1)
            args[self._positions[i]] = value
        obj = PyObject_Vectorcall(self.model, PySequence_Fast_ITEMS(args), 0, self.names)
        if forget:
            if found is not None:
                del memo[ident]
            return obj
        if previous is not None:
            values = previous.values
        else:
            values = PyList_New(n)
            for i in range(n):
                Py_INCREF(None)
                PyList_SET_ITEM(values, i, None)
            PyObject_GC_UnTrack(<void *>values)
        # the old values go only once the new ones are all in place
        for i in range(n):
            values[i] = <object>PyList_GET_ITEM(args, self._positions[i])
        if previous is None:
            entry = _ReuseEntry.__new__(_ReuseEntry)
            entry.values = values
            for i in range(n):
                entry.hashes[i] = digests[i]
            memo[ident] = entry
        else:
            for i in range(n):
                previous.hashes[i] = digests[i]
        return obj


cdef class _ReuseEntry:
    """One object's reusable fields in its last version: their hashes and values."""
