"""Presenting a results document: terminal tables (rich), the JSON file, PNG charts
(matplotlib, Agg backend) and the check against the design's targets.

Ratios are always "this contender's figure divided by the baseline's" (the baseline is
fastinformer typed, from the same run), so 10.0x in a time column means ten times as long.
Memory is in KiB (1024 bytes).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from fastinformer.bench.workloads import LATENCY, LISTERS, RELIST, SYNC, THROUGHPUT

__all__ = [
    "evaluate_targets",
    "metric",
    "ratios",
    "render",
    "write_charts",
    "write_json",
]

KIB = 1024.0

Metric = Callable[[dict[str, Any]], float | None]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _measured(entry: dict[str, Any], workload: str) -> dict[str, Any] | None:
    data = entry.get("workloads", {}).get(workload)
    if not isinstance(data, dict) or "status" in data:
        return None
    return data


def metric(workload: str, field: str) -> Metric:
    """A getter of ``field`` of ``workload`` from one contender's entry (None: not measured)."""

    def get(entry: dict[str, Any]) -> float | None:
        data = _measured(entry, workload)
        return None if data is None else _number(data.get(field))

    return get


SYNC_SECONDS = metric(SYNC, "seconds")
BYTES_PER_OBJECT = metric(SYNC, "bytes_per_object")
PEAK_RSS = metric(SYNC, "peak_rss")
EVENTS_PER_SECOND = metric(THROUGHPUT, "events_per_second")
P50 = metric(LATENCY, "p50_ms")
P90 = metric(LATENCY, "p90_ms")
P99 = metric(LATENCY, "p99_ms")
MAX = metric(LATENCY, "max_ms")
RELIST_SECONDS = metric(RELIST, "seconds")

RATIO_METRICS: dict[str, Metric] = {
    "sync_seconds": SYNC_SECONDS,
    "bytes_per_object": BYTES_PER_OBJECT,
    "peak_rss": PEAK_RSS,
    "events_per_second": EVENTS_PER_SECOND,
    "p99_ms": P99,
    "relist_seconds": RELIST_SECONDS,
}


def ratios(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per contender, each figure divided by the baseline's figure of the same run."""
    contenders = results.get("contenders", {})
    base = contenders.get(results.get("baseline", ""))
    out: dict[str, dict[str, float]] = {}
    if base is None:
        return out
    for name, entry in contenders.items():
        row: dict[str, float] = {}
        for key, get in RATIO_METRICS.items():
            mine, theirs = get(entry), get(base)
            if mine is not None and theirs:
                row[key] = mine / theirs
        out[name] = row
    return out


# Targets ----------------------------------------------------------------------------------


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The design's targets (section 4) against this run's fastinformer typed figures."""
    contenders = results.get("contenders", {})
    base = contenders.get(results.get("baseline", ""), {})
    pods = int((_measured(base, SYNC) or {}).get("objects") or 0)
    eps = results.get("options", {}).get("events_per_second")
    checks: list[dict[str, Any]] = []

    def check(name: str, wanted: str, measured: float | None, ok: Callable[[float], bool],
              shown: str) -> None:
        if measured is None:
            return
        checks.append({"target": name, "wanted": wanted, "measured": shown,
                       "value": measured, "met": ok(measured)})

    sync = SYNC_SECONDS(base)
    if sync is not None and pods:
        budget = pods / 10_000
        check(f"{pods:,} pods synced", f"<= {budget:g} s (1 s per 10k pods)", sync,
              lambda v: v <= budget, f"{sync:.2f} s")
    peer = contenders.get("kubernetes-informer")
    theirs = SYNC_SECONDS(peer) if peer else None
    if sync and theirs:
        check("faster than kubernetes.informer", ">= 8x", theirs / sync,
              lambda v: v >= 8, f"{theirs / sync:.1f}x")
    per_object = BYTES_PER_OBJECT(base)
    if per_object is not None:
        check("memory per cached pod (typed)", "<= 6 KiB", per_object,
              lambda v: v <= 6 * KIB, f"{per_object / KIB:.2f} KiB")
    rate = EVENTS_PER_SECOND(base)
    if rate is not None:
        check("watch events through the pipeline", ">= 50,000/s", rate,
              lambda v: v >= 50_000, f"{rate:,.0f}/s")
    p99 = P99(base)
    if p99 is not None:
        check(f"p99 wire-to-handler at {eps:g} events/s", "<= 5 ms", p99,
              lambda v: v <= 5.0, f"{p99:.2f} ms")
    return checks


# Terminal ---------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str, scale: float = 1.0, suffix: str = "") -> str:
    if value is None:
        return "-"
    return f"{value / scale:{spec}}{suffix}"


def _ratio(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "-"
    return f"{value / base:.2f}x"


def _status(entry: dict[str, Any], workload: str) -> str | None:
    data = entry.get("workloads", {}).get(workload)
    if data is None:
        return None
    if isinstance(data, dict) and "status" in data:
        return str(data["status"])
    return ""


def render(results: dict[str, Any], console: Any) -> None:
    """Print every table of ``results`` on a rich ``console``."""
    from rich.table import Table

    contenders: dict[str, Any] = results.get("contenders", {})
    base = contenders.get(results.get("baseline", ""), {})
    env = results.get("environment", {})
    opts = results.get("options", {})
    target = results.get("target", {})
    load = env.get("load_average") or []
    if target.get("kind") == "simulator" or opts.get("populate"):
        where = (f"{opts.get('pods', 0):,} pods, {opts.get('nodes')} nodes, "
                 f"{opts.get('namespaces')} namespaces on {target.get('kind', '?')}")
    else:
        where = "the pods of the cluster (read-only)"
    console.print(
        f"[bold]fastinformer bench[/] {where}; python "
        f"{env.get('python')}, {env.get('cpu_count')} cores, load average "
        f"{', '.join(f'{x:.1f}' for x in load)}; commit {str(env.get('git_commit'))[:10]}"
        f"{' (dirty)' if env.get('git_dirty') else ''}; seed {env.get('seed')}",
        highlight=False,
    )
    affinity = env.get("affinity")
    if affinity:
        console.print(
            f"pinned: contenders on CPU {','.join(map(str, affinity['contenders']))}, "
            f"simulator and orchestrator on CPU {','.join(map(str, affinity['orchestrator']))}"
            " (--pin)",
            highlight=False,
        )

    def rows(workload: str) -> Iterable[tuple[str, dict[str, Any], str | None]]:
        for name, entry in contenders.items():
            status = _status(entry, workload)
            if status is not None:
                yield name, entry, status

    sync_rows = list(rows(SYNC))
    if sync_rows:
        table = Table(title="Initial sync", title_justify="left")
        for col in ("contender", "objects", "sync", "vs typed", "peak RSS", "per object",
                    "vs typed "):
            table.add_column(col, justify="left" if col == "contender" else "right")
        for _, entry, status in sync_rows:
            data = _measured(entry, SYNC) or {}
            if status:
                table.add_row(entry["label"], status, "", "", "", "", "")
                continue
            table.add_row(
                entry["label"], f"{data.get('objects', 0):,}",
                _fmt(SYNC_SECONDS(entry), ".3f", suffix=" s"),
                _ratio(SYNC_SECONDS(entry), SYNC_SECONDS(base)),
                _fmt(PEAK_RSS(entry), ".0f", KIB * KIB, " MiB"),
                _fmt(BYTES_PER_OBJECT(entry), ".2f", KIB, " KiB"),
                _ratio(BYTES_PER_OBJECT(entry), BYTES_PER_OBJECT(base)),
            )
        console.print(table)

    event_rows = [r for r in contenders.items()
                  if _status(r[1], THROUGHPUT) is not None or _status(r[1], LATENCY) is not None]
    if event_rows:
        table = Table(title=f"Watch events (latency at {opts.get('events_per_second'):g}/s "
                      f"for {opts.get('duration'):g} s)", title_justify="left")
        for col in ("contender", "burst ev/s", "vs typed", "sent/s", "p50 ms", "p90 ms",
                    "p99 ms", "max ms", "handled"):
            table.add_column(col, justify="left" if col == "contender" else "right")
        for _, entry in event_rows:
            burst = _measured(entry, THROUGHPUT)
            lat = _measured(entry, LATENCY)
            burst_cell = (_fmt(EVENTS_PER_SECOND(entry), ",.0f") if burst
                          else _status(entry, THROUGHPUT) or "-")
            if lat:
                writes = lat["writes"]
                handled = f"{lat.get('handled', 0):,}/{writes['writes']:,}"
                cells = [f"{writes['rate']:,.0f}"]
                cells += [_fmt(f(entry), ",.1f" if (f(entry) or 0) >= 100 else ".2f")
                          for f in (P50, P90, P99, MAX)]
            else:
                handled = ""
                cells = [_status(entry, LATENCY) or "-", "", "", "", ""]
            table.add_row(entry["label"], burst_cell,
                          _ratio(EVENTS_PER_SECOND(entry), EVENTS_PER_SECOND(base)),
                          *cells, handled)
        console.print(table)
        for entry in contenders.values():
            burst = _measured(entry, THROUGHPUT)
            if burst:
                write = burst["server_write"]
                rates = burst.get("bursts") or []
                runs = (f" (median of {len(rates)}: "
                        f"{', '.join(f'{r:,.0f}' for r in rates if r)} events/s)"
                        if len(rates) > 1 else "")
                console.print(
                    f"  {entry['label']}: burst of {burst['events']:,}{runs}, server committed "
                    f"{write['rate']:,.0f} writes/s"
                    f"{' before releasing the stalled watch' if burst['stalled_release'] else ''}"
                    f"{' (SIMULATOR-LIMITED)' if burst['simulator_limited'] else ''}",
                    highlight=False,
                )
                break

    lister_rows = [(n, e) for n, e in contenders.items() if _measured(e, LISTERS)]
    if lister_rows:
        table = Table(title="Lister queries (ops/s, mean results per query)", title_justify="left")
        table.add_column("query")
        for _, entry in lister_rows:
            table.add_column(entry["label"], justify="right")
        first = _measured(lister_rows[0][1], LISTERS) or {}
        for query in [k for k, v in first.items() if isinstance(v, dict)]:
            cells = []
            for _, entry in lister_rows:
                q = (_measured(entry, LISTERS) or {}).get(query, {})
                cells.append(f"{q.get('ops_per_second', 0):,.0f} ({q.get('mean_results', 0):,.0f})")
            table.add_row(query, *cells)
        console.print(table)

    relist_rows = list(rows(RELIST))
    if relist_rows:
        table = Table(title="Relist after 410 with a full cache", title_justify="left")
        for col in ("contender", "until equal again", "vs typed"):
            table.add_column(col, justify="left" if col == "contender" else "right")
        for _, entry, status in relist_rows:
            table.add_row(entry["label"],
                          status or _fmt(RELIST_SECONDS(entry), ".3f", suffix=" s"),
                          _ratio(RELIST_SECONDS(entry), RELIST_SECONDS(base)))
        console.print(table)

    checks = results.get("targets") or evaluate_targets(results)
    if checks:
        table = Table(title="Targets (fastinformer typed, this run)", title_justify="left")
        for col in ("target", "wanted", "measured", "met"):
            table.add_column(col)
        for c in checks:
            table.add_row(c["target"], c["wanted"], c["measured"],
                          "[green]yes[/]" if c["met"] else "[red]NO[/]")
        console.print(table)
    for note in results.get("notes", []):
        console.print(f"note: {note}", highlight=False)


# Files ------------------------------------------------------------------------------------


def write_json(results: dict[str, Any], path: Path) -> Path:
    """Write the results document (with ratios and targets filled in)."""
    results["ratios"] = ratios(results)
    results["targets"] = evaluate_targets(results)
    path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path


def _bar_chart(path: Path, title: str, ylabel: str, labels: list[str], values: list[float],
               log: bool = False) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    bars = ax.bar(range(len(values)), values, color="#4477aa")
    ax.set_xticks(range(len(values)), labels, rotation=20, ha="right", fontsize=8)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    for bar, value in zip(bars, values, strict=True):
        ax.annotate(f"{value:,.3g}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_charts(results: dict[str, Any], out_dir: Path) -> list[Path]:
    """PNG charts of sync time, memory per object, burst throughput and latency
    percentiles per contender (only those with figures); returns the paths written."""
    contenders: dict[str, Any] = results.get("contenders", {})
    pods = results.get("options", {}).get("pods", 0)
    written: list[Path] = []

    def series(get: Metric) -> tuple[list[str], list[float]]:
        labels, values = [], []
        for entry in contenders.values():
            v = get(entry)
            if v is not None:
                labels.append(entry["label"])
                values.append(v)
        return labels, values

    labels, values = series(SYNC_SECONDS)
    if values:
        written.append(_bar_chart(out_dir / "sync_time.png", f"Time to synced, {pods:,} pods",
                                  "seconds (log)", labels, values, log=True))
    labels, values = series(BYTES_PER_OBJECT)
    if values:
        written.append(_bar_chart(out_dir / "memory_per_object.png",
                                  "Steady RSS per cached object", "KiB",
                                  labels, [v / KIB for v in values]))
    labels, values = series(EVENTS_PER_SECOND)
    if values:
        written.append(_bar_chart(out_dir / "throughput.png", "Burst of updates handled",
                                  "events per second", labels, values))
    lat = [(e["label"], [f(e) for f in (P50, P90, P99, MAX)]) for e in contenders.values()
           if P50(e) is not None]
    if lat:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(9, 4.5))
        width = 0.8 / len(lat)
        names = ("p50", "p90", "p99", "max")
        for i, (label, values_ms) in enumerate(lat):
            ax.bar([x + i * width for x in range(4)], [v or 0.0 for v in values_ms], width,
                   label=label)
        ax.set_xticks([x + width * (len(lat) - 1) / 2 for x in range(4)], names)
        ax.set_yscale("log")
        ax.set_ylabel("milliseconds (log)")
        eps = results.get("options", {}).get("events_per_second", 0)
        ax.set_title(f"Wire-to-handler latency at {eps:g} updates/s")
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08),
                  ncol=min(len(lat), 3), frameon=False)
        fig.tight_layout()
        path = out_dir / "latency.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written
