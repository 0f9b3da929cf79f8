"""pyperf benchmarks of the HTTP side: the watch line splitter and gzip for lists.

Cases (seeded, synthetic kwok-style pods of ~4.4 KB compact JSON):

- ``iter_lines-64k``: split 2,000 newline-terminated pods delivered in 64 KiB pieces
  (a list-sized stream); ``iter_lines-per-event``: the same, one piece per event (how the
  API server flushes a watch); ``naive-concat-64k``: the obvious ``carry + chunk`` splitter
  on the 64 KiB pieces, for comparison.
- ``list-plain`` / ``list-gzip``: GET a 2,000-pod list body from a loopback HTTP server
  through :class:`~fastinformer.transport.Transport`, uncompressed, or gzip level 1 (the
  API server's level) decompressed by urllib3. The body is compressed once up front, so
  ``list-gzip`` is a lower bound: a real server also pays to compress.

    python bench/bench_transport.py --fast --json transport.json
    python bench/bench_transport.py --cases iter_lines
"""

from __future__ import annotations

import gzip
import json
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import pyperf

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
    if args.cases:
        cmd.extend(["--cases", args.cases])


def main() -> None:
    runner = pyperf.Runner(add_cmdline_args=_add_args)
    runner.argparser.add_argument("--cases", default="", help="run cases whose name contains this")
    args = runner.parse_args()
    lines = make_lines()
    stream = b"".join(line + b"\n" for line in lines)
    pieces_64k = [stream[i : i + CHUNK] for i in range(0, len(stream), CHUNK)]
    per_event = [line + b"\n" for line in lines]
    cases: dict[str, Callable[[int], float]] = {
        "iter_lines-64k": _split_case(pieces_64k, naive=False),
        "iter_lines-per-event": _split_case(per_event, naive=False),
        "naive-concat-64k": _split_case(pieces_64k, naive=True),
    }
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
