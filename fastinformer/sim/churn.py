"""A churn driver: a steady or bursty stream of pod writes (status updates, label changes,
creates, deletes) against a :class:`SimStore`, deterministic for a given seed.

:meth:`Churn.step` performs writes synchronously (for tests); :meth:`Churn.start` runs them
in a daemon thread at ``rate`` writes per second, in bursts when ``burst`` is set.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping

from fastinformer.sim.status import StatusError
from fastinformer.sim.store import SimStore, StoredObject

STATUS = "status"
LABELS = "labels"
CREATE = "create"
DELETE = "delete"
DEFAULT_MIX: Mapping[str, float] = {STATUS: 0.6, LABELS: 0.2, CREATE: 0.1, DELETE: 0.1}
_PHASES = ("Pending", "Running", "Succeeded", "Failed")


class Churn:
    """Writes to pods of ``store`` at ``rate`` per second with the ``mix`` of kinds.

    ``burst``: when set, writes come ``burst`` at a time, ``burst / rate`` seconds apart.
    ``namespace``/``node`` restrict which pods are touched and where new ones go.
    """

    def __init__(
        self,
        store: SimStore,
        rate: float = 100.0,
        mix: Mapping[str, float] | None = None,
        *,
        burst: int | None = None,
        seed: int = 0,
        namespace: str | None = None,
    ) -> None:
        mix = dict(DEFAULT_MIX if mix is None else mix)
        unknown = set(mix) - {STATUS, LABELS, CREATE, DELETE}
        if unknown:
            raise ValueError(f"unknown churn kinds: {sorted(unknown)}")
        if rate <= 0 or any(w < 0 for w in mix.values()) or not any(mix.values()):
            raise ValueError("rate and at least one mix weight must be positive")
        if burst is not None and burst < 1:
            raise ValueError("burst must be at least 1")
        self.store = store
        self.rate = rate
        self.burst = burst
        self.namespace = namespace
        self._kinds = list(mix)
        self._weights = [mix[k] for k in self._kinds]
        self._rng = random.Random(seed)
        self._created = 0
        self._seed = seed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.counts: dict[str, int] = dict.fromkeys(self._kinds, 0)

    @property
    def writes(self) -> int:
        return sum(self.counts.values())

    def step(self, n: int = 1) -> int:
        """Perform ``n`` writes now; returns how many succeeded (a pick may find no pod)."""
        done = 0
        for _ in range(n):
            kind = self._rng.choices(self._kinds, self._weights)[0]
            if self._one(kind):
                self.counts[kind] += 1
                done += 1
        return done

    def _pick(self) -> StoredObject | None:
        return self.store.sample("pods", self._rng, self.namespace)

    def _one(self, kind: str) -> bool:
        try:
            if kind == CREATE:
                return self._create()
            stored = self._pick()
            if stored is None:
                return False
            if kind == DELETE:
                self.store.delete("pods", stored.name, stored.namespace)
            elif kind == LABELS:
                value = f"v{self._rng.randrange(1000)}"
                self.store.patch("pods", stored.name,
                                 {"metadata": {"labels": {"churn": value}}}, stored.namespace)
            else:
                phase = self._rng.choice(_PHASES)
                restarts = self._rng.randrange(5)
                self.store.patch(
                    "pods", stored.name,
                    {"status": {"phase": phase, "message": f"churn {restarts}"}},
                    stored.namespace, subresource="status",
                )
        except StatusError:
            return False  # raced with another writer
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
        self.store.create("pods", pod, namespace)
        return True

    # Background thread ----------------------------------------------------------------------

    def start(self) -> Churn:
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

    def _run(self) -> None:
        batch = self.burst or 1
        period = batch / self.rate
        next_time = time.monotonic()
        while not self._stop.is_set():
            self.step(batch)
            next_time += period
            delay = next_time - time.monotonic()
            if delay > 0:
                if self._stop.wait(delay):
                    return
            elif delay < -1.0:
                next_time = time.monotonic()  # fell behind: do not try to catch up
