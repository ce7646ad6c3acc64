"""`tetragw demo` end to end: embedded broker, emulator and gateway as real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from protocols.dispatch import Timeline

pytestmark = pytest.mark.integration

DEMO_ISSIS = {2040101, 2047001, 2047002}


def test_demo_runs_one_incident_to_the_end_and_prints_its_timeline(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    env = {**os.environ, "COLUMNS": "120"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "demo",
            "--time-scale",
            "0.2",
            "--data-dir",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=110,
        env=env,
        check=False,
    )
    logs = "\n".join(
        f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
        for path in sorted(data_dir.glob("*.log"))
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{logs}"

    [timeline_line] = [
        line for line in result.stdout.splitlines() if line.startswith('{"incident_id"')
    ]
    timeline = Timeline.model_validate_json(timeline_line)
    assert {unit.issi for unit in timeline.units} == DEMO_ISSIS
    assert timeline.closed_at is not None
    assert timeline.gssi is not None  # the emulator's DGNA gave the incident a talk group
    for unit in timeline.units:
        assert unit.delivered_at is not None, unit
        assert unit.on_scene_at is not None, unit
        assert unit.ended_at is not None, unit
        assert unit.ended_by == str(unit.issi)  # each unit ended its own mission
    assert "Response times of this run" in result.stdout
    # The children's output went to log files, not to the screen.
    assert (data_dir / "gateway.log").stat().st_size > 0
    assert '"level"' not in result.stdout

    # The run left a consistent audit trail in the demo's store.
    verify = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "audit", "verify", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
