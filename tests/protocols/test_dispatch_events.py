"""Outbound dispatch events, times and topic names, as dispatch-api.md shows them."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from protocols.dispatch import (
    AlarmEvent,
    CalloutEvent,
    DispatchRejected,
    ErrorEvent,
    HealthEvent,
    PositionEvent,
    RadioHealth,
    RequestEvent,
    Timeline,
    TimelineUnit,
    Topics,
    UnitMessageEvent,
    UnitStatusEvent,
    format_time,
    parse_inbound,
    parse_time,
)
from protocols.errors import ProtocolError

AT = "2026-11-21T22:19:05.123Z"


def test_format_time_is_rfc3339_utc_with_milliseconds() -> None:
    assert format_time(1795299545.123) == AT
    assert format_time(0) == "1970-01-01T00:00:00.000Z"
    assert format_time(1.9996) == "1970-01-01T00:00:02.000Z"  # rounds to the millisecond
    assert format_time(-0.001) == "1969-12-31T23:59:59.999Z"


@given(st.integers(min_value=0, max_value=4_102_444_800_000))
def test_parse_time_inverts_format_time(millis: int) -> None:
    assert parse_time(format_time(millis / 1000)) == millis / 1000


@pytest.mark.parametrize(
    "text", ["2026-11-21T22:19:05Z", "2026-11-21 22:19:05.123Z", "2026-02-30T00:00:00.000Z"]
)
def test_parse_time_refuses_other_shapes(text: str) -> None:
    with pytest.raises(ProtocolError):
        parse_time(text)


def test_callout_event_omits_absent_fields_like_the_contract_example() -> None:
    delivered = CalloutEvent(
        callout_id="OSL-1", incident_id="OSL", event="delivered", issi=2040101, at=AT, attempt=1
    )
    assert json.loads(delivered.to_json()) == {
        "callout_id": "OSL-1",
        "incident_id": "OSL",
        "event": "delivered",
        "issi": 2040101,
        "at": AT,
        "attempt": 1,
    }
    accepted = CalloutEvent(callout_id="OSL-1", incident_id="OSL", event="accepted", at=AT)
    assert accepted.to_json() == (
        b'{"callout_id":"OSL-1","incident_id":"OSL","event":"accepted",'
        b'"at":"2026-11-21T22:19:05.123Z"}'
    )


def test_talkgroup_event_carries_gssi_state_and_attached_units() -> None:
    event = CalloutEvent(
        callout_id="c",
        incident_id="i",
        event="talkgroup",
        at=AT,
        gssi=9001,
        state="active",
        attached=(2040101, 2047001),
    )
    body = json.loads(event.to_json())
    assert (body["gssi"], body["state"], body["attached"]) == (9001, "active", [2040101, 2047001])
    assert "issi" not in body


def test_event_vocabulary_and_ranges_are_enforced() -> None:
    with pytest.raises(ValidationError):
        CalloutEvent(callout_id="c", incident_id="i", event="lost", at=AT)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        CalloutEvent(callout_id="c", incident_id="i", event="sent", issi=1 << 24, at=AT)
    with pytest.raises(ValidationError):
        CalloutEvent(callout_id="c", incident_id="i", event="sent", at="yesterday")
    with pytest.raises(ValidationError):
        CalloutEvent(callout_id="c", incident_id="i", event="talkgroup", at=AT, state="gone")  # type: ignore[arg-type]


def test_request_event_answers_a_unit_send() -> None:
    body = json.loads(
        RequestEvent(request_id="r-1", event="sent", issi=5, at=AT, attempt=2).to_json()
    )
    assert body == {"request_id": "r-1", "event": "sent", "issi": 5, "at": AT, "attempt": 2}


def test_unit_status_keeps_null_meaning_and_derives_hex() -> None:
    known = UnitStatusEvent(
        issi=2040101,
        status=32771,
        meaning="on_scene",
        label="Framme",
        incident_id="OSL-2026-000123",
        at=AT,
        radio="gw1",
    )
    assert json.loads(known.to_json()) == {
        "issi": 2040101,
        "status": 32771,
        "status_hex": "8003",
        "meaning": "on_scene",
        "label": "Framme",
        "incident_id": "OSL-2026-000123",
        "at": AT,
        "radio": "gw1",
    }
    unknown = json.loads(UnitStatusEvent(issi=1, status=0xABCD, meaning=None, at=AT).to_json())
    assert unknown["meaning"] is None
    assert unknown["status_hex"] == "ABCD"
    assert UnitStatusEvent(issi=1, status=5, meaning=None, at=AT).status_hex == "0005"


def test_position_keeps_unknown_fields_as_null() -> None:
    body = json.loads(PositionEvent(issi=7, lat=59.91, lon=10.75, at=AT).to_json())
    assert body == {
        "issi": 7,
        "lat": 59.91,
        "lon": 10.75,
        "error_m": None,
        "speed_kmh": None,
        "heading_deg": None,
        "reason": None,
        "at": AT,
    }
    with pytest.raises(ValidationError):
        PositionEvent(issi=7, lat=91, lon=0, at=AT)


def test_timeline_keeps_every_documentation_field_even_when_null() -> None:
    timeline = Timeline(
        incident_id="OSL-2026-000123",
        priority="1A",
        gssi=9001,
        opened_at=AT,
        units=(
            TimelineUnit(issi=2047001, role="first_responder", alerted_at=AT, ended_by="2047001"),
        ),
    )
    body = json.loads(timeline.to_json())
    assert body["closed_at"] is None
    unit = body["units"][0]
    for key in (
        "alerted_at",
        "delivered_at",
        "acknowledged_at",
        "en_route_at",
        "on_scene_at",
        "ended_at",
        "ended_by",
    ):
        assert key in unit
    assert unit["delivered_at"] is None
    assert unit["ended_by"] == "2047001"
    assert Timeline.model_validate_json(timeline.to_json()) == timeline


def test_health_will_is_state_only_and_online_lists_radios() -> None:
    assert HealthEvent(state="offline").to_json() == b'{"state":"offline"}'
    online = HealthEvent(
        state="online",
        version="0.1.0",
        radios=(
            RadioHealth(name="gw1", state="up", issi=2049999, rssi_dbm=-71),
            RadioHealth(name="gw2", state="down"),
        ),
        outbox=0,
    )
    assert json.loads(online.to_json()) == {
        "state": "online",
        "version": "0.1.0",
        "radios": [
            {"name": "gw1", "state": "up", "issi": 2049999, "rssi_dbm": -71},
            {"name": "gw2", "state": "down", "issi": None, "rssi_dbm": None},
        ],
        "outbox": 0,
    }


def test_error_event_is_built_from_a_rejection() -> None:
    topics = Topics()
    full = topics.callouts()
    with pytest.raises(DispatchRejected) as info:
        parse_inbound(topics.relative(full), b'{"units": []}')
    event = ErrorEvent(topic=full, error=info.value.error, detail=info.value.detail)
    body = json.loads(event.to_json())
    assert body["topic"] == "tetragw/v1/callouts"
    assert body["error"] == "invalid_payload"
    assert body["detail"].startswith("callout_id: is required")


def test_message_and_alarm_events() -> None:
    text = "Trenger lege, pasient 80 år"
    assert json.loads(UnitMessageEvent(issi=3, text=text, at=AT).to_json()) == {
        "issi": 3,
        "text": text,
        "at": AT,
    }
    assert (
        "80 år" in UnitMessageEvent(issi=3, text=text, at=AT).to_json().decode()
    )  # UTF-8, not \u escapes
    alarm = json.loads(
        AlarmEvent(kind="emergency", issi=3, status=0, meaning="emergency", at=AT).to_json()
    )
    assert alarm == {"kind": "emergency", "issi": 3, "status": 0, "meaning": "emergency", "at": AT}


def test_topics_name_every_channel_under_the_root() -> None:
    topics = Topics("amk/oslo")
    assert topics.callouts() == "amk/oslo/v1/callouts"
    assert topics.incident_close("OSL-1") == "amk/oslo/v1/incidents/OSL-1/close"
    assert topics.unit_send(2040101) == "amk/oslo/v1/units/2040101/send"
    assert topics.callout_events("OSL-1") == "amk/oslo/v1/callouts/OSL-1/events"
    assert topics.request_events("r-1") == "amk/oslo/v1/requests/r-1/events"
    assert topics.unit_status(5) == "amk/oslo/v1/units/5/status"
    assert topics.unit_position(5) == "amk/oslo/v1/units/5/position"
    assert topics.unit_messages(5) == "amk/oslo/v1/units/5/messages"
    assert topics.incident_timeline("OSL") == "amk/oslo/v1/incidents/OSL/timeline"
    assert topics.alarms() == "amk/oslo/v1/alarms"
    assert topics.health("gw-1") == "amk/oslo/v1/gateway/gw-1/health"
    assert topics.errors() == "amk/oslo/v1/errors"
    assert Topics().callouts() == "tetragw/v1/callouts"


def test_subscription_filters_and_shared_subscriptions() -> None:
    topics = Topics()
    assert topics.subscriptions() == (
        "tetragw/v1/callouts",
        "tetragw/v1/incidents/+/close",
        "tetragw/v1/units/+/send",
    )
    assert topics.subscriptions("amk") == (
        "$share/amk/tetragw/v1/callouts",
        "$share/amk/tetragw/v1/incidents/+/close",
        "$share/amk/tetragw/v1/units/+/send",
    )
    with pytest.raises(ProtocolError):
        topics.subscriptions("a/b")


def test_relative_strips_the_prefix_and_refuses_foreign_topics() -> None:
    topics = Topics()
    assert topics.relative("tetragw/v1/units/5/send") == "units/5/send"
    for foreign in ("tetragw/v2/callouts", "other/v1/callouts", "tetragw/v1/"):
        with pytest.raises(ProtocolError):
            topics.relative(foreign)


@pytest.mark.parametrize("root", ["", "a//b", "a/+", "#", "$SYS", "/tetragw"])
def test_invalid_root_is_refused(root: str) -> None:
    with pytest.raises(ProtocolError):
        Topics(root)


def test_builders_refuse_ids_that_would_escape_their_topic_level() -> None:
    topics = Topics()
    for bad in ("a/b", "+", "#", ""):
        with pytest.raises(ProtocolError):
            topics.callout_events(bad)
    with pytest.raises(ProtocolError):
        topics.unit_status(1 << 24)
