"""pyperf micro-benchmarks of the core, compiled or pure (``--impl c|py|both``).

Cases live in ``bench/cases_<domain>.py`` as ``CASES: dict[str, TimeFunc]`` where a
``TimeFunc(loops, core) -> seconds`` builds its seeded data first and times only
``loops`` repetitions of one operation. ``--impl both`` runs each case on the pure twin
then at once on the compiled core (benchmarks ``name[py]`` and ``name[c]``), so that
both sides of a ratio share the machine's phase, and ends with a table of speed-ups.
Examples::

    python bench/bench_core.py --impl both --fast --quiet --json core.json
    python bench/bench_core.py --impl c --json c.json
    python bench/bench_core.py --impl py --json py.json
    python -m pyperf compare_to py.json c.json --table
    python bench/bench_core.py --impl c --cases store   # only names containing "store"
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from types import ModuleType

import pyperf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CASE_MODULES = ("cases_store", "cases_fifo", "cases_ratelimit", "cases_queue")
TimeFunc = Callable[[int, ModuleType], float]


def load_core(impl: str) -> ModuleType:
    """Return the compiled core (``c``, failing loudly if absent) or the pure twin (``py``)."""
    if impl == "py":
        return importlib.import_module("fastinformer._core_py")
    return importlib.import_module("fastinformer._core")


def collect_cases() -> dict[str, TimeFunc]:
    """Every case of every ``bench/cases_*.py`` module, by name."""
    cases: dict[str, TimeFunc] = {}
    for name in CASE_MODULES:
        try:
            mod = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bench.{name}":
                raise
            continue
        cases.update(mod.CASES)
    return cases


def _add_args(cmd: list[str], args: object) -> None:
    cmd.extend(["--impl", args.impl])  # type: ignore[attr-defined]
    if args.cases:  # type: ignore[attr-defined]
        cmd.extend(["--cases", args.cases])  # type: ignore[attr-defined]


def speedup_table(results: dict[str, dict[str, pyperf.Benchmark]]) -> str:
    """A Markdown table of ``results[case][impl]``: both means (as pyperf shows them) and
    the compiled core's speed-up over the twin."""
    rows = ["| case | pure twin | compiled | speed-up |", "|---|---|---|---|"]
    for name, by_impl in results.items():
        py, c = by_impl["py"], by_impl["c"]
        py_mean, c_mean = py.mean(), c.mean()
        rows.append(
            f"| {name} | {py.format_value(py_mean)} | {c.format_value(c_mean)} "
            f"| {py_mean / c_mean:.2f}x |"
        )
    return "\n".join(rows)


def main() -> None:
    runner = pyperf.Runner(add_cmdline_args=_add_args)
    runner.argparser.add_argument("--impl", choices=("c", "py", "both"), default="c")
    runner.argparser.add_argument("--cases", default="", help="run cases whose name contains this")
    runner.argparser.add_argument("--json", default=None, help="write results to this JSON file")
    args = runner.parse_args()
    if args.json and not args.output and not args.worker:
        args.output = args.json
    impls = ("py", "c") if args.impl == "both" else (args.impl,)
    cores = {impl: load_core(impl) for impl in impls}
    results: dict[str, dict[str, pyperf.Benchmark]] = {}
    for name, func in sorted(collect_cases().items()):
        if args.cases and args.cases not in name:
            continue
        for impl in impls:
            label = f"{name}[{impl}]" if len(impls) > 1 else name
            bench = runner.bench_time_func(label, func, cores[impl])
            if bench is not None and not args.worker:  # workers return partial results
                results.setdefault(name, {})[impl] = bench
    if len(impls) > 1 and not args.worker:
        complete = {name: r for name, r in results.items() if len(r) == len(impls)}
        if complete:
            print(speedup_table(complete))


if __name__ == "__main__":
    main()
