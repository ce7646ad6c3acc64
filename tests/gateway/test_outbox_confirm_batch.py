"""Confirming many outbox publications at once removes them in a few statements and audits
each exactly as one confirmation at a time would, in seq order."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.audit import read_entries, redact_text, verify
from gateway.store import Store, store_path

T0 = 1_800_000_000.0


def queue(store: Store, count: int) -> list[int]:
    """``count`` publications, a mix of qos and retained ones, on distinct topics."""
    with store.transaction(now=T0) as tx:
        return [
            tx.publish(
                f"tetragw/v1/units/{2040100 + n}/status",
                b'{"value": %d}' % (32768 + n),
                qos=n % 2,
                retain=n % 3 == 0,
            )
            for n in range(count)
        ]


def audit_rows(store: Store) -> list[tuple[object, ...]]:
    return [tuple(row) for row in store._conn.execute("SELECT * FROM audit ORDER BY seq")]


def test_batch_writes_the_same_trail_as_single_confirmations_in_seq_order(
    tmp_path: Path,
) -> None:
    with Store(tmp_path / "one.sqlite3") as one, Store(tmp_path / "many.sqlite3") as many:
        seqs = queue(one, 7)
        assert queue(many, 7) == seqs
        with one.transaction(now=T0 + 1) as tx:
            assert all(tx.mark_published(seq) for seq in seqs)
        with many.transaction(now=T0 + 1) as tx:
            assert tx.mark_published_many(list(reversed(seqs))) == 7
        assert audit_rows(many) == audit_rows(one)
        assert many.outbox_size() == 0
        published = [e for e in read_entries(many._conn) if e.kind == "publication"]
        assert [e.data["outbox_seq"] for e in published] == seqs
        first = published[0]
        assert first.subject == "tetragw/v1/units/2040100/status"
        assert first.data == {
            "outbox_seq": seqs[0],
            "qos": 0,
            "retain": True,
            "payload_digest": redact_text(b'{"value": 32768}'),
        }


def test_batch_counts_only_pending_seqs_and_skips_repeats_and_unknown_ones(
    tmp_path: Path,
) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        seqs = queue(store, 4)
        with store.transaction(now=T0 + 1) as tx:
            assert tx.mark_published(seqs[1])
        with store.transaction(now=T0 + 2) as tx:
            confirmed = tx.mark_published_many([seqs[3], seqs[1], seqs[3], 9999, seqs[0]])
        assert confirmed == 2
        assert [m.seq for m in store.pending_outbox()] == [seqs[2]]
        published = [e.data["outbox_seq"] for e in read_entries(store._conn)]
        assert published == [seqs[1], seqs[0], seqs[3]]
        with store.transaction(now=T0 + 3) as tx:
            assert tx.mark_published_many([]) == 0
            assert not tx.mark_published(seqs[1])


def test_batch_larger_than_one_statement_confirms_every_seq(tmp_path: Path) -> None:
    with Store(store_path(tmp_path)) as store:
        seqs = queue(store, 1234)  # three DELETE statements
        with store.transaction(now=T0 + 1) as tx:
            assert tx.mark_published_many(seqs[::-1]) == 1234
        assert store.outbox_size() == 0
        assert [e.data["outbox_seq"] for e in read_entries(store._conn)] == seqs
    result = verify(store_path(tmp_path))
    assert (result.ok, result.entries) == (True, 1234)


def confirm_then_fail(store: Store, seqs: list[int]) -> None:
    with store.transaction(now=T0 + 1) as tx:
        assert tx.mark_published_many(seqs) == len(seqs)
        raise RuntimeError("broker link lost mid-flush")


def test_a_rolled_back_batch_leaves_the_outbox_and_the_trail_as_they_were(
    tmp_path: Path,
) -> None:
    with Store(store_path(tmp_path)) as store:
        seqs = queue(store, 5)
        with pytest.raises(RuntimeError, match="mid-flush"):
            confirm_then_fail(store, seqs)
        assert [m.seq for m in store.pending_outbox()] == seqs
        assert audit_rows(store) == []
        with store.transaction(now=T0 + 2) as tx:
            assert tx.mark_published_many(seqs) == 5
    assert verify(store_path(tmp_path)).ok
