"""fastinformer: Kubernetes informers for Python with a native core."""

from __future__ import annotations

from fastinformer._compat import IS_ACCELERATED
from fastinformer.keys import (
    DeletedFinalStateUnknown,
    meta_namespace_key,
    split_meta_namespace_key,
)

__version__ = "0.1.0"

__all__ = [
    "IS_ACCELERATED",
    "DeletedFinalStateUnknown",
    "__version__",
    "meta_namespace_key",
    "split_meta_namespace_key",
]
