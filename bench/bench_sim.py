"""How fast the embedded simulator serves and writes: a big list, a watch backlog, live
events under churn, the churn driver's steady and burst rates, and the memory it holds.

    python bench/bench_sim.py --pods 100000 --events 100000 [--json out.json]

Every HTTP client is a raw socket reader in a separate process (counting bytes, or watch
lines), so the figures are the simulator's, not the client's nor the GIL's. Seeded and
deterministic in content; figures are wall-clock on this machine.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import socket
import threading
import time
import tracemalloc
from multiprocessing.connection import Connection
from typing import Any

from fastinformer.sim import Simulator
from fastinformer.sim.churn import STATUS, Churn

STAMP = "fastinformer.io/sent-at"


# Client processes ---------------------------------------------------------------------------


def _request(port: int, path: str, close: bool) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    connection = "Connection: close\r\n" if close else ""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: sim\r\nAccept: application/json\r\n"
                 f"{connection}\r\n".encode())
    return sock


def read_body(port: int, path: str, out: Connection) -> None:
    """Read a whole response (the server closes the connection); send (bytes, seconds)."""
    start = time.monotonic()
    sock = _request(port, path, close=True)
    size = 0
    buf = bytearray(1 << 20)
    while True:
        n = sock.recv_into(buf)
        if not n:
            break
        size += n
    out.send((size, time.monotonic() - start))
    sock.close()


def count_lines(port: int, path: str, wanted: int, out: Connection) -> None:
    """Read a watch until ``wanted`` lines arrived (or 30 s of silence).

    Sends ``("ready", t)`` once the response headers arrived, then ``(lines, t_request,
    t_first_line, t_last_line)``, times from ``time.monotonic()`` (shared by processes).
    """
    t_request = time.monotonic()
    sock = _request(port, path, close=False)
    sock.settimeout(30)
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(1 << 16)
        if not data:
            break
        head += data
    out.send(("ready", time.monotonic()))
    # Lines end with "}\n" (compact JSON has no other newline after "}"; chunk framing
    # uses "\r\n"); a marker split across two reads is counted through ``tail``.
    body = head.partition(b"\r\n\r\n")[2]
    seen = body.count(b"}\n")
    t_first = t_last = time.monotonic() if seen else 0.0
    tail = body[-1:]
    try:
        while seen < wanted:
            data = sock.recv(1 << 20)
            if not data:
                break
            found = (tail + data[:1]).count(b"}\n") + data.count(b"}\n")
            if found:
                t_last = time.monotonic()
                if not seen:
                    t_first = t_last
                seen += found
            tail = data[-1:]
    except TimeoutError:
        pass
    out.send((seen, t_request, t_first, t_last))
    sock.close()


class Reader:
    """A client process; ``result()`` waits for its figures."""

    def __init__(self, target: Any, *args: Any) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=target, args=(*args, send), daemon=True)
        self._proc.start()
        send.close()

    def ready(self) -> float:
        tag, when = self._recv.recv()
        assert tag == "ready"
        return float(when)

    def result(self) -> Any:
        value = self._recv.recv()
        if value and value[0] == "ready":
            value = self._recv.recv()
        self._proc.join(30)
        return value


def watch_path(rv: int) -> str:
    return f"/api/v1/pods?watch=1&resourceVersion={rv}"


# Benchmarks ---------------------------------------------------------------------------------


def populate(sim: Simulator, args: argparse.Namespace, results: dict[str, Any]) -> None:
    from fastinformer.sim.populate import generate

    start = time.perf_counter()
    population = generate(args.nodes, args.pods, 10, args.seed)
    results["generate_s"] = time.perf_counter() - start
    sim.store.load("namespaces", population.namespaces)
    gc.collect()
    tracemalloc.start()
    start = time.perf_counter()
    sim.store.load("nodes", population.nodes)
    sim.store.load("pods", population.pods)
    results["load_s (traced)"] = time.perf_counter() - start
    del population
    gc.collect()
    held, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    pods_type = sim.store.resolve("pods")
    json_size = sum(len(s.full_json()) for s in sim.store.page(pods_type).items)
    results["json_bytes_per_pod"] = json_size / args.pods
    results["held_bytes_per_pod"] = held / args.pods
    results["held_over_json"] = held / json_size


def bench_list(sim: Simulator, results: dict[str, Any]) -> None:
    size, elapsed = Reader(read_body, sim.port, "/api/v1/pods?resourceVersion=0").result()
    results["list_s"] = elapsed
    results["list_mb_per_s"] = size / elapsed / 1e6
    _size, elapsed = Reader(read_body, sim.port, "/api/v1/pods?limit=500").result()
    results["list_first_page_s"] = elapsed


def bench_backlog(sim: Simulator, events: int, results: dict[str, Any]) -> None:
    """Status patches through ``SimStore.patch``, then one watch reading them all."""
    store = sim.store
    pods_type = store.resolve("pods")
    pods = store.page(pods_type).items
    rv = store.resource_version
    start = time.perf_counter()
    for i in range(events):
        stored = pods[i % len(pods)]
        store.patch(pods_type, stored.name, {"status": {"message": f"m{i}"}},
                    stored.namespace, subresource="status")
    results["patch_per_s"] = events / (time.perf_counter() - start)
    seen, t_request, _t_first, t_last = Reader(
        count_lines, sim.port, watch_path(rv), events).result()
    results["watch_backlog_events"] = seen
    results["watch_backlog_events_per_s"] = seen / (t_last - t_request)


def bench_churn_burst(sim: Simulator, events: int, results: dict[str, Any]) -> None:
    """Stamped status churn, synchronous, as fast as possible (no watcher)."""
    churn = Churn(sim.store, mix={STATUS: 1.0}, seed=1, stamp_annotation=STAMP)
    start = time.perf_counter()
    churn.step(events)
    results["churn_burst_per_s"] = churn.writes / (time.perf_counter() - start)


def bench_live(sim: Simulator, events: int, results: dict[str, Any]) -> None:
    """A burst of stamped churn in a thread while one watch follows it."""
    rv = sim.store.resource_version
    reader = Reader(count_lines, sim.port, watch_path(rv), events)
    reader.ready()
    churn = Churn(sim.store, rate=None, total=events, mix={STATUS: 1.0}, seed=2,
                  stamp_annotation=STAMP).start()
    churn.wait(120)
    seen, _t_request, t_first, t_last = reader.result()
    stats = churn.stats()
    results["live_churn_writes_per_s"] = stats.writes / (stats.last_time - stats.first_time)
    results["live_watch_events"] = seen
    results["live_watch_events_per_s"] = seen / (t_last - t_first)


def bench_steady(sim: Simulator, rate: float, seconds: float, results: dict[str, Any]) -> None:
    """Paced stamped churn at ``rate`` while one watch follows it."""
    total = int(rate * seconds)
    rv = sim.store.resource_version
    reader = Reader(count_lines, sim.port, watch_path(rv), total)
    reader.ready()
    churn = Churn(sim.store, rate=rate, total=total, mix={STATUS: 1.0}, seed=3,
                  stamp_annotation=STAMP).start()
    churn.wait(seconds * 4 + 30)
    seen, _t_request, t_first, t_last = reader.result()
    stats = churn.stats()
    achieved = (stats.writes - 1) / (stats.last_time - stats.first_time)
    results[f"steady_{rate:g}_writes_per_s"] = achieved
    results[f"steady_{rate:g}_rate_error_pct"] = 100 * (achieved - rate) / rate
    results[f"steady_{rate:g}_watch_events"] = seen
    results[f"steady_{rate:g}_watch_events_per_s"] = (seen - 1) / (t_last - t_first)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pods", type=int, default=100_000)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=5000.0, help="steady churn rate")
    parser.add_argument("--seconds", type=float, default=5.0, help="steady churn duration")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write the figures to this file")
    args = parser.parse_args()
    results: dict[str, Any] = {"pods": args.pods, "events": args.events}
    history = max(args.events * 4 + int(args.rate * args.seconds), 1000)
    with Simulator(token=None, history=history) as sim:
        populate(sim, args, results)
        bench_list(sim, results)
        bench_backlog(sim, args.events, results)
        bench_churn_burst(sim, args.events, results)
        bench_live(sim, args.events, results)
        bench_steady(sim, args.rate, args.seconds, results)
    for key, value in results.items():
        print(f"{key:34} {value:,.3f}" if isinstance(value, float) else f"{key:34} {value:,}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
