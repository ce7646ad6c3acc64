"""``tetragw <command>`` imports only that command's module: start-up time is a target."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _imports_aiohttp(command: str) -> bool:
    code = (
        "import sys, gateway.cli as cli\n"
        f"cli.build_parser({command!r})\n"
        "import gateway.daemon\n"
        "print('aiohttp' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout.strip() == "True"


def test_the_daemon_does_not_import_the_emulators_http_stack() -> None:
    # aiohttp is the emulator's control API and the DGNA client's: ~0.13 s of the start.
    assert not _imports_aiohttp("run")


@pytest.mark.parametrize("command", ["--help", "emulator"])
def test_help_and_the_emulator_still_register_it(command: str) -> None:
    assert _imports_aiohttp(command)
