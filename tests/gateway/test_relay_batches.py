"""The status relay in batches: one transaction for the events already queued, with the same
rows, audit entries and publications as one-by-one handling, and no event lost to another."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.store import Store
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
from hardware.talkgroups import GssiRange, PoolBackend
from protocols.errors import ProtocolError
from tests.gateway.fakes import (
    T0,
    FakeClock,
    Harness,
    callout_body,
    events_of,
    make_harness,
    settle,
)
from tests.gateway.test_store_durability import commit_levels

AMBULANCE = 2040101
RESPONDER = 2047001
STRANGER = 2049999
EN_ROUTE, ON_SCENE, PATIENT_CONTACT, MISSION_ENDED = 0x8002, 0x8003, 0x8004, 0x8007


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Harness, Harness]]:
    """Two identical engines with the same incident open: one fed one by one, one in batches."""
    harnesses = []
    for name in ("one_by_one", "batched"):
        (tmp_path / name).mkdir()
        h = make_harness(tmp_path / name)
        await h.callout(callout_body())
        harnesses.append(h)
    yield harnesses[0], harnesses[1]
    for h in harnesses:
        await h.stop()
        h.store.close()


def position(issi: int, lat: float, at: float = T0) -> LocationReceived:
    return LocationReceived("gw1", issi, lat, 10.75, 20.0, None, None, "max_interval", at)


def mixed_events(send_ids: list[int]) -> list[RadioEvent]:
    """Every kind of radio event, including ones that write nothing and an emergency."""
    return [
        StatusReceived("gw1", AMBULANCE, EN_ROUTE, T0),  # stamps the timeline
        position(AMBULANCE, 59.91),
        SignalReport("gw1", 20, -73, T0),  # writes nothing
        StatusReceived("gw2", RESPONDER, ON_SCENE, T0),
        position(AMBULANCE, 59.92, T0 + 1),  # supersedes the first (retained)
        TextReceived("gw1", RESPONDER, "Trenger lege, Kari Nordmann", T0),
        DeliveryReported("gw1", AMBULANCE, str(send_ids[0]), "sent", T0, (7,)),
        DeliveryReported("gw1", RESPONDER, str(send_ids[1]), "delivered", T0),
        DeliveryReported("gw1", AMBULANCE, "not-ours", "read", T0),  # writes nothing
        LinkUp("gw2", 2049000, T0),
        StatusReceived("gw1", AMBULANCE, ON_SCENE, T0),
        GroupChanged("gw1", ("1", "9001"), T0),
        EmergencyReceived("gw1", RESPONDER, T0),
        StatusReceived("gw1", STRANGER, 0x9ABC, T0),  # not in the table, in no incident
        LinkDown("gw2", "no_answer", T0),
        StatusReceived("gw1", AMBULANCE, PATIENT_CONTACT, T0),  # no timeline field
    ]


def snapshot(h: Harness) -> dict[str, Any]:
    """Everything relaying writes or changes, in order where order is kept."""
    units = [h.store.unit_status(issi) for issi in (AMBULANCE, RESPONDER, STRANGER)]
    return {
        "outbox": [(p.topic, p.body, p.retain) for p in h.outbox()],
        "audit": h.audit_rows(),
        "units": units,
        "timeline": h.store.timeline("OSL-1"),
        "sends": list(h.store.sends_of("OSL-1-1")),
        "radios": h.radios.health(),
        "notified": len(h.notified),
    }


def statuses(h: Harness, issi: int) -> list[int]:
    return [p.body["status"] for p in h.outbox() if p.topic == h.topics.unit_status(issi)]


async def test_a_batch_writes_the_same_rows_audit_entries_and_publications_as_one_by_one(
    pair: tuple[Harness, Harness],
) -> None:
    one_by_one, batched = pair
    send_ids = [s.send_id for s in one_by_one.store.sends_of("OSL-1-1")]
    assert send_ids == [s.send_id for s in batched.store.sends_of("OSL-1-1")]
    events = mixed_events(send_ids)

    for event in events:
        await one_by_one.relay.handle(event)
    await batched.relay.handle_batch(events)

    expected = snapshot(one_by_one)
    assert snapshot(batched) == expected
    # The comparison is not vacuous: every kind of event left its trace.
    kinds = [row["data"].get("kind") for row in expected["audit"]]
    for kind in ("status", "position", "text", "delivery_report", "LinkUp", "GroupChanged"):
        assert kind in kinds
    assert one_by_one.on(one_by_one.topics.alarms()) != []
    assert [s.state for s in expected["sends"]] == ["sent", "delivered"]


async def test_run_batches_relays_every_batch_in_order(pair: tuple[Harness, Harness]) -> None:
    one_by_one, batched = pair
    events = [
        StatusReceived("gw1", AMBULANCE, EN_ROUTE, T0),
        position(AMBULANCE, 59.91),
        StatusReceived("gw1", AMBULANCE, ON_SCENE, T0),
        StatusReceived("gw1", RESPONDER, EN_ROUTE, T0),
    ]
    await one_by_one.relay.run(events_of(events))
    await batched.relay.run_batches(events_of([events[:3], events[3:]]))

    assert snapshot(batched) == snapshot(one_by_one)
    assert statuses(batched, AMBULANCE) == [EN_ROUTE, ON_SCENE]


async def test_an_event_that_raises_in_a_batch_loses_none_of_the_others(
    pair: tuple[Harness, Harness],
) -> None:
    one_by_one, batched = pair
    good: list[RadioEvent] = [
        StatusReceived("gw1", AMBULANCE, EN_ROUTE, T0),
        position(RESPONDER, 59.91),
        TextReceived("gw1", RESPONDER, "Framme om 5", T0),
        StatusReceived("gw1", RESPONDER, ON_SCENE, T0),
    ]
    bad = StatusReceived("gw1", STRANGER, 70_000, T0)  # not a 16-bit status: refused
    with pytest.raises(ProtocolError):
        await one_by_one.relay.handle(bad)
    for event in good:
        await one_by_one.relay.handle(event)

    await batched.relay.handle_batch([*good[:2], bad, *good[2:]])  # does not raise

    assert snapshot(batched) == snapshot(one_by_one)
    assert statuses(batched, AMBULANCE) == [EN_ROUTE]
    assert statuses(batched, RESPONDER) == [ON_SCENE]
    assert statuses(batched, STRANGER) == []
    assert batched.on(batched.topics.unit_messages(RESPONDER)) != []


async def test_a_batch_holding_an_emergency_is_committed_durably_in_one_commit(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    store = Store(tmp_path / "full.sqlite3", synchronous="FULL", clock=clock)
    h = make_harness(tmp_path, clock=clock, store=store)
    try:
        levels = commit_levels(store)
        await h.relay.handle_batch([position(AMBULANCE, 59.91), position(RESPONDER, 59.92)])
        await h.relay.handle_batch(
            [
                position(AMBULANCE, 59.93),
                StatusReceived("gw1", RESPONDER, 0, T0),
                position(RESPONDER, 59.94),
            ]
        )
        await h.relay.handle_batch([EmergencyReceived("gw1", AMBULANCE, T0)])

        assert levels == ["NORMAL", "FULL", "FULL"]
        assert [a["issi"] for a in h.on(h.topics.alarms())] == [RESPONDER, AMBULANCE]
    finally:
        await h.stop()
        store.close()


async def test_a_batch_of_signal_reports_writes_nothing_and_updates_the_radio(
    tmp_path: Path,
) -> None:
    h = make_harness(tmp_path)
    try:
        levels = commit_levels(h.store)
        await h.relay.handle_batch([SignalReport("gw1", 20, -73, T0)] * 2)
        assert levels == []
        assert [r.rssi_dbm for r in h.radios.health()] == [-73]
    finally:
        await h.stop()
        h.store.close()


async def test_mission_ended_in_a_batch_releases_the_group_after_the_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = make_harness(tmp_path, backend=PoolBackend(GssiRange(9001, 9002)))
    try:
        await h.callout(callout_body())
        await settle()  # the incident's group is set up
        incident = h.store.incident("OSL-1")
        assert incident is not None
        assert incident.talkgroup_state == "active"
        real = h.incidents.on_unit_ended
        calls: list[tuple[str, bool, list[bool]]] = []

        async def on_unit_ended(incident_id: str) -> None:
            timeline = h.store.timeline(incident_id)
            assert timeline is not None
            ended = [unit.ended_at is not None for unit in timeline.units]
            calls.append((incident_id, h.store._conn.in_transaction, ended))
            await real(incident_id)

        monkeypatch.setattr(h.incidents, "on_unit_ended", on_unit_ended)
        await h.relay.handle_batch(
            [
                StatusReceived("gw1", AMBULANCE, MISSION_ENDED, T0),
                position(AMBULANCE, 59.91),
                StatusReceived("gw1", RESPONDER, MISSION_ENDED, T0),
            ]
        )

        # Both after the batch's commit (so each already sees both units ended), in order.
        assert calls == [("OSL-1", False, [True, True]), ("OSL-1", False, [True, True])]
        await settle()  # the release runs in a task of its own
        incident = h.store.incident("OSL-1")
        assert incident is not None
        assert incident.talkgroup_state == "released"
    finally:
        await h.stop()
        h.store.close()
