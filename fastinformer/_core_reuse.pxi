# Reuse: a decoded object's unchanged top-level fields taken from its previous version.
#
# Twin: fastinformer/_py_reuse.py (same names, same behaviour, same docstrings).
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.list cimport PyList_GET_ITEM, PyList_New, PyList_SET_ITEM
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_XDECREF

cdef extern from "Python.h":
    Py_hash_t _Py_HashBytes(const void *src, Py_ssize_t length)
    object PyObject_Vectorcall(object callable, PyObject **args, size_t nargsf, object kwnames)
    PyObject **PySequence_Fast_ITEMS(object seq)

REUSE_MAX_FIELDS = _REUSE_MAX


cdef inline Py_hash_t _reuse_hash_span(const char *data, Py_ssize_t length) noexcept:
    """``hash(data[:length])`` as bytes (the same keyed SipHash, without making them), or
    1 where that is 0 (0 stands for "no bytes" in the memo)."""
    cdef Py_hash_t digest = _Py_HashBytes(data, length)
    if digest == -1:
        return -2  # as CPython does: -1 is never a hash
    return 1 if digest == 0 else digest


cdef Py_hash_t _reuse_hash(object raw) except? -1:
    """``_reuse_hash_span`` of a buffer's bytes."""
    cdef Py_buffer view
    cdef Py_hash_t digest
    PyObject_GetBuffer(raw, &view, PyBUF_SIMPLE)
    try:
        digest = _reuse_hash_span(<const char *>view.buf, view.len)
    finally:
        PyBuffer_Release(&view)
    return digest


cdef object _reused_or_decoded(_ReuseEntry previous, Py_ssize_t k, Py_hash_t digest,
                               object decode, object raw, const char *span,
                               Py_ssize_t length, bint *decoded):
    """Value ``k`` of ``previous`` if its digest there is ``digest``; else ``decode(raw)``
    (``raw`` ``None``: a copy of ``span``, as a decoded msgspec.Raw may keep its buffer),
    untracked unless the decoder made it otherwise, with ``decoded[0]`` set."""
    if previous is not None and previous._hashes[k] == digest:
        return <object>previous._values[k]
    if raw is None:
        raw = PyBytes_FromStringAndSize(span, length)
    value = decode(raw)
    _untrack_tree(value, 1)
    decoded[0] = True
    return value


cdef class FieldReuser:
    """Builds ``model`` objects from decoded shells, reusing unchanged fields.

    ``names``: every field of ``model`` (attribute names, also those of the shell);
    ``reusable``: the names of the fields the shell holds as raw JSON (``msgspec.Raw``),
    ``decoders`` decoding each of them (``decode(buffer) -> value``), ``missing`` the raw
    value a shell holds for an absent field and ``absent`` the value ``model`` then gets.
    ``inner``: the name of a field holding a struct (``"metadata"``) whose fields
    ``inner_names`` are reused too, decoded by ``inner_decoders`` when they change; only
    from a :class:`CutEvent` (their spans follow those of ``reusable``). After one of
    them listed in ``inner_shared`` was decoded, ``share(struct)`` is called (the
    struct's ``__post_init__``, which shares their strings). At most ``REUSE_MAX_FIELDS``
    fields in all. See :meth:`fastinformer.decode.ObjectDecoder.decode_event_reusing`
    for the memo.
    """

    def __init__(self, model, tuple names not None, tuple reusable not None,
                 tuple decoders not None, missing, absent=None, *, inner=None,
                 tuple inner_names not None=(), tuple inner_decoders not None=(),
                 inner_shared=(), share=None):
        cdef Py_ssize_t i
        if len(reusable) != len(decoders) or len(inner_names) != len(inner_decoders):
            raise ValueError("one decoder per reusable field is needed")
        if len(reusable) + len(inner_names) > _REUSE_MAX:
            raise ValueError(f"at most {_REUSE_MAX} reusable fields")
        unknown = set(reusable) - set(names)
        if unknown:
            raise ValueError(f"reusable fields not among the names: {sorted(unknown)}")
        for name in names + inner_names:
            if not isinstance(name, str):
                raise TypeError(f"field names must be str, not {type(name).__name__}")
        if inner_names and (inner not in names or inner in reusable):
            raise ValueError(f"inner must name a field that is not reusable, not {inner!r}")
        if not set(inner_shared) <= set(inner_names):
            raise ValueError("inner_shared must be among inner_names")
        if share is not None and not callable(share):
            raise TypeError(f"share must be callable, not {type(share).__name__}")
        self.model = model
        self.names = names
        self.reusable = reusable
        self.decoders = tuple([d.decode for d in decoders])
        for i, name in enumerate(reusable):
            self._positions[i] = names.index(name)
        self.missing = missing
        self.absent = absent
        self.inner = inner if inner_names else None
        self.inner_names = inner_names
        self._inner_decoders = tuple([d.decode for d in inner_decoders])
        self._inner_position = names.index(inner) if inner_names else -1
        for i, name in enumerate(inner_names):
            self._inner_shared[i] = name in inner_shared
        self._share = share

    def __repr__(self):
        return f"<FieldReuser reusable={self.reusable!r} inner_names={self.inner_names!r}>"

    def build(self, shell, ident, dict memo not None, bint forget, CutEvent cut=None):
        """``model(**fields of shell)`` where each reusable field is the value recorded in
        ``memo[ident]`` if the hash of its raw bytes is the recorded one, else decoded.
        Then records the new hashes and values under ``ident``, or, with ``forget``,
        removes ``ident`` from ``memo``. A decoding error propagates; ``memo`` is then
        unchanged. With ``cut``, the :class:`CutEvent` of the line ``shell`` was decoded
        from (its ``shell``), a reusable field's raw bytes are its span in ``cut.line``
        (absent without one), in the order of ``reusable`` then ``inner_names``; an inner
        field with a span is set on the shell's inner struct, one without keeps the value
        decoded there (and is not reused next time)."""
        cdef object found = memo.get(ident)
        cdef _ReuseEntry previous = None
        cdef _ReuseEntry entry
        cdef Py_ssize_t n = len(self.reusable)
        cdef Py_ssize_t m = len(self.inner_names)
        cdef Py_ssize_t total = n + m
        cdef Py_ssize_t count = len(self.names)
        cdef Py_ssize_t i, k
        cdef Py_hash_t digests[_REUSE_MAX]
        cdef list args = PyList_New(count)
        cdef list chosen = PyList_New(total)
        cdef object raw, value, inner = None
        cdef const char *data = NULL
        cdef bint absent, decoded, reshare = False
        if cut is not None:
            if cut.count != total:
                raise ValueError(f"the cut has {cut.count} spans for {total} reusable fields")
            data = PyBytes_AS_STRING(cut.line)
        if type(found) is _ReuseEntry and (<_ReuseEntry>found).count == total:
            previous = <_ReuseEntry>found
        for i in range(count):
            value = getattr(shell, <str>self.names[i])
            Py_INCREF(value)
            PyList_SET_ITEM(args, i, value)
        for i in range(total):
            Py_INCREF(None)
            PyList_SET_ITEM(chosen, i, None)
            digests[i] = 0
        for i in range(n):
            raw = None
            if data == NULL:
                raw = <object>PyList_GET_ITEM(args, self._positions[i])
                absent = raw is self.missing
            else:
                absent = cut.starts[i] < 0
            if absent:
                value = self.absent  # its digest stays 0
            elif data == NULL:
                digests[i] = _reuse_hash(raw)
                value = _reused_or_decoded(previous, i, digests[i], self.decoders[i], raw,
                                           NULL, 0, &decoded)
            else:
                digests[i] = _reuse_hash_span(data + cut.starts[i], cut.ends[i] - cut.starts[i])
                value = _reused_or_decoded(previous, i, digests[i], self.decoders[i], None,
                                           data + cut.starts[i], cut.ends[i] - cut.starts[i],
                                           &decoded)
            args[self._positions[i]] = value
            chosen[i] = value
        if m:
            inner = <object>PyList_GET_ITEM(args, self._inner_position)
        if inner is not None:
            for i in range(m):
                k = n + i
                if data == NULL or cut.starts[k] < 0:  # its digest stays 0
                    chosen[k] = getattr(inner, <str>self.inner_names[i])
                    continue
                digests[k] = _reuse_hash_span(data + cut.starts[k], cut.ends[k] - cut.starts[k])
                decoded = False
                value = _reused_or_decoded(previous, k, digests[k], self._inner_decoders[i],
                                           None, data + cut.starts[k],
                                           cut.ends[k] - cut.starts[k], &decoded)
                reshare = reshare or (decoded and self._inner_shared[i])
                setattr(inner, <str>self.inner_names[i], value)
                chosen[k] = value
            if reshare and self._share is not None:
                self._share(inner)
        obj = PyObject_Vectorcall(self.model, PySequence_Fast_ITEMS(args), 0, self.names)
        if forget:
            if found is not None:
                del memo[ident]
            return obj
        entry = previous if previous is not None else _ReuseEntry.__new__(_ReuseEntry)
        entry.replace(chosen, digests)
        if previous is None:
            memo[ident] = entry
        return obj


cdef class _ReuseEntry:
    """One object's reusable fields in its last version: their hashes and values (held
    in the entry itself, which the cyclic GC does not track: decoded values hold no
    cycles). ``values`` and ``hashes`` give them as tuples, for tests."""

    def __dealloc__(self):
        cdef Py_ssize_t i
        for i in range(self.count):
            Py_XDECREF(self._values[i])
            self._values[i] = NULL

    cdef replace(self, list values, Py_hash_t *digests):
        """Hold ``values`` and ``digests`` instead (the old values are released last)."""
        cdef Py_ssize_t i, n = len(values)
        cdef PyObject *old[_REUSE_MAX]
        for i in range(n):
            old[i] = self._values[i] if i < self.count else NULL
            value = <object>PyList_GET_ITEM(values, i)
            Py_INCREF(value)
            self._values[i] = <PyObject *>value
            self._hashes[i] = digests[i]
        for i in range(n, self.count):
            Py_XDECREF(self._values[i])
            self._values[i] = NULL
        self.count = n
        for i in range(n):
            Py_XDECREF(old[i])

    @property
    def values(self):
        cdef Py_ssize_t i
        return tuple([<object>self._values[i] for i in range(self.count)])

    @property
    def hashes(self):
        cdef Py_ssize_t i
        return tuple([self._hashes[i] for i in range(self.count)])
