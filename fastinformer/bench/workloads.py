"""The workloads and the writers that drive them from the orchestrator's side.

A workload changes pods in a known way while a contender (another process) watches them:

``sync``        nothing is written; the contender lists everything (see ``contender.py``).
``throughput``  ``--bursts`` bursts (the median is reported), each of N updates of N
                distinct pods in a new random order. On the simulator the pod watches
                are stalled while the burst is committed to its history, then released:
                the server streams the N events as fast as it can and the rate is
                ``N / (last handled - release)``. On a real cluster the burst is sent over
                HTTP by several threads and the rate is ``N / (last handled - first sent)``.
``latency``     updates at a fixed rate for a duration, each stamping ``time.time()`` into
                the annotation :data:`STAMP_ANNOTATION` just before it is written; the
                handler computes ``now - stamp``.
``listers``     nothing is written; the contender queries its cache.
``relist``      (simulator only) K pods change and the history is compacted past them in
                one step, so the open watch gets 410 Expired and only a relist can make
                the cache equal to the server again; the time is from that step until the
                contender's cache holds every pod with its current resourceVersion.

Every update changes only the stamp annotation, whose value always has the same length,
so the pods stay the same size from one contender to the next.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastinformer.sim import Simulator
    from fastinformer.transport import Transport

__all__ = [
    "ALL_WORKLOADS",
    "LATENCY",
    "LISTERS",
    "MUTATING",
    "RELIST",
    "STAMP_ANNOTATION",
    "SYNC",
    "THROUGHPUT",
    "Burst",
    "HttpWriter",
    "PodKey",
    "PodWriter",
    "SimWriter",
    "WriteStats",
    "paced_writes",
    "stamp_value",
]

SYNC = "sync"
THROUGHPUT = "throughput"
LATENCY = "latency"
LISTERS = "listers"
RELIST = "relist"
ALL_WORKLOADS: tuple[str, ...] = (SYNC, THROUGHPUT, LATENCY, LISTERS, RELIST)
MUTATING = frozenset({THROUGHPUT, LATENCY, RELIST})
SIMULATOR_ONLY = frozenset({RELIST})

STAMP_ANNOTATION = "fastinformer.io/bench-sent-at"
"""Annotation holding the wall-clock time (seconds, 6 decimals) an update was written."""

PodKey = tuple[str, str]
"""(namespace, name) of a pod."""

Progress = Callable[[int], None]


def stamp_value() -> str:
    """``time.time()`` as written into :data:`STAMP_ANNOTATION` (fixed width until 2286)."""
    return f"{time.time():.6f}"


def _stamp_patch() -> dict[str, Any]:
    return {"metadata": {"annotations": {STAMP_ANNOTATION: stamp_value()}}}


@dataclass(frozen=True)
class WriteStats:
    """``writes`` committed in ``seconds`` (``rate`` per second); ``target_rate`` when paced."""

    writes: int
    seconds: float
    target_rate: float | None = None

    @property
    def rate(self) -> float:
        return self.writes / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"writes": self.writes, "seconds": self.seconds, "rate": self.rate,
                "target_rate": self.target_rate}


@dataclass(frozen=True)
class Burst:
    """A burst: ``first_sent`` is the wall-clock time the server could start sending it
    (the release of the stall, or the first HTTP write); ``limited`` is True when the
    writes were not all committed by then (the simulator was the bottleneck)."""

    stats: WriteStats
    first_sent: float
    stalled: bool
    limited: bool


class PodWriter:
    """Writes stamp updates to pods; subclasses say how (in-process or over HTTP)."""

    threads = 1
    supports_relist = False

    def stamp(self, key: PodKey) -> str:
        """Write a fresh stamp on ``key`` now; return the pod's new resourceVersion."""
        raise NotImplementedError

    def write_all(self, keys: Sequence[PodKey], progress: Progress | None = None) -> WriteStats:
        """Stamp every key as fast as possible (on :attr:`threads` threads)."""
        started = time.perf_counter()
        _run_sharded(self.threads, keys, self.stamp, progress)
        return WriteStats(len(keys), time.perf_counter() - started)

    def burst(self, keys: Sequence[PodKey], progress: Progress | None = None) -> Burst:
        first = time.time()
        stats = self.write_all(keys, progress)
        return Burst(stats, first, stalled=False, limited=False)

    def expire_watches(self, keys: Sequence[PodKey]) -> tuple[float, dict[str, str]]:
        raise NotImplementedError("only the simulator can expire watches on demand")

    def close(self) -> None:
        """Release connections."""


def _run_sharded(
    threads: int, keys: Sequence[PodKey], func: Callable[[PodKey], object],
    progress: Progress | None,
) -> None:
    """Call ``func`` on every key, spread over ``threads`` threads; re-raise the first error."""
    if threads <= 1:
        for i, key in enumerate(keys):
            func(key)
            if progress is not None and i % 256 == 255:
                progress(256)
        if progress is not None:
            progress(len(keys) % 256)
        return
    lock = threading.Lock()

    def shard(offset: int) -> None:
        for i in range(offset, len(keys), threads):
            func(keys[i])
            if progress is not None:
                with lock:
                    progress(1)

    _fan_out(shard, threads)


def _fan_out(work: Callable[[int], None], threads: int) -> None:
    """Run ``work(0) .. work(threads - 1)`` on daemon threads; re-raise the first error."""
    errors: list[BaseException] = []

    def guarded(offset: int) -> None:
        try:
            work(offset)
        except BaseException as exc:  # handed to the caller
            errors.append(exc)

    workers = [threading.Thread(target=guarded, args=(k,), daemon=True) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise errors[0]


def paced_writes(
    writer: PodWriter,
    keys: Sequence[PodKey],
    rate: float,
    duration: float,
    progress: Progress | None = None,
) -> WriteStats:
    """Stamp pods (cycling through ``keys``) at ``rate`` per second for ``duration`` s.

    Each of the writer's threads follows its own schedule (write ``j`` at ``start +
    j / rate``); a writer that falls behind does not sleep until it catches up, so the
    achieved rate shows when the writer could not keep the pace.
    """
    if rate <= 0 or duration <= 0:
        raise ValueError("rate and duration must be positive")
    if not keys:
        raise ValueError("no pods to write to")
    total = max(1, int(rate * duration))
    threads = max(1, writer.threads)
    start = time.monotonic() + 0.01
    done = [0] * threads

    def run(offset: int) -> None:
        for j in range(offset, total, threads):
            delay = start + j / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            writer.stamp(keys[j % len(keys)])
            done[offset] += 1
            if progress is not None and offset == 0 and j % 64 == 0:
                progress(64)

    _fan_out(run, threads)
    return WriteStats(sum(done), time.monotonic() - start, rate)


class SimWriter(PodWriter):
    """Writes through the embedded simulator's store (no HTTP), as its churn driver does.

    Workaround: the simulator has no call that both changes objects and compacts the
    history atomically, so :meth:`expire_watches` holds ``SimStore._lock`` around both.
    """

    supports_relist = True

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.rate_estimate = 0.0

    def stamp(self, key: PodKey) -> str:
        namespace, name = key
        stored = self.sim.store.patch("pods", name, _stamp_patch(), namespace)
        return stored.resource_version

    def write_all(self, keys: Sequence[PodKey], progress: Progress | None = None) -> WriteStats:
        stats = super().write_all(keys, progress)
        if stats.seconds > 0 and (stats.writes >= 100 or self.rate_estimate <= 0):
            self.rate_estimate = stats.rate
        return stats

    def burst(self, keys: Sequence[PodKey], progress: Progress | None = None) -> Burst:
        """Stall the watches long enough to commit the burst, commit it, let it stream."""
        if self.rate_estimate <= 0:
            self.write_all(keys[: min(len(keys), 500)])
        stall = len(keys) / (self.rate_estimate or 1000.0) * 1.3 + 0.5
        faults = self.sim.faults
        faults.stall_watches(stall)
        release = faults.stall_until
        first_sent = time.time() + (release - time.monotonic())
        stats = self.write_all(keys, progress)
        limited = time.monotonic() > release
        if time.monotonic() < release:
            time.sleep(release - time.monotonic())
        return Burst(stats, first_sent, stalled=True, limited=limited)

    def expire_watches(self, keys: Sequence[PodKey]) -> tuple[float, dict[str, str]]:
        """Change ``keys`` and compact the history past them in one step; return the
        wall-clock time of that step and ``{namespace/name: resourceVersion}`` changed."""
        store = self.sim.store
        with store._lock:  # see the class docstring
            expected = {f"{ns}/{name}": self.stamp((ns, name)) for ns, name in keys}
            store.compact()
            t0 = time.time()
        return t0, expected


class HttpWriter(PodWriter):
    """Writes merge patches over HTTP (a real cluster), on ``threads`` threads."""

    def __init__(self, transport: Transport, threads: int = 8) -> None:
        self.transport = transport
        self.threads = threads

    def stamp(self, key: PodKey) -> str:
        import orjson

        namespace, name = key
        resp = self.transport.request(
            "PATCH", f"/api/v1/namespaces/{namespace}/pods/{name}",
            body=orjson.dumps(_stamp_patch()),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        return str(orjson.loads(resp.data)["metadata"]["resourceVersion"])

    def close(self) -> None:
        self.transport.close()
