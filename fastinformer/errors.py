"""Exceptions raised by fastinformer; every one derives from :class:`FastInformerError`."""

from __future__ import annotations


class FastInformerError(Exception):
    """Base class of every error fastinformer raises on purpose."""


class KeyFuncError(FastInformerError, ValueError):
    """A key function could not derive a key (the object has no ``metadata.name``)."""


class IndexerConflictError(FastInformerError, ValueError):
    """An indexer was added under a name that is already registered."""


class FIFOClosedError(FastInformerError):
    """``DeltaFIFO.pop`` was called, or was waiting, when the queue was closed."""


class RequeueError(FastInformerError):
    """Raised by a ``DeltaFIFO.pop`` callback to put the popped deltas back.

    ``err`` is the original error, if any; ``pop`` re-raises it after requeueing.
    """

    def __init__(self, err: BaseException | None = None) -> None:
        super().__init__(repr(err) if err is not None else "requeue")
        self.err = err


class ShutDownError(FastInformerError):
    """A workqueue operation that needs a live queue was called after shutdown."""
