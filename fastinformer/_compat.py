"""Chooses the compiled core or its pure-Python twin, once, at import.

``FASTINFORMER_NO_EXTENSIONS=1`` forces the twin. ``FASTINFORMER_REQUIRE_EXTENSIONS=1``
turns a missing or broken extension into an ``ImportError`` instead of a silent
fallback. ``core`` is the chosen module; ``IS_ACCELERATED`` says which it is.
"""

from __future__ import annotations

import os
from types import ModuleType

from fastinformer import _core_py


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false", "no")


NO_EXTENSIONS = _flag("FASTINFORMER_NO_EXTENSIONS")
REQUIRE_EXTENSIONS = _flag("FASTINFORMER_REQUIRE_EXTENSIONS")

if NO_EXTENSIONS and REQUIRE_EXTENSIONS:
    raise ImportError(
        "FASTINFORMER_NO_EXTENSIONS and FASTINFORMER_REQUIRE_EXTENSIONS are both set"
    )


def _load() -> ModuleType:
    if NO_EXTENSIONS:
        return _core_py
    try:
        from fastinformer import _core  # type: ignore[attr-defined,unused-ignore]
    except ImportError as exc:
        if REQUIRE_EXTENSIONS:
            raise ImportError(
                "FASTINFORMER_REQUIRE_EXTENSIONS=1 but the compiled core "
                f"fastinformer._core could not be imported: {exc}"
            ) from exc
        return _core_py
    return _core  # type: ignore[no-any-return,unused-ignore]


core: ModuleType = _load()
IS_ACCELERATED: bool = core is not _core_py
