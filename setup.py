"""Build script: compiles the one extension, ``fastinformer._core``.

Knobs (environment variables):

* ``FASTINFORMER_NO_EXTENSIONS=1``: pure-Python build, nothing compiled.
* ``FASTINFORMER_DEBUG=1``: ``-O0 -g`` and Cython's bounds/None checks on.
* ``FASTINFORMER_TRACE=1``: Cython line tracing (for coverage and profilers).
* ``FASTINFORMER_ANNOTATE=1``: write the ``cython -a`` HTML next to the sources.
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false", "no")


NO_EXTENSIONS = _flag("FASTINFORMER_NO_EXTENSIONS")
DEBUG = _flag("FASTINFORMER_DEBUG")
TRACE = _flag("FASTINFORMER_TRACE")

# Every Cython directive of the project lives here and nowhere else.
DIRECTIVES: dict[str, object] = {
    "language_level": 3,
    "embedsignature": True,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "nonecheck": DEBUG,
    "cdivision": True,
    "binding": TRACE,
    "linetrace": TRACE,
    "profile": TRACE,
}


def _extensions() -> list[Extension]:
    if NO_EXTENSIONS:
        print("*** fastinformer: pure-Python build (FASTINFORMER_NO_EXTENSIONS is set)")
        return []
    from Cython.Build import cythonize

    macros = [("CYTHON_TRACE", "1"), ("CYTHON_TRACE_NOGIL", "1")] if TRACE else []
    cflags = ["-O0", "-g"] if DEBUG else ["-O2"]
    ext = Extension(
        "fastinformer._core",
        ["fastinformer/_core.pyx"],
        include_dirs=["fastinformer"],
        depends=["fastinformer/_core_scan.h"],
        define_macros=macros,
        extra_compile_args=cflags,
    )
    print("*** fastinformer: accelerated build, compiling fastinformer._core with Cython")
    return cythonize(
        [ext],
        compiler_directives=DIRECTIVES,
        annotate=_flag("FASTINFORMER_ANNOTATE"),
        quiet=True,
    )


if __name__ == "__main__" or "setuptools" in sys.modules:
    setup(ext_modules=_extensions())
