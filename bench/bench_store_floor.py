"""How much of a store update is the reading of the object: a side-by-side measurement.

An ``Indexer.update`` with the namespace, ``app`` label and node name indexes reads four
fields of the object (namespace and name for the key, the ``app`` label, the node name).
On 10,000 pods that are not in the CPU caches, these reads wait for memory whatever the
store does with the values. This script times, in one process and alternating rounds,
on the data of the ``store_update_3_indexes`` cases of ``bench/cases_store.py``:

- ``reads``: a Python loop that only reads those four fields of each object;
- ``update``: ``Indexer.update`` of the compiled core on the same objects, timed as the
  pyperf cases time it (``cases_store.timed_updates``);

over the 10,000 cold pods and over 50 hot ones, in dict and typed mode. Both sides run in
a Python loop, so ``update - reads`` is what the store adds to reading the object, give or
take the difference between the two loops; ``cold - hot`` of each column is the time spent
waiting for memory. Examples::

    python bench/bench_store_floor.py
    python bench/bench_store_floor.py --modes dict --rounds 21
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any, cast

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import cases_store
from fastinformer.decode import DecodeMode

HOT_PODS = 25  # of each version: 50 objects in all, as in store_update_3_indexes_hot


def read_dicts(objs: list[Any]) -> float:
    """Seconds to read the key and index fields of every dict in ``objs``."""
    t0 = time.perf_counter()
    for obj in objs:
        md = obj["metadata"]
        md["namespace"], md["name"], md["labels"]["app"], obj["spec"]["nodeName"]
    return time.perf_counter() - t0


def read_structs(objs: list[Any]) -> float:
    """Seconds to read the key and index fields of every ``Pod`` struct in ``objs``."""
    t0 = time.perf_counter()
    for obj in objs:
        md = obj.metadata
        md.namespace, md.name, md.labels["app"], obj.spec.node_name
    return time.perf_counter() - t0


def measure(mode: DecodeMode, rounds: int) -> dict[str, float]:
    """Median ns per object of each timer, ``rounds`` alternating rounds."""
    from fastinformer import _core

    first, second = cases_store.make_pods()
    old, new = cases_store.decoded(first, mode), cases_store.decoded(second, mode)
    cold = new + old
    hot = (new[:HOT_PODS] + old[:HOT_PODS]) * (len(cold) // (2 * HOT_PODS))
    read = read_dicts if mode == "dict" else read_structs
    timed_updates = cases_store.timed_updates  # a new indexer each time, as the pyperf cases
    timers: dict[str, tuple[Callable[[], float], int]] = {  # name -> (timer, objects timed)
        "reads cold": (lambda: read(cold), len(cold)),
        "update cold": (lambda: timed_updates(_core, old, cold, len(cold)), len(cold)),
        "reads hot": (lambda: read(hot), len(hot)),
        "update hot": (lambda: timed_updates(_core, old[:HOT_PODS], hot, len(hot)), len(hot)),
    }
    samples: dict[str, list[float]] = {name: [] for name in timers}
    names = list(timers)
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            timer, count = timers[name]
            samples[name].append(timer() / count * 1e9)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", default="dict,typed", help="comma-separated: dict, typed")
    parser.add_argument("--rounds", type=int, default=11, help="alternating rounds (default 11)")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if not modes or any(m not in ("dict", "typed") for m in modes) or args.rounds < 1:
        parser.error("--modes takes dict and/or typed; --rounds must be at least 1")
    gc.disable()  # decoded objects are untracked; keep collections out of the timings
    print("| mode | reads cold | update cold | reads hot | update hot | update - reads, cold |")
    print("|---|---|---|---|---|---|")
    for mode in modes:
        m = measure(cast(DecodeMode, mode), args.rounds)
        print(
            f"| {mode} | {m['reads cold']:.0f} ns | {m['update cold']:.0f} ns "
            f"| {m['reads hot']:.0f} ns | {m['update hot']:.0f} ns "
            f"| {m['update cold'] - m['reads cold']:.0f} ns |"
        )


if __name__ == "__main__":
    main()
