"""Pure-Python twin of the compiled core ``fastinformer._core``.

Same public names and behaviour as the extension; this is what type checkers
read. One private module per domain, mirroring the ``_core_*.pxi`` includes.
"""

from __future__ import annotations

from fastinformer import (
    _py_fifo,
    _py_keys,
    _py_lines,
    _py_notify,
    _py_queue,
    _py_ratelimit,
    _py_reuse,
    _py_scan,
    _py_store,
)
from fastinformer._py_fifo import *  # noqa: F403
from fastinformer._py_keys import *  # noqa: F403
from fastinformer._py_lines import *  # noqa: F403
from fastinformer._py_notify import *  # noqa: F403
from fastinformer._py_queue import *  # noqa: F403
from fastinformer._py_ratelimit import *  # noqa: F403
from fastinformer._py_reuse import *  # noqa: F403
from fastinformer._py_scan import *  # noqa: F403
from fastinformer._py_store import *  # noqa: F403

__all__ = [
    *_py_keys.__all__,
    *_py_store.__all__,
    *_py_fifo.__all__,
    *_py_ratelimit.__all__,
    *_py_queue.__all__,
    *_py_lines.__all__,
    *_py_notify.__all__,
    *_py_scan.__all__,
    *_py_reuse.__all__,
]
