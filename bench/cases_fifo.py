"""DeltaFIFO micro-benchmarks (``bench_core.py --cases fifo``), seeded pod-like dicts."""

from __future__ import annotations

import random
import time
from types import ModuleType
from typing import Any

ADD_POP_OBJECTS = 1_000
REPLACE_OBJECTS = 10_000


def _pods(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    namespaces = [f"team-{i}" for i in range(20)]
    return [
        {
            "metadata": {
                "name": f"pod-{i}-{rng.getrandbits(32):08x}",
                "namespace": rng.choice(namespaces),
                "uid": f"{rng.getrandbits(128):032x}",
                "resourceVersion": str(1000 + i),
                "labels": {"app": f"app-{rng.randrange(50)}", "tier": "web"},
            },
            "spec": {"nodeName": f"node-{rng.randrange(100)}"},
            "status": {"phase": "Running"},
        }
        for i in range(count)
    ]


class _Known:
    """Dict-backed known objects (what an informer's indexer offers)."""

    def __init__(self, objects: dict[str, Any]) -> None:
        self._objects = objects

    def list_keys(self) -> list[str]:
        return list(self._objects)

    def get_by_key(self, key: str) -> Any | None:
        return self._objects.get(key)


def _noop(deltas: list[Any], is_in_initial_list: bool) -> None:
    return None


def fifo_add_pop(loops: int, core: ModuleType) -> float:
    """Add 1,000 distinct pods, then pop them all with a trivial process."""
    pods = _pods(ADD_POP_OBJECTS, seed=1)
    delta_fifo = core.DeltaFIFO
    elapsed = 0.0
    for _ in range(loops):
        fifo = delta_fifo()
        add, pop = fifo.add, fifo.pop
        t0 = time.perf_counter()
        for obj in pods:
            add(obj)
        for _ in range(ADD_POP_OBJECTS):
            pop(_noop)
        elapsed += time.perf_counter() - t0
    return elapsed


def fifo_replace_10k(loops: int, core: ModuleType) -> float:
    """Replace with 10,000 pods; known objects hold them and 1,000 gone ones (tombstones)."""
    pods = _pods(REPLACE_OBJECTS, seed=2)
    keys = [core.meta_namespace_key(p) for p in pods]
    known = dict(zip(keys, pods, strict=True))
    for i in range(REPLACE_OBJECTS // 10):
        known[f"gone/pod-{i}"] = {"metadata": {"name": f"pod-{i}", "namespace": "gone"}}
    known_objects = _Known(known)
    elapsed = 0.0
    for _ in range(loops):
        fifo = core.DeltaFIFO(known_objects=known_objects)
        t0 = time.perf_counter()
        fifo.replace(pods, "12345")
        elapsed += time.perf_counter() - t0
    return elapsed


CASES = {"fifo_add_pop": fifo_add_pop, "fifo_replace_10k": fifo_replace_10k}
