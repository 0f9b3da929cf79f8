"""_compat (core selection): the compiled core is really loaded, and the environment knobs work."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import fastinformer
from fastinformer import _core_py


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("FASTINFORMER_")}
    full.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=60
    )


@pytest.mark.skipif(
    os.environ.get("FASTINFORMER_REQUIRE_EXTENSIONS", "") in ("", "0"),
    reason="only meaningful when the extension is required",
)
def test_compiled_core_is_loaded_when_extensions_are_required() -> None:
    from fastinformer._compat import core

    assert fastinformer.IS_ACCELERATED
    assert core.__name__ == "fastinformer._core"
    assert core.__file__ is not None and core.__file__.endswith(".so")


def test_no_extensions_forces_the_pure_twin() -> None:
    out = _run(
        "import fastinformer._compat as c; print(c.core.__name__, c.IS_ACCELERATED)",
        FASTINFORMER_NO_EXTENSIONS="1",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["fastinformer._core_py", "False"]


def test_requiring_and_forbidding_extensions_at_once_fails_loudly() -> None:
    out = _run(
        "import fastinformer",
        FASTINFORMER_NO_EXTENSIONS="1",
        FASTINFORMER_REQUIRE_EXTENSIONS="1",
    )
    assert out.returncode != 0
    assert "both set" in out.stderr


def test_required_but_missing_extension_fails_loudly(tmp_path: object) -> None:
    # Hide the compiled module behind a meta path finder that refuses it.
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'fastinformer._core':\n"
        "            raise ImportError('blocked for the test')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import fastinformer\n"
    )
    out = _run(code, FASTINFORMER_REQUIRE_EXTENSIONS="1")
    assert out.returncode != 0
    assert "FASTINFORMER_REQUIRE_EXTENSIONS=1" in out.stderr
    fallback = _run(code + "print(fastinformer.IS_ACCELERATED)")
    assert fallback.returncode == 0, fallback.stderr
    assert fallback.stdout.strip() == "False"


def test_both_cores_export_the_same_public_names() -> None:
    from tests.conftest import CORES

    compiled = CORES["c"]
    if compiled is None:
        pytest.skip("compiled core not built")
    public_py = {n for n in _core_py.__all__}
    public_c = {n for n in dir(compiled) if not n.startswith("_")}
    assert public_py <= public_c, public_py - public_c


def test_every_public_name_of_the_package_resolves() -> None:
    for name in fastinformer.__all__:
        assert getattr(fastinformer, name) is not None, name
    with pytest.raises(AttributeError):
        fastinformer.no_such_name  # noqa: B018
