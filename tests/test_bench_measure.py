"""fastinformer.bench.measure: RSS readings and percentiles."""

from __future__ import annotations

import pytest

from fastinformer.bench.measure import (
    peak_rss_bytes,
    percentile,
    reset_peak_rss,
    rss_bytes,
    summarize_latencies,
)


def test_rss_is_positive_and_never_above_the_peak() -> None:
    current = rss_bytes()
    assert current > 0
    assert peak_rss_bytes() >= current


def test_peak_follows_a_large_allocation_and_resets() -> None:
    if not reset_peak_rss():
        pytest.skip("clear_refs is not supported here")
    before = peak_rss_bytes()
    block = bytearray(64 * 1024 * 1024)
    block[::4096] = b"x" * len(block[::4096])  # touch every page
    assert peak_rss_bytes() >= before + 60 * 1024 * 1024
    del block
    assert reset_peak_rss()
    assert peak_rss_bytes() < before + 60 * 1024 * 1024


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 1) == 7.0


@pytest.mark.parametrize("q", [0, -1, 101])
def test_percentile_rejects_ranks_outside_the_range(q: float) -> None:
    with pytest.raises(ValueError, match="q must be"):
        percentile([1.0], q)


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_latency_summary_is_in_milliseconds_and_ordered() -> None:
    summary = summarize_latencies([0.004, 0.001, 0.002, 0.003])
    assert summary["count"] == 4
    assert summary["p50_ms"] == pytest.approx(2.0)
    assert summary["max_ms"] == pytest.approx(4.0)
    assert summary["mean_ms"] == pytest.approx(2.5)
    assert summarize_latencies([]) == {"count": 0}
