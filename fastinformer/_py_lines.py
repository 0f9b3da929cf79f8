"""Pure-Python twin of ``_core_lines.pxi``: splitting a streamed body into lines.

:class:`LineReader` reads a body through a ``read1``-style callable in large pieces,
removes the HTTP/1.1 chunked transfer coding itself when asked to (one pass, no per-chunk
call into an HTTP library) and yields the body's lines.
"""

from __future__ import annotations

import os
import re
import select
import socket
from collections.abc import Callable

from fastinformer.errors import FastInformerError

__all__ = ["MAX_CHUNK_LINE", "ChunkedEncodingError", "LineReader", "recv_waiting"]

MAX_CHUNK_LINE = 4096
"""Longest chunk-size or trailer line accepted, in bytes (without its line ending)."""

# Parser states, in the order they follow each other within one chunk.
_SIZE = 0  # reading a chunk-size line
_DATA = 1  # inside chunk data (or anywhere in a body that is not chunked)
_CR = 2  # expecting the CR that ends chunk data
_LF = 3  # expecting the LF that ends chunk data
_TRAILER = 4  # reading trailer lines after the terminal chunk
_FLUSH = 5  # body ended: the unterminated last line, if any, is still to be yielded
_END = 6  # nothing more to yield
_FAILED = 7  # an error was raised: nothing more to yield, body incomplete

_HEX_DIGITS = re.compile(rb"[0-9A-Fa-f]*")
_SIZE_LIMIT = 1 << 62  # chunk sizes from 2**62 up are refused as overflowing


class ChunkedEncodingError(FastInformerError, ValueError):
    """A chunked body is malformed, or ended before its terminal chunk.

    ``partial`` holds the bytes of the line that was being read when the error was found
    (nothing read is silently lost). :func:`fastinformer.transport.iter_lines` reports
    this as a :class:`~fastinformer.transport.TransportError`.
    """

    def __init__(self, message: str, partial: bytes = b"") -> None:
        super().__init__(message)
        self.partial = partial


def _parse_chunk_size(line: bytes) -> int:
    """The size of a chunk-size line ``<hex>[ws][;extensions]`` (its CR already removed)."""
    digits = _HEX_DIGITS.match(line)
    assert digits is not None  # the pattern matches the empty string
    if not digits.end():
        raise ChunkedEncodingError(f"bad chunk size line: {line[:40]!r}")
    size = int(digits.group(), 16)
    if size >= _SIZE_LIMIT:
        raise ChunkedEncodingError(f"chunk size overflows: {line[:40]!r}")
    rest = line[digits.end() :].lstrip(b" \t")
    if rest and rest[0] != 0x3B:  # ';' starts the ignored chunk extensions
        raise ChunkedEncodingError(f"bad chunk size line: {line[:40]!r}")
    return size


class LineReader:
    """Iterator over the non-empty lines of a body read through ``read1``.

    ``read1(n)`` returns up to ``n`` bytes (at least one unless at EOF) and ``b""`` at EOF,
    like ``io.BufferedReader.read1``; it is called with ``chunk_size``. With
    ``chunked=True`` the body is in HTTP/1.1 chunked transfer coding
    (``<hex size>[;ext]\\r\\n<data>\\r\\n`` ..., ``0\\r\\n``, trailer lines, ``\\r\\n``),
    which is removed; the reader stops after the final ``\\r\\n`` and never reads past it,
    so the connection can carry the next response. Framing may be cut anywhere by reads.

    Lines are ``bytes`` without their ``\\n``; empty lines are skipped. Each body byte is
    copied at most twice (sliced out of a read, then joined if its line spans reads).
    At the end of the body an unterminated last line is yielded as it is.

    Raises :class:`ChunkedEncodingError` on malformed framing (bad or overflowing size,
    size or trailer line over :data:`MAX_CHUNK_LINE`, data not followed by CRLF, bytes
    after the terminal chunk) and when a chunked body reaches EOF before its terminal
    chunk (EOF in place of the trailers' final CRLF is tolerated); the iterator is then
    exhausted. Errors of ``read1`` propagate unchanged. Not thread-safe: one consumer.
    """

    __slots__ = (
        "_buf",
        "_chunk_size",
        "_chunked",
        "_left",
        "_meta",
        "_pending",
        "_pos",
        "_read1",
        "_state",
    )

    def __init__(
        self, read1: Callable[[int], bytes], chunked: bool, chunk_size: int = 65536
    ) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        if not callable(read1):
            raise TypeError(f"read1 must be callable, not {type(read1).__name__}")
        self._read1 = read1
        self._chunked = bool(chunked)
        self._chunk_size = chunk_size
        self._buf = b""
        self._pos = 0
        self._state = _SIZE if chunked else _DATA
        self._left = 0  # data bytes left in the current chunk
        self._pending: list[bytes] = []  # pieces of the line being read
        self._meta = b""  # start of a chunk-size or trailer line cut by a read

    @property
    def chunked(self) -> bool:
        """Whether the body is in chunked transfer coding."""
        return self._chunked

    @property
    def complete(self) -> bool:
        """Whether the whole body was read: for a chunked body, its terminal chunk and
        trailers (the connection may then be reused); otherwise EOF."""
        return self._state in (_FLUSH, _END)

    def __iter__(self) -> LineReader:
        return self

    def __next__(self) -> bytes:
        while True:
            state = self._state
            buf = self._buf
            pos = self._pos
            if state >= _FLUSH:
                return self._finish()
            if pos == len(buf):
                self._read_more()
            elif state == _DATA:
                end = len(buf)
                if self._chunked and end - pos > self._left:
                    end = pos + self._left
                pending = self._pending
                nl = buf.find(b"\n", pos, end)
                while nl == pos and not pending:  # skip empty lines
                    pos += 1
                    nl = buf.find(b"\n", pos, end)
                if nl < 0:
                    if end > pos:
                        pending.append(buf[pos:end])
                    self._consume(end)
                    continue
                if pending:
                    pending.append(buf[pos:nl])
                    line = self._take_pending()
                else:
                    line = buf[pos:nl]
                self._consume(nl + 1)
                return line
            elif state == _CR and buf.startswith(b"\r\n", pos):
                self._pos = pos + 2
                self._state = _SIZE
            elif state in (_SIZE, _TRAILER):
                self._read_meta_line()
            else:
                self._read_data_end()

    def _consume(self, new_pos: int) -> None:
        """Advance past data up to ``new_pos``; at the end of a chunk's data expect CRLF."""
        if self._chunked:
            self._left -= new_pos - self._pos
            if self._left == 0:
                self._state = _CR
        self._pos = new_pos

    def _read_more(self) -> None:
        """Replace the exhausted buffer with the next read; handle EOF."""
        data = self._read1(self._chunk_size)
        if not isinstance(data, bytes):
            raise TypeError(f"read1 must return bytes, not {type(data).__name__}")
        if data:
            self._buf = data
            self._pos = 0
            return
        if not self._chunked or self._state == _TRAILER:
            self._state = _FLUSH  # a server that closes instead of the final CRLF is tolerated
            return
        partial = self._take_pending()
        self._fail()
        raise ChunkedEncodingError(
            "the chunked body ended prematurely, before its terminal chunk", partial
        )

    def _read_meta_line(self) -> None:
        """Consume a chunk-size or trailer line, or the buffered start of one."""
        buf = self._buf
        pos = self._pos
        nl = buf.find(b"\n", pos)
        stop = len(buf) if nl < 0 else nl
        if len(self._meta) + stop - pos > MAX_CHUNK_LINE + 1:  # + 1: its CR
            what = "chunk size" if self._state == _SIZE else "trailer"
            self._fail()
            raise ChunkedEncodingError(f"{what} line longer than {MAX_CHUNK_LINE} bytes")
        if nl < 0:
            self._meta += buf[pos:]
            self._pos = len(buf)
            return
        line = self._meta + buf[pos:nl] if self._meta else buf[pos:nl]
        self._meta = b""
        self._pos = nl + 1
        if line.endswith(b"\r"):
            line = line[:-1]
        if self._state == _TRAILER:
            if not line:
                self._end_of_body()
            return
        try:
            size = _parse_chunk_size(line)
        except ChunkedEncodingError:
            self._fail()
            raise
        if size:
            self._left = size
            self._state = _DATA
        else:
            self._state = _TRAILER

    def _read_data_end(self) -> None:
        """Consume the CR or LF that must follow chunk data."""
        expected = 0x0D if self._state == _CR else 0x0A
        if self._buf[self._pos] != expected:
            partial = self._take_pending()
            self._fail()
            raise ChunkedEncodingError("chunk data not followed by CRLF", partial)
        self._pos += 1
        self._state = _LF if self._state == _CR else _SIZE

    def _end_of_body(self) -> None:
        """The final CRLF was read: nothing may follow it in the buffer."""
        if self._pos != len(self._buf):
            extra = len(self._buf) - self._pos
            partial = self._take_pending()
            self._fail()
            raise ChunkedEncodingError(
                f"{extra} unexpected bytes after the end of the chunked body", partial
            )
        self._state = _FLUSH

    def _finish(self) -> bytes:
        """Yield the unterminated last line once, then stop."""
        if self._state == _FLUSH:
            self._state = _END
            if self._pending:
                return self._take_pending()
        raise StopIteration

    def _take_pending(self) -> bytes:
        """The pieces of the line being read, joined; the pieces are forgotten."""
        line = b"".join(self._pending)
        self._pending.clear()
        return line

    def _fail(self) -> None:
        """Exhaust the iterator after an error, remembering that the body is incomplete."""
        self._state = _FAILED
        self._pending.clear()


def recv_waiting(sock: socket.socket, size: int) -> bytes | None:
    """Up to ``size`` bytes already waiting on the plain socket ``sock``, read without
    releasing the GIL (a system call that does not block); ``None`` when nothing is
    waiting, ``b""`` at end of stream. ``OSError`` on failure, or if ``sock`` is closed.

    A reader that calls this first and falls back to ``sock.recv`` keeps the GIL while
    a backlog lasts, so other threads take it over fewer times per event.
    """
    fd = sock.fileno()
    if size < 1:
        raise ValueError("size must be at least 1")
    if fd < 0:
        raise OSError(9, "recv_waiting on a closed socket")
    # The twin cannot keep the GIL around a system call; it only keeps the contract.
    readable, _, _ = select.select([fd], [], [], 0)
    if not readable:
        return None
    try:
        return os.read(fd, size)
    except (BlockingIOError, InterruptedError):
        return None
