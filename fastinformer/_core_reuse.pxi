# Reuse: a decoded object's unchanged top-level fields taken from its previous version.
#
# Twin: fastinformer/_py_reuse.py (same names, same behaviour, same docstrings).
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer

from cpython.list cimport PyList_New, PyList_SET_ITEM

cdef extern from "Python.h":
    Py_hash_t _Py_HashBytes(const void *src, Py_ssize_t length)

REUSE_MAX_FIELDS = _REUSE_MAX


cdef Py_hash_t _reuse_hash(object raw) except? -1:
    """``hash(bytes(raw))`` without the copy (the same keyed SipHash of the bytes)."""
    cdef Py_buffer view
    cdef Py_hash_t digest
    PyObject_GetBuffer(raw, &view, PyBUF_SIMPLE)
    try:
        digest = _Py_HashBytes(view.buf, view.len)
    finally:
        PyBuffer_Release(&view)
    if digest == -1:
        digest = -2  # as CPython does: -1 is never a hash
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
        self.missing = missing
        self.absent = absent

    def __repr__(self):
        return f"<FieldReuser reusable={self.reusable!r}>"

    def build(self, shell, ident, dict memo not None, bint forget):
        """``model(**fields of shell)`` where each reusable field is the value recorded in
        ``memo[ident]`` if the hash of its raw bytes is the recorded one, else decoded.
        Then records the new hashes and values under ``ident``, or, with ``forget``,
        removes ``ident`` from ``memo``. A decoding error propagates; ``memo`` is then
        unchanged."""
        cdef object found = memo.get(ident)
        cdef _ReuseEntry previous = None
        cdef _ReuseEntry entry
        cdef dict fields = {}
        cdef Py_ssize_t i, n = len(self.reusable)
        cdef Py_hash_t digests[_REUSE_MAX]
        cdef list values = PyList_New(n)
        cdef object raw, value
        cdef str name
        if type(found) is _ReuseEntry and len((<_ReuseEntry>found).values) == n:
            previous = <_ReuseEntry>found
        for name in self.names:
            fields[name] = getattr(shell, name)
        for i in range(n):
            name = <str>self.reusable[i]
            raw = fields[name]
            if raw is self.missing:
                digests[i] = 0
                value = self.absent
            else:
                digests[i] = _reuse_hash(raw)
                if previous is not None and previous.hashes[i] == digests[i]:
                    value = previous.values[i]
                else:
                    value = self.decoders[i](raw)
            Py_INCREF(value)
            PyList_SET_ITEM(values, i, value)
            fields[name] = value
        obj = self.model(**fields)
        # values holds decoded values, untracked unless a transform made them otherwise
        _untrack_tree(values, 0)
        if forget:
            if found is not None:
                del memo[ident]
            return obj
        entry = previous if previous is not None else _ReuseEntry.__new__(_ReuseEntry)
        for i in range(n):
            entry.hashes[i] = digests[i]
        old_values, entry.values = entry.values, values
        if previous is None:
            memo[ident] = entry
        return obj


cdef class _ReuseEntry:
    """One object's reusable fields in its last version: their hashes and values."""
