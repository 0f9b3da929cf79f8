"""LineReader (core): chunked framing removal and line splitting, on both cores."""

from __future__ import annotations

import itertools
import socket
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastinformer.errors import FastInformerError


class Source:
    """A ``read1`` serving ``data`` in the given pieces; calling it after the last piece
    returned ``b""`` (EOF) is allowed, reading when ``strict_end`` forbids it fails."""

    def __init__(self, pieces: list[bytes], strict_end: bool = False) -> None:
        self._pieces = list(pieces)
        self._strict_end = strict_end
        self.sizes: list[int] = []

    def __call__(self, n: int) -> bytes:
        self.sizes.append(n)
        if not self._pieces:
            assert not self._strict_end, "read past the end of the body"
            return b""
        return self._pieces.pop(0)


def cut(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` split at the given offsets (taken modulo its length)."""
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def frame(chunks: list[bytes], trailer: bytes = b"\r\n") -> bytes:
    """``chunks`` in chunked transfer coding, then the terminal chunk and ``trailer``."""
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n" + trailer


def read_all(core: ModuleType, data: bytes, chunked: bool = True, size: int = 7) -> list[bytes]:
    pieces = [data[i : i + size] for i in range(0, len(data), size)]
    return list(core.LineReader(Source(pieces), chunked))


lines_st = st.lists(
    st.binary(min_size=1, max_size=60).map(lambda b: b.replace(b"\n", b"x")), max_size=15
)
cuts_st = st.lists(st.integers(min_value=0, max_value=3000), max_size=25)


@settings(max_examples=150, deadline=None)
@given(lines=lines_st, chunk_cuts=cuts_st, read_cuts=cuts_st)
def test_any_chunking_and_any_reads_yield_the_same_lines(
    core: ModuleType, lines: list[bytes], chunk_cuts: list[int], read_cuts: list[int]
) -> None:
    body = b"".join(line + b"\n" for line in lines)
    data = frame(cut(body, chunk_cuts))
    reader = core.LineReader(Source(cut(data, read_cuts), strict_end=True), True)
    assert list(reader) == lines
    assert reader.complete


@settings(max_examples=100, deadline=None)
@given(lines=lines_st, read_cuts=cuts_st)
def test_unchunked_body_is_split_into_lines_whatever_the_reads(
    core: ModuleType, lines: list[bytes], read_cuts: list[int]
) -> None:
    body = b"".join(line + b"\n" for line in lines)
    reader = core.LineReader(Source(cut(body, read_cuts)), False)
    assert list(reader) == lines
    assert reader.complete


def test_empty_lines_are_skipped(core: ModuleType) -> None:
    data = frame([b"\n\na\n", b"\n", b"b\n\n", b"\n"])
    assert read_all(core, data) == [b"a", b"b"]


def test_one_chunk_holding_many_lines_yields_each(core: ModuleType) -> None:
    data = frame([b"a\nbb\nccc\n"])
    assert read_all(core, data, size=1 << 16) == [b"a", b"bb", b"ccc"]


def test_line_spanning_many_chunks_and_reads_is_joined(core: ModuleType) -> None:
    line = bytes(range(256)).replace(b"\n", b"-") * 400
    data = frame([line[i : i + 1000] for i in range(0, len(line), 1000)] + [b"\n"])
    assert read_all(core, data, size=333) == [line]


def test_unterminated_last_line_is_yielded_at_the_end_of_the_body(core: ModuleType) -> None:
    assert read_all(core, frame([b"a\n{", b'"b":1}'])) == [b"a", b'{"b":1}']
    assert read_all(core, b"a\n{", chunked=False) == [b"a", b"{"]


def test_extensions_and_trailers_are_ignored(core: ModuleType) -> None:
    data = b"3 ;name=value;x\r\na\nb\r\n2;e\r\nc\n\r\n0;last\r\nX-Check: 1\r\nY: 2\r\n\r\n"
    reader = core.LineReader(Source([data], strict_end=True), True)
    assert list(reader) == [b"a", b"bc"]
    assert reader.complete


def test_sizes_are_hex_in_either_case_with_leading_zeros(core: ModuleType) -> None:
    data = b"000A\r\n0123456789\r\n1a\r\n" + b"x" * 25 + b"\n\r\n0\r\n\r\n"
    assert read_all(core, data) == [b"0123456789" + b"x" * 25]


def test_reader_stops_at_the_final_crlf_without_reading_further(core: ModuleType) -> None:
    source = Source([b"2\r\na\n\r\n0\r\n", b"\r\n"], strict_end=True)
    reader = core.LineReader(source, True)
    assert next(reader) == b"a"
    assert not reader.complete
    assert list(reader) == []
    assert reader.complete
    assert len(source.sizes) == 2


def test_reads_ask_for_chunk_size_bytes(core: ModuleType) -> None:
    source = Source([b"a\n", b"b\n"])
    assert list(core.LineReader(source, False, chunk_size=1234)) == [b"a", b"b"]
    assert set(source.sizes) == {1234}


def test_body_cut_before_the_terminal_chunk_raises_with_the_partial_line(
    core: ModuleType,
) -> None:
    data = frame([b'{"a":1}\n{"b"', b":2}\n"])[:-12]  # inside the second chunk's data
    reader = core.LineReader(Source([data]), True)
    assert next(reader) == b'{"a":1}'
    truncated = "ended prematurely, before its terminal chunk"
    with pytest.raises(core.ChunkedEncodingError, match=truncated) as info:
        next(reader)
    assert info.value.partial.startswith(b'{"b"')
    assert not reader.complete
    assert list(reader) == []


def test_body_cut_at_a_chunk_boundary_is_still_incomplete(core: ModuleType) -> None:
    reader = core.LineReader(Source([b"2\r\na\n\r\n"]), True)
    assert next(reader) == b"a"
    truncated = "ended prematurely, before its terminal chunk"
    with pytest.raises(core.ChunkedEncodingError, match=truncated):
        next(reader)


def test_eof_in_place_of_the_final_crlf_is_tolerated(core: ModuleType) -> None:
    reader = core.LineReader(Source([b"2\r\na\n\r\n0\r\n"]), True)
    assert list(reader) == [b"a"]
    assert reader.complete


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"zz\r\n", "bad chunk size line"),
        (b"\r\n", "bad chunk size line"),
        (b"-1\r\na\r\n", "bad chunk size line"),
        (b"+1\r\na\r\n", "bad chunk size line"),
        (b"0x1\r\na\r\n", "bad chunk size line"),
        (b"1 2\r\na\r\n", "bad chunk size line"),
        (b"1\r\r\na\r\n", "bad chunk size line"),
        (b"1" * 17 + b"\r\n", "overflows"),
        (b"3\r\na\nbXY0\r\n\r\n", "not followed by CRLF"),
        (b"3\r\na\nb\rX0\r\n\r\n", "not followed by CRLF"),
        (b"1\r\na\r\n0\r\n\r\nHTTP/1.1", "unexpected bytes after the end"),
    ],
)
def test_malformed_framing_raises_a_clear_error(
    core: ModuleType, data: bytes, message: str
) -> None:
    reader = core.LineReader(Source([data]), True)
    with pytest.raises(core.ChunkedEncodingError, match=message):
        list(reader)
    assert not reader.complete
    assert list(reader) == []


def test_framing_error_keeps_the_line_being_read(core: ModuleType) -> None:
    reader = core.LineReader(Source([b"3\r\na\nbXY"]), True)
    assert next(reader) == b"a"
    with pytest.raises(core.ChunkedEncodingError) as info:
        next(reader)
    assert info.value.partial == b"b"


def test_size_line_up_to_the_limit_is_accepted_even_across_reads(core: ModuleType) -> None:
    line = b"2;" + b"e" * (core.MAX_CHUNK_LINE - 2)
    data = line + b"\r\na\n\r\n0\r\n\r\n"
    assert len(line) == core.MAX_CHUNK_LINE
    assert read_all(core, data, size=100) == [b"a"]


@pytest.mark.parametrize("where", ["size", "trailer"])
def test_overlong_size_or_trailer_line_is_refused_before_eof(core: ModuleType, where: str) -> None:
    long_line = b"2;" + b"e" * core.MAX_CHUNK_LINE
    head = long_line if where == "size" else b"0\r\n" + long_line
    endless = itertools.chain([head[i : i + 100] for i in range(0, len(head), 100)])
    reader = core.LineReader(lambda n: next(endless, b"e" * 100), True)
    with pytest.raises(core.ChunkedEncodingError, match="longer than 4096"):
        list(reader)


def test_read_errors_propagate_unchanged(core: ModuleType) -> None:
    def read1(n: int) -> bytes:
        raise TimeoutError("timed out")

    with pytest.raises(TimeoutError):
        list(core.LineReader(read1, True))


def test_read1_must_return_bytes(core: ModuleType) -> None:
    with pytest.raises(TypeError, match="bytes"):
        list(core.LineReader(lambda n: bytearray(b"a\n"), False))


def test_arguments_are_checked(core: ModuleType) -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        core.LineReader(Source([]), True, 0)
    with pytest.raises(TypeError, match="callable"):
        core.LineReader(b"a\n", True)


def test_chunked_flag_is_exposed_and_the_error_is_a_fastinformer_value_error(
    core: ModuleType,
) -> None:
    assert core.LineReader(Source([]), 1).chunked is True
    assert core.LineReader(Source([]), 0).chunked is False
    assert issubclass(core.ChunkedEncodingError, FastInformerError)
    assert issubclass(core.ChunkedEncodingError, ValueError)


# -- recv_waiting ---------------------------------------------------------------------------


def test_recv_waiting_reads_only_what_is_already_there(core: ModuleType) -> None:
    a, b = socket.socketpair()
    try:
        assert core.recv_waiting(a, 10) is None  # nothing sent yet: no wait, no bytes
        b.sendall(b"hello world!")
        assert core.recv_waiting(a, 5) == b"hello"
        assert core.recv_waiting(a, 100) == b" world!"
        assert core.recv_waiting(a, 100) is None
        b.sendall(b"x" * 70_000)
        got = b""
        while len(got) < 70_000:
            piece = core.recv_waiting(a, 65_536)
            assert piece is not None and len(piece) <= 65_536
            got += piece
        assert got == b"x" * 70_000
        b.close()
        assert core.recv_waiting(a, 100) == b""  # end of stream
    finally:
        a.close()
        b.close()


def test_recv_waiting_refuses_closed_sockets_and_empty_reads(core: ModuleType) -> None:
    a, b = socket.socketpair()
    with pytest.raises(ValueError, match="at least 1"):
        core.recv_waiting(a, 0)
    a.close()
    b.close()
    with pytest.raises(OSError, match="closed socket"):
        core.recv_waiting(a, 10)
