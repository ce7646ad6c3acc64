"""``tetragw decode HEX... [--bits N] [--ai-service 9-13] [--status-table FILE]``.

Prints one JSON object per PDU, one line each (cli-and-emulator.md). Without
``--ai-service`` a PDU of exactly 4 hex digits is read as a status (13), anything else as
SDS type 4 (12). Every PDU is decoded before anything is printed: bad input prints nothing
on stdout, one line on stderr saying what is wrong, and exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from protocols.errors import ProtocolError
from protocols.payload import payload_from_hex
from protocols.sds.message import AI_STATUS, SDS_AI_SERVICES, decode_sds, describe
from protocols.sds.status import StatusTable

_SDS_TYPE_4 = 12


def register(subparsers: Any) -> None:
    """Add the ``decode`` subcommand to the ``tetragw`` parser."""
    parser = subparsers.add_parser(
        "decode",
        help="decode captured PDUs (status, SDS-TL, text, LIP) to JSON",
        description="Decode the hex line of a +CTSDSR to one JSON object per PDU.",
    )
    parser.add_argument("hex", nargs="+", metavar="HEX", help="the PDU as hex digits")
    # Validated in run() (not by argparse) so that bad values exit 1 with a single line.
    parser.add_argument("--bits", metavar="N", help="declared length in bits (+CTSDSR field)")
    parser.add_argument(
        "--ai-service",
        metavar="{9,10,11,12,13}",
        help="12 = SDS type 4, 13 = status (default: 4 digits → 13, else 12)",
    )
    parser.add_argument(
        "--status-table",
        metavar="FILE",
        type=Path,
        help="status table TOML: adds meaning and label to status values",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Decode every HEX argument; 0 when all decode, 1 (and one stderr line) otherwise."""
    try:
        lines = [json.dumps(obj, ensure_ascii=False) for obj in _decode_all(args)]
    except (ProtocolError, _UsageError) as exc:
        message = " ".join(str(exc).split())  # always exactly one line
        sys.stderr.write(f"tetragw decode: {message}\n")
        return 1
    sys.stdout.write("".join(f"{line}\n" for line in lines))
    return 0


class _UsageError(Exception):
    pass


def _int_option(raw: str | None, name: str) -> int | None:
    if raw is None:
        return None
    try:
        return int(raw, 10)
    except ValueError:
        raise _UsageError(f"{name} must be a whole number, not {raw!r}") from None


def _decode_all(args: argparse.Namespace) -> list[dict[str, Any]]:
    bits = _int_option(args.bits, "--bits")
    ai_service = _int_option(args.ai_service, "--ai-service")
    if ai_service is not None and ai_service != AI_STATUS and ai_service not in SDS_AI_SERVICES:
        raise _UsageError(f"--ai-service must be one of 9-13, not {ai_service}")
    table = None
    if args.status_table is not None:
        try:
            text = args.status_table.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise _UsageError(f"cannot read status table {args.status_table}: {exc}") from None
        table = StatusTable.from_toml(text)
    out = []
    for raw in args.hex:
        digits = "".join(raw.split())
        try:
            service = ai_service
            if service is None:
                service = AI_STATUS if len(digits) == 4 else _SDS_TYPE_4
            message = decode_sds(service, payload_from_hex(digits, bits), bits)
            out.append(describe(message, table))
        except ProtocolError as exc:
            raise ProtocolError(f"{raw!r}: {exc}") from None
    return out
