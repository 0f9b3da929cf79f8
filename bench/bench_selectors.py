"""pyperf benchmarks of selector matching and of pod generation (seeded).

python bench/bench_selectors.py --json selectors.json
python bench/bench_selectors.py --fast --cases generate
"""

from __future__ import annotations

import os
import sys
import time

import pyperf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fastinformer.selectors import (
    object_field_getter,
    parse_field_selector,
    parse_label_selector,
)
from fastinformer.sim.populate import generate

LABELS = [
    {"app": f"app-{i % 8}", "tier": ("web", "api", "db")[i % 3], "pod-template-hash": "x7c9"}
    for i in range(1000)
]


def bench_label(text: str):  # type: ignore[no-untyped-def]
    match = parse_label_selector(text).matcher

    def run(loops: int) -> float:
        start = time.perf_counter()
        for _ in range(loops):
            for labels in LABELS:
                match(labels)
        return time.perf_counter() - start

    return run


def bench_field(loops: int) -> float:
    selector = parse_field_selector("spec.nodeName=kwok-node-3,metadata.namespace!=kube-system")
    pods = generate(10, 1000, 4, seed=1).pods
    getters = [object_field_getter(p) for p in pods]
    start = time.perf_counter()
    for _ in range(loops):
        for get in getters:
            selector.matches(get)
    return time.perf_counter() - start


def bench_generate(loops: int) -> float:
    start = time.perf_counter()
    for _ in range(loops):
        generate(100, 10_000, 10, seed=1)
    return time.perf_counter() - start


def _add_args(cmd: list[str], args: object) -> None:
    if args.cases:  # type: ignore[attr-defined]
        cmd.extend(["--cases", args.cases])  # type: ignore[attr-defined]


def main() -> None:
    runner = pyperf.Runner(add_cmdline_args=_add_args)
    runner.argparser.add_argument("--cases", default="", help="run cases whose name contains this")
    runner.argparser.add_argument("--json", default=None, help="write results to this JSON file")
    args = runner.parse_args()
    if args.json and not args.output and not args.worker:
        args.output = args.json
    cases = {
        "label_match_1000_equality": bench_label("app=app-3"),
        "label_match_1000_mixed": bench_label("app in (app-1,app-3),tier!=db,!gone"),
        "field_match_1000_pods": bench_field,
        "generate_10k_pods": bench_generate,
    }
    for name, func in cases.items():
        if args.cases in name:
            runner.bench_time_func(name, func)


if __name__ == "__main__":
    main()
