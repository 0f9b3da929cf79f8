"""bench against a kubeconfig: read-only by default; --populate creates, then removes, its pods.

A second simulator plays the "real cluster" (a kwok cluster in practice): the benchmark
reaches it only through the kubeconfig, over HTTP(S).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fastinformer.sim import Simulator
from fastinformer.sim.populate import POPULATED_LABEL


@pytest.fixture
def cluster() -> Iterator[Simulator]:
    with Simulator(tls=True) as sim:
        yield sim


def _bench(kubeconfig: str, out: Path, *extra: str) -> dict[str, object]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fastinformer.cli",
            "bench",
            "--kubeconfig",
            kubeconfig,
            "--workloads",
            "sync",
            "--contenders",
            "fastinformer-typed",
            "--quiet",
            "--out",
            str(out),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results: dict[str, object] = json.loads((out / "results.json").read_text())
    return results


def _pods(sim: Simulator) -> list[dict[str, object]]:
    return list(sim.store.list("pods", None))


def test_a_read_only_run_lists_what_is_there_and_creates_nothing(
    cluster: Simulator, tmp_path: Path
) -> None:
    cluster.populate(nodes=2, pods=12, namespaces=2, seed=3)
    rv_before = cluster.store.resource_version
    results = _bench(cluster.kubeconfig_path, tmp_path / "ro")
    sync = results["contenders"]["fastinformer-typed"]["workloads"]["sync"]  # type: ignore[index]
    assert sync["objects"] == 12
    assert cluster.store.resource_version == rv_before, "a read-only run wrote to the cluster"
    writes = [r for r in cluster.requests if r.method not in ("GET", "HEAD")]
    assert writes == []


def test_populate_creates_kwok_pods_then_removes_exactly_them(
    cluster: Simulator, tmp_path: Path
) -> None:
    cluster.populate(nodes=1, pods=3, namespaces=1, seed=5)  # the cluster's own pods
    own = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in _pods(cluster)}  # type: ignore[index]
    results = _bench(
        cluster.kubeconfig_path,
        tmp_path / "pop",
        "--populate",
        "--pods",
        "40",
        "--nodes",
        "2",
        "--namespaces",
        "2",
    )
    sync = results["contenders"]["fastinformer-typed"]["workloads"]["sync"]  # type: ignore[index]
    assert sync["objects"] >= 40
    assert any(r.method == "POST" for r in cluster.requests), "nothing was created"
    left = _pods(cluster)
    assert {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in left} == own  # type: ignore[index]
    assert not any(
        POPULATED_LABEL in (p["metadata"].get("labels") or {})  # type: ignore[attr-defined]
        for p in left
    )
