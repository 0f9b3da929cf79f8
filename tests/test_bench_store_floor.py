"""bench/bench_store_floor.py: it reads the fields the store reads and times both sides."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench import bench_store_floor, cases_store

SCRIPT = Path(bench_store_floor.__file__)


def test_the_read_loops_read_every_field_the_key_and_the_indexes_need() -> None:
    first, _ = cases_store.make_pods()
    dicts = cases_store.decoded(first[:2], "dict")
    structs = cases_store.decoded(first[:2], "typed")
    assert bench_store_floor.read_dicts(dicts) > 0.0
    assert bench_store_floor.read_structs(structs) > 0.0
    del dicts[1]["metadata"]["labels"]["app"]
    with pytest.raises(KeyError):
        bench_store_floor.read_dicts(dicts)
    structs[1].spec = None
    with pytest.raises(AttributeError):
        bench_store_floor.read_structs(structs)


def test_measure_reports_each_timer_per_object() -> None:
    pytest.importorskip("fastinformer._core")
    result = bench_store_floor.measure("typed", rounds=1)
    assert set(result) == {"reads cold", "update cold", "reads hot", "update hot"}
    assert all(value > 0.0 for value in result.values())


@pytest.mark.parametrize("argv", [["--modes", "yaml"], ["--modes", ""], ["--rounds", "0"]])
def test_bad_arguments_are_refused(argv: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *argv], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "--modes takes dict and/or typed" in done.stderr
