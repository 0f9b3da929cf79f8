"""The basic work queue: FIFO, deduplicating, one worker per item at a time."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastinformer._compat import core

if TYPE_CHECKING:
    from fastinformer._core_py import Queue
else:
    Queue = core.Queue

__all__ = ["Queue"]
