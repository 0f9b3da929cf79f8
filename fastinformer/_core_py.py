"""Pure-Python twin of the compiled core ``fastinformer._core``.

Same public names and behaviour as the extension; this is what type checkers
read. One private module per domain, mirroring the ``_core_*.pxi`` includes.
"""

from __future__ import annotations

from fastinformer._py_keys import (
    DeletedFinalStateUnknown,
    meta_namespace_key,
    split_meta_namespace_key,
)

__all__ = [
    "DeletedFinalStateUnknown",
    "meta_namespace_key",
    "split_meta_namespace_key",
]
