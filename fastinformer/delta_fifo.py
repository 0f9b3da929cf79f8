"""DeltaFIFO: per-key deltas between a reflector and an informer's store.

Picks the compiled implementation when available (see :mod:`fastinformer._compat`);
type checkers read the pure-Python twin, :mod:`fastinformer._py_fifo`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastinformer._compat import core
from fastinformer._py_fifo import KeyListerGetter

if TYPE_CHECKING:
    from fastinformer._py_fifo import Delta, DeltaFIFO, DeltaType
else:
    Delta = core.Delta
    DeltaFIFO = core.DeltaFIFO
    DeltaType = core.DeltaType

__all__ = ["Delta", "DeltaFIFO", "DeltaType", "KeyListerGetter"]
