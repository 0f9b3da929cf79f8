"""A work queue that can add items after a delay (``add_after``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastinformer._compat import core

if TYPE_CHECKING:
    from fastinformer._core_py import DelayingQueue
else:
    DelayingQueue = core.DelayingQueue

__all__ = ["DelayingQueue"]
