"""The parts of `tetragw demo` on their own: the live view fed with recorded dispatch events,
the scripted callout, and the handling of child processes."""

from __future__ import annotations

import asyncio
import io
import sys
from pathlib import Path

import pytest
from rich.console import Console

from gateway.cmd_demo import (
    DEMO_UNITS,
    Children,
    DemoError,
    demo_callout,
    gateway_config,
)
from gateway.config import load_config
from gateway.demo_view import DemoView
from protocols.dispatch import (
    CalloutEvent,
    PositionEvent,
    Timeline,
    TimelineUnit,
    Topics,
    UnitStatusEvent,
    format_time,
)

T0 = 1_800_000_000.0
TOPICS = Topics("tetragw")
INCIDENT = "DEMO-1"
CALLOUT = "DEMO-1-1"
AMBULANCE, FR1, FR2 = (unit.issi for unit in DEMO_UNITS)


def event(kind: str, issi: int | None = None, **fields: object) -> tuple[str, bytes]:
    body = CalloutEvent(
        callout_id=CALLOUT,
        incident_id=INCIDENT,
        event=kind,  # type: ignore[arg-type]
        issi=issi,
        at=format_time(T0),
        **fields,  # type: ignore[arg-type]
    )
    return TOPICS.callout_events(CALLOUT), body.to_json()


def status(issi: int, value: int, meaning: str, label: str) -> tuple[str, bytes]:
    body = UnitStatusEvent(
        issi=issi,
        status=value,
        meaning=meaning,
        label=label,
        incident_id=INCIDENT,
        at=format_time(T0),
    )
    return TOPICS.unit_status(issi), body.to_json()


def timeline(ended: dict[int, float], closed: bool = False) -> tuple[str, bytes]:
    units = tuple(
        TimelineUnit(
            issi=unit.issi,
            role=unit.role,
            alerted_at=format_time(T0),
            delivered_at=format_time(T0 + 0.2),
            on_scene_at=format_time(T0 + 3) if unit.issi in ended else None,
            ended_at=format_time(T0 + ended[unit.issi]) if unit.issi in ended else None,
            ended_by=str(unit.issi) if unit.issi in ended else None,
        )
        for unit in DEMO_UNITS
    )
    body = Timeline(
        incident_id=INCIDENT,
        priority="1A",
        gssi=9001,
        opened_at=format_time(T0),
        closed_at=format_time(T0 + 9) if closed else None,
        units=units,
    )
    return TOPICS.incident_timeline(INCIDENT), body.to_json()


def health(state: str) -> tuple[str, bytes]:
    return TOPICS.health("demo"), f'{{"state":"{state}"}}'.encode()


def new_view() -> DemoView:
    return DemoView(TOPICS, CALLOUT, INCIDENT, DEMO_UNITS)


def rendered(view: DemoView) -> str:
    console = Console(width=160, file=io.StringIO())
    console.print(view.render())
    output = console.file
    assert isinstance(output, io.StringIO)
    return output.getvalue()


def test_recorded_run_fills_every_unit_row_and_finishes_when_all_missions_ended() -> None:
    view = new_view()
    recorded = [
        health("online"),
        event("accepted"),
        event("talkgroup", gssi=9001, state="active", attached=(AMBULANCE, FR1, FR2)),
        *(event("sent", issi, attempt=1) for issi in (AMBULANCE, FR1, FR2)),
        *(event("delivered", issi) for issi in (AMBULANCE, FR1, FR2)),
        status(AMBULANCE, 0x8003, "on_scene", "Framme"),
        (
            TOPICS.unit_position(FR1),
            PositionEvent(
                issi=FR1, lat=59.91, lon=10.75, speed_kmh=38.0, at=format_time(T0)
            ).to_json(),
        ),
        timeline({AMBULANCE: 5.0, FR1: 5.5}),
    ]
    for topic, payload in recorded:
        view.feed(topic, payload)
    assert view.online("demo")
    assert {issi: p.delivery for issi, p in view.progress.items()} == dict.fromkeys(
        (AMBULANCE, FR1, FR2), "delivered"
    )
    assert (view.progress[AMBULANCE].label, view.progress[AMBULANCE].status_hex) == (
        "Framme",
        "8003",
    )
    assert view.progress[FR1].speed_kmh == 38.0
    assert view.talkgroup["gssi"] == 9001
    assert not view.finished  # FR-2's mission has not ended yet
    view.feed(*timeline({AMBULANCE: 5.0, FR1: 5.5, FR2: 6.0}))
    assert view.finished

    text = rendered(view)
    for unit in DEMO_UNITS:
        assert str(unit.issi) in text
        assert unit.name in text
    assert "Framme" in text
    assert "on scene +3.0s" in text
    assert "talk group 9001: active, attached 2040101, 2047001, 2047002" in text


def test_delivery_state_never_goes_back_and_read_follows_delivered() -> None:
    view = new_view()
    view.feed(*event("delivered", AMBULANCE))
    view.feed(*event("sent", AMBULANCE, attempt=2))  # a late duplicate of an earlier step
    assert view.progress[AMBULANCE].delivery == "delivered"
    view.feed(*event("unreached", AMBULANCE, reason="deadline"))  # never after delivered
    assert view.progress[AMBULANCE].delivery == "delivered"
    view.feed(*event("read", AMBULANCE))
    assert view.progress[AMBULANCE].delivery == "read"
    view.feed(*event("retrying", FR1, attempt=2, reason="no_report"))
    assert (view.progress[FR1].delivery, view.progress[FR1].attempt) == ("retrying", 2)


def test_an_unreached_unit_counts_as_ended_for_the_tour() -> None:
    view = new_view()
    view.feed(*timeline({AMBULANCE: 5.0, FR1: 5.5}))
    view.feed(*event("unreached", FR2, reason="deadline"))
    assert view.finished
    assert "FR-2 2047002: unreached (deadline)" in view.log


def test_rejected_callout_ends_the_tour() -> None:
    view = new_view()
    view.feed(*event("rejected", reason="text_too_long"))
    assert view.finished
    assert view.rejected == "text_too_long"


def test_other_callouts_incidents_and_garbage_are_ignored() -> None:
    view = new_view()
    other = CalloutEvent(
        callout_id="X-1", incident_id="X", event="delivered", issi=AMBULANCE, at=format_time(T0)
    )
    assert view.feed(TOPICS.callout_events("X-1"), other.to_json()) is None
    assert view.feed(TOPICS.unit_status(1234), status(1234, 0x8001, "acknowledged", "K")[1]) is None
    assert view.feed("elsewhere/v1/callouts", b"{}") is None
    assert view.feed(TOPICS.callout_events(CALLOUT), b"not json") is None
    assert view.feed(TOPICS.incident_timeline(INCIDENT), b'{"incident_id": 5}') is None
    assert view.progress[AMBULANCE].delivery == "waiting"
    assert view.timeline is None


def test_new_lines_are_handed_out_once() -> None:
    view = new_view()
    view.feed(*health("online"))
    view.feed(*health("online"))  # a repeat of the retained health says nothing new
    view.feed(*event("accepted"))
    assert view.take_new_lines() == ["gateway demo online", "callout accepted (stored durably)"]
    assert view.take_new_lines() == []


def test_scripted_callout_alerts_an_ambulance_and_two_first_responders() -> None:
    request = demo_callout("DEMO-20261121-220000")
    assert request.callout_id == "DEMO-20261121-220000-1"
    assert [unit.role for unit in request.units] == [
        "ambulance",
        "first_responder",
        "first_responder",
    ]
    assert request.wants_talkgroup
    assert "HJERTESTANS" in request.text


def test_demo_gateway_config_is_valid_and_speaks_mqtt_311(tmp_path: Path) -> None:
    path = tmp_path / "demo.toml"
    path.write_text(gateway_config("mqtt://127.0.0.1:41234"))
    config = load_config(path)
    assert config.gateway.id == "demo"
    assert config.broker.url == "mqtt://127.0.0.1:41234"
    assert config.broker.protocol_version == "3.1.1"


async def test_a_dead_child_is_reported_with_its_log(tmp_path: Path) -> None:
    children = Children(tmp_path)
    child = children.start(
        "gateway", [sys.executable, "-c", "import sys; print('config error: radios'); sys.exit(2)"]
    )
    await asyncio.to_thread(child.process.wait)
    with pytest.raises(DemoError) as failure:
        children.check()
    assert "gateway exited with status 2" in str(failure.value)
    assert "config error: radios" in str(failure.value)
    await children.stop_all()


async def test_stop_all_terminates_running_children(tmp_path: Path) -> None:
    children = Children(tmp_path)
    sleeper = children.start("emulator", [sys.executable, "-c", "import time; time.sleep(60)"])
    children.check()  # running: no failure
    await children.stop_all()
    assert sleeper.process.returncode is not None
    assert children.running == []
