# Lines: splitting a streamed HTTP body (chunked transfer coding or raw) into lines.
#
# The framing parse and the newline search are C loops over the read buffer (memchr on
# the bytes object's storage); Python objects are made only for the lines themselves.
# Behaviour, names and messages match the pure twin fastinformer/_py_lines.py.
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.errno cimport EAGAIN, EINTR, errno
from libc.string cimport memchr

cdef extern from "<sys/socket.h>" nogil:
    ssize_t _ln_recv "recv"(int fd, void *buf, size_t n, int flags)
    int MSG_DONTWAIT

from os import strerror as os_strerror

from fastinformer._py_lines import MAX_CHUNK_LINE, ChunkedEncodingError

cdef enum:
    # parser states, as in the twin
    _LN_SIZE = 0
    _LN_DATA = 1
    _LN_CR = 2
    _LN_LF = 3
    _LN_TRAILER = 4
    _LN_FLUSH = 5
    _LN_END = 6
    _LN_FAILED = 7
    _LN_MAX_LINE = 4096  # MAX_CHUNK_LINE
    _LN_NL = 10
    _LN_CRC = 13

# chunk sizes from 2**62 up are refused: a size at or above this gets no more digits
cdef Py_ssize_t _LN_SIZE_LIMIT = (<Py_ssize_t>1) << 58


cdef inline int _ln_hex(char c) noexcept:
    if ord('0') <= c <= ord('9'):
        return c - ord('0')
    if ord('a') <= c <= ord('f'):
        return c - ord('a') + 10
    if ord('A') <= c <= ord('F'):
        return c - ord('A') + 10
    return -1


cdef Py_ssize_t _ln_parse_chunk_size(const char* p, Py_ssize_t n) except -1:
    """The size of a chunk-size line ``<hex>[ws][;extensions]`` (its CR already removed)."""
    cdef Py_ssize_t size = 0
    cdef Py_ssize_t i = 0
    cdef int digit
    while i < n:
        digit = _ln_hex(p[i])
        if digit < 0:
            break
        if size >= _LN_SIZE_LIMIT:
            raise ChunkedEncodingError(
                f"chunk size overflows: {PyBytes_FromStringAndSize(p, min(n, 40))!r}"
            )
        size = size * 16 + digit
        i += 1
    if i == 0:
        raise ChunkedEncodingError(
            f"bad chunk size line: {PyBytes_FromStringAndSize(p, min(n, 40))!r}"
        )
    while i < n and (p[i] == ord(' ') or p[i] == ord('\t')):
        i += 1
    if i < n and p[i] != ord(';'):  # ';' starts the ignored chunk extensions
        raise ChunkedEncodingError(
            f"bad chunk size line: {PyBytes_FromStringAndSize(p, min(n, 40))!r}"
        )
    return size


cdef class LineReader:
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

    def __init__(self, read1, chunked, Py_ssize_t chunk_size=65536):
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        if not callable(read1):
            raise TypeError(f"read1 must be callable, not {type(read1).__name__}")
        self._read1 = read1
        self._chunked = bool(chunked)
        self._chunk_size = chunk_size
        self._buf = b""
        self._pos = 0
        self._state = _LN_SIZE if self._chunked else _LN_DATA
        self._left = 0  # data bytes left in the current chunk
        self._pending = []  # pieces of the line being read
        self._meta = b""  # start of a chunk-size or trailer line cut by a read

    @property
    def chunked(self):
        """Whether the body is in chunked transfer coding."""
        return self._chunked

    @property
    def complete(self):
        """Whether the whole body was read: for a chunked body, its terminal chunk and
        trailers (the connection may then be reused); otherwise EOF."""
        return self._state == _LN_FLUSH or self._state == _LN_END

    def __iter__(self):
        return self

    def __next__(self):
        cdef bytes buf
        cdef const char* base
        cdef const char* hit
        cdef Py_ssize_t pos, end, nl
        cdef int state
        while True:
            state = self._state
            if state == _LN_DATA:
                buf = self._buf
                pos = self._pos
                end = PyBytes_GET_SIZE(buf)
                if pos == end:
                    self._read_more()
                    continue
                if self._chunked and end - pos > self._left:
                    end = pos + self._left
                base = PyBytes_AS_STRING(buf)
                while True:
                    hit = <const char*>memchr(base + pos, _LN_NL, <size_t>(end - pos))
                    if hit == NULL:
                        if end > pos:
                            self._pending.append(PyBytes_FromStringAndSize(base + pos, end - pos))
                        self._consume(end)
                        break
                    nl = hit - base
                    if self._pending:
                        self._pending.append(PyBytes_FromStringAndSize(base + pos, nl - pos))
                        line = self._take_pending()
                    elif nl > pos:
                        line = PyBytes_FromStringAndSize(base + pos, nl - pos)
                    else:
                        pos = nl + 1
                        continue
                    self._consume(nl + 1)
                    return line
            elif state >= _LN_FLUSH:
                if state == _LN_FLUSH:
                    self._state = _LN_END
                    if self._pending:
                        return self._take_pending()
                raise StopIteration
            elif self._pos == PyBytes_GET_SIZE(self._buf):
                self._read_more()
            elif state == _LN_SIZE or state == _LN_TRAILER:
                self._read_meta_line()
            else:
                self._read_data_end()

    cdef int _consume(self, Py_ssize_t new_pos) except -1:
        """Advance past data up to ``new_pos``; at the end of a chunk's data expect CRLF."""
        if self._chunked:
            self._left -= new_pos - self._pos
            if self._left == 0:
                self._state = _LN_CR
        self._pos = new_pos
        return 0

    cdef int _read_more(self) except -1:
        """Replace the exhausted buffer with the next read; handle EOF."""
        data = self._read1(self._chunk_size)
        if type(data) is not bytes:
            raise TypeError(f"read1 must return bytes, not {type(data).__name__}")
        if PyBytes_GET_SIZE(data):
            self._buf = <bytes>data
            self._pos = 0
            return 0
        if not self._chunked or self._state == _LN_TRAILER:
            self._state = _LN_FLUSH  # a server that closes instead of the final CRLF is tolerated
            return 0
        partial = self._take_pending()
        self._fail()
        raise ChunkedEncodingError(
            "the chunked body ended prematurely, before its terminal chunk", partial
        )

    cdef int _read_meta_line(self) except -1:
        """Consume a chunk-size or trailer line, or the buffered start of one."""
        cdef bytes buf = self._buf
        cdef bytes joined
        cdef const char* base = PyBytes_AS_STRING(buf)
        cdef Py_ssize_t pos = self._pos
        cdef Py_ssize_t end = PyBytes_GET_SIZE(buf)
        cdef const char* hit = <const char*>memchr(base + pos, _LN_NL, <size_t>(end - pos))
        cdef Py_ssize_t stop = end if hit == NULL else hit - base
        cdef const char* p
        cdef Py_ssize_t n, size
        if PyBytes_GET_SIZE(self._meta) + stop - pos > _LN_MAX_LINE + 1:  # + 1: its CR
            what = "chunk size" if self._state == _LN_SIZE else "trailer"
            self._fail()
            raise ChunkedEncodingError(f"{what} line longer than {MAX_CHUNK_LINE} bytes")
        if hit == NULL:
            self._meta += PyBytes_FromStringAndSize(base + pos, end - pos)
            self._pos = end
            return 0
        if PyBytes_GET_SIZE(self._meta):
            joined = self._meta + PyBytes_FromStringAndSize(base + pos, stop - pos)
            self._meta = b""
            p = PyBytes_AS_STRING(joined)
            n = PyBytes_GET_SIZE(joined)
        else:
            p = base + pos
            n = stop - pos
        self._pos = stop + 1
        if n and p[n - 1] == _LN_CRC:
            n -= 1
        if self._state == _LN_TRAILER:
            if n == 0:
                self._end_of_body()
            return 0
        try:
            size = _ln_parse_chunk_size(p, n)
        except ChunkedEncodingError:
            self._fail()
            raise
        if size:
            self._left = size
            self._state = _LN_DATA
        else:
            self._state = _LN_TRAILER
        return 0

    cdef int _read_data_end(self) except -1:
        """Consume the CR or LF that must follow chunk data."""
        cdef char c = PyBytes_AS_STRING(self._buf)[self._pos]
        if c != (_LN_CRC if self._state == _LN_CR else _LN_NL):
            partial = self._take_pending()
            self._fail()
            raise ChunkedEncodingError("chunk data not followed by CRLF", partial)
        self._pos += 1
        self._state = _LN_LF if self._state == _LN_CR else _LN_SIZE
        return 0

    cdef int _end_of_body(self) except -1:
        """The final CRLF was read: nothing may follow it in the buffer."""
        cdef Py_ssize_t extra = PyBytes_GET_SIZE(self._buf) - self._pos
        if extra:
            partial = self._take_pending()
            self._fail()
            raise ChunkedEncodingError(
                f"{extra} unexpected bytes after the end of the chunked body", partial
            )
        self._state = _LN_FLUSH
        return 0

    cdef bytes _take_pending(self):
        """The pieces of the line being read, joined; the pieces are forgotten."""
        cdef bytes line = b"".join(self._pending)
        self._pending.clear()
        return line

    cdef int _fail(self) except -1:
        """Exhaust the iterator after an error, remembering that the body is incomplete."""
        self._state = _LN_FAILED
        self._pending.clear()
        return 0


def recv_waiting(sock, Py_ssize_t size):
    """Up to ``size`` bytes already waiting on the plain socket ``sock``, read without
    releasing the GIL (a system call that does not block); ``None`` when nothing is
    waiting, ``b""`` at end of stream. ``OSError`` on failure, or if ``sock`` is closed.

    A reader that calls this first and falls back to ``sock.recv`` keeps the GIL while
    a backlog lasts, so other threads take it over fewer times per event.
    """
    cdef int fd = sock.fileno()
    cdef ssize_t got
    cdef int err
    cdef object data
    if size < 1:
        raise ValueError("size must be at least 1")
    if fd < 0:
        raise OSError(9, "recv_waiting on a closed socket")
    data = PyBytes_FromStringAndSize(NULL, size)
    got = _ln_recv(fd, PyBytes_AS_STRING(data), <size_t>size, MSG_DONTWAIT)
    if got < 0:
        err = errno
        if err == EAGAIN or err == EINTR:  # EWOULDBLOCK is EAGAIN on Linux
            return None
        raise OSError(err, os_strerror(err))
    if got < size:
        return PyBytes_FromStringAndSize(PyBytes_AS_STRING(data), got)
    return data
