"""The ``tetragw`` command: one module per subcommand, each exposing ``register(subparsers)``.

A subcommand module adds its parser with ``set_defaults(func=...)``; ``func(args)`` returns the
exit status. Modules are imported lazily so that ``tetragw decode`` does not pay for the daemon.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# (subcommand names it registers, module that registers them)
_COMMANDS: tuple[str, ...] = (
    "gateway.cmd_decode",
    "gateway.cmd_run",
    "gateway.cmd_check_config",
    "gateway.cmd_audit",
    "gateway.cmd_emulator",
    "gateway.cmd_report",
    "gateway.cmd_send",
    "gateway.cmd_demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tetragw",
        description="TETRA radio integration gateway for emergency medical dispatch.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in _COMMANDS:
        module = importlib.import_module(module_name)
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
