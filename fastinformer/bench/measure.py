"""Measurements taken inside a process: resident memory (current and peak) and percentiles.

RSS comes from ``/proc/self/status`` (``VmRSS``, ``VmHWM``) on Linux; elsewhere the peak
falls back to ``resource.getrusage`` and the current value to the peak (documented as
such in the results). No third-party dependency.
"""

from __future__ import annotations

import math
import os
import resource
import sys
from collections.abc import Sequence

__all__ = [
    "LatencySummary",
    "peak_rss_bytes",
    "percentile",
    "reset_peak_rss",
    "rss_bytes",
    "rss_source",
    "summarize_latencies",
]

_STATUS = "/proc/self/status"
LatencySummary = dict[str, float]


def _status_kib(field: str) -> int | None:
    try:
        with open(_STATUS, encoding="ascii") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _rusage_peak_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def rss_source() -> str:
    """Where :func:`rss_bytes` reads from: ``"/proc/self/status"`` or ``"getrusage"``."""
    return _STATUS if _status_kib("VmRSS:") is not None else "getrusage"


def rss_bytes() -> int:
    """The resident set size of this process now, in bytes (the peak where unavailable)."""
    kib = _status_kib("VmRSS:")
    return kib * 1024 if kib is not None else _rusage_peak_bytes()


def peak_rss_bytes() -> int:
    """The highest resident set size since start or the last :func:`reset_peak_rss`."""
    kib = _status_kib("VmHWM:")
    return kib * 1024 if kib is not None else _rusage_peak_bytes()


def reset_peak_rss() -> bool:
    """Reset the peak to the current RSS (Linux ``clear_refs``); False when unsupported."""
    try:
        fd = os.open("/proc/self/clear_refs", os.O_WRONLY)
    except OSError:
        return False
    try:
        os.write(fd, b"5")
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q <= 100) of already sorted values."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0 < q <= 100:
        raise ValueError(f"q must be within (0, 100], got {q}")
    rank = math.ceil(q / 100 * len(sorted_values))
    return float(sorted_values[max(rank, 1) - 1])


def summarize_latencies(seconds: Sequence[float]) -> LatencySummary:
    """``count``, ``p50``/``p90``/``p99``/``max``/``mean`` in milliseconds (empty: count 0)."""
    if not seconds:
        return {"count": 0}
    ordered = sorted(seconds)
    return {
        "count": len(ordered),
        "p50_ms": percentile(ordered, 50) * 1e3,
        "p90_ms": percentile(ordered, 90) * 1e3,
        "p99_ms": percentile(ordered, 99) * 1e3,
        "max_ms": ordered[-1] * 1e3,
        "mean_ms": sum(ordered) / len(ordered) * 1e3,
    }
