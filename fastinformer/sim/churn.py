"""A churn driver: a steady or bursty stream of pod writes (status updates, label changes,
creates, deletes) made directly on a :class:`SimStore`, deterministic for a given seed.

:meth:`Churn.step` performs writes synchronously (for tests and bursts); :meth:`Churn.start`
runs them in a daemon thread at ``rate`` writes per second (paced against the clock, so
the average rate holds even though single sleeps overshoot), or as fast as possible with
``rate=None``, until stopped or ``total`` writes are done.

With ``stamp_annotation``, every write also sets that annotation to ``clock.time()`` (the
epoch seconds of ``time.time()``) taken just before the store call, as ``"%.6f"``, so a
client can tell how long each event took to reach it; DELETED events carry the stamp too
(a simulator-only liberty).
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from fastinformer.clock import REAL_CLOCK, Clock
from fastinformer.sim.status import StatusError
from fastinformer.sim.store import SimStore, StoredObject

STATUS = "status"
LABELS = "labels"
CREATE = "create"
DELETE = "delete"
DEFAULT_MIX: Mapping[str, float] = {STATUS: 0.6, LABELS: 0.2, CREATE: 0.1, DELETE: 0.1}
_PHASES = ("Pending", "Running", "Succeeded", "Failed")
_MAX_LAG = 1.0
"""Seconds a paced churn may fall behind before it gives up catching up."""
_CHUNK = 256
"""Writes per notification of the watchers when writing as fast as possible."""
_IDLE = 0.05
"""Seconds a flat-out churn waits when it found nothing to write to."""


@dataclass(frozen=True)
class ChurnStats:
    """What a churn wrote: ``writes`` (successful), per-kind ``counts``, and the
    ``time.time()`` / resourceVersion of the first and last of them (0 when none)."""

    writes: int
    counts: dict[str, int]
    first_time: float
    last_time: float
    first_rv: int
    last_rv: int


class Churn:
    """Writes to pods of ``store`` with the ``mix`` of kinds.

    ``rate``: writes per second for :meth:`start` (None: as fast as possible).
    ``burst``: when set, paced writes come ``burst`` at a time, ``burst / rate`` seconds
    apart. ``total``: :meth:`start` stops by itself after that many writes.
    ``namespace`` restricts which pods are touched and where new ones go.
    ``stamp_annotation``: the annotation carrying each write's send time (see the module).
    ``clock`` paces the thread and stamps the writes.
    """

    def __init__(
        self,
        store: SimStore,
        rate: float | None = 100.0,
        mix: Mapping[str, float] | None = None,
        *,
        burst: int | None = None,
        seed: int = 0,
        namespace: str | None = None,
        total: int | None = None,
        stamp_annotation: str | None = None,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        mix = dict(DEFAULT_MIX if mix is None else mix)
        unknown = set(mix) - {STATUS, LABELS, CREATE, DELETE}
        if unknown:
            raise ValueError(f"unknown churn kinds: {sorted(unknown)}")
        if rate is not None and not 0 < rate < math.inf:
            raise ValueError("rate must be positive and finite (None: as fast as possible)")
        if any(w < 0 for w in mix.values()) or not any(mix.values()):
            raise ValueError("at least one mix weight must be positive, none negative")
        if burst is not None and burst < 1:
            raise ValueError("burst must be at least 1")
        if total is not None and total < 0:
            raise ValueError("total must not be negative")
        if stamp_annotation is not None and not stamp_annotation:
            raise ValueError("stamp_annotation must be a non-empty annotation key")
        self.store = store
        self.rate = rate
        self.burst = burst
        self.total = total
        self.namespace = namespace
        self.stamp_annotation = stamp_annotation
        self.clock = clock
        self._pods = store.resolve("pods")
        self._kinds = list(mix)
        active = [k for k, w in mix.items() if w]
        self._only = active[0] if len(active) == 1 else None
        self._weights = [mix[k] for k in self._kinds]
        self._rng = random.Random(seed)
        self._created = 0
        self._serial = 0
        self._seed = seed
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self.counts: dict[str, int] = dict.fromkeys(self._kinds, 0)
        self.first_time = self.last_time = 0.0
        self.first_rv = self.last_rv = 0

    @property
    def writes(self) -> int:
        return sum(self.counts.values())

    def stats(self) -> ChurnStats:
        """The figures so far (final once :meth:`wait` or :meth:`stop` returned)."""
        return ChurnStats(self.writes, dict(self.counts), self.first_time, self.last_time,
                          self.first_rv, self.last_rv)

    def step(self, n: int = 1) -> int:
        """Perform ``n`` writes now; returns how many succeeded (a pick may find no pod).
        Watchers are woken once per chunk of writes, not per write."""
        done = 0
        rng, kinds, weights, only = self._rng, self._kinds, self._weights, self._only
        counts = self.counts
        for start in range(0, n, _CHUNK):
            with self.store.batch():
                for _ in range(min(_CHUNK, n - start)):
                    kind = only or rng.choices(kinds, weights)[0]
                    if self._one(kind):
                        counts[kind] += 1
                        done += 1
        return done

    def _pick(self) -> StoredObject | None:
        return self.store.sample(self._pods, self._rng, self.namespace)

    def _stamp(self) -> dict[str, str] | None:
        key = self.stamp_annotation
        if key is None:
            return None
        now = round(self.clock.time(), 6)  # what the stamp says
        if not self.first_time:
            self.first_time = now
        self.last_time = now
        return {key: f"{now:.6f}"}

    def _wrote(self, stored: StoredObject) -> None:
        if not self.first_rv:
            self.first_rv = stored.rv
        self.last_rv = stored.rv
        if self.stamp_annotation is None:
            now = self.clock.time()
            if not self.first_time:
                self.first_time = now
            self.last_time = now

    def _one(self, kind: str) -> bool:
        store, pods, rng = self.store, self._pods, self._rng
        try:
            if kind == CREATE:
                return self._create()
            stored = self._pick()
            if stored is None:
                return False
            name, namespace = stored.name, stored.namespace
            if kind == DELETE:
                self._wrote(store.delete(pods, name, namespace, annotate=self._stamp()))
                return True
            self._serial += 1  # every update changes something, so every write is an event
            if kind == LABELS:
                value = f"v{rng.randrange(1000)}-{self._serial}"
                meta: dict[str, object] = {"labels": {"churn": value}}
                patch: dict[str, object] = {"metadata": meta}
            else:
                phase = rng.choice(_PHASES)
                message = f"churn {rng.randrange(5)} #{self._serial}"
                meta = {}
                patch = {"status": {"phase": phase, "message": message}}
            stamp = self._stamp()
            if stamp is not None:
                meta["annotations"] = stamp
                patch["metadata"] = meta
            written = store.merge(pods, name, patch, namespace)
        except StatusError:
            return False  # raced with another writer
        if written is stored:
            return False
        self._wrote(written)
        return True

    def _create(self) -> bool:
        from fastinformer.sim.populate import make_pod

        self._created += 1
        namespace = self.namespace or "default"
        picked = self.store.sample("nodes", self._rng)
        node = picked.name if picked is not None else "kwok-node-0"
        pod = make_pod(10_000_000 + self._seed * 1_000_000 + self._created, node, namespace,
                       self._seed)
        meta = pod.setdefault("metadata", {})
        meta["name"] = f"churn-{self._seed}-{self._created}"
        meta["namespace"] = namespace
        if self.store.get_stored_or_none("namespaces", namespace) is None:
            self.store.create("namespaces", {"metadata": {"name": namespace}})
        stamp = self._stamp()
        if stamp is not None:
            meta["annotations"] = {**(meta.get("annotations") or {}), **stamp}
        self._wrote(self.store.create(self._pods, pod, namespace))
        return True

    # Background thread ----------------------------------------------------------------------

    def start(self) -> Churn:
        """Write in a daemon thread (see the class); returns self."""
        if self._thread is not None:
            raise RuntimeError("churn already started")
        self._thread = threading.Thread(target=self._run, name="fastinformer-sim-churn",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the thread finished (``total`` reached or stopped); False on timeout."""
        if self._thread is None:
            raise RuntimeError("churn not started")
        return self._done.wait(timeout)

    def _remaining(self) -> int | None:
        return None if self.total is None else self.total - self.writes

    def _run(self) -> None:
        try:
            if self.rate is None:
                self._run_flat_out()
            else:
                self._run_paced(self.rate)
        finally:
            self._done.set()

    def _run_flat_out(self) -> None:
        while not self._stop.is_set():
            remaining = self._remaining()
            if remaining is not None and remaining <= 0:
                return
            if not self.step(_CHUNK if remaining is None else min(_CHUNK, remaining)):
                self.clock.sleep(_IDLE, self._stop)  # nothing to write to (no pods)

    def _run_paced(self, rate: float) -> None:
        """Batch ``k`` is due ``k * batch / rate`` seconds after the start; every wake-up
        performs the batches due by then, so oversleeping never lowers the rate."""
        batch = self.burst or 1
        period = batch / rate
        clock, stop = self.clock, self._stop
        start = clock.now()
        issued = 0
        while not stop.is_set():
            remaining = self._remaining()
            if remaining is not None and remaining <= 0:
                return
            now = clock.now()
            due = int((now - start) / period) + 1 - issued
            if due > 0:
                if due * period > _MAX_LAG:  # fell behind: do not try to catch up
                    start, issued, due = now, 0, 1
                n = due * batch
                self.step(n if remaining is None else min(n, remaining))
                issued += due
            else:
                clock.sleep(start + issued * period - now, stop)
