"""Pure-Python twin of ``_core_fifo.pxi``."""

from __future__ import annotations

__all__: list[str] = []
