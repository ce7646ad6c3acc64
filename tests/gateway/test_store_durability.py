"""Which commits must survive power loss (FULL) and which only a process crash (NORMAL)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from gateway.callouts import CalloutEngine
from gateway.publisher import Publisher
from gateway.store import Store, Synchronous
from protocols.dispatch import CalloutRequest, Topics
from tests.gateway.fakes import FakeClock, ScriptedRadio, callout_body

_LEVEL_NAMES: dict[int, Synchronous] = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


def commit_levels(store: Store) -> list[Synchronous]:
    """Record ``PRAGMA synchronous`` at every COMMIT the store issues from now on."""
    levels: list[Synchronous] = []
    conn: sqlite3.Connection = store._conn

    def on_statement(sql: str) -> None:
        if sql.strip().upper() == "COMMIT":
            conn.set_trace_callback(None)  # reading the level must not recurse
            levels.append(_LEVEL_NAMES[int(conn.execute("PRAGMA synchronous").fetchone()[0])])
            conn.set_trace_callback(on_statement)

    conn.set_trace_callback(on_statement)
    return levels


def accept_one_callout(store: Store, clock: FakeClock) -> None:
    engine = CalloutEngine(
        store=store,
        publisher=Publisher(Topics("tetragw")),
        radios=ScriptedRadio(),
        notify_outbox=lambda: None,
        clock=clock,
    )
    engine.accept(CalloutRequest.model_validate(callout_body()), topic="tetragw/v1/callouts")


def test_durable_transaction_commits_with_full_sync_and_others_with_normal(
    tmp_path: Path,
) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        levels = commit_levels(store)
        with store.transaction() as tx:
            tx.publish("t/a", b"1")
        with store.transaction(durable=True) as tx:
            tx.publish("t/b", b"2")
        with store.transaction() as tx:
            tx.publish("t/c", b"3")

        assert levels == ["NORMAL", "FULL", "NORMAL"]
        assert [m.topic for m in store.pending_outbox()] == ["t/a", "t/b", "t/c"]


def test_a_store_opened_without_sync_never_raises_it_for_light_transactions(
    tmp_path: Path,
) -> None:
    with Store(tmp_path / "s.sqlite3", synchronous="OFF") as store:
        levels = commit_levels(store)
        with store.transaction(durable=True) as tx:
            tx.publish("t/a", b"1")
        with store.transaction() as tx:
            tx.publish("t/b", b"2")

        assert levels == ["OFF", "OFF"]


def test_callout_acceptance_is_the_durable_commit_and_survives_reopening(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    path = tmp_path / "s.sqlite3"
    with Store(path, clock=clock) as store:
        levels = commit_levels(store)
        accept_one_callout(store, clock)

        assert levels == ["FULL"]
    with Store(path, clock=clock) as reopened:
        assert [s.state for s in reopened.sends_of("OSL-1-1")] == ["pending", "pending"]


async def test_under_group_commit_the_acceptance_is_flushed_off_the_loop_before_dispatch_waits(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    path = tmp_path / "s.sqlite3"
    with Store(path, clock=clock, group_commit=True) as store:
        levels = commit_levels(store)
        accept_one_callout(store, clock)

        # Nothing written yet: the acceptance waits in the open group, a promise.
        assert levels == []
        assert store.wal_sync.pending
        await store.wal_sync.wait()  # what the bridge awaits before it publishes or acks

        assert levels == ["NORMAL"]  # one COMMIT, its fsync in a worker thread
        assert store.wal_sync.flushes == 1
        assert not store.wal_sync.pending
    with Store(path, clock=clock) as reopened:
        assert [s.state for s in reopened.sends_of("OSL-1-1")] == ["pending", "pending"]
