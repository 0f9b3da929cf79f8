"""fastinformer.bench.report: ratios, targets, tables and charts from a results document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console

from fastinformer.bench.report import (
    evaluate_targets,
    ratios,
    render,
    write_charts,
    write_json,
)


def _entry(label: str, sync: float, per_object: float, rate: float | None,
           p99: float | None) -> dict[str, Any]:
    workloads: dict[str, Any] = {
        "sync": {"seconds": sync, "objects": 10_000, "bytes_per_object": per_object,
                 "peak_rss": 100 * 2**20},
    }
    if rate is None:
        workloads["throughput"] = {"status": "n/a"}
    else:
        workloads["throughput"] = {"events": 10, "handled": 10, "events_per_second": rate,
                                   "server_write": {"rate": 1e4}, "stalled_release": True,
                                   "simulator_limited": False}
    if p99 is not None:
        workloads["latency"] = {"writes": {"writes": 10, "rate": 5000.0}, "handled": 10,
                                "p50_ms": p99 / 4, "p90_ms": p99 / 2, "p99_ms": p99,
                                "max_ms": p99 * 2}
    return {"label": label, "workloads": workloads}


def _results() -> dict[str, Any]:
    return {
        "baseline": "fastinformer-typed",
        "options": {"pods": 10_000, "nodes": 100, "namespaces": 10,
                    "events_per_second": 5000.0, "duration": 10.0},
        "environment": {"python": "3.11", "cpu_count": 2, "load_average": [1.0, 1.0, 1.0],
                        "git_commit": "abc", "seed": 0},
        "target": {"kind": "simulator"},
        "contenders": {
            "fastinformer-typed": _entry("fi typed", 0.5, 5000.0, 60_000.0, 4.0),
            "kubernetes-informer": _entry("k8s informer", 10.0, 64_000.0, 1_000.0, 900.0),
            "limit": _entry("the limit", 0.25, 4000.0, None, None),
        },
        "notes": ["a note"],
    }


def test_ratios_divide_by_the_baseline_of_the_same_run() -> None:
    got = ratios(_results())
    assert got["fastinformer-typed"]["sync_seconds"] == 1.0
    assert got["kubernetes-informer"]["sync_seconds"] == 20.0
    assert got["limit"]["bytes_per_object"] == 0.8
    assert "events_per_second" not in got["limit"]


def test_targets_report_met_and_missed() -> None:
    checks = {c["target"]: c for c in evaluate_targets(_results())}
    assert checks["10,000 pods synced"]["met"]
    assert checks["faster than kubernetes.informer"]["measured"] == "20.0x"
    assert checks["memory per cached pod (typed)"]["met"]
    assert checks["watch events through the pipeline"]["met"]
    assert checks["p99 wire-to-handler at 5000 events/s"]["met"]
    slow = _results()
    slow["contenders"]["fastinformer-typed"]["workloads"]["sync"]["seconds"] = 2.0
    checks = {c["target"]: c for c in evaluate_targets(slow)}
    assert not checks["10,000 pods synced"]["met"]
    assert not checks["faster than kubernetes.informer"]["met"]


def test_render_prints_labels_markers_and_notes() -> None:
    console = Console(record=True, width=160)
    render(_results(), console)
    text = console.export_text()
    for expected in ("fi typed", "k8s informer", "the limit", "n/a", "20.00x", "a note"):
        assert expected in text


def test_json_and_charts_are_written(tmp_path: Path) -> None:
    results = _results()
    path = write_json(results, tmp_path / "results.json")
    loaded = json.loads(path.read_text())
    assert loaded["ratios"]["kubernetes-informer"]["sync_seconds"] == 20.0
    assert loaded["targets"]
    charts = write_charts(results, tmp_path)
    assert {c.name for c in charts} == {"sync_time.png", "memory_per_object.png",
                                        "throughput.png", "latency.png"}
    assert all(c.read_bytes().startswith(b"\x89PNG") for c in charts)
