"""Rate limiter benchmark: ``when`` of the default controller limiter."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from types import ModuleType


def ratelimiter_when_default(loops: int, core: ModuleType) -> float:
    """``loops`` calls of ``default_controller_rate_limiter().when(key)`` over 1024 keys.

    Keys are forgotten every pass so failure counts (and delays) stay realistic.
    """
    rng = random.Random(42)
    keys = [f"ns-{rng.randrange(50)}/pod-{rng.randrange(1_000_000)}" for _ in range(1024)]
    limiter = core.default_controller_rate_limiter()
    when = limiter.when
    n = len(keys)
    elapsed = 0.0
    done = 0
    while done < loops:
        batch = min(loops - done, n)
        start = time.perf_counter()
        for i in range(batch):
            when(keys[i])
        elapsed += time.perf_counter() - start
        for i in range(batch):
            limiter.forget(keys[i])
        done += batch
    return elapsed


CASES: dict[str, Callable[[int, ModuleType], float]] = {
    "ratelimiter_when_default": ratelimiter_when_default,
}
