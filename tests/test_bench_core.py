"""bench/bench_core.py: its cases run on both cores and the speed-up table reads right."""

from __future__ import annotations

from types import ModuleType

import pyperf
import pytest

from bench import bench_core, cases_store


def test_every_case_module_is_collected() -> None:
    cases = bench_core.collect_cases()
    assert {"fifo_add_pop", "store_update_3_indexes", "store_by_index"} <= set(cases)
    assert "store_update_3_indexes_typed_shuffled" in cases


@pytest.mark.parametrize("name", sorted(bench_core.collect_cases()))
def test_each_case_times_its_loops_on_either_core(name: str, core: ModuleType) -> None:
    seconds = bench_core.collect_cases()[name](3, core)
    assert isinstance(seconds, float)
    assert seconds > 0.0


def test_the_store_cases_hold_objects_as_the_informer_decodes_them() -> None:
    first, _ = cases_store.make_pods()
    dicts = cases_store.decoded(first[:3], "dict")
    typed = cases_store.as_typed(first[:3])
    assert type(dicts[0]) is dict and dicts[0]["metadata"]["name"] == "pod-0"
    assert typed[0].metadata.name == "pod-0"
    assert typed[0].spec.node_name == first[0]["spec"]["nodeName"]


def _bench(seconds: float) -> pyperf.Benchmark:
    run = pyperf.Run([seconds, seconds], metadata={"name": "x", "unit": "second"},
                     collect_metadata=False)
    return pyperf.Benchmark([run])


def test_the_speedup_table_divides_the_twin_by_the_core() -> None:
    table = bench_core.speedup_table({"case_a": {"py": _bench(3e-6), "c": _bench(1e-6)}})
    rows = table.splitlines()
    assert rows[0] == "| case | pure twin | compiled | speed-up |"
    assert rows[2] == "| case_a | 3.00 us | 1.00 us | 3.00x |"


def test_means_are_shown_as_pyperf_shows_them() -> None:
    table = bench_core.speedup_table({"b": {"py": _bench(1.5e-3), "c": _bench(412e-9)}})
    assert table.splitlines()[2].startswith("| b | 1.50 ms | 412 ns |")
