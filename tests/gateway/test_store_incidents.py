"""Incidents, talk groups, the timeline kept current by unit statuses, KPI figures and the
outbox, in a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.store import (
    ENDED_BY_DISPATCH,
    GssiInUseError,
    NewCallout,
    Store,
    UnitAssignment,
    UnknownRecordError,
    percentile,
)

T0 = 1_800_000_000.0


def callout(
    callout_id: str, incident_id: str, units: tuple[tuple[int, str], ...], priority: str = "1A"
) -> NewCallout:
    return NewCallout(
        callout_id=callout_id,
        incident_id=incident_id,
        units=tuple(UnitAssignment(issi, role) for issi, role in units),
        text="Trafikkulykke E18",
        deadline_s=60,
        talkgroup=True,
        priority=priority,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "tetragw.sqlite3", clock=lambda: T0) as opened:
        yield opened


def test_two_open_incidents_cannot_hold_the_same_gssi(store: Store) -> None:
    with store.transaction() as tx:
        tx.accept_callout(callout("A-1", "A", ((1, "ambulance"),)))
        tx.accept_callout(callout("B-1", "B", ((2, "ambulance"),)))
        tx.set_talkgroup("A", gssi=9001, state="active")
    with pytest.raises(GssiInUseError), store.transaction() as tx:
        tx.set_talkgroup("B", gssi=9001, state="creating")
    b = store.incident("B")
    assert b is not None
    assert (b.gssi, b.talkgroup_state) == (None, "none")
    held = store.incident_holding_gssi(9001)
    assert held is not None
    assert held.incident_id == "A"


def test_gssi_is_free_again_once_its_incident_closes_or_releases_it(store: Store) -> None:
    with store.transaction() as tx:
        for name in ("A", "B", "C"):
            tx.accept_callout(callout(f"{name}-1", name, ((1, "ambulance"),)))
        tx.set_talkgroup("A", gssi=9001, state="active")
        tx.close_incident("A")
        tx.set_talkgroup("B", gssi=9001, state="active")
        tx.set_talkgroup("B", gssi=9001, state="released")
        tx.set_talkgroup("C", gssi=9001, state="active")
    assert [(i.incident_id, i.gssi) for i in store.open_incidents()] == [("B", 9001), ("C", 9001)]
    holder = store.incident_holding_gssi(9001)
    assert holder is not None
    assert holder.incident_id == "C"


def test_talkgroup_of_unknown_incident_is_an_error(store: Store) -> None:
    with pytest.raises(UnknownRecordError), store.transaction() as tx:
        tx.set_talkgroup("nope", gssi=9001, state="active")


def test_unit_statuses_fill_the_timeline_once_each_and_end_the_mission(store: Store) -> None:
    with store.transaction() as tx:
        send = tx.accept_callout(callout("A-1", "A", ((2047001, "first_responder"),))).sends[0]
    with store.transaction(now=T0 + 3) as tx:
        tx.record_sent(send.send_id, radio="gw1", message_refs=[1])
        tx.record_delivered(send.send_id)
    steps = [
        (T0 + 20, 32769, "acknowledged", "acknowledged_at"),
        (T0 + 25, 32770, "en_route", "en_route_at"),
        (T0 + 26, 32770, "en_route", None),  # pressed twice: the first time stays
        (T0 + 400, 32771, "on_scene", "on_scene_at"),
        (T0 + 500, 32772, "patient_contact", None),
        (T0 + 900, 32775, "mission_ended", "ended_at"),
    ]
    for at, value, meaning, field in steps:
        with store.transaction(now=at) as tx:
            outcome = tx.record_unit_status(2047001, value, meaning=meaning, radio="gw1")
        assert (outcome.incident_id, outcome.timeline_field) == ("A", field)
    timeline = store.timeline("A")
    assert timeline is not None
    unit = timeline.units[0]
    assert (unit.alerted_at, unit.delivered_at, unit.acknowledged_at) == (T0, T0 + 3, T0 + 20)
    assert (unit.en_route_at, unit.on_scene_at, unit.ended_at) == (T0 + 25, T0 + 400, T0 + 900)
    assert unit.ended_by == "2047001"
    cached = store.unit_status(2047001)
    assert cached is not None
    assert (cached.value, cached.meaning, cached.incident_id) == (32775, "mission_ended", "A")
    # Mission ended: the unit's next status belongs to no incident.
    with store.transaction(now=T0 + 950) as tx:
        after = tx.record_unit_status(2047001, 32776, meaning="available")
    assert after.incident_id is None


def test_status_goes_to_the_units_most_recent_open_incident(store: Store) -> None:
    with store.transaction(now=T0) as tx:
        tx.accept_callout(callout("A-1", "A", ((5, "ambulance"),)))
    with store.transaction(now=T0 + 10) as tx:
        tx.accept_callout(callout("B-1", "B", ((5, "ambulance"),)))
    assert store.current_incident_of(5) == "B"
    with store.transaction(now=T0 + 11) as tx:
        tx.close_incident("B")
    assert store.current_incident_of(5) == "A"
    assert store.current_incident_of(6) is None


def test_closing_an_incident_ends_open_missions_by_dispatch(store: Store) -> None:
    with store.transaction() as tx:
        tx.accept_callout(callout("A-1", "A", ((1, "ambulance"), (2, "first_responder"))))
    with store.transaction(now=T0 + 100) as tx:
        tx.record_unit_status(1, 32775, meaning="mission_ended")
    with store.transaction(now=T0 + 200) as tx:
        closed = tx.close_incident("A", reason="Pasient transportert")
        assert tx.close_incident("A") is None  # already closed: nothing changes
    assert closed is not None
    assert (closed.closed_at, closed.close_reason) == (T0 + 200, "Pasient transportert")
    timeline = store.timeline("A")
    assert timeline is not None
    assert [(u.issi, u.ended_at, u.ended_by) for u in timeline.units] == [
        (1, T0 + 100, "1"),
        (2, T0 + 200, ENDED_BY_DISPATCH),
    ]
    reason_rows = store._conn.execute(
        "SELECT COUNT(*) FROM audit WHERE data LIKE '%transportert%'"
    ).fetchone()
    assert reason_rows[0] == 0


def test_a_unit_alerted_again_in_the_same_incident_keeps_its_first_alert_time(
    store: Store,
) -> None:
    with store.transaction(now=T0) as tx:
        tx.accept_callout(callout("A-1", "A", ((1, "ambulance"),)))
    with store.transaction(now=T0 + 30) as tx:
        tx.accept_callout(callout("A-2", "A", ((1, "ambulance"), (2, "doctor")), priority="1B"))
    timeline = store.timeline("A")
    assert timeline is not None
    assert timeline.incident.priority == "1B"
    assert [(u.issi, u.role, u.alerted_at) for u in timeline.units] == [
        (1, "ambulance", T0),
        (2, "doctor", T0 + 30),
    ]


def test_percentile_interpolates_between_ranks() -> None:
    values = [15.0, 20.0, 35.0, 40.0, 50.0]
    assert percentile(values, 0.5) == 35.0
    assert percentile(values, 0.9) == pytest.approx(46.0)  # 40 + 0.6 * (50 - 40)
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5
    assert percentile([7.0], 0.9) == 7.0
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)


def test_kpi_gives_median_and_p90_over_all_timeline_units(store: Store) -> None:
    # Ten units alerted at T0; unit i is delivered after i+1 s, acknowledges after 10*(i+1) s
    # and only the first four reach the scene, after 100, 200, 300, 400 s.
    units = tuple((100 + i, "ambulance" if i % 2 else "first_responder") for i in range(10))
    with store.transaction(now=T0) as tx:
        sends = tx.accept_callout(callout("K-1", "K", units)).sends
    for i, send in enumerate(sends):
        with store.transaction(now=T0 + i + 1) as tx:
            tx.record_delivered(send.send_id)
        with store.transaction(now=T0 + 10 * (i + 1)) as tx:
            tx.record_unit_status(send.issi, 32769, meaning="acknowledged")
        if i < 4:
            with store.transaction(now=T0 + 100 * (i + 1)) as tx:
                tx.record_unit_status(send.issi, 32771, meaning="on_scene")
    report = store.kpi()
    assert (report.delivered.count, report.delivered.median_s) == (10, 5.5)
    assert report.delivered.p90_s == pytest.approx(9.1)
    assert report.acknowledged.median_s == 55.0
    assert report.acknowledged.p90_s == pytest.approx(91.0)
    assert (report.on_scene.count, report.on_scene.median_s) == (4, 250.0)
    assert report.on_scene.p90_s == pytest.approx(370.0)
    ambulances = store.kpi(role="ambulance")
    assert ambulances.delivered.count == 5
    assert ambulances.delivered.median_s == 6.0  # units 1, 3, 5, 7, 9 → 2, 4, 6, 8, 10 s
    later = store.kpi(since=T0 + 1)
    assert (later.delivered.count, later.delivered.median_s, later.delivered.p90_s) == (
        0,
        None,
        None,
    )


def test_outbox_is_pending_in_order_until_confirmed(store: Store) -> None:
    with store.transaction() as tx:
        first = tx.publish("tetragw/v1/callouts/A-1/events", b"1")
        second = tx.publish("tetragw/v1/callouts/A-1/events", b"2", qos=1)
        third = tx.publish("tetragw/v1/alarms", b"3", qos=0)
    assert [m.seq for m in store.pending_outbox()] == [first, second, third]
    assert [m.seq for m in store.pending_outbox(limit=1, after_seq=first)] == [second]
    with store.transaction() as tx:
        assert tx.mark_published(second)
        assert not tx.mark_published(second)
    pending = store.pending_outbox()
    assert [(m.seq, m.payload, m.qos, m.retain) for m in pending] == [
        (first, b"1", 1, False),
        (third, b"3", 0, False),
    ]
    assert store.outbox_size() == 2


def test_retained_publication_supersedes_an_unconfirmed_one_on_the_same_topic(
    store: Store,
) -> None:
    topic = "tetragw/v1/incidents/A/timeline"
    with store.transaction() as tx:
        tx.publish(topic, b"old", retain=True)
        tx.publish("tetragw/v1/units/1/status", b"s", retain=True)
        tx.publish(topic, b"new", retain=True)
    assert [(m.topic, m.payload) for m in store.pending_outbox()] == [
        ("tetragw/v1/units/1/status", b"s"),
        (topic, b"new"),
    ]
