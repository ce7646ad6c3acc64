"""`tetragw decode`: one JSON line per PDU, exit 0; bad input: one stderr line, exit 1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], list[str]]:
    status = main(["decode", *argv])
    out, err = capsys.readouterr()
    return status, out.splitlines(), err.splitlines()


def test_worked_lip_example_prints_its_position(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "0A0088BD4247F737FFE810", "--bits", "84")
    assert (status, err) == (0, [])
    [line] = out
    decoded = json.loads(line)
    assert decoded["kind"] == "lip_short"
    assert (decoded["lat"], decoded["lon"]) == (51.325099, 12.018099)
    assert decoded["reason"] == 129
    assert decoded["velocity_kmh"] is None


def test_several_pdus_print_one_line_each_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "8004", "7E01", "82040101486569", "82100001", "82200001")
    assert status == 0
    kinds = [json.loads(line)["kind"] for line in out]
    assert kinds == ["status", "short_report", "text", "sds_report", "sds_ack"]
    assert json.loads(out[2])["text"] == "Hei"


def test_four_digits_guess_status_unless_ai_service_says_otherwise(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, out, _ = run(capsys, "0201")
    assert json.loads(out[0])["kind"] == "status"
    _, out, _ = run(capsys, "0201", "--ai-service", "12")
    decoded = json.loads(out[0])
    assert (decoded["kind"], decoded["pid"], decoded["text"]) == ("text", 2, "")


def test_status_table_adds_the_meaning(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    table = tmp_path / "table.toml"
    table.write_text(
        'name = "t"\n[[status]]\nvalue = 0x8003\nmeaning = "en_route"\nlabel = "Utrykning"\n',
        encoding="utf-8",
    )
    status, out, _ = run(capsys, "8003", "--status-table", str(table))
    assert status == 0
    assert json.loads(out[0])["meaning"] == "en_route"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["0AZZ"], "non-hex character 'Z'"),
        (["0A00", "--ai-service", "12"], "LIP short location report needs 84 bits"),
        (["0A"], "LIP"),
        (["8004", "--ai-service", "14"], "--ai-service"),
        (["8004", "--ai-service", "x"], "--ai-service"),
        (["0A0088BD4247F737FFE810", "--bits", "abc"], "--bits"),
        (["0A0088BD4247F737FFE810", "--bits", "80"], "84 bits"),
        (["8004", "--status-table", "/nonexistent/table.toml"], "cannot read status table"),
    ],
)
def test_bad_input_exits_1_with_one_line_saying_what_is_wrong(
    capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    status, out, err = run(capsys, *argv)
    assert status == 1
    assert out == []
    assert len(err) == 1
    assert needle in err[0]
    assert "Traceback" not in err[0]


def test_one_bad_pdu_among_good_ones_prints_nothing_on_stdout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, err = run(capsys, "8004", "nothex", "7E01")
    assert (status, out) == (1, [])
    assert len(err) == 1
    assert "'nothex'" in err[0]


def test_installed_command_decodes_and_fails_cleanly() -> None:
    exe = Path(sys.executable).with_name("tetragw")
    ok = subprocess.run(
        [str(exe), "decode", "0A0088BD4247F737FFE81", "--bits", "84"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["lat"] == 51.325099
    bad = subprocess.run(
        [str(exe), "decode", "82"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 1
    assert bad.stdout == ""
    assert len(bad.stderr.splitlines()) == 1
    assert "Traceback" not in bad.stderr
