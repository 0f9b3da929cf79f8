"""Pure-Python twin of ``_core_scan.pxi``: cutting a watch line into the part a decoder
must read and the spans it may reuse.

The twin follows strings with a regular expression instead of a SIMD scan; it reports
scan level 0, and :mod:`fastinformer.decode` does not cut lines at that level (cutting
would cost more than the decoding it saves).
"""

from __future__ import annotations

import re

__all__ = [
    "SCAN_LEVELS",
    "CutEvent",
    "EventCutter",
    "best_scan_level",
    "scan_level",
    "set_scan_level",
    "skip_container",
]

SCAN_LEVELS = ("portable", "sse2", "avx2")
"""The structural scans of the compiled core, by level."""

_MAX_FIELDS = 8  # REUSE_MAX_FIELDS of _py_reuse
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}"\\]', re.S)
"""A whole string, or a bracket, or a quote opening a string that never ends, or a
backslash outside a string."""
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_WS = b" \n\r\t"
_VALUE_ENDS = frozenset(b",}] \n\r\t")
_OPEN = frozenset(b"{[")
_QUOTE, _BACKSLASH, _COMMA, _COLON = 0x22, 0x5C, 0x2C, 0x3A
_LBRACE, _RBRACE = 0x7B, 0x7D
_ENVELOPE, _OBJECT, _METADATA = 0, 1, 2
# What _cut_object does with a member (a field index >= 0: cut it out, record its span).
_KEEP, _DESCEND, _DROP = -1, -2, -3  # copy it; copy its name and cut its object; drop it


def scan_level() -> int:
    """The structural scan in use: an index into :data:`SCAN_LEVELS` (0, the portable
    byte loop, is what the pure-Python twin always reports)."""
    return 0


def best_scan_level() -> int:
    """The fastest structural scan this CPU supports (an index into :data:`SCAN_LEVELS`)."""
    return 0


def set_scan_level(level: int) -> int:
    """Use the scan of ``level`` (or the best one below it that the CPU supports), for
    the whole process; return the level now in use. For tests and measurements."""
    if not isinstance(level, int):
        raise TypeError(f"level must be int, not {type(level).__name__}")
    return 0


def skip_container(text: bytes, start: int) -> int:
    """The index just past the bracket closing the container that opens at
    ``text[start]`` (``{`` or ``[``); -1 when ``text`` ends first (truncated, or a string
    left open), when it has a backslash outside a string before that bracket, or when
    ``text[start]`` opens no container. Brackets are counted, not matched by kind."""
    if not isinstance(text, bytes):
        raise TypeError(f"text must be bytes, not {type(text).__name__}")
    if start < 0 or start >= len(text) or text[start] not in _OPEN:
        return -1
    depth = 0
    for match in _TOKEN.finditer(text, start):
        c = text[match.start()]
        if c == _QUOTE:
            if match.end() - match.start() == 1:
                return -1
        elif c == _BACKSLASH:
            return -1
        elif c in _OPEN:
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return match.end()
    return -1


def _ws(b: bytes, i: int) -> int:
    n = len(b)
    while i < n and b[i] in _WS:
        i += 1
    return i


def _string_end(b: bytes, i: int) -> tuple[int, bool]:
    """``b[i]`` is a quote: the index past the quote closing the string (or -1), and
    whether the string holds a backslash."""
    match = _STRING.match(b, i)
    if match is None:
        return -1, False
    return match.end(), _BACKSLASH in b[i : match.end()]


def _value_end(b: bytes, i: int) -> int:
    """The index past the value starting at ``b[i]``, or -1: a container or a string is
    followed to its end, anything else runs to the next delimiter or whitespace."""
    c = b[i]
    if c in _OPEN:
        return skip_container(b, i)
    if c == _QUOTE:
        return _string_end(b, i)[0]
    j = i
    while j < len(b) and b[j] not in _VALUE_ENDS:
        j += 1
    return j if j > i else -1


class CutEvent:
    """A watch line cut by :class:`EventCutter`.

    ``shell``: the line without the members of the reusable fields and without
    ``metadata.managedFields`` (the members kept are copied byte for byte, joined by
    commas); ``spans``: for each reusable field, in order, ``(start, end)`` of its value
    in ``line``, or ``None`` when the object has no such member.
    """

    __slots__ = ("line", "shell", "spans")

    def __init__(self, line: bytes, shell: bytes, spans: tuple[tuple[int, int] | None, ...]):
        self.line = line
        self.shell = shell
        self.spans = spans

    def __repr__(self) -> str:
        return f"<CutEvent shell={len(self.shell)} bytes of {len(self.line)}>"


class EventCutter:
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

    def __init__(
        self,
        reusable: tuple[str, ...],
        drop_managed_fields: bool = True,
        inner: tuple[str, ...] = (),
    ) -> None:
        if not isinstance(reusable, tuple) or not isinstance(inner, tuple):
            raise TypeError("reusable and inner must be tuples")
        if len(reusable) + len(inner) > _MAX_FIELDS:
            raise ValueError(f"at most {_MAX_FIELDS} reusable fields")
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
        self.drop_managed_fields = bool(drop_managed_fields)
        self._names = [name.encode() for name in reusable]
        self._inner_names = [name.encode() for name in inner]

    def __repr__(self) -> str:
        return (
            f"<EventCutter reusable={self.reusable!r} inner={self.inner!r} "
            f"drop_managed_fields={self.drop_managed_fields!r}>"
        )

    def cut(self, line: bytes) -> CutEvent | None:
        """The :class:`CutEvent` of ``line`` (``bytes``), or ``None`` (see the class)."""
        if type(line) is not bytes:
            return None
        spans: list[tuple[int, int] | None] = [None] * (len(self._names) + len(self._inner_names))
        out = bytearray()
        i = _ws(line, 0)
        if i >= len(line) or line[i] != _LBRACE:
            return None
        i = self._cut_object(line, i, _ENVELOPE, out, spans)
        if i < 0 or _ws(line, i) != len(line):
            return None
        return CutEvent(line, bytes(out), tuple(spans))

    def _cut_object(
        self, b: bytes, i: int, level: int, out: bytearray, spans: list[tuple[int, int] | None]
    ) -> int:
        """Copy the object at ``b[i]`` (a ``{``) to ``out`` as the class says, recording
        spans; return the index past it, or -1 when it cannot be cut."""
        n = len(b)
        wrote = False
        seen_special = False
        out.append(_LBRACE)
        i = _ws(b, i + 1)
        if i < n and b[i] == _RBRACE:
            out.append(_RBRACE)
            return i + 1
        while True:
            if i >= n or b[i] != _QUOTE:
                return -1
            key_start = i
            key_end, escaped = _string_end(b, i)
            if key_end < 0:
                return -1
            key = b[key_start + 1 : key_end - 1]
            i = _ws(b, key_end)
            if i >= n or b[i] != _COLON:
                return -1
            value_start = _ws(b, i + 1)
            if value_start >= n:
                return -1
            field = _KEEP
            if escaped:
                if level != _METADATA:
                    return -1  # an escaped name might spell one of ours
                # metadata: keep it, the decoder reads it
            elif level == _ENVELOPE:
                if key == b"object":
                    if seen_special or b[value_start] != _LBRACE:
                        return -1
                    seen_special = True
                    field = _DESCEND
            elif level == _OBJECT:
                if key == b"metadata":
                    if seen_special:
                        return -1
                    seen_special = True
                    descend = self.drop_managed_fields or self._inner_names
                    if descend and b[value_start] == _LBRACE:
                        field = _DESCEND
                elif key in self._names:
                    j = self._names.index(key)
                    if spans[j] is not None:
                        return -1
                    field = j
            elif b[value_start] in _OPEN:
                if self.drop_managed_fields and key == b"managedFields":
                    field = _DROP
                elif key in self._inner_names:
                    k = self._inner_names.index(key) + len(self._names)
                    if spans[k] is not None:
                        return -1
                    field = k
            if field == _DESCEND:
                if wrote:
                    out.append(_COMMA)
                out += b[key_start:key_end]
                out.append(_COLON)
                value_end = self._cut_object(b, value_start, level + 1, out, spans)
                wrote = True
            else:
                value_end = _value_end(b, value_start)
                if value_end >= 0:
                    if field >= 0:
                        spans[field] = (value_start, value_end)
                    elif field != _DROP:
                        if wrote:
                            out.append(_COMMA)
                        out += b[key_start:value_end]
                        wrote = True
            if value_end < 0:
                return -1
            i = _ws(b, value_end)
            if i >= n:
                return -1
            if b[i] == _COMMA:
                i = _ws(b, i + 1)
                continue
            if b[i] == _RBRACE:
                out.append(_RBRACE)
                return i + 1
            return -1
