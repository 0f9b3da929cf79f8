"""Shared data for the pytest-benchmark suite (``pytest tests/benchmarks``): kwok-style
pods from the simulator's generator, seeded, as list bodies and watch lines."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from fastinformer.sim.populate import generate

PODS = 10_000
NAMESPACES = 10


def _pods(count: int) -> list[dict[str, Any]]:
    population = generate(100, count, NAMESPACES, seed=0)
    pods = population.pods
    for i, pod in enumerate(pods):
        meta = pod["metadata"]
        meta["uid"] = f"00000000-0000-4000-8000-{i:012d}"
        meta["resourceVersion"] = str(1000 + i)
        meta["creationTimestamp"] = "2023-11-14T23:13:20Z"
    return pods


@pytest.fixture(scope="session")
def pods() -> list[dict[str, Any]]:
    """10,000 kwok-style pods with server-assigned fields filled in."""
    return _pods(PODS)


@pytest.fixture(scope="session")
def list_body(pods: list[dict[str, Any]]) -> bytes:
    """The pods as one LIST response body."""
    return orjson.dumps(
        {
            "kind": "PodList",
            "apiVersion": "v1",
            "metadata": {"resourceVersion": str(1000 + len(pods))},
            "items": pods,
        }
    )


@pytest.fixture(scope="session")
def update_lines(pods: list[dict[str, Any]]) -> list[bytes]:
    """One MODIFIED watch line per pod, resourceVersions after the list's."""
    lines = []
    base = 1000 + len(pods)
    for i, pod in enumerate(pods):
        changed = {
            **pod,
            "metadata": {
                **pod["metadata"],
                "resourceVersion": str(base + 1 + i),
                "annotations": {"bench": str(i)},
            },
        }
        lines.append(orjson.dumps({"type": "MODIFIED", "object": changed}))
    return lines
