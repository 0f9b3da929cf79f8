"""``fastinformer bench``: the benchmark suite from the command line.

With no arguments: the embedded simulator with 10,000 kwok-style pods on 100 fake nodes
in 10 namespaces, every contender, every workload; tables in the terminal, and
``results.json`` plus PNG charts in ``./bench-results/<timestamp>/``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from fastinformer.bench.contenders import CONTENDERS
from fastinformer.bench.workloads import ALL_WORKLOADS

EPILOG = """\
workloads: sync (time to synced, peak RSS, steady RSS per cached object), throughput
(a burst of --burst updates: events/s handled), latency (--events-per-second updates
for --duration s: wire-to-handler p50/p90/p99/max), listers (fastinformer only:
queries per second), relist (simulator only: 410 on the watch with a full cache).

contenders: %s.

--kubeconfig runs against a real cluster and only reads from it unless --populate is
given: then kwok-style namespaces, nodes and pods (labelled fastinformer.io/populated=true)
are created first, updated by the throughput and latency workloads (merge patches of
one annotation), and deleted at the end. The relist workload needs the simulator.
""".replace("%s", ", ".join(CONTENDERS))


def _csv(kind: str, choices: tuple[str, ...]) -> Callable[[str], tuple[str, ...]]:
    """An argparse type parsing a comma-separated subset of ``choices`` (or ``all``)."""

    def parse(value: str) -> tuple[str, ...]:
        if value == "all":
            return choices
        names = tuple(v.strip() for v in value.split(",") if v.strip())
        unknown = [n for n in names if n not in choices]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {kind} {', '.join(unknown) or '(none)'}; choose among "
                f"{', '.join(choices)} or 'all'")
        return names

    return parse


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _positive_float(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return number


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from fastinformer.bench.report import render, write_charts, write_json
    from fastinformer.bench.runner import BenchError, BenchOptions, Reporter, run_bench

    options = BenchOptions(
        pods=args.pods, nodes=args.nodes, namespaces=args.namespaces,
        events_per_second=args.events_per_second, duration=args.duration, burst=args.burst,
        bursts=args.bursts,
        workloads=args.workloads, contenders=args.contenders, out=args.out,
        kubeconfig=args.kubeconfig, context=args.context, populate=args.populate,
        profile=args.profile, seed=args.seed, sync_timeout=args.sync_timeout,
        lister_seconds=args.lister_seconds, pin=args.pin, tls=args.tls,
        command_line=["fastinformer", *sys.argv[1:]],
    )
    try:
        results, out = run_bench(options, Reporter(quiet=args.quiet))
    except BenchError as exc:
        print(f"fastinformer bench: {exc}", file=sys.stderr)
        return 2
    json_path = write_json(results, out / "results.json")
    charts = write_charts(results, out)
    console = Console(width=None if sys.stdout.isatty() else 120)
    render(results, console)
    console.print(f"results: {json_path}", highlight=False)
    for chart in charts:
        console.print(f"chart:   {chart}", highlight=False)
    flame = (results.get("profile") or {}).get("flamegraph")
    if flame:
        console.print(f"flame graph: {Path(out, flame)}", highlight=False)
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``bench`` to the ``fastinformer`` command's subparsers."""
    p = subparsers.add_parser(
        "bench", help="benchmark fastinformer against other Python informers",
        description=__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--pods", type=_positive_int, default=10_000, help="default 10000")
    p.add_argument("--nodes", type=_positive_int, default=100, help="default 100")
    p.add_argument("--namespaces", type=_positive_int, default=10, help="default 10")
    p.add_argument("--events-per-second", type=_positive_float, default=5_000.0,
                   help="update rate of the latency workload (default 5000)")
    p.add_argument("--duration", type=_positive_float, default=10.0,
                   help="seconds of the latency workload (default 10)")
    p.add_argument("--bursts", type=_positive_int, default=3,
                   help="bursts in the throughput workload; the median is reported (default 3)")
    p.add_argument("--burst", type=_positive_int, default=10_000,
                   help="updates in the throughput burst, at most one per pod (default 10000)")
    p.add_argument("--workloads", type=_csv("workloads", ALL_WORKLOADS), default=ALL_WORKLOADS,
                   help=f"comma-separated subset of: {','.join(ALL_WORKLOADS)} (default all)")
    p.add_argument("--contenders", type=_csv("contenders", tuple(CONTENDERS)),
                   default=tuple(CONTENDERS),
                   help="comma-separated subset of the contenders below (default all)")
    p.add_argument("--out", default=None,
                   help="output folder (default ./bench-results/<timestamp>)")
    p.add_argument("--kubeconfig", default=None, help="benchmark this cluster instead")
    p.add_argument("--context", default=None, help="context of --kubeconfig")
    p.add_argument("--populate", action="store_true",
                   help="with --kubeconfig: create kwok-style nodes and pods first, "
                        "remove them at the end")
    p.add_argument("--profile", action="store_true",
                   help="also record fastinformer typed with py-spy (flame graph SVG)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sync-timeout", type=_positive_float, default=300.0,
                   help="a contender not synced after this many seconds is stopped and "
                        "reported as such (default 300)")
    p.add_argument("--lister-seconds", type=_positive_float, default=2.0,
                   help="time spent on lister queries (default 2)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--pin", action="store_true",
                   help="run each contender on one CPU and the simulator on the others")
    p.add_argument("--tls", action="store_true",
                   help="serve the simulator over HTTPS, as real API servers do (its own "
                        "CA in the kubeconfig the contenders load)")
    p.set_defaults(func=_run)
