"""The ``fastinformer`` command line: ``info``, ``sim`` and ``bench`` subcommands."""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Sequence


def _cmd_info(args: argparse.Namespace) -> int:
    from fastinformer import __version__
    from fastinformer._compat import IS_ACCELERATED, core

    print(f"fastinformer {__version__}")
    print(f"python {platform.python_version()} ({platform.python_implementation()})")
    print(f"core: {'compiled (Cython)' if IS_ACCELERATED else 'pure Python'} [{core.__name__}]")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(prog="fastinformer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="print the version and which core is loaded")
    info.set_defaults(func=_cmd_info)
    from fastinformer.sim.cli import add_parser as add_sim_parser

    add_sim_parser(sub)
    from fastinformer.bench.cli import register as register_bench

    register_bench(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fastinformer`` script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        rc: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    return rc


if __name__ == "__main__":
    sys.exit(main())
