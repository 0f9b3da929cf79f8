"""Thread-safe indexed store: ``ThreadSafeStore`` (explicit keys) and ``Indexer`` (keyed objects).

client-go's ``tools/cache`` store semantics with Python names. An index function maps an
object to the string values it is filed under; ``by_index(name, value)`` returns the
objects filed under ``value``. Built-in index functions: :func:`namespace_index_func`,
:func:`label_index_func` and :func:`node_name_index_func`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastinformer._compat import core
from fastinformer._py_store import IndexFunc

if TYPE_CHECKING:
    from fastinformer._core_py import (
        NAMESPACE_INDEX,
        Indexer,
        IndexNotFoundError,
        ThreadSafeStore,
        label_index_func,
        namespace_index_func,
        node_name_index_func,
    )
else:
    NAMESPACE_INDEX = core.NAMESPACE_INDEX
    IndexNotFoundError = core.IndexNotFoundError
    Indexer = core.Indexer
    ThreadSafeStore = core.ThreadSafeStore
    label_index_func = core.label_index_func
    namespace_index_func = core.namespace_index_func
    node_name_index_func = core.node_name_index_func

__all__ = [
    "NAMESPACE_INDEX",
    "IndexFunc",
    "IndexNotFoundError",
    "Indexer",
    "ThreadSafeStore",
    "label_index_func",
    "namespace_index_func",
    "node_name_index_func",
]
