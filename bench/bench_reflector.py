"""pyperf benchmarks of the reflector's own cost per event (no network, no decoding).

A lister-watcher serves pre-built events from memory: ``watch-*`` cases push
``--events`` MODIFIED events through a plain watch, ``streaming-*`` cases a streaming
list of that many ADDED events and its end bookmark. The store is either a no-op (the
reflector alone) or the DeltaFIFO of ``--impl`` (c or py). Each loop runs
``Reflector.run`` until the stream is exhausted. Examples::

    python bench/bench_reflector.py --json reflector.json
    python bench/bench_reflector.py --impl py --events 20000 -p 3
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pyperf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fastinformer.protocol import (
    ADDED,
    BOOKMARK,
    MODIFIED,
    ListOptions,
    ListResult,
    WatchEvent,
)
from fastinformer.reflector import Reflector


def make_objects(count: int) -> list[dict[str, Any]]:
    return [
        {"metadata": {"namespace": f"ns-{i % 50}", "name": f"pod-{i}", "resourceVersion": str(i)}}
        for i in range(count)
    ]


class _Stream:
    def __init__(self, events: list[WatchEvent], stop: threading.Event) -> None:
        self._events = events
        self._stop = stop

    def __iter__(self) -> Iterator[WatchEvent]:
        yield from self._events
        self._stop.set()

    def close(self) -> None:
        pass


class _MemoryListerWatcher:
    """Lists nothing; its first watch serves ``events`` then sets ``stop``."""

    def __init__(self, events: list[WatchEvent], stop: threading.Event) -> None:
        self.events = events
        self.stop = stop

    def list(self, options: ListOptions) -> ListResult:
        return ListResult([], "1")

    def watch(self, options: ListOptions) -> _Stream:
        return _Stream(self.events, self.stop)


class _NullStore:
    def add(self, obj: Any) -> None:
        pass

    update = delete = add

    def replace(self, items: list[Any], resource_version: str) -> None:
        pass

    def resync(self) -> None:
        pass


def case(
    events: list[WatchEvent], streaming: bool, store_factory: Callable[[], Any]
) -> Callable[[int], float]:
    def run(loops: int) -> float:
        total = 0.0
        for _ in range(loops):
            stop = threading.Event()
            store = store_factory()
            reflector = Reflector(
                _MemoryListerWatcher(events, stop), store, use_streaming_list=streaming
            )
            t0 = time.perf_counter()
            reflector.run(stop)
            total += time.perf_counter() - t0
            if hasattr(store, "close"):
                store.close()
        return total

    return run


def main() -> None:
    def forward(cmd: list[str], args: Any) -> None:
        cmd.extend(["--impl", args.impl, "--events", str(args.events)])

    runner = pyperf.Runner(add_cmdline_args=forward)
    runner.argparser.add_argument("--impl", choices=("c", "py"), default="c")
    runner.argparser.add_argument("--events", type=int, default=100_000)
    args = runner.parse_args()
    core = importlib.import_module(
        "fastinformer._core_py" if args.impl == "py" else "fastinformer._core"
    )

    objs = make_objects(args.events)
    watch = [WatchEvent(MODIFIED, o, o["metadata"]["resourceVersion"]) for o in objs]
    stream = [WatchEvent(ADDED, o, o["metadata"]["resourceVersion"]) for o in objs]
    stream.append(
        WatchEvent(BOOKMARK, {"metadata": {"resourceVersion": "1"}}, str(args.events), True)
    )
    stores: dict[str, Callable[[], Any]] = {"null": _NullStore, "fifo": core.DeltaFIFO}
    for store_name, factory in stores.items():
        for mode, events, streaming in (("watch", watch, False), ("streaming", stream, True)):
            name = f"reflector-{mode}-{store_name}-{args.impl}-{args.events}"
            runner.bench_time_func(name, case(events, streaming, factory), inner_loops=1)


if __name__ == "__main__":
    main()
