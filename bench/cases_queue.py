"""Work queue benchmark: one add/get/done cycle of a plain queue."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from types import ModuleType


def _keys(n: int) -> list[str]:
    rng = random.Random(42)
    return [f"ns-{rng.randrange(50)}/pod-{rng.randrange(1_000_000)}" for _ in range(n)]


def workqueue_add_get_done(loops: int, core: ModuleType) -> float:
    """``loops`` cycles of add(key), get(), done(key) on an unnamed queue, one worker."""
    keys = _keys(1024)
    queue = core.Queue()
    add, get, done = queue.add, queue.get, queue.done
    n = len(keys)
    start = time.perf_counter()
    for i in range(loops):
        add(keys[i % n])
        item, _ = get()
        done(item)
    return time.perf_counter() - start


CASES: dict[str, Callable[[int, ModuleType], float]] = {
    "workqueue_add_get_done": workqueue_add_get_done,
}
