"""End to end: ``fastinformer bench`` on a small simulated cluster, in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fastinformer.bench.contenders import CONTENDERS

PODS = 300
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    out = tmp_path_factory.mktemp("bench") / "results"
    done = subprocess.run(
        [sys.executable, "-m", "fastinformer.cli", "bench", "--pods", str(PODS), "--nodes", "5",
         "--duration", "1", "--events-per-second", "200", "--lister-seconds", "0.2",
         "--pin", "--quiet", "--out", str(out)],
        capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out, json.loads((out / "results.json").read_text()), done.stdout


def test_results_name_every_contender_with_its_label(
    bench_run: tuple[Path, dict[str, Any], str],
) -> None:
    _, results, stdout = bench_run
    assert set(results["contenders"]) == set(CONTENDERS)
    for name, entry in results["contenders"].items():
        assert entry["label"] == CONTENDERS[name].label
        assert entry["label"] in stdout


def test_every_sync_lists_every_pod_in_measurable_time_and_memory(
    bench_run: tuple[Path, dict[str, Any], str],
) -> None:
    _, results, _ = bench_run
    synced = {n: e["workloads"]["sync"] for n, e in results["contenders"].items()
              if "sync" in e["workloads"]}
    assert set(synced) == {n for n, c in CONTENDERS.items() if "sync" in c.workloads}
    for name, sync in synced.items():
        assert sync["objects"] == PODS, name
        assert sync["seconds"] > 0, name
        assert sync["peak_rss"] >= sync["rss_after"] > 0, name
        assert sync["bytes_per_object"] > 0, name


def test_event_workloads_handle_exactly_what_was_written(
    bench_run: tuple[Path, dict[str, Any], str],
) -> None:
    _, results, _ = bench_run
    for name, entry in results["contenders"].items():
        burst = entry["workloads"]["throughput"]
        latency = entry["workloads"]["latency"]
        if "throughput" not in CONTENDERS[name].workloads:
            assert burst == {"status": "n/a"} and latency == {"status": "n/a"}
            continue
        assert burst["handled"] == burst["events"] == PODS, name
        assert burst["events_per_second"] > 0, name
        assert len(burst["bursts"]) == 3 and all(r > 0 for r in burst["bursts"]), name
        assert min(burst["bursts"]) <= burst["events_per_second"] <= max(burst["bursts"])
        assert latency["handled"] == latency["writes"]["writes"] > 0, name
        assert 0 < latency["p50_ms"] <= latency["p90_ms"] <= latency["p99_ms"] <= latency["max_ms"]


def test_relist_and_listers_run_where_they_apply(
    bench_run: tuple[Path, dict[str, Any], str],
) -> None:
    _, results, _ = bench_run
    for name, entry in results["contenders"].items():
        relist = entry["workloads"]["relist"]
        listers = entry["workloads"]["listers"]
        if "relist" in CONTENDERS[name].workloads:
            assert relist["seconds"] > 0 and relist["objects"] == PODS, name
        else:
            assert relist == {"status": "n/a"}
        if "listers" in CONTENDERS[name].workloads:
            assert all(q["ops_per_second"] > 0 for q in listers.values() if isinstance(q, dict))
            assert listers["by_namespace"]["mean_results"] == PODS / 10
            assert listers["namespaces"] == 10 and listers["nodes"] == 5
        else:
            assert listers == {"status": "n/a"}


def test_environment_ratios_and_targets_are_recorded(
    bench_run: tuple[Path, dict[str, Any], str],
) -> None:
    _, results, _ = bench_run
    env = results["environment"]
    for key in ("python", "machine", "cpu_count", "git_commit", "command_line", "seed",
                "versions", "load_average"):
        assert key in env
    assert env["command_line"][:2] == ["fastinformer", "bench"]
    assert results["ratios"]["fastinformer-typed"]["sync_seconds"] == 1.0
    assert {t["target"] for t in results["targets"]} >= {"memory per cached pod (typed)"}


def test_contenders_run_pinned_apart_from_the_simulator(
    bench_run: tuple[Path, dict[str, Any], str],
) -> None:
    import os

    _, results, stdout = bench_run
    affinity = results["environment"]["affinity"]
    if len(os.sched_getaffinity(0)) < 2:
        assert affinity is None
        return
    assert affinity["contenders"] and affinity["orchestrator"]
    assert not set(affinity["contenders"]) & set(affinity["orchestrator"])
    assert "pinned: contenders on CPU" in stdout


def test_charts_are_png_files(bench_run: tuple[Path, dict[str, Any], str]) -> None:
    out, _, _ = bench_run
    for chart in ("sync_time.png", "memory_per_object.png", "throughput.png", "latency.png"):
        assert (out / chart).read_bytes()[:8] == PNG_MAGIC, chart


def test_the_simulator_can_be_benchmarked_over_tls(tmp_path: Path) -> None:
    out = tmp_path / "tls"
    done = subprocess.run(
        [sys.executable, "-m", "fastinformer.cli", "bench", "--tls", "--pods", "100",
         "--nodes", "2", "--burst", "100", "--bursts", "1", "--workloads", "sync,throughput",
         "--contenders", "fastinformer-typed,kubernetes-watch,sim-wire", "--quiet",
         "--out", str(out)],
        capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["target"]["tls"] is True
    assert results["target"]["url"].startswith("https://")
    for name in ("fastinformer-typed", "kubernetes-watch"):
        workloads = results["contenders"][name]["workloads"]
        assert workloads["sync"]["objects"] == 100
        assert workloads["throughput"]["handled"] == 100
    assert results["contenders"]["sim-wire"]["workloads"]["throughput"]["handled"] == 100
