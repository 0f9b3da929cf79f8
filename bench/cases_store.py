"""pyperf cases for the indexed store (``Indexer``): updates with three indexes, lookups.

Data: 10,000 seeded pods over 50 namespaces, 100 nodes and 20 ``app`` label values, as
the informer's decoder makes them from a list body: dicts (``mode="dict"``) or, in the
``_typed`` cases, the generated ``Pod`` structs the informer caches by default. Indexes:
namespace (always present), the ``app`` label and the node name.

Updates visit the pods in list order, so the processor's prefetcher hides part of the
memory latency of the cold objects; the ``_shuffled`` case visits them in random order
(each update then waits for main memory several times), the ``_hot`` case cycles over 50
pods that stay in the CPU caches.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import orjson

from fastinformer.decode import DecodeMode, decoder_for

N_PODS = 10_000
N_NAMESPACES = 50
N_NODES = 100
N_APPS = 20
CHANGED_FRACTION = 0.1  # updates that move a pod to another app label or node


def _pod(ns: int, name: int, app: int, node: int, rv: int) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": f"ns-{ns}",
            "name": f"pod-{name}",
            "resourceVersion": str(rv),
            "labels": {"app": f"app-{app}", "tier": "web"},
        },
        "spec": {"nodeName": f"node-{node}", "containers": [{"name": "c", "image": "i"}]},
        "status": {"phase": "Running"},
    }


def make_pods(seed: int = 1) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Two versions of every pod; in the second, 10% moved to another app label or node."""
    rng = random.Random(seed)
    first: list[dict[str, Any]] = []
    second: list[dict[str, Any]] = []
    for i in range(N_PODS):
        ns, app, node = rng.randrange(N_NAMESPACES), rng.randrange(N_APPS), rng.randrange(N_NODES)
        first.append(_pod(ns, i, app, node, rv=2 * i))
        if rng.random() < CHANGED_FRACTION:
            if rng.random() < 0.5:
                app = (app + 1) % N_APPS
            else:
                node = (node + 1) % N_NODES
        second.append(_pod(ns, i, app, node, rv=2 * i + 1))
    return first, second


def decoded(pods: list[dict[str, Any]], mode: DecodeMode) -> list[Any]:
    """``pods`` as the informer's decoder makes them from one list body in ``mode``."""
    body = orjson.dumps({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": pods})
    items, _ = decoder_for("pods", mode=mode).decode_list(body)
    return items


def as_typed(pods: list[dict[str, Any]]) -> list[Any]:
    """``pods`` decoded into ``fastinformer.models.Pod`` structs by the informer's decoder."""
    return decoded(pods, "typed")


def make_indexer(core: ModuleType) -> Any:
    """An ``Indexer`` with the namespace, ``app`` label and node name indexes."""
    return core.Indexer(
        indexers={"app": core.label_index_func("app"), "node": core.node_name_index_func}
    )


def timed_updates(
    core: ModuleType, stored: list[Any], updates: list[Any], loops: int
) -> float:
    """Seconds for ``loops`` calls of ``Indexer.update``, cycling through ``updates``, on
    an indexer (see :func:`make_indexer`) holding ``stored``."""
    indexer = make_indexer(core)
    indexer.replace(stored)
    update = indexer.update
    stream = itertools.islice(itertools.cycle(updates), loops)
    t0 = time.perf_counter()
    for obj in stream:
        update(obj)
    return time.perf_counter() - t0


def store_update_3_indexes(loops: int, core: ModuleType) -> float:
    """``Indexer.update`` alternating two versions of every pod (10% change an index),
    dicts as the informer decodes them in dict mode (by the imported ``fastinformer``:
    only the store is ``core``'s)."""
    first, second = make_pods()
    dict_first, dict_second = decoded(first, "dict"), decoded(second, "dict")
    return timed_updates(core, dict_first, dict_second + dict_first, loops)


def store_update_3_indexes_typed(loops: int, core: ModuleType) -> float:
    """As ``store_update_3_indexes`` but over typed ``Pod`` structs (the informer's default).

    The structs come from the decoder of the imported ``fastinformer`` (its models use the
    compiled core when it is built, whatever ``--impl`` says); only the store is ``core``'s.
    """
    first, second = make_pods()
    typed_first, typed_second = as_typed(first), as_typed(second)
    return timed_updates(core, typed_first, typed_second + typed_first, loops)


def store_update_3_indexes_typed_shuffled(loops: int, core: ModuleType) -> float:
    """As ``store_update_3_indexes_typed`` with the updates in a seeded random order."""
    first, second = make_pods()
    typed_first, typed_second = as_typed(first), as_typed(second)
    updates = typed_second + typed_first
    random.Random(2).shuffle(updates)
    return timed_updates(core, typed_first, updates, loops)


def store_update_3_indexes_hot(loops: int, core: ModuleType) -> float:
    """As ``store_update_3_indexes`` but cycling over 50 pods only (all in CPU caches).

    Measures the store's own work; with 10,000 pods most of the time goes to memory reads
    of cold objects (key and index functions, the store's entry), which the store cannot
    avoid.
    """
    first, second = make_pods()
    hot_first, hot_second = decoded(first[:25], "dict"), decoded(second[:25], "dict")
    return timed_updates(core, hot_first, hot_second + hot_first, loops)


def store_by_index(loops: int, core: ModuleType) -> float:
    """``Indexer.by_index("namespace", ns)``: about 200 pods per namespace."""
    first, _ = make_pods()
    indexer = make_indexer(core)
    indexer.replace(first)
    by_index = indexer.by_index
    namespaces = [f"ns-{i}" for i in range(N_NAMESPACES)]
    stream = itertools.islice(itertools.cycle(namespaces), loops)
    t0 = time.perf_counter()
    for ns in stream:
        by_index("namespace", ns)
    return time.perf_counter() - t0


CASES: dict[str, Callable[[int, ModuleType], float]] = {
    "store_update_3_indexes": store_update_3_indexes,
    "store_update_3_indexes_hot": store_update_3_indexes_hot,
    "store_update_3_indexes_typed": store_update_3_indexes_typed,
    "store_update_3_indexes_typed_shuffled": store_update_3_indexes_typed_shuffled,
    "store_by_index": store_by_index,
}
