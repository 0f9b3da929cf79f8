"""From popped deltas to handlers: per-handler notification buffers and the distributor.

Used by :class:`fastinformer.informer.SharedIndexInformer`. Picks the compiled
implementation when available (see :mod:`fastinformer._compat`); type checkers read the
pure-Python twin, :mod:`fastinformer._py_notify`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastinformer._compat import core

if TYPE_CHECKING:
    from fastinformer._py_notify import (
        NOTE_ADD,
        NOTE_DELETE,
        NOTE_UPDATE,
        DeltaDistributor,
        NotificationBuffer,
    )
else:
    NOTE_ADD = core.NOTE_ADD
    NOTE_UPDATE = core.NOTE_UPDATE
    NOTE_DELETE = core.NOTE_DELETE
    DeltaDistributor = core.DeltaDistributor
    NotificationBuffer = core.NotificationBuffer

__all__ = ["NOTE_ADD", "NOTE_DELETE", "NOTE_UPDATE", "DeltaDistributor", "NotificationBuffer"]
