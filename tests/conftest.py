"""Shared fixtures: ``core`` runs a test against the compiled core and its pure twin."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

from fastinformer import _core_py

REQUIRE_EXTENSIONS = os.environ.get("FASTINFORMER_REQUIRE_EXTENSIONS", "") not in ("", "0")


def _compiled_core() -> ModuleType | None:
    try:
        return importlib.import_module("fastinformer._core")
    except ImportError:
        if REQUIRE_EXTENSIONS:
            raise
        return None


CORES: dict[str, ModuleType | None] = {"c": _compiled_core(), "py": _core_py}


@pytest.fixture(scope="session", params=["c", "py"])
def core(request: pytest.FixtureRequest) -> ModuleType:
    """The core implementation under test: ``c`` (Cython) or ``py`` (pure twin)."""
    mod = CORES[request.param]
    if mod is None:
        pytest.skip("compiled core not built (set FASTINFORMER_REQUIRE_EXTENSIONS=1 to fail)")
    return mod
