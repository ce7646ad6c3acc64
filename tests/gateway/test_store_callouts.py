"""Callouts and their per-unit sends in a real SQLite file: acceptance, idempotency,
atomicity, retries, deadlines and resuming after a reopen."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.audit import read_entries, verify
from gateway.store import (
    SCHEMA_VERSION,
    IncidentClosedError,
    NewCallout,
    Store,
    StoreVersionError,
    UnitAssignment,
    UnknownRecordError,
)

T0 = 1_800_000_000.0
TEXT = "Hjertestans. Storgata 1, Oslo. Mann 67 år."
TABLES = ("incidents", "callouts", "callout_texts", "sends", "timeline_units", "outbox", "audit")


class CrashError(Exception):
    """Stands for anything that interrupts the process in the middle of a transaction."""


def make_callout(
    callout_id: str = "OSL-1-1",
    incident_id: str = "OSL-1",
    issis: tuple[int, ...] = (2040101, 2047001),
    text: str = TEXT,
    deadline_s: float = 60,
) -> NewCallout:
    roles = ("ambulance", "first_responder", "doctor")
    return NewCallout(
        callout_id=callout_id,
        incident_id=incident_id,
        units=tuple(UnitAssignment(issi, roles[i % 3]) for i, issi in enumerate(issis)),
        text=text,
        deadline_s=deadline_s,
        talkgroup=len(issis) > 1,
        priority="1A",
    )


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "var" / "tetragw.sqlite3"


@pytest.fixture
def store(path: Path) -> Iterator[Store]:
    with Store(path, clock=lambda: T0) as opened:
        yield opened


def counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        return {
            table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in TABLES
        }
    finally:
        conn.close()


def test_new_store_file_uses_wal_secure_delete_and_current_schema(store: Store, path: Path) -> None:
    assert store.schema_version == SCHEMA_VERSION
    assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
    assert store._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert path.is_file()


def test_synchronous_level_is_configurable(path: Path) -> None:
    with Store(path, synchronous="NORMAL") as store:
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 1


def test_store_written_by_newer_version_is_refused(path: Path) -> None:
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreVersionError):
        Store(path)


def test_accepting_a_callout_stores_incident_sends_timeline_and_audit(store: Store) -> None:
    with store.transaction() as tx:
        acceptance = tx.accept_callout(make_callout())
    assert acceptance.created
    assert acceptance.callout.deadline_at == T0 + 60
    assert acceptance.callout.state == "active"
    assert [(s.issi, s.role, s.state, s.attempts) for s in acceptance.sends] == [
        (2040101, "ambulance", "pending", 0),
        (2047001, "first_responder", "pending", 0),
    ]
    assert store.callout_text("OSL-1-1") == TEXT
    incident = store.incident("OSL-1")
    assert incident is not None
    assert (incident.opened_at, incident.priority, incident.is_open) == (T0, "1A", True)
    timeline = store.timeline("OSL-1")
    assert timeline is not None
    assert [(u.issi, u.alerted_at) for u in timeline.units] == [(2040101, T0), (2047001, T0)]
    entries = list(read_entries(store._conn))
    assert [e.data["change"] for e in entries] == ["callout_accepted"]
    assert entries[0].data["text_digest"]["length"] == len(TEXT)


def test_same_callout_id_again_returns_stored_state_and_writes_nothing(
    store: Store, path: Path
) -> None:
    with store.transaction() as tx:
        first = tx.accept_callout(make_callout())
        tx.publish("tetragw/v1/callouts/OSL-1-1/events", b'{"event":"accepted"}')
    before = counts(path)
    with store.transaction(now=T0 + 5) as tx:
        again = tx.accept_callout(make_callout())
    assert not again.created
    assert not again.differs
    assert again.callout == first.callout
    assert again.sends == first.sends
    assert counts(path) == before


def test_repeated_callout_id_with_other_content_is_flagged_and_not_stored(store: Store) -> None:
    with store.transaction() as tx:
        tx.accept_callout(make_callout())
    with store.transaction() as tx:
        again = tx.accept_callout(make_callout(issis=(2040101, 2047002)))
    assert not again.created
    assert again.differs
    assert [s.issi for s in store.sends_of("OSL-1-1")] == [2040101, 2047001]


def test_failure_mid_transaction_leaves_nothing_half_written(store: Store, path: Path) -> None:
    before = counts(path)

    def accept_then_crash() -> None:
        with store.transaction() as tx:
            tx.accept_callout(make_callout())
            tx.publish("tetragw/v1/callouts/OSL-1-1/events", b"{}")
            raise CrashError

    with pytest.raises(CrashError):
        accept_then_crash()
    assert counts(path) == before
    assert store.callout("OSL-1-1") is None
    # The store is usable afterwards and the audit chain is unbroken.
    with store.transaction() as tx:
        assert tx.accept_callout(make_callout()).created
    assert verify(path).ok


def test_failure_after_a_state_change_rolls_back_its_outbox_and_audit(
    store: Store, path: Path
) -> None:
    with store.transaction() as tx:
        send_id = tx.accept_callout(make_callout()).sends[0].send_id
    before = counts(path)

    def send_then_crash() -> None:
        with store.transaction(now=T0 + 1) as tx:
            tx.record_sent(send_id, radio="gw1", message_refs=[7])
            tx.publish("tetragw/v1/callouts/OSL-1-1/events", b'{"event":"sent"}')
            raise CrashError

    with pytest.raises(CrashError):
        send_then_crash()
    assert counts(path) == before
    send = store.send(send_id)
    assert send is not None
    assert (send.state, send.attempts) == ("pending", 0)


def test_transactions_do_not_nest(store: Store) -> None:
    with store.transaction(), pytest.raises(RuntimeError), store.transaction():
        pass


def test_callout_to_a_closed_incident_is_refused_without_writing(store: Store, path: Path) -> None:
    with store.transaction() as tx:
        tx.accept_callout(make_callout())
        tx.close_incident("OSL-1")
    before = counts(path)
    with pytest.raises(IncidentClosedError), store.transaction() as tx:
        tx.accept_callout(make_callout(callout_id="OSL-1-2"))
    assert counts(path) == before


def test_send_lifecycle_counts_attempts_and_keeps_radio_refs(store: Store) -> None:
    with store.transaction() as tx:
        send_id = tx.accept_callout(make_callout(issis=(2040101,))).sends[0].send_id
    with store.transaction(now=T0 + 1) as tx:
        failed_early = tx.record_retrying(send_id, reason="cme_error", next_attempt_at=T0 + 3)
    assert failed_early is not None
    assert (failed_early.state, failed_early.attempts) == ("pending", 1)
    with store.transaction(now=T0 + 3) as tx:
        sent = tx.record_sent(send_id, radio="gw1", message_refs=[17, 18])
    assert sent is not None
    assert (sent.state, sent.attempts, sent.radio, sent.message_refs) == (
        "sent",
        2,
        "gw1",
        (17, 18),
    )
    assert sent.sent_at == T0 + 3
    assert store.message_refs_in_flight("gw1") == {17, 18}
    assert store.send_by_message_ref("gw1", 18) == sent
    assert store.send_by_message_ref("gw2", 18) is None
    with store.transaction(now=T0 + 4) as tx:
        delivered = tx.record_delivered(send_id)
        assert tx.record_delivered(send_id) is None  # a duplicate report changes nothing
    assert delivered is not None
    assert (delivered.state, delivered.delivered_at, delivered.final_at) == (
        "delivered",
        T0 + 4,
        T0 + 4,
    )
    assert store.message_refs_in_flight("gw1") == set()
    with store.transaction(now=T0 + 9) as tx:
        read = tx.record_read(send_id)
    assert read is not None
    assert (read.state, read.delivered_at, read.read_at) == ("read", T0 + 4, T0 + 9)


def test_unreached_unit_ignores_a_late_delivery_report(store: Store) -> None:
    with store.transaction() as tx:
        send_id = tx.accept_callout(make_callout(issis=(2040101,))).sends[0].send_id
        tx.record_sent(send_id, radio="gw1", message_refs=[3])
    with store.transaction(now=T0 + 61) as tx:
        unreached = tx.record_unreached(send_id, reason="deadline")
    with store.transaction(now=T0 + 62) as tx:
        assert tx.record_delivered(send_id) is None
        assert tx.record_read(send_id) is None
        assert tx.record_retrying(send_id, reason="x", next_attempt_at=T0 + 70) is None
    assert unreached is not None
    assert store.send(send_id) == unreached
    assert unreached.last_reason == "deadline"


def test_unknown_send_id_is_an_error(store: Store) -> None:
    with pytest.raises(UnknownRecordError), store.transaction() as tx:
        tx.record_sent(999, radio="gw1", message_refs=[1])


def test_due_and_expired_sends_follow_retry_times_and_deadline(store: Store) -> None:
    with store.transaction() as tx:
        sends = tx.accept_callout(make_callout(issis=(1, 2, 3), deadline_s=30)).sends
        tx.record_retrying(sends[0].send_id, reason="busy", next_attempt_at=T0 + 10)
        tx.record_sent(sends[1].send_id, radio="gw1", message_refs=[1])
    assert [s.issi for s in store.sends_due(T0)] == [3]
    assert [s.issi for s in store.sends_due(T0 + 10)] == [3, 1]
    assert store.next_wakeup() == 0.0  # unit 3 has never been tried: due at once
    assert store.expired_sends(T0 + 29) == []
    assert store.sends_due(T0 + 30) == []
    assert [s.issi for s in store.expired_sends(T0 + 30)] == [1, 2, 3]
    assert [c.callout_id for c in store.overdue_callouts(T0 + 30)] == ["OSL-1-1"]
    assert store.overdue_callouts(T0 + 29) == []


def test_next_wakeup_is_the_earlier_of_retry_and_deadline(store: Store) -> None:
    assert store.next_wakeup() is None
    with store.transaction() as tx:
        send = tx.accept_callout(make_callout(issis=(1,), deadline_s=30)).sends[0]
        tx.record_retrying(send.send_id, reason="busy", next_attempt_at=T0 + 12)
    assert store.next_wakeup() == T0 + 12
    with store.transaction(now=T0 + 12) as tx:
        tx.record_sent(send.send_id, radio="gw1", message_refs=[1])
    assert store.next_wakeup() == T0 + 30


def test_unfinished_sends_and_outbox_survive_reopening_the_file(path: Path) -> None:
    store = Store(path)
    with store.transaction(now=T0) as tx:
        sends = tx.accept_callout(make_callout(issis=(1, 2, 3))).sends
        tx.publish("tetragw/v1/callouts/OSL-1-1/events", b'{"event":"accepted"}')
    with store.transaction(now=T0 + 1) as tx:
        tx.record_sent(sends[0].send_id, radio="gw1", message_refs=[5])
        tx.record_delivered(sends[1].send_id)
        tx.publish("tetragw/v1/callouts/OSL-1-1/events", b'{"event":"delivered"}')
    # No close(): the process is gone as after SIGKILL; a new connection must see everything.
    reopened = Store(path)
    try:
        unfinished = reopened.unfinished_sends()
        assert [(s.issi, s.state) for s in unfinished] == [(1, "sent"), (3, "pending")]
        assert reopened.send_by_message_ref("gw1", 5) == unfinished[0]
        assert reopened.callout_text("OSL-1-1") == TEXT
        assert [m.payload for m in reopened.pending_outbox()] == [
            b'{"event":"accepted"}',
            b'{"event":"delivered"}',
        ]
        assert [c.callout_id for c in reopened.active_callouts()] == ["OSL-1-1"]
    finally:
        reopened.close()
        store.close()


def test_state_change_audit_entries_name_the_unit_and_transition(store: Store) -> None:
    with store.transaction() as tx:
        send_id = tx.accept_callout(make_callout(issis=(2040101,))).sends[0].send_id
        tx.record_sent(send_id, radio="gw1", message_refs=[9])
    last = list(read_entries(store._conn))[-1]
    assert last.kind == "state_change"
    assert (last.subject, last.issi) == ("OSL-1-1", 2040101)
    assert (last.data["from"], last.data["to"], last.data["attempt"]) == ("pending", "sent", 1)
