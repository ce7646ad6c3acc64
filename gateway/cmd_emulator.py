"""``tetragw emulator``: a virtual TETRA network for tests and demos (docs/emulator.md).

Only the argparse wiring lives here; the emulator is `hardware.emulator.app`.
"""

from __future__ import annotations

import argparse
from typing import Any

from hardware.emulator.app import add_arguments, run_from_args


def register(subparsers: Any) -> None:
    """Add the ``emulator`` subcommand to the ``tetragw`` parser."""
    parser = subparsers.add_parser(
        "emulator",
        help="run a virtual TETRA network (gateway terminals on ptys/TCP, field units)",
        description="Run a virtual TETRA network until SIGTERM/SIGINT.",
    )
    add_arguments(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    return run_from_args(args)
