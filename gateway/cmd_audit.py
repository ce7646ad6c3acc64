"""``tetragw audit verify``: check the audit trail's hash chain in the store file."""

from __future__ import annotations

import argparse
from typing import Any

from gateway.audit import verify
from gateway.store.database import STORE_FILENAME, store_path


def register(subparsers: Any) -> None:  # argparse's _SubParsersAction is private
    """Add ``audit verify [--data-dir DIR]``."""
    audit_parser: argparse.ArgumentParser = subparsers.add_parser(
        "audit", help="inspect the audit trail"
    )
    audit_sub = audit_parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify_parser = audit_sub.add_parser(
        "verify",
        help="check the hash chain: exit 0 when intact, 1 when not",
        description=(
            "Recompute every entry's hash, check the chain links, that no entry is missing, "
            "that the recorded head matches the last entry (a cut tail) and that the "
            "append-only triggers are in place."
        ),
    )
    verify_parser.add_argument(
        "--data-dir",
        default="./var",
        help=f"directory holding {STORE_FILENAME} (default ./var)",
    )
    verify_parser.set_defaults(func=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    """Print one line; 0 when the trail is intact, 1 when not (names the seq and why)."""
    result = verify(store_path(args.data_dir))
    print(result.describe())  # noqa: T201 - the command's output
    return 0 if result.ok else 1
