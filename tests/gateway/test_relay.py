"""The status relay: radio events become unit status, timeline, alarms, positions, messages
and late delivery reports, with meanings from the shipped status table."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.audit import redact_text
from gateway.relay import StatusRelay
from hardware.radio_events import (
    DeliveryReported,
    EmergencyReceived,
    GroupChanged,
    LinkDown,
    LinkUp,
    LocationReceived,
    RadioEvent,
    SignalReport,
    StatusReceived,
    TextReceived,
)
from protocols.dispatch import format_time
from protocols.sds.status import StatusTable
from tests.gateway.fakes import (
    T0,
    Harness,
    Hold,
    callout_body,
    events_of,
    make_harness,
    wait_until,
)

AMBULANCE = 2040101
RESPONDER = 2047001
STRANGER = 2049999


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    h = make_harness(tmp_path)
    yield h
    await h.stop()
    h.store.close()


async def with_incident(h: Harness) -> None:
    await h.callout(callout_body())


def statuses(h: Harness, issi: int) -> list[dict[str, Any]]:
    return [p.body for p in h.outbox() if p.topic == h.topics.unit_status(issi) and p.retain]


def indications(h: Harness, kind: str) -> list[dict[str, Any]]:
    return [
        row["data"]
        for row in h.audit_rows()
        if row["kind"] == "radio_indication" and row["data"].get("kind") == kind
    ]


# ---- status ----------------------------------------------------------------------------


async def test_status_is_published_retained_with_meaning_and_label_from_the_shipped_table(
    harness: Harness,
) -> None:
    await with_incident(harness)
    harness.clock.advance(12.5)
    await harness.relay.handle(StatusReceived("gw1", AMBULANCE, 0x8003, harness.clock()))

    assert statuses(harness, AMBULANCE) == [
        {
            "issi": AMBULANCE,
            "status": 32771,
            "status_hex": "8003",
            "meaning": "on_scene",
            "label": "Framme",
            "incident_id": "OSL-1",
            "at": format_time(T0 + 12.5),
            "radio": "gw1",
        }
    ]
    unit = harness.store.unit_status(AMBULANCE)
    assert unit is not None
    assert (unit.value, unit.meaning) == (0x8003, "on_scene")


async def test_every_value_of_the_shipped_table_maps_to_its_meaning(harness: Harness) -> None:
    path = Path(__file__).resolve().parents[2] / "config" / "status" / "amk-default.toml"
    table = StatusTable.from_toml(path.read_text(encoding="utf-8"))
    for entry in table.entries:
        if entry.value == 0:
            continue
        await harness.relay.handle(StatusReceived("gw1", STRANGER, entry.value, T0))
        (latest,) = statuses(harness, STRANGER)  # retained: the latest replaces the others
        assert (latest["status"], latest["meaning"], latest["label"]) == (
            entry.value,
            entry.meaning,
            entry.label,
        )


async def test_status_value_the_table_does_not_know_has_meaning_null_and_keeps_the_raw_value(
    harness: Harness,
) -> None:
    await harness.relay.handle(StatusReceived("gw2", STRANGER, 0x9ABC, T0))

    (status,) = statuses(harness, STRANGER)
    assert status["status"] == 0x9ABC
    assert status["status_hex"] == "9ABC"
    assert status["meaning"] is None
    assert status["label"] is None
    assert status["incident_id"] is None  # the unit is in no incident
    assert harness.on(harness.topics.alarms()) == []


@pytest.mark.parametrize(
    "event",
    [EmergencyReceived("gw1", AMBULANCE, T0), StatusReceived("gw1", AMBULANCE, 0, T0)],
)
async def test_emergency_status_is_published_and_raised_on_alarms(
    harness: Harness, event: RadioEvent
) -> None:
    await with_incident(harness)
    await harness.relay.handle(event)

    (status,) = statuses(harness, AMBULANCE)
    assert (status["status"], status["meaning"], status["label"]) == (0, "emergency", "Nødalarm")
    (alarm,) = harness.on(harness.topics.alarms())
    assert alarm == {
        "kind": "emergency",
        "issi": AMBULANCE,
        "status": 0,
        "meaning": "emergency",
        "incident_id": "OSL-1",
        "radio": "gw1",
        "at": format_time(T0),
    }


async def test_emergency_is_an_alarm_even_with_a_table_that_lacks_status_zero(
    harness: Harness,
) -> None:
    table = StatusTable.from_mapping(
        {
            "name": "no emergency row",
            "status": [{"value": 0x8001, "meaning": "acknowledged", "label": "Kvittert"}],
        }
    )
    relay = StatusRelay(
        store=harness.store,
        publisher=harness.publisher,
        table=table,
        callouts=harness.engine,
        incidents=harness.incidents,
        radios=harness.radios,
        notify_outbox=lambda: None,
        clock=harness.clock,
    )
    await relay.handle(EmergencyReceived("gw1", STRANGER, T0))

    assert statuses(harness, STRANGER)[0]["meaning"] == "emergency"
    assert [a["kind"] for a in harness.on(harness.topics.alarms())] == ["emergency"]


async def test_status_stamps_the_timeline_and_republishes_it_first_one_wins(
    harness: Harness,
) -> None:
    await with_incident(harness)
    timeline_topic = harness.topics.incident_timeline("OSL-1")
    harness.clock.advance(20)
    await harness.relay.handle(StatusReceived("gw1", RESPONDER, 0x8001, harness.clock()))
    harness.clock.advance(40)
    await harness.relay.handle(StatusReceived("gw1", RESPONDER, 0x8001, harness.clock()))
    await harness.relay.handle(StatusReceived("gw1", RESPONDER, 0x8003, harness.clock()))

    (timeline,) = harness.on(timeline_topic)  # retained: only the latest waits in the outbox
    (unit,) = [u for u in timeline["units"] if u["issi"] == RESPONDER]
    assert unit["acknowledged_at"] == format_time(T0 + 20)  # the repeat did not move it
    assert unit["on_scene_at"] == format_time(T0 + 60)
    assert unit["alerted_at"] == format_time(T0)
    outcome = harness.store.timeline("OSL-1")
    assert outcome is not None
    stored = {u.issi: u for u in outcome.units}[RESPONDER]
    assert stored.acknowledged_at == T0 + 20


async def test_status_without_a_timeline_field_does_not_republish_the_timeline(
    harness: Harness,
) -> None:
    await with_incident(harness)
    for row in harness.outbox():
        with harness.store.transaction() as tx:
            tx.mark_published(row.seq)
    await harness.relay.handle(StatusReceived("gw1", RESPONDER, 0x8004, T0))  # patient contact

    assert [p.topic for p in harness.outbox()] == [harness.topics.unit_status(RESPONDER)]


async def test_mission_ended_records_who_ended_it(harness: Harness) -> None:
    await with_incident(harness)
    harness.clock.advance(5)
    await harness.relay.handle(StatusReceived("gw1", AMBULANCE, 0x8007, harness.clock()))

    (timeline,) = harness.on(harness.topics.incident_timeline("OSL-1"))
    ended = {u["issi"]: (u["ended_at"], u["ended_by"]) for u in timeline["units"]}
    assert ended == {AMBULANCE: (format_time(T0 + 5), str(AMBULANCE)), RESPONDER: (None, None)}


# ---- positions, texts, radios ------------------------------------------------------------


async def test_position_is_published_retained_and_the_latest_wins(harness: Harness) -> None:
    first = LocationReceived("gw1", AMBULANCE, 59.91, 10.75, 20.0, 42.0, 90.0, "max_interval", T0)
    second = LocationReceived("gw1", AMBULANCE, 59.92, 10.76, None, None, None, None, T0 + 30)
    await harness.relay.handle(first)
    await harness.relay.handle(second)

    rows = [p for p in harness.outbox() if p.topic == harness.topics.unit_position(AMBULANCE)]
    assert [(row.retain, row.body) for row in rows] == [
        (
            True,
            {
                "issi": AMBULANCE,
                "lat": 59.92,
                "lon": 10.76,
                "error_m": None,
                "speed_kmh": None,
                "heading_deg": None,
                "reason": None,
                "at": format_time(T0 + 30),
            },
        )
    ]
    assert len(indications(harness, "position")) == 2
    assert "lat" not in indications(harness, "position")[0]


async def test_text_from_a_unit_goes_to_messages_with_the_text_and_the_audit_keeps_a_digest(
    harness: Harness,
) -> None:
    text = "Pasient Kari Nordmann, 45 år, trenger lege"
    await harness.relay.handle(TextReceived("gw1", RESPONDER, text, T0 + 3))

    (message,) = harness.on(harness.topics.unit_messages(RESPONDER))
    assert message == {"issi": RESPONDER, "text": text, "at": format_time(T0 + 3)}
    row = next(p for p in harness.outbox() if p.topic == harness.topics.unit_messages(RESPONDER))
    assert not row.retain
    (entry,) = indications(harness, "text")
    assert entry["text"] == redact_text(text)
    assert "Nordmann" not in str(harness.audit_rows())


async def test_link_and_signal_events_update_the_radio_states_and_are_audited(
    harness: Harness,
) -> None:
    await harness.relay.handle(LinkUp("gw1", 2049000, T0))
    await harness.relay.handle(SignalReport("gw1", 20, -73, T0))
    await harness.relay.handle(GroupChanged("gw1", ("1", "9001"), T0))
    assert [(r.name, r.state, r.issi, r.rssi_dbm) for r in harness.radios.health()] == [
        ("gw1", "up", 2049000, -73)
    ]
    await harness.relay.handle(LinkDown("gw1", "no_answer", T0))

    assert harness.radios.up() == []
    assert [d["kind"] for d in harness.audit_rows() if d["kind"] == "radio_indication"] == [
        "radio_indication"
    ] * 3
    assert len(indications(harness, "LinkUp")) == 1
    assert indications(harness, "GroupChanged") == [
        {"kind": "GroupChanged", "radio": "gw1", "fields": ["1", "9001"]}
    ]


# ---- late delivery reports -----------------------------------------------------------


async def test_late_delivery_report_for_a_send_still_waiting_ends_it_delivered(
    harness: Harness,
) -> None:
    hold = Hold()
    harness.radio.script(AMBULANCE, hold)
    await harness.callout(callout_body(units=[(AMBULANCE, "ambulance")]))
    harness.start_engine()
    await hold.started.wait()
    (send,) = harness.store.sends_of("OSL-1-1")

    await harness.relay.handle(
        DeliveryReported("gw1", AMBULANCE, str(send.send_id), "delivered", T0)
    )
    hold.release()
    await wait_until(lambda: harness.engine.in_flight == 0)

    assert [e for e in harness.unit_events("OSL-1-1", AMBULANCE) if e == "delivered"] == [
        "delivered"
    ]
    stored = harness.store.send(send.send_id)
    assert stored is not None
    assert stored.state == "delivered"


async def test_sent_is_published_while_the_send_still_waits_for_its_report(
    harness: Harness,
) -> None:
    hold = Hold()
    harness.radio.script(AMBULANCE, hold)
    await harness.callout(callout_body(units=[(AMBULANCE, "ambulance")]))
    harness.start_engine()
    await hold.started.wait()
    (send,) = harness.store.sends_of("OSL-1-1")

    await harness.relay.handle(
        DeliveryReported("gw1", AMBULANCE, str(send.send_id), "sent", T0, message_references=(7,))
    )
    assert harness.unit_events("OSL-1-1", AMBULANCE) == ["sent"]  # before any report
    stored = harness.store.send(send.send_id)
    assert stored is not None
    assert (stored.state, stored.attempts, stored.radio, stored.message_refs) == (
        "sent",
        1,
        "gw1",
        (7,),
    )
    hold.release()
    await wait_until(lambda: harness.engine.in_flight == 0)
    # The try's own outcome adds delivered, not a second sent.
    assert harness.unit_events("OSL-1-1", AMBULANCE) == ["sent", "delivered"]


@pytest.mark.parametrize(
    "send_id", [None, "not-a-number", "999999"], ids=["none", "foreign", "unknown"]
)
async def test_delivery_report_that_names_no_send_of_ours_changes_nothing(
    harness: Harness, send_id: str | None
) -> None:
    await harness.callout(callout_body())
    before = [s.state for s in harness.store.sends_of("OSL-1-1")]
    await harness.relay.handle(DeliveryReported("gw1", AMBULANCE, send_id, "read", T0))
    assert [s.state for s in harness.store.sends_of("OSL-1-1")] == before
    assert "read" not in [e["event"] for e in harness.events("OSL-1-1")]


async def test_failed_stage_after_delivery_does_not_undo_it(harness: Harness) -> None:
    harness.start_engine()
    await harness.callout(callout_body(units=[(AMBULANCE, "ambulance")]))
    await wait_until(lambda: all(s.is_final for s in harness.store.sends_of("OSL-1-1")))
    (send,) = harness.store.sends_of("OSL-1-1")
    await harness.relay.handle(DeliveryReported("gw1", AMBULANCE, str(send.send_id), "failed", T0))
    stored = harness.store.send(send.send_id)
    assert stored is not None
    assert stored.state == "delivered"


async def test_relay_carries_on_after_an_event_it_cannot_handle(harness: Harness) -> None:
    events = [
        StatusReceived("gw1", STRANGER, 70_000, T0),  # not a 16-bit status: refused
        StatusReceived("gw1", STRANGER, 0x8008, T0),
    ]
    await harness.relay.run(events_of(events))
    assert [s["status"] for s in statuses(harness, STRANGER)] == [0x8008]
