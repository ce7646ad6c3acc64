"""``tetragw run``: the gateway daemon (cli-and-emulator.md)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from gateway.config import ConfigError, cli_overrides, load_config
from gateway.logging import configure_logging


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "run", help="run the gateway daemon", description="Run the gateway daemon."
    )
    parser.add_argument("--config", help="gateway TOML config (default: built-in defaults)")
    parser.add_argument("--broker", help="mqtt://host:port or mqtts://...; overrides the config")
    parser.add_argument(
        "--radio",
        action="append",
        default=[],
        help="radio URL: device path, socket://host:port, emulator://READY_FILE[#NAME] (repeat)",
    )
    parser.add_argument("--talkgroups", help="emulator://READY_FILE or pool:9001-9099")
    parser.add_argument("--data-dir", help="where the store and audit trail live (default ./var)")
    parser.add_argument("--gateway-id", help="this instance's id (health topic, MQTT client id)")
    parser.add_argument("--log-level", help="debug, info, warning or error")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    overrides = cli_overrides(
        broker=args.broker, radios=args.radio, talkgroups=args.talkgroups, data_dir=args.data_dir
    )
    if args.gateway_id:
        overrides["gateway.id"] = args.gateway_id
    if args.log_level:
        overrides["gateway.log_level"] = args.log_level
    try:
        config = load_config(args.config, overrides)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)  # noqa: T201 - the CLI's answer
        return 2
    configure_logging(config.gateway.log_level)
    from gateway.daemon import serve

    return asyncio.run(serve(config))
