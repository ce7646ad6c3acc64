"""The ``tetragw`` command: one module per subcommand, each exposing ``register(subparsers)``.

A subcommand module adds its parser with ``set_defaults(func=...)``; ``func(args)`` returns the
exit status. Only the named subcommand's module is imported (all of them for ``--help`` or an
unknown name), so ``tetragw decode`` does not pay for the daemon, nor ``tetragw run`` for the
emulator's HTTP server (about a tenth of a second of the gateway's start, docs/performance.md).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
from collections.abc import Sequence

#: Subcommand name → the module that registers it.
_COMMANDS: dict[str, str] = {
    "decode": "gateway.cmd_decode",
    "run": "gateway.cmd_run",
    "check-config": "gateway.cmd_check_config",
    "audit": "gateway.cmd_audit",
    "emulator": "gateway.cmd_emulator",
    "report": "gateway.cmd_report",
    "send": "gateway.cmd_send",
    "demo": "gateway.cmd_demo",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``command`` alone if it is one of ours, else of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="tetragw",
        description="TETRA radio integration gateway for emergency medical dispatch.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules = [_COMMANDS[command]] if command in _COMMANDS else list(_COMMANDS.values())
    for module_name in modules:
        module = importlib.import_module(module_name)
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    # tetragw has no options of its own before the subcommand but -h/--help.
    command = next((a for a in arguments if not a.startswith("-")), None)
    if command == "run":
        # No cyclic garbage collection while the daemon imports and builds what it keeps for
        # its whole life: the daemon freezes all of it once started and turns the collector
        # back on, so that later full collections do not walk it (gateway/daemon.py).
        gc.disable()
    args = build_parser(command).parse_args(arguments)
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
