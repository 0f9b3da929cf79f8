"""Profiling with py-spy (a sampling profiler: no code change, little overhead).

``fastinformer bench --profile`` runs the fastinformer typed contender once more under
``py-spy record`` and writes ``flame-fastinformer-typed.svg`` next to the results; the
figures in the tables come from the run without the profiler.

To profile your own controller the same way::

    # start it under the profiler (writes the flame graph when it exits or on Ctrl-C)
    py-spy record --rate 200 --format flamegraph -o flame.svg -- python my_controller.py
    # or attach to a running process for 30 seconds
    py-spy record --pid 12345 --duration 30 --format flamegraph -o flame.svg
    # a live, top-like view of where the time goes
    py-spy top --pid 12345
    # every thread's current stack (e.g. a stuck handler)
    py-spy dump --pid 12345

Add ``--native`` to see time inside the compiled core and msgspec, ``--idle`` to include
threads that are waiting. Attaching to another process needs ptrace permission
(``CAP_SYS_PTRACE`` in containers, or ``kernel.yama.ptrace_scope=0``).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

__all__ = ["py_spy", "record_argv"]


def py_spy() -> str | None:
    """Path of the ``py-spy`` executable, None when it is not installed."""
    return shutil.which("py-spy")


def record_argv(
    executable: str, svg: Path, command: Sequence[str], rate: int = 200
) -> list[str]:
    """The command line running ``command`` under ``py-spy record`` into ``svg``."""
    if rate < 1:
        raise ValueError("rate must be at least 1 sample per second")
    return [executable, "record", "--rate", str(rate), "--format", "flamegraph",
            "-o", str(svg), "--", *command]
