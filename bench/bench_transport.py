"""pyperf benchmarks of the HTTP side: the watch line splitter and gzip for lists.

Cases (seeded, synthetic kwok-style pods of ~4.4 KB compact JSON):

- ``iter_lines-64k``: split 2,000 newline-terminated pods delivered in 64 KiB pieces
  (a list-sized stream); ``iter_lines-per-event``: the same, one piece per event (how the
  API server flushes a watch); ``naive-concat-64k``: the obvious ``carry + chunk`` splitter
  on the 64 KiB pieces, for comparison.
- ``iter_lines-reader-*-{c,py}``: :class:`LineReader` of ``--impl`` on the same events in
  HTTP chunked framing, one chunk per event: ``chunked-64k`` reads 64 KiB at a time (a
  burst: many chunks per read), ``chunked-read-per-event`` gets one chunk per read (an
  idle watch); ``raw-64k`` is the body without framing in 64 KiB reads.
- ``iter_lines-http-chunked-urllib3`` / ``iter_lines-http-chunked-reader``: a whole
  chunked HTTP response parsed by http.client from memory and split by urllib3's
  ``read_chunked`` plus ``bytes.split`` (the former path of watches), or by
  :func:`iter_lines` (which reads it raw with the loaded core's :class:`LineReader`).
- ``list-plain`` / ``list-gzip``: GET a 2,000-pod list body from a loopback HTTP server
  through :class:`~fastinformer.transport.Transport`, uncompressed, or gzip level 1 (the
  API server's level) decompressed by urllib3. The body is compressed once up front, so
  ``list-gzip`` is a lower bound: a real server also pays to compress.

    python bench/bench_transport.py --fast --json transport.json
    python bench/bench_transport.py --cases iter_lines --impl py
"""

from __future__ import annotations

import gzip
import http.client
import importlib
import io
import json
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any, cast

import pyperf
import urllib3

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fastinformer.transport import Response, Transport, iter_lines

N_PODS = 2000
CHUNK = 64 * 1024


def make_pod(rng: random.Random, i: int) -> dict[str, Any]:
    """A kwok-style pod of about 4.4 KB compact JSON."""
    a, b, c, d, e = (rng.getrandbits(n) for n in (32, 16, 16, 16, 48))
    uid = f"{a:08x}-{b:04x}-{c:04x}-{d:04x}-{e:012x}"
    name = f"pod-{i:06d}-{rng.getrandbits(24):06x}"
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "namespace": f"ns-{i % 20}",
            "uid": uid,
            "resourceVersion": str(100000 + i),
            "creationTimestamp": "2024-01-01T00:00:00Z",
            "labels": {"app": f"app-{i % 50}", "tier": rng.choice(["web", "db", "cache"])},
            "annotations": {"kwok.x-k8s.io/node": "fake", "note": "x" * rng.randint(200, 400)},
        },
        "spec": {
            "nodeName": f"node-{i % 100}",
            "containers": [
                {
                    "name": f"c{k}",
                    "image": f"registry.example.com/team/app-{i % 50}:v{k}.{rng.randint(0, 99)}",
                    "env": [
                        {"name": f"VAR_{j}", "value": f"{rng.getrandbits(40):x}"} for j in range(12)
                    ],
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                }
                for k in range(3)
            ],
        },
        "status": {
            "phase": "Running",
            "podIP": f"10.{i % 250}.{(i // 250) % 250}.{rng.randint(1, 250)}",
            "conditions": [
                {"type": t, "status": "True", "lastTransitionTime": "2024-01-01T00:00:01Z"}
                for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
            ],
        },
    }


def make_lines() -> list[bytes]:
    rng = random.Random(1234)
    return [json.dumps(make_pod(rng, i), separators=(",", ":")).encode() for i in range(N_PODS)]


class _Pieces:
    def __init__(self, pieces: list[bytes]) -> None:
        self._it = iter(pieces)

    def read1(self, amt: int) -> bytes:
        return next(self._it, b"")


def naive_lines(pieces: list[bytes]) -> Iterator[bytes]:
    carry = b""
    for chunk in pieces:
        buf = carry + chunk
        *lines, carry = buf.split(b"\n")
        yield from (line for line in lines if line)
    if carry:
        yield carry


def _frame(pieces: list[bytes]) -> list[bytes]:
    """``pieces`` as HTTP/1.1 chunks, one each, the last followed by the terminal chunk."""
    framed = [b"%x\r\n%s\r\n" % (len(p), p) for p in pieces]
    framed[-1] += b"0\r\n\r\n"
    return framed


def _reader_case(core: ModuleType, reads: list[bytes], chunked: bool) -> Callable[[int], float]:
    line_reader = core.LineReader

    def run(loops: int) -> float:
        t0 = time.perf_counter()
        for _ in range(loops):
            n = sum(1 for _ in line_reader(_Pieces(reads).read1, chunked, CHUNK))
            assert n == N_PODS
        return time.perf_counter() - t0

    return run


class _MemorySocket:
    """Enough of a socket for http.client to parse a response held in memory."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(io.BytesIO(self._data))


def _memory_response(data: bytes) -> urllib3.HTTPResponse:
    raw = http.client.HTTPResponse(_MemorySocket(data), method="GET")  # type: ignore[arg-type]
    raw.begin()
    return urllib3.HTTPResponse(
        body=raw,
        headers=urllib3.HTTPHeaderDict(raw.msg.items()),
        status=raw.status,
        preload_content=False,
        original_response=raw,
    )


def _http_case(data: bytes, old_path: bool) -> Callable[[int], float]:
    def old_lines(resp: urllib3.HTTPResponse) -> Iterator[bytes]:
        carry: list[bytes] = []
        for chunk in resp.read_chunked(CHUNK):
            *lines, tail = chunk.split(b"\n")
            if lines and carry:
                lines[0] = b"".join([*carry, lines[0]])
                carry.clear()
            yield from (line for line in lines if line)
            if tail:
                carry.append(tail)

    def run(loops: int) -> float:
        elapsed = 0.0
        for _ in range(loops):
            resp = _memory_response(data)
            t0 = time.perf_counter()
            lines = old_lines(resp) if old_path else iter_lines(resp)
            n = sum(1 for _ in lines)
            elapsed += time.perf_counter() - t0
            assert n == N_PODS
        return elapsed

    return run


def _split_case(pieces: list[bytes], naive: bool) -> Callable[[int], float]:
    def run(loops: int) -> float:
        t0 = time.perf_counter()
        for _ in range(loops):
            if naive:
                n = sum(1 for _ in naive_lines(pieces))
            else:
                n = sum(1 for _ in iter_lines(cast(Response, _Pieces(pieces))))
            assert n == N_PODS
        return time.perf_counter() - t0

    return run


class _ListServer:
    """Serves one list body, plain or pre-gzipped as the request asks."""

    def __init__(self, body: bytes) -> None:
        gz = gzip.compress(body, compresslevel=1)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                zipped = "gzip" in (self.headers.get("Accept-Encoding") or "")
                data = gz if zipped else body
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if zipped:
                    self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.sizes = (len(body), len(gz))


def _fetch_case(server: _ListServer, compress: bool) -> Callable[[int], float]:
    from kubernetes import client

    transport = Transport(client.Configuration(host=server.url), compress=compress)

    def run(loops: int) -> float:
        t0 = time.perf_counter()
        for _ in range(loops):
            resp = transport.request("GET", "/api/v1/pods")
            assert len(resp.data) == server.sizes[0]
        return time.perf_counter() - t0

    return run


def _add_args(cmd: list[str], args: Any) -> None:
    cmd.extend(["--impl", args.impl])
    if args.cases:
        cmd.extend(["--cases", args.cases])


def main() -> None:
    runner = pyperf.Runner(add_cmdline_args=_add_args)
    runner.argparser.add_argument("--cases", default="", help="run cases whose name contains this")
    runner.argparser.add_argument(
        "--impl", choices=("c", "py"), default="c", help="core of the iter_lines-reader cases"
    )
    args = runner.parse_args()
    core = importlib.import_module(
        "fastinformer._core_py" if args.impl == "py" else "fastinformer._core"
    )
    lines = make_lines()
    stream = b"".join(line + b"\n" for line in lines)
    pieces_64k = [stream[i : i + CHUNK] for i in range(0, len(stream), CHUNK)]
    per_event = [line + b"\n" for line in lines]
    cases: dict[str, Callable[[int], float]] = {
        "iter_lines-64k": _split_case(pieces_64k, naive=False),
        "iter_lines-per-event": _split_case(per_event, naive=False),
        "naive-concat-64k": _split_case(pieces_64k, naive=True),
    }
    framed_per_event = _frame(per_event)
    framed = b"".join(framed_per_event)
    framed_64k = [framed[i : i + CHUNK] for i in range(0, len(framed), CHUNK)]
    reader_cases = {
        "chunked-64k": _reader_case(core, framed_64k, chunked=True),
        "chunked-read-per-event": _reader_case(core, framed_per_event, chunked=True),
        "raw-64k": _reader_case(core, pieces_64k, chunked=False),
    }
    for name, func in reader_cases.items():
        cases[f"iter_lines-reader-{name}-{args.impl}"] = func
    response = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    response += b"Transfer-Encoding: chunked\r\n\r\n" + framed
    cases["iter_lines-http-chunked-urllib3"] = _http_case(response, old_path=True)
    cases["iter_lines-http-chunked-reader"] = _http_case(response, old_path=False)
    if any(args.cases in name for name in ("list-plain", "list-gzip")):
        body = b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":['
        body += b",".join(lines) + b"]}"
        server = _ListServer(body)
        cases["list-plain"] = _fetch_case(server, compress=False)
        cases["list-gzip"] = _fetch_case(server, compress=True)
        runner.metadata["list_bytes_plain_gzip"] = "{}/{}".format(*server.sizes)
    for name, func in cases.items():
        if args.cases in name:
            runner.bench_time_func(name, func)


if __name__ == "__main__":
    main()
