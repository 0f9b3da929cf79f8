"""How fast the embedded simulator serves: a big list, a watch backlog, live events, and
the memory it holds per object.

    python bench/bench_sim.py --pods 100000 --events 200000 [--json out.json]

Seeded and deterministic in content; figures are wall-clock on this machine.
"""

from __future__ import annotations

import argparse
import gc
import json
import socket
import threading
import time
import tracemalloc
from typing import Any

import urllib3

from fastinformer.sim import Simulator


def read_all(http: urllib3.PoolManager, url: str, headers: dict[str, str]) -> tuple[int, float]:
    start = time.perf_counter()
    resp = http.request("GET", url, headers=headers, preload_content=False)
    size = 0
    for chunk in resp.stream(1 << 20):
        size += len(chunk)
    resp.release_conn()
    return size, time.perf_counter() - start


def count_lines(port: int, path: str, wanted: int) -> tuple[int, float]:
    """Read a watch over a raw socket (the client must not be the bottleneck)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: sim\r\nAccept: application/json\r\n\r\n"
                 .encode())
    start = time.perf_counter()
    seen = 0
    tail = b""
    while seen < wanted:
        data = sock.recv(1 << 20)
        if not data:
            break
        # Lines end with "}\n" (compact JSON has no other newline after "}"; chunk framing
        # uses "\r\n"); a marker split across two reads is counted through ``tail``.
        seen += (tail + data[:1]).count(b"}\n") + data.count(b"}\n")
        tail = data[-1:]
    elapsed = time.perf_counter() - start
    sock.close()
    return seen, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pods", type=int, default=100_000)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write the figures to this file")
    args = parser.parse_args()
    results: dict[str, Any] = {"pods": args.pods, "events": args.events}
    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=5, read=120))
    with Simulator(token=None, history=max(args.events * 2, 1000)) as sim:
        from fastinformer.sim.populate import generate

        start = time.perf_counter()
        population = generate(args.nodes, args.pods, 10, args.seed)
        results["generate_s"] = time.perf_counter() - start
        gc.collect()
        tracemalloc.start()
        start = time.perf_counter()
        sim.store.load("nodes", population.nodes)
        sim.store.load("pods", population.pods)
        results["load_s"] = time.perf_counter() - start
        del population
        gc.collect()
        held, _peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        pods_type = sim.store.resolve("pods")
        json_size = sum(len(s.full_json()) for s in sim.store.page(pods_type).items)
        results["json_bytes_per_pod"] = json_size / args.pods
        results["held_bytes_per_pod"] = held / args.pods
        results["held_over_json"] = held / json_size

        headers = {"Accept": "application/json"}
        size, elapsed = read_all(http, sim.url + "/api/v1/pods?resourceVersion=0", headers)
        results["list_s"] = elapsed
        results["list_mb_per_s"] = size / elapsed / 1e6
        size, elapsed = read_all(http, sim.url + "/api/v1/pods?limit=500", headers)
        results["list_first_page_s"] = elapsed

        # A backlog of status updates, then one watch reading them all from the old version.
        rv = sim.store.resource_version
        pods = sim.store.page(pods_type).items
        start = time.perf_counter()
        for i in range(args.events):
            stored = pods[i % len(pods)]
            sim.store.patch(pods_type, stored.name, {"status": {"message": f"m{i}"}},
                            stored.namespace, subresource="status")
        results["write_per_s"] = args.events / (time.perf_counter() - start)
        seen, elapsed = count_lines(sim.port, f"/api/v1/pods?watch=1&resourceVersion={rv}",
                                    args.events)
        results["watch_backlog_events_per_s"] = seen / elapsed

        # Live: a writer thread and a watcher at the same time.
        rv = sim.store.resource_version
        live = args.events // 4

        def write() -> None:
            for i in range(live):
                stored = pods[i % len(pods)]
                sim.store.patch(pods_type, stored.name, {"status": {"message": f"l{i}"}},
                                stored.namespace, subresource="status")

        writer = threading.Thread(target=write)
        writer.start()
        seen, elapsed = count_lines(sim.port, f"/api/v1/pods?watch=1&resourceVersion={rv}",
                                    live)
        writer.join()
        results["watch_live_events"] = seen
        results["watch_live_events_per_s"] = seen / elapsed
    for key, value in results.items():
        print(f"{key:28} {value:,.3f}" if isinstance(value, float) else f"{key:28} {value:,}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
