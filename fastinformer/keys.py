"""Object keys: ``"namespace/name"`` for namespaced objects, ``"name"`` otherwise."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastinformer._compat import core

if TYPE_CHECKING:
    from fastinformer._core_py import (
        DeletedFinalStateUnknown,
        meta_namespace_key,
        split_meta_namespace_key,
    )
else:
    DeletedFinalStateUnknown = core.DeletedFinalStateUnknown
    meta_namespace_key = core.meta_namespace_key
    split_meta_namespace_key = core.split_meta_namespace_key

__all__ = ["DeletedFinalStateUnknown", "meta_namespace_key", "split_meta_namespace_key"]
