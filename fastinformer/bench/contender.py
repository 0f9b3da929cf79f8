"""One contender's process: ``python -m fastinformer.bench.contender NAME --kubeconfig PATH``.

Talks JSON lines with the orchestrator: commands on stdin, one reply per command on
stdout (lines that are not JSON objects, e.g. from a profiler, are to be ignored).
Every time and RSS figure is taken here, around the contender's own calls, in the same
way for every contender.

Commands (``cmd``) and replies (``event``):

``sync``         -> ``synced``: seconds, objects, rss_before, rss_after, peak_rss,
                    bytes_per_object, handler_settled_seconds, extra
``arm``          -> ``armed`` (the update counter restarts)
``collect``      -> ``collected``: count, first, last, latency summary (waits for
                    ``expect`` updates at most ``timeout`` seconds)
``await_state``  -> ``armed``, then ``state``: reached (wall clock) once the cache holds
                    ``count`` objects and every key of ``expect`` at its resourceVersion
``listers``      -> ``listers``: per query ops/s
``stop``         -> ``stopped``, then the process exits
Any failure answers ``error`` with a message.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from typing import IO, Any

from fastinformer.bench.contenders import CONTENDERS, Contender, ContenderError, wait_until
from fastinformer.bench.measure import (
    peak_rss_bytes,
    reset_peak_rss,
    rss_bytes,
    summarize_latencies,
)


def _send(out: IO[str], event: str, **fields: Any) -> None:
    out.write(json.dumps({"event": event, **fields}) + "\n")
    out.flush()


def _sync(contender: Contender) -> dict[str, Any]:
    gc.collect()
    reset_peak_rss()
    before = rss_bytes()
    started = time.perf_counter()
    objects = contender.sync()
    seconds = time.perf_counter() - started
    contender.settle()
    settled = time.perf_counter() - started
    gc.collect()
    after = rss_bytes()
    return {
        "seconds": seconds,
        "objects": objects,
        "rss_before": before,
        "rss_after": after,
        "peak_rss": peak_rss_bytes(),
        "bytes_per_object": (after - before) / objects if objects else None,
        "handler_settled_seconds": settled,
        "extra": contender.extra,
    }


def _collect(contender: Contender, expect: int, timeout: float) -> dict[str, Any]:
    counter = contender.counter
    try:
        wait_until(lambda: counter.count >= expect, timeout, f"{expect} updates")
        complete = True
    except ContenderError:
        complete = False
    counter.armed = False
    return {
        "count": counter.count,
        "complete": complete,
        "first": counter.first,
        "last": counter.last,
        "latency": summarize_latencies(counter.latencies),
    }


def _await_state(
    contender: Contender, expect: dict[str, str], count: int, timeout: float
) -> float:
    def equal() -> bool:
        for key, rv in expect.items():
            if contender.cached_resource_version(key) != rv:
                return False
        return contender.cached_count() == count

    wait_until(equal, timeout, "cache equal to the server")
    return time.time()


def serve(
    contender: Contender, stdin: IO[str], stdout: IO[str], freeze_gc: bool = False
) -> int:
    """Answer the orchestrator's commands until ``stop`` or end of input.

    With ``freeze_gc`` (the contender's own process does it, for every contender alike)
    the process's objects are moved to the GC's permanent generation after ``prepare``
    (imports, clients, handlers): full collections then walk only what the contender
    allocates from the sync on, not the modules it imported.
    """
    contender.prepare()
    if freeze_gc:
        gc.collect()
        gc.freeze()
    _send(stdout, "ready", pid=os.getpid(), name=contender.name, rss=rss_bytes())
    for line in stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        cmd = command.get("cmd")
        try:
            if cmd == "sync":
                _send(stdout, "synced", **_sync(contender))
            elif cmd == "arm":
                contender.counter.arm()
                _send(stdout, "armed")
            elif cmd == "collect":
                _send(stdout, "collected",
                      **_collect(contender, int(command["expect"]), float(command["timeout"])))
            elif cmd == "await_state":
                _send(stdout, "armed")
                reached = _await_state(contender, dict(command["expect"]),
                                       int(command["count"]), float(command["timeout"]))
                _send(stdout, "state", reached=reached)
            elif cmd == "listers":
                _send(stdout, "listers",
                      **contender.listers(float(command["seconds"]), command["params"]))
            elif cmd == "stop":
                contender.close()
                _send(stdout, "stopped")
                return 0
            else:
                _send(stdout, "error", message=f"unknown command {cmd!r}")
        except Exception as exc:
            _send(stdout, "error", message=f"{type(exc).__name__}: {exc}")
    contender.close()
    return 0


def _cpu_set(text: str) -> set[int]:
    try:
        cpus = {int(part) for part in text.split(",") if part.strip()}
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of CPU numbers: {text!r}") from None
    if not cpus or min(cpus) < 0:
        raise argparse.ArgumentTypeError(f"not a list of CPU numbers: {text!r}")
    return cpus


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastinformer.bench.contender")
    parser.add_argument("name", choices=sorted(CONTENDERS))
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--context", default=None)
    parser.add_argument("--sync-timeout", type=float, default=300.0)
    parser.add_argument("--cpus", type=_cpu_set, default=None,
                        help="comma-separated CPUs to run on (set before any thread starts)")
    args = parser.parse_args(argv)
    if args.cpus:
        os.sched_setaffinity(0, args.cpus)
    contender = CONTENDERS[args.name](args.kubeconfig, args.context, args.sync_timeout)
    try:
        return serve(contender, sys.stdin, sys.stdout, freeze_gc=True)
    except Exception as exc:
        _send(sys.stdout, "error", message=f"{type(exc).__name__}: {exc}",
              python=platform.python_version())
        return 1


if __name__ == "__main__":
    sys.exit(main())
