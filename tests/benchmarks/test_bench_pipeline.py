"""pytest-benchmark suite: decoding, store operations and the whole informer pipeline.

Run with ``pytest tests/benchmarks`` (not part of the default test run); add
``--benchmark-json out.json`` to keep the figures. Seeded data, no network.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from fastinformer.decode import decoder_for
from fastinformer.informer import SharedIndexInformer
from fastinformer.protocol import ListOptions, ListResult, WatchEvent
from fastinformer.resources import resource_for
from fastinformer.store import Indexer

MODES = ["typed", "dict"]


def _record_rate(benchmark: Any, name: str, count: int) -> None:
    """``extra_info[name]``: ``count`` per mean second, when timings were taken (with
    ``--benchmark-disable`` each body runs once untimed and there is nothing to record)."""
    if benchmark.stats is not None:
        benchmark.extra_info[name] = count / benchmark.stats["mean"]


@pytest.mark.parametrize("mode", MODES)
def test_decode_one_watch_event(benchmark: Any, mode: str, update_lines: list[bytes]) -> None:
    decoder = decoder_for(resource_for("pods"), mode=mode)  # type: ignore[arg-type]
    event = benchmark(decoder.decode_event, update_lines[0])
    assert event.type == "MODIFIED"


@pytest.mark.parametrize("mode", MODES)
def test_decode_a_list_of_ten_thousand_pods(benchmark: Any, mode: str, list_body: bytes) -> None:
    decoder = decoder_for(resource_for("pods"), mode=mode)  # type: ignore[arg-type]
    items, _ = benchmark.pedantic(decoder.decode_list, args=(list_body,), rounds=5, warmup_rounds=1)
    assert len(items) == 10_000
    _record_rate(benchmark, "pods_per_second", len(items))


def test_indexer_updates_with_the_namespace_index(benchmark: Any, list_body: bytes) -> None:
    decoder = decoder_for(resource_for("pods"), mode="typed")
    items, _ = decoder.decode_list(list_body)
    indexer = Indexer()
    indexer.replace(items, "1")
    batch = items[:1000]

    def update_all() -> None:
        for obj in batch:
            indexer.update(obj)

    benchmark(update_all)
    assert len(indexer) == len(items)


class _MemoryListerWatcher:
    """Lists decoded pods; each watch replays ``lines`` (decoded one by one, as from the
    wire) once ``gate`` is set, then stays open until closed."""

    def __init__(self, items: list[Any], rv: str, lines: list[bytes], mode: str) -> None:
        self.items = items
        self.rv = rv
        self.lines = lines
        self.decoder = decoder_for(resource_for("pods"), mode=mode)  # type: ignore[arg-type]
        self.gate = threading.Event()

    def list(self, options: ListOptions) -> ListResult:
        return ListResult(items=list(self.items), resource_version=self.rv)

    def watch(self, options: ListOptions) -> _Stream:
        return _Stream(self)


class _Stream:
    def __init__(self, lw: _MemoryListerWatcher) -> None:
        self.lw = lw
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[WatchEvent]:
        self.lw.gate.wait()
        decode = self.lw.decoder.decode_event
        for line in self.lw.lines:
            if self.closed.is_set():
                return
            yield decode(line)
        self.closed.wait()

    def close(self) -> None:
        self.closed.set()
        self.lw.gate.set()


@pytest.mark.parametrize("mode", MODES)
def test_informer_pipeline_events_per_second(
    benchmark: Any, mode: str, list_body: bytes, update_lines: list[bytes]
) -> None:
    """bytes -> decode -> DeltaFIFO -> indexer -> handler, for 10,000 updates of a 10,000
    pod cache; the time is from releasing the watch to the last handler call."""
    decoder = decoder_for(resource_for("pods"), mode=mode)  # type: ignore[arg-type]
    items, meta = decoder.decode_list(list_body)
    running: list[SharedIndexInformer] = []
    handled = [0]
    done = threading.Event()
    wanted = len(update_lines)

    def on_update(old: Any, new: Any) -> None:
        handled[0] += 1
        if handled[0] == wanted:
            done.set()

    def setup() -> tuple[tuple[_MemoryListerWatcher], dict[str, Any]]:
        for informer in running:
            informer.stop()
        running.clear()
        lw = _MemoryListerWatcher(items, meta.resource_version, update_lines, mode)
        informer = SharedIndexInformer(lw, reflector_options={"use_streaming_list": False})
        registration = informer.add_event_handler(on_update=on_update)
        informer.start()
        running.append(informer)
        assert informer.wait_for_cache_sync(60)
        while not registration.has_synced():
            done.wait(0.01)
        handled[0] = 0
        done.clear()
        return (lw,), {}

    def release(lw: _MemoryListerWatcher) -> None:
        lw.gate.set()
        assert done.wait(120), f"only {handled[0]} of {wanted} updates handled"

    try:
        benchmark.pedantic(release, setup=setup, rounds=3)
    finally:
        for informer in running:
            informer.stop()
    _record_rate(benchmark, "events_per_second", wanted)


class _PacedStream:
    """A watch whose lines are handed over by a pacer thread (see the latency test)."""

    def __init__(self, decode: Any) -> None:
        self.decode = decode
        self.cond = threading.Condition()
        self.lines: list[bytes] = []
        self.closed = False

    def __iter__(self) -> Iterator[WatchEvent]:
        while True:
            with self.cond:
                while not self.lines and not self.closed:
                    self.cond.wait()
                if self.closed:
                    return
                batch, self.lines = self.lines, []
            for line in batch:
                yield self.decode(line)

    def push(self, line: bytes) -> None:
        with self.cond:
            self.lines.append(line)
            self.cond.notify()

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify()


def test_informer_pipeline_latency_at_5000_events_per_second(
    benchmark: Any, list_body: bytes, pods: list[dict[str, Any]]
) -> None:
    """Handler latency (from handing the line to the watch stream) for 10,000 updates
    paced at 5,000/s with 10,000 pods cached, typed mode: p50/p90/p99/max in extra_info.
    No network: this is the informer's own share of the wire-to-handler latency."""
    import orjson

    rate, count = 5000, 10_000
    decoder = decoder_for(resource_for("pods"), mode="typed")
    items, meta = decoder.decode_list(list_body)
    lines = []
    for j in range(count):
        pod = pods[j % len(pods)]
        md = {
            **pod["metadata"],
            "resourceVersion": str(100_000 + j),
            "annotations": {"bench/seq": str(j)},
        }
        lines.append(orjson.dumps({"type": "MODIFIED", "object": {**pod, "metadata": md}}))
    stream = _PacedStream(decoder.decode_event)

    class PacedListerWatcher:
        def list(self, options: ListOptions) -> ListResult:
            return ListResult(items=list(items), resource_version=meta.resource_version)

        def watch(self, options: ListOptions) -> _PacedStream:
            return stream

    sent = [0.0] * count
    latencies: list[float] = []
    done = threading.Event()

    def on_update(old: Any, new: Any) -> None:
        latencies.append(time.perf_counter() - sent[int(new.metadata.annotations["bench/seq"])])
        if len(latencies) == count:
            done.set()

    informer = SharedIndexInformer(
        PacedListerWatcher(), reflector_options={"use_streaming_list": False}
    )
    registration = informer.add_event_handler(on_update=on_update)
    informer.start()

    def run() -> None:
        start = time.perf_counter()
        for j, line in enumerate(lines):
            due = start + j / rate
            while (now := time.perf_counter()) < due:
                time.sleep(min(0.0005, due - now))
            sent[j] = time.perf_counter()
            stream.push(line)
        assert done.wait(60), f"only {len(latencies)} of {count} updates handled"

    try:
        assert informer.wait_for_cache_sync(60)
        while not registration.has_synced():
            done.wait(0.01)
        benchmark.pedantic(run, rounds=1)
    finally:
        informer.stop()
    latencies.sort()
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        benchmark.extra_info[f"{name}_ms"] = latencies[int(q * (count - 1))] * 1e3
    benchmark.extra_info["max_ms"] = latencies[-1] * 1e3
