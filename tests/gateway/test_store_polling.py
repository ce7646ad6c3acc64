"""The engine's per-wake-up queries must not grow with the history the store holds."""

from __future__ import annotations

from pathlib import Path

from gateway.store import Store


def test_engine_polls_read_only_unfinished_sends_and_active_callouts(tmp_path: Path) -> None:
    store = Store(tmp_path / "tetragw.sqlite3", synchronous="OFF")
    traced: list[str] = []
    store._conn.set_trace_callback(traced.append)
    try:
        store.due_send_ids(1.0)
        store.send_wakeups()
        store.expired_sends(1.0)
        store.sends_due(1.0)
        store.unfinished_sends()
        store.next_wakeup()
        store._conn.set_trace_callback(None)
        assert len(traced) == 6
        for query in traced:
            plan = [row[3] for row in store._conn.execute(f"EXPLAIN QUERY PLAN {query}")]
            # A full scan of sends or callouts would read every finished callout ever stored.
            assert not any(step in ("SCAN sends", "SCAN s", "SCAN callouts") for step in plan), (
                query,
                plan,
            )
            assert any("sends_unfinished" in step for step in plan), (query, plan)
    finally:
        store.close()


def test_a_retained_publication_finds_the_ones_it_supersedes_by_index(tmp_path: Path) -> None:
    store = Store(tmp_path / "tetragw.sqlite3", synchronous="OFF")
    traced: list[str] = []
    try:
        with store.transaction() as tx:
            store._conn.set_trace_callback(traced.append)
            tx.publish("tetragw/v1/units/1/position", b"{}", retain=True)
            tx.publish("tetragw/v1/units/1/status", b"{}", retain=True, supersede=False)
            store._conn.set_trace_callback(None)
        lookups = [q for q in traced if q.startswith(("DELETE", "UPDATE"))]
        assert len(lookups) == 2
        for query in lookups:
            plan = [row[3] for row in store._conn.execute(f"EXPLAIN QUERY PLAN {query}")]
            # A scan would read every pending publication: the whole backlog while the broker
            # is away, for every status and position.
            assert not any(step.startswith("SCAN outbox") for step in plan), (query, plan)
            assert any("outbox_retained_topic" in step for step in plan), (query, plan)
    finally:
        store.close()
