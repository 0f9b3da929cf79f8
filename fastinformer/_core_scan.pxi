# Scan: cutting a watch line into the part a decoder must read and the spans it may reuse.
#
# Twin: fastinformer/_py_scan.py (same names, same behaviour, same docstrings).
# The container skip is C (_core_scan.h, SIMD where the CPU has it); the few members of
# the envelope, the object and its metadata are walked here byte by byte.
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc
cimport cython
from libc.string cimport memcmp, memcpy

cdef extern from "_core_scan.h":
    Py_ssize_t fi_skip_container(const char *buf, Py_ssize_t len, Py_ssize_t start) nogil
    int fi_scan_select(int level) nogil
    int fi_scan_best() nogil
    int fi_scan_current

SCAN_LEVELS = ("portable", "sse2", "avx2")
fi_scan_select(2)

cdef enum:
    _SC_ENVELOPE = 0
    _SC_OBJECT = 1
    _SC_METADATA = 2
    _SC_STACK_BUFFER = 16384

# What _cut_object does with a member (a field index >= 0: cut it out, record its span).
cdef enum:
    _SC_KEEP = -1  # copy it
    _SC_DESCEND = -2  # copy its name, cut its object
    _SC_DROP = -3  # drop it


def scan_level():
    """The structural scan in use: an index into :data:`SCAN_LEVELS` (0, the portable
    byte loop, is what the pure-Python twin always reports)."""
    return fi_scan_current


def best_scan_level():
    """The fastest structural scan this CPU supports (an index into :data:`SCAN_LEVELS`)."""
    return fi_scan_best()


def set_scan_level(int level):
    """Use the scan of ``level`` (or the best one below it that the CPU supports), for
    the whole process; return the level now in use. For tests and measurements."""
    return fi_scan_select(level)


def skip_container(bytes text not None, Py_ssize_t start):
    """The index just past the bracket closing the container that opens at
    ``text[start]`` (``{`` or ``[``); -1 when ``text`` ends first (truncated, or a string
    left open), when it has a backslash outside a string before that bracket, or when
    ``text[start]`` opens no container. Brackets are counted, not matched by kind."""
    return fi_skip_container(PyBytes_AS_STRING(text), PyBytes_GET_SIZE(text), start)


cdef inline Py_ssize_t _sc_ws(const char *b, Py_ssize_t n, Py_ssize_t i) noexcept:
    while i < n and (b[i] == 32 or b[i] == 10 or b[i] == 13 or b[i] == 9):
        i += 1
    return i


cdef Py_ssize_t _sc_string_end(const char *b, Py_ssize_t n, Py_ssize_t i,
                               bint *escaped) noexcept:
    """``b[i]`` is a quote: the index past the quote closing the string, or -1; sets
    ``escaped[0]`` when the string holds a backslash."""
    cdef char c
    i += 1
    while i < n:
        c = b[i]
        if c == 34:
            return i + 1
        if c == 92:
            escaped[0] = True
            i += 2
        else:
            i += 1
    return -1


cdef Py_ssize_t _sc_value_end(const char *b, Py_ssize_t n, Py_ssize_t i) noexcept:
    """The index past the value starting at ``b[i]``, or -1: a container or a string is
    followed to its end, anything else runs to the next delimiter or whitespace."""
    cdef char c = b[i]
    cdef Py_ssize_t j = i
    cdef bint escaped = False
    if c == 123 or c == 91:
        return fi_skip_container(b, n, i)
    if c == 34:
        return _sc_string_end(b, n, i, &escaped)
    while j < n:
        c = b[j]
        if c == 44 or c == 125 or c == 93 or c == 32 or c == 10 or c == 13 or c == 9:
            break
        j += 1
    return j if j > i else -1


cdef inline bint _sc_key_is(const char *key, Py_ssize_t length, bytes name) noexcept:
    return length == PyBytes_GET_SIZE(name) and memcmp(key, PyBytes_AS_STRING(name), length) == 0


@cython.no_gc
cdef class CutEvent:
    """A watch line cut by :class:`EventCutter`.

    ``shell``: the line without the members of the reusable fields and without
    ``metadata.managedFields`` (the members kept are copied byte for byte, joined by
    commas); ``spans``: for each reusable field, in order, ``(start, end)`` of its value
    in ``line``, or ``None`` when the object has no such member.
    """

    def __repr__(self):
        return f"<CutEvent shell={len(self.shell)} bytes of {len(self.line)}>"

    @property
    def spans(self):
        cdef Py_ssize_t i
        return tuple([
            (self.starts[i], self.ends[i]) if self.starts[i] >= 0 else None
            for i in range(self.count)
        ])


cdef class EventCutter:
    """Cuts watch lines so that a decoder reads only what changes between versions.

    ``reusable``: the JSON names of the object's top-level fields to cut out, ``inner``
    those of ``metadata`` members to cut out when they are objects or arrays (at most
    ``REUSE_MAX_FIELDS`` in all; their spans follow those of ``reusable``); with
    ``drop_managed_fields``, ``metadata.managedFields`` is dropped when it is an object
    or an array (even if ``inner`` names it). :meth:`cut` returns a :class:`CutEvent`, or
    ``None`` when the line is not one it can cut safely (not a JSON object with an object
    ``object`` member; an escaped, or repeated, member name among ``object``,
    ``metadata`` and the reusable ones; malformed or truncated JSON; text after the
    envelope): decode such lines whole, the decoder then reports what is wrong.

    The values cut out are not decoded here: a skipped container is checked only for
    terminated strings and balanced brackets (``skip_container``). A reusable field's
    value is decoded when its bytes differ from the last version's, which was decoded;
    ``managedFields`` is dropped unread, as a decoder that skips it does.
    """

    def __init__(self, tuple reusable not None, bint drop_managed_fields=True,
                 tuple inner not None=()):
        if len(reusable) + len(inner) > _REUSE_MAX:
            raise ValueError(f"at most {_REUSE_MAX} reusable fields")
        for name in reusable + inner:
            if not isinstance(name, str):
                raise TypeError(f"field names must be str, not {type(name).__name__}")
        for name in reusable:
            if name in ("metadata", "object"):
                raise ValueError(f"{name!r} cannot be cut out")
        if len(set(reusable)) != len(reusable) or len(set(inner)) != len(inner):
            raise ValueError("reusable field names must differ")
        self.reusable = reusable
        self.inner = inner
        self.drop_managed_fields = drop_managed_fields
        self._names = [name.encode() for name in reusable]
        self._inner_names = [name.encode() for name in inner]

    def __repr__(self):
        return (f"<EventCutter reusable={self.reusable!r} inner={self.inner!r} "
                f"drop_managed_fields={self.drop_managed_fields!r}>")

    def cut(self, line):
        """The :class:`CutEvent` of ``line`` (``bytes``), or ``None`` (see the class)."""
        if type(line) is not bytes:
            return None
        cdef bytes data = <bytes>line
        cdef const char *b = PyBytes_AS_STRING(data)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
        cdef char stack_out[_SC_STACK_BUFFER]
        cdef char *out = stack_out
        cdef Py_ssize_t o = 0
        cdef Py_ssize_t i
        cdef CutEvent cut = CutEvent.__new__(CutEvent)
        cut.count = len(self._names) + len(self._inner_names)
        for i in range(cut.count):
            cut.starts[i] = -1
            cut.ends[i] = -1
        if n > _SC_STACK_BUFFER:
            out = <char *>PyMem_Malloc(<size_t>n)
            if out == NULL:
                raise MemoryError()
        try:
            i = _sc_ws(b, n, 0)
            if i >= n or b[i] != 123:
                return None
            i = self._cut_object(b, n, i, _SC_ENVELOPE, out, &o, cut)
            if i < 0 or _sc_ws(b, n, i) != n:
                return None
            cut.line = data
            cut.shell = PyBytes_FromStringAndSize(out, o)
            return cut
        finally:
            if out != stack_out:
                PyMem_Free(out)

    cdef Py_ssize_t _cut_object(self, const char *b, Py_ssize_t n, Py_ssize_t i, int level,
                                char *out, Py_ssize_t *o, CutEvent cut) noexcept:
        """Copy the object at ``b[i]`` (a ``{``) to ``out`` as the class says, recording
        spans in ``cut``; return the index past it, or -1 when it cannot be cut."""
        cdef Py_ssize_t key_start, key_end, value_start, value_end, j, k
        cdef const char *key
        cdef Py_ssize_t key_len
        cdef bint wrote = False
        cdef bint seen_special = False
        cdef bint escaped
        cdef int field
        out[o[0]] = 123
        o[0] += 1
        i = _sc_ws(b, n, i + 1)
        if i < n and b[i] == 125:
            out[o[0]] = 125
            o[0] += 1
            return i + 1
        while True:
            if i >= n or b[i] != 34:
                return -1
            key_start = i
            escaped = False
            key_end = _sc_string_end(b, n, i, &escaped)
            if key_end < 0:
                return -1
            key = b + key_start + 1
            key_len = key_end - key_start - 2
            i = _sc_ws(b, n, key_end)
            if i >= n or b[i] != 58:
                return -1
            value_start = _sc_ws(b, n, i + 1)
            if value_start >= n:
                return -1
            field = _SC_KEEP
            if escaped:
                if level != _SC_METADATA:
                    return -1  # an escaped name might spell one of ours
                # metadata: keep it, the decoder reads it
            elif level == _SC_ENVELOPE:
                if key_len == 6 and memcmp(key, b"object", 6) == 0:
                    if seen_special or b[value_start] != 123:
                        return -1
                    seen_special = True
                    field = _SC_DESCEND
            elif level == _SC_OBJECT:
                if key_len == 8 and memcmp(key, b"metadata", 8) == 0:
                    if seen_special:
                        return -1
                    seen_special = True
                    if (self.drop_managed_fields or self._inner_names) and b[value_start] == 123:
                        field = _SC_DESCEND
                else:
                    for j in range(len(self._names)):
                        if _sc_key_is(key, key_len, <bytes>self._names[j]):
                            if cut.starts[j] >= 0:
                                return -1
                            field = <int>j
                            break
            elif b[value_start] == 123 or b[value_start] == 91:
                if (self.drop_managed_fields and key_len == 13
                        and memcmp(key, b"managedFields", 13) == 0):
                    field = _SC_DROP
                else:
                    for j in range(len(self._inner_names)):
                        if _sc_key_is(key, key_len, <bytes>self._inner_names[j]):
                            k = j + len(self._names)
                            if cut.starts[k] >= 0:
                                return -1
                            field = <int>k
                            break
            if field == _SC_DESCEND:
                if wrote:
                    out[o[0]] = 44
                    o[0] += 1
                memcpy(out + o[0], b + key_start, <size_t>(key_end - key_start))
                o[0] += key_end - key_start
                out[o[0]] = 58
                o[0] += 1
                value_end = self._cut_object(b, n, value_start, level + 1, out, o, cut)
                wrote = True
            else:
                value_end = _sc_value_end(b, n, value_start)
                if value_end >= 0:
                    if field >= 0:
                        cut.starts[field] = value_start
                        cut.ends[field] = value_end
                    elif field != _SC_DROP:
                        if wrote:
                            out[o[0]] = 44
                            o[0] += 1
                        memcpy(out + o[0], b + key_start, <size_t>(value_end - key_start))
                        o[0] += value_end - key_start
                        wrote = True
            if value_end < 0:
                return -1
            i = _sc_ws(b, n, value_end)
            if i >= n:
                return -1
            if b[i] == 44:
                i = _sc_ws(b, n, i + 1)
                continue
            if b[i] == 125:
                out[o[0]] = 125
                o[0] += 1
                return i + 1
            return -1
