"""`tetragw report incident|kpi` against a real SQLite store filled through the store's own API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.store import NewCallout, Store, UnitAssignment
from protocols.dispatch import Timeline, format_time

T0 = 1_800_000_000.0
AMBULANCE = 2040101
RESPONDER = 2047001


def fill_store(data_dir: Path) -> None:
    """One incident: an ambulance that went all the way, a first responder that was delivered
    and acknowledged; then a second incident (an ambulance delivered 30 s after its alert)."""
    with Store.in_data_dir(data_dir, clock=lambda: T0) as store:
        with store.transaction(now=T0) as tx:
            acceptance = tx.accept_callout(
                NewCallout(
                    callout_id="OSL-1-a",
                    incident_id="OSL-1",
                    units=(
                        UnitAssignment(AMBULANCE, "ambulance"),
                        UnitAssignment(RESPONDER, "first_responder"),
                    ),
                    text="Hjertestans. Storgata 1, Oslo.",
                    deadline_s=60,
                    talkgroup=True,
                    priority="1A",
                )
            )
            tx.set_talkgroup("OSL-1", gssi=9001, state="active")
        ambulance_send, responder_send = acceptance.sends
        with store.transaction(now=T0 + 2) as tx:
            tx.record_sent(ambulance_send.send_id, radio="gw1", message_refs=[1])
            tx.record_sent(responder_send.send_id, radio="gw2", message_refs=[1])
        with store.transaction(now=T0 + 4) as tx:
            tx.record_delivered(ambulance_send.send_id)
        with store.transaction(now=T0 + 6) as tx:
            tx.record_delivered(responder_send.send_id)
        for offset, issi, value, meaning in (
            (10, AMBULANCE, 0x8001, "acknowledged"),
            (12, RESPONDER, 0x8001, "acknowledged"),
            (20, AMBULANCE, 0x8002, "en_route"),
            (70, AMBULANCE, 0x8003, "on_scene"),
            (300, AMBULANCE, 0x8007, "mission_ended"),
        ):
            with store.transaction(now=T0 + offset) as tx:
                tx.record_unit_status(issi, value, meaning=meaning, radio="gw1")
        with store.transaction(now=T0 + 1000) as tx:
            second = tx.accept_callout(
                NewCallout(
                    callout_id="OSL-2-a",
                    incident_id="OSL-2",
                    units=(UnitAssignment(2040102, "ambulance"),),
                    text="Fall fra stige.",
                    deadline_s=60,
                    talkgroup=False,
                )
            )
        with store.transaction(now=T0 + 1030) as tx:
            tx.record_delivered(second.sends[0].send_id)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    fill_store(tmp_path)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(["report", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_incident_json_is_the_retained_timeline_payload(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(
        capsys, "incident", "OSL-1", "--data-dir", str(data_dir), "--format", "json"
    )
    assert (status, err) == (0, "")
    [line] = out.splitlines()
    timeline = Timeline.model_validate_json(line)
    assert (timeline.incident_id, timeline.priority, timeline.gssi) == ("OSL-1", "1A", 9001)
    assert timeline.opened_at == format_time(T0)
    assert timeline.closed_at is None
    ambulance, responder = timeline.units
    assert (ambulance.issi, ambulance.role) == (AMBULANCE, "ambulance")
    assert ambulance.delivered_at == format_time(T0 + 4)
    assert ambulance.on_scene_at == format_time(T0 + 70)
    assert (ambulance.ended_at, ambulance.ended_by) == (format_time(T0 + 300), str(AMBULANCE))
    assert (responder.issi, responder.acknowledged_at) == (RESPONDER, format_time(T0 + 12))
    assert responder.on_scene_at is None
    # The same compact JSON the gateway publishes (None kept as null, field order as declared).
    assert line == timeline.to_json().decode()
    assert json.loads(line)["units"][1]["ended_by"] is None


def test_incident_table_shows_every_unit_with_durations_from_alert(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "incident", "OSL-1", "--data-dir", str(data_dir))
    assert status == 0
    assert "OSL-1" in out
    assert str(AMBULANCE) in out
    assert str(RESPONDER) in out
    assert "first_responder" in out
    assert "+70.0s" in out  # on scene 70 s after the alert
    assert "+300.0s" in out  # mission ended


def test_unknown_incident_prints_one_line_and_exits_1(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, "incident", "NOPE-9", "--data-dir", str(data_dir))
    assert status == 1
    assert out == ""
    [line] = err.splitlines()
    assert "NOPE-9" in line


def test_missing_store_is_reported_without_creating_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "nothing-here"
    status, _, err = run(capsys, "kpi", "--data-dir", str(empty))
    assert status == 1
    assert "no store" in err
    assert not empty.exists()


def test_kpi_json_gives_median_and_p90_over_all_units(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "kpi", "--data-dir", str(data_dir), "--format", "json")
    assert status == 0
    body = json.loads(out)
    # delivered after 4, 6 and 30 s: median 6, p90 = 6 + 0.8 * 24
    assert body["delivered"]["count"] == 3
    assert body["delivered"]["median_s"] == pytest.approx(6.0)
    assert body["delivered"]["p90_s"] == pytest.approx(25.2)
    assert body["acknowledged"] == {"count": 2, "median_s": 11.0, "p90_s": pytest.approx(11.8)}
    assert body["on_scene"] == {"count": 1, "median_s": 70.0, "p90_s": 70.0}


def test_kpi_filters_by_alert_window_and_role(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    since = format_time(T0 + 500)
    status, out, _ = run(
        capsys, "kpi", "--data-dir", str(data_dir), "--since", since, "--format", "json"
    )
    assert status == 0
    body = json.loads(out)
    assert body["since"] == since
    assert body["delivered"] == {"count": 1, "median_s": 30.0, "p90_s": 30.0}
    assert body["on_scene"]["count"] == 0

    status, out, _ = run(
        capsys,
        "kpi",
        "--data-dir",
        str(data_dir),
        "--role",
        "first_responder",
        "--until",
        "2030-01-01",
        "--format",
        "json",
    )
    assert status == 0
    body = json.loads(out)
    assert body["delivered"] == {"count": 1, "median_s": 6.0, "p90_s": 6.0}


def test_kpi_table_names_the_three_intervals(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "kpi", "--data-dir", str(data_dir))
    assert status == 0
    for label in ("dispatch → delivered", "dispatch → acknowledged", "dispatch → on scene"):
        assert label in out
    assert "70.0 s" in out


def test_report_reads_while_the_daemon_holds_the_store_open(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Store.in_data_dir(data_dir, clock=lambda: T0 + 2000) as daemon_store:
        with daemon_store.transaction() as tx:
            tx.close_incident("OSL-1", reason="done")
        status, out, _ = run(
            capsys, "incident", "OSL-1", "--data-dir", str(data_dir), "--format", "json"
        )
    assert status == 0
    timeline = Timeline.model_validate_json(out)
    assert timeline.closed_at == format_time(T0 + 2000)
    assert timeline.units[1].ended_by == "dispatch"


def test_bad_since_is_a_usage_error(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "kpi", "--data-dir", str(data_dir), "--since", "yesterday"])
    assert exit_info.value.code == 2
    assert "yesterday" in capsys.readouterr().err
