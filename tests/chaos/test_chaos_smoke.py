"""The chaos runner, short: 15 callouts under four faults, through the same code as the long run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.chaos.__main__ import main
from tests.integration.mosquitto import find_mosquitto

pytestmark = pytest.mark.integration

FAULTS = ("gateway_kill", "broker_restart", "radio_reboot", "unit_coverage")


def test_short_chaos_run_loses_no_callout_under_kill_broker_restart_reboot_and_coverage(
    tmp_path: Path,
) -> None:
    find_mosquitto()
    output = tmp_path / "chaos.json"
    status = main(
        [
            *("--callouts", "15", "--callout-rate", "2", "--units", "12", "--radios", "2"),
            *("--deadline", "20", "--slack", "8", "--coverage-out", "3", "6"),
            *("--faults", ",".join(FAULTS), "--time-limit", "90"),
            *("--output", str(output), "--workdir", str(tmp_path / "run")),
        ]
    )
    figures = json.loads(output.read_text())
    assert figures["failures"] == []
    assert status == 0
    assert figures["callouts"] == figures["accepted"] == 15
    assert figures["faults"] == dict.fromkeys(sorted(FAULTS), 1)
    assert figures["lost"] == 0
    assert figures["delivered"] + figures["unreached"] == figures["unit_sends"]
    assert figures["statuses_sent"] > 0
    assert figures["audit_verify"].startswith("audit trail intact")
