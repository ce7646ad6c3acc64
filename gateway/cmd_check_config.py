"""``tetragw check-config FILE``: validate a configuration without starting anything.

Prints ``ok`` and a one-line summary (exit 0), or one line ``<key>: <message>`` on stderr
(exit 2, as ``tetragw run`` does for a configuration error).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gateway.config import ConfigError, load_config

EXIT_CONFIG_ERROR = 2


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``check-config`` to the ``tetragw`` command."""
    parser = subparsers.add_parser(
        "check-config",
        help="validate a configuration file",
        description="Validate a tetragw TOML configuration; exit 2 naming the bad key.",
    )
    parser.add_argument("file", metavar="FILE", help="the TOML configuration file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        sys.stderr.write(f"config error: {exc.key}: {exc.message}\n")
        return EXIT_CONFIG_ERROR
    sys.stdout.write("ok\n" + config.summary() + "\n")
    return 0
