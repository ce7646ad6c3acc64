"""Cheap audit writes store exactly what the per-entry writer stored: the same rows, the same
hashes, the same refusals; the head is read and written once per transaction.

The oracle below is the writer as it was before the chain kept the head in memory (copied
from ``gateway/audit.py``, with its own JSON encoding), so a store written by older releases
is what these tests compare against.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.audit import (
    AUDIT_SCHEMA,
    GENESIS_HASH,
    AuditChain,
    AuditKind,
    PersonalDataError,
    append_entry,
    canonical_json,
    entry_hash,
    entry_hash_of_json,
    read_entries,
    verify,
    verify_connection,
)
from gateway.store import Store, store_path

T0 = 1_800_000_000.0
PREV = hashlib.sha256(b"previous entry").hexdigest()

# -- the oracle: the per-entry writer of earlier releases -------------------------------------

_ORACLE_CLEAR_TEXT_KEYS = frozenset({"text", "free_text", "payload", "reason_text"})


def _oracle_json(value: object) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def _oracle_hash(
    prev_hash: str,
    *,
    seq: int,
    at: float,
    kind: str,
    subject: str,
    issi: int | None,
    data: Mapping[str, Any],
) -> str:
    body = _oracle_json(
        {"seq": seq, "at": float(at), "kind": kind, "subject": subject, "issi": issi, "data": data}
    )
    return hashlib.sha256(prev_hash.encode("ascii") + body.encode("ascii")).hexdigest()


def _oracle_refuse(value: object, path: str = "data") -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key in _ORACLE_CLEAR_TEXT_KEYS and isinstance(item, str | bytes):
                raise PersonalDataError(f"{path}.{key}: use redact_text(), not clear text")
            _oracle_refuse(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _oracle_refuse(item, f"{path}[{index}]")


def oracle_append(
    conn: sqlite3.Connection,
    *,
    at: float,
    kind: str,
    subject: str,
    data: Mapping[str, Any],
    issi: int | None = None,
) -> None:
    _oracle_refuse(data)
    data_json = _oracle_json(data)
    stored_data: dict[str, Any] = json.loads(data_json)
    head = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    prev_seq, prev_hash = (0, GENESIS_HASH) if head is None else (int(head[0]), str(head[1]))
    seq = prev_seq + 1
    digest = _oracle_hash(
        prev_hash, seq=seq, at=at, kind=kind, subject=subject, issi=issi, data=stored_data
    )
    conn.execute(
        "INSERT INTO audit (seq, at, kind, subject, issi, data, prev_hash, hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (seq, float(at), kind, subject, issi, data_json, prev_hash, digest),
    )
    conn.execute(
        "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        (seq, digest),
    )


# -- helpers ----------------------------------------------------------------------------------


def trail_db() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    for statement in AUDIT_SCHEMA:
        conn.execute(statement)
    return conn


def dump(conn: sqlite3.Connection) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Every stored byte of the trail: the rows with their SQLite types, and the head."""
    rows = conn.execute(
        "SELECT seq, at, typeof(at), kind, subject, issi, typeof(issi), data, prev_hash, hash"
        " FROM audit ORDER BY seq"
    ).fetchall()
    return rows, conn.execute("SELECT id, seq, hash FROM audit_head").fetchall()


Entry = tuple[float, AuditKind, str, int | None, dict[str, Any]]

# Text with quotes, backslashes, controls, non-ASCII, astral characters and lone surrogates.
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | any_text
)
# Keys that are not clear-text keys, so the data is accepted.
safe_keys = any_text.filter(lambda key: key not in _ORACLE_CLEAR_TEXT_KEYS)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(safe_keys, inner, max_size=4)
    ),
    max_leaves=20,
)
audit_data = st.dictionaries(safe_keys, json_values, max_size=6)
# Non-str keys are stringified by JSON; the hash covers the re-encoded (re-sorted) form.
odd_data = st.dictionaries(
    st.integers(-50, 50) | st.booleans(),
    json_values,
    max_size=5,
)
at_values = st.floats(min_value=0, max_value=4e9, allow_nan=False) | st.integers(0, 4 * 10**9)
issis = st.none() | st.integers(min_value=0, max_value=2**24 - 1)
kinds: st.SearchStrategy[AuditKind] = st.sampled_from(
    ["inbound_request", "radio_command", "radio_indication", "state_change", "publication"]
)
# SQLite stores subjects as UTF-8, which a lone surrogate is not (refused before and now).
entries = st.tuples(at_values, kinds, st.text(max_size=12), issis, audit_data | odd_data)


# -- the fast hash ----------------------------------------------------------------------------


@settings(deadline=None)  # a loaded 2-core CI box must not make this flaky
@given(
    seq=st.integers(1, 2**40),
    at=at_values,
    kind=kinds,
    subject=any_text,
    issi=issis,
    data=audit_data,
)
def test_hash_from_the_encoded_data_equals_entry_hash(
    seq: int,
    at: float,
    kind: AuditKind,
    subject: str,
    issi: int | None,
    data: dict[str, Any],
) -> None:
    stored = json.loads(canonical_json(data))
    fields: dict[str, Any] = {
        "seq": seq,
        "at": at,
        "kind": kind,
        "subject": subject,
        "issi": issi,
    }
    fast = entry_hash_of_json(PREV, data_json=canonical_json(data), **fields)
    assert fast == entry_hash(PREV, data=stored, **fields)
    assert fast == _oracle_hash(PREV, data=stored, **fields)


def test_hash_from_the_encoded_data_handles_the_scalar_corner_cases() -> None:
    fields: dict[str, Any] = {"seq": 7, "kind": "state_change", "issi": None}
    for at, subject, issi in [
        (T0, 'quote " and \\ backslash', None),
        (1800000000, "år \u2028 \U0001f691", 2040100),
        (0, "\ud800 lone surrogate", 0),
        (-0.0, "", True),
        (1e16, "\x00\x1f", 2**53 + 1),
    ]:
        data = {"nested": [{"a": 1.5, "b": [None, True]}], "é": "ü"}
        fields |= {"at": at, "subject": subject, "issi": issi}
        expected = entry_hash(PREV, data=data, **fields)
        assert entry_hash_of_json(PREV, data_json=canonical_json(data), **fields) == expected


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_still_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="JSON compliant"):
        entry_hash_of_json(
            PREV, seq=1, at=bad, kind="state_change", subject="x", issi=None, data_json="{}"
        )
    with pytest.raises(ValueError, match="JSON compliant"):
        entry_hash(PREV, seq=1, at=bad, kind="state_change", subject="x", issi=None, data={})
    conn = trail_db()
    chain = AuditChain(conn)
    with pytest.raises(ValueError, match="JSON compliant"):
        chain.append(at=T0, kind="state_change", subject="x", data={"v": [1, {"w": bad}]})
    with pytest.raises(ValueError, match="JSON compliant"):
        chain.append(at=bad, kind="state_change", subject="x", data={})
    chain.write_head()
    assert dump(conn) == ([], [])


# -- stored rows are those of the per-entry writer --------------------------------------------


def write_both(batches: list[list[Entry]]) -> tuple[sqlite3.Connection, sqlite3.Connection]:
    """The same entries through the oracle (one by one) and through one chain per batch."""
    old, new = trail_db(), trail_db()
    for batch in batches:
        old.execute("BEGIN")
        new.execute("BEGIN")
        chain = AuditChain(new)
        for at, kind, subject, issi, data in batch:
            oracle_append(old, at=at, kind=kind, subject=subject, data=data, issi=issi)
            chain.append(at=at, kind=kind, subject=subject, data=data, issi=issi)
        chain.write_head()
        old.execute("COMMIT")
        new.execute("COMMIT")
    return old, new


@settings(deadline=None, max_examples=60)
@given(batches=st.lists(st.lists(entries, min_size=1, max_size=5), min_size=1, max_size=4))
def test_chained_entries_are_stored_byte_for_byte_as_before(batches: list[list[Entry]]) -> None:
    old, new = write_both(batches)
    assert dump(new) == dump(old)
    assert verify_connection(new).ok


def test_int_keys_tuples_and_enums_hash_their_stored_form_as_before() -> None:
    class Level(int):
        pass

    # JSON turns keys into strings, which sort differently ("10" < "2"): the hash covers the
    # stored, re-sorted form, while the data column keeps the first encoding.
    data: dict[Any, Any] = {
        2: "two",
        10: ("ten", {True: Level(3), False: [(), {"k": 1.0}]}),
    }
    entry: Entry = (T0, "state_change", "c", 7, data)
    old, new = write_both([[entry, (T0 + 1, "publication", "t", None, {})]])
    assert dump(new) == dump(old)
    assert verify_connection(new).ok


# -- the head: once per transaction -----------------------------------------------------------


def test_a_transaction_reads_and_writes_the_audit_head_once(tmp_path: Path) -> None:
    with Store(store_path(tmp_path)) as store:
        with store.transaction(now=T0) as tx:
            tx.audit("state_change", "c", {"n": 0})
        statements: list[str] = []
        store._conn.set_trace_callback(statements.append)
        with store.transaction(now=T0 + 1) as tx:
            for n in range(1, 6):
                tx.audit("radio_indication", f"unit:{n}", {"n": n}, issi=n)
        store._conn.set_trace_callback(None)
        head = [s for s in statements if "audit_head" in s]
        assert len(head) == 2
        assert head[0].startswith("SELECT")
        assert head[1].startswith("INSERT INTO audit_head")
        assert statements[statements.index("COMMIT") - 1] == head[1]  # written last
        assert [e.seq for e in read_entries(store._conn)] == [1, 2, 3, 4, 5, 6]
    assert verify(store_path(tmp_path)).ok


def test_a_transaction_without_audit_entries_does_not_touch_the_head(tmp_path: Path) -> None:
    with Store(store_path(tmp_path)) as store:
        statements: list[str] = []
        store._conn.set_trace_callback(statements.append)
        with store.transaction(now=T0) as tx:
            tx.publish("tetragw/v1/x", b"{}")
        store._conn.set_trace_callback(None)
        assert not [s for s in statements if "audit" in s]


def audit_then_fail(store: Store) -> None:
    with store.transaction(now=T0 + 1) as tx:
        tx.audit("state_change", "c", {"n": 2})
        tx.audit("state_change", "c", {"n": 3})
        raise RuntimeError("boom")


def test_a_rolled_back_transaction_leaves_neither_entries_nor_head(tmp_path: Path) -> None:
    with Store(store_path(tmp_path)) as store:
        with store.transaction(now=T0) as tx:
            kept = tx.audit("state_change", "c", {"n": 1})
        with pytest.raises(RuntimeError, match="boom"):
            audit_then_fail(store)
        head = store._conn.execute("SELECT seq, hash FROM audit_head").fetchall()
        assert [tuple(row) for row in head] == [(1, kept.hash)]
        with store.transaction(now=T0 + 2) as tx:
            after = tx.audit("state_change", "c", {"n": 4})
        assert (after.seq, after.prev_hash) == (2, kept.hash)
        assert [e.data["n"] for e in read_entries(store._conn)] == [1, 4]
    assert verify(store_path(tmp_path)).ok


def test_a_refused_entry_leaves_the_chain_usable_in_the_same_transaction(tmp_path: Path) -> None:
    with Store(store_path(tmp_path)) as store:
        with store.transaction(now=T0) as tx:
            tx.audit("state_change", "c", {"n": 1})
            with pytest.raises(PersonalDataError):
                tx.audit("state_change", "c", {"reason_text": "Mann 67 år"})
            with pytest.raises(ValueError, match="unknown audit kind"):
                tx.audit("gossip", "c", {})  # type: ignore[arg-type]
            tx.audit("state_change", "c", {"n": 2})
        assert [e.seq for e in read_entries(store._conn)] == [1, 2]
    assert verify(store_path(tmp_path)).ok


def test_a_trail_written_by_the_per_entry_writer_is_continued_and_verifies(
    tmp_path: Path,
) -> None:
    path = store_path(tmp_path)
    Store(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    for n in range(3):
        conn.execute("BEGIN")
        oracle_append(conn, at=T0 + n, kind="radio_indication", subject="unit:1", data={"n": n})
        conn.execute("COMMIT")
    conn.close()
    assert verify(path).ok
    with Store(path) as store, store.transaction(now=T0 + 9) as tx:
        tx.audit("state_change", "c", {"n": 3})
        tx.audit("state_change", "c", {"n": 4})
    result = verify(path)
    assert (result.ok, result.entries) == (True, 5)


def test_append_entry_alone_still_moves_the_head_and_returns_the_stored_form() -> None:
    conn, reference = trail_db(), trail_db()
    datas: list[dict[Any, Any]] = [{"units": (1, 2)}, {3: "three"}]
    for n, data in enumerate(datas):
        entry = append_entry(conn, at=T0 + n, kind="state_change", subject="c", data=data)
        oracle_append(reference, at=T0 + n, kind="state_change", subject="c", data=data)
        assert entry.data == json.loads(canonical_json(data))
        assert conn.execute("SELECT seq, hash FROM audit_head").fetchone() == (n + 1, entry.hash)
    assert dump(conn) == dump(reference)


# -- clear-text refusal -----------------------------------------------------------------------

risky_keys = st.sampled_from(["text", "payload", "free_text", "reason_text", "a", "b"])
risky_values = st.recursive(
    st.none() | st.integers() | st.text(max_size=3) | st.binary(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner)
        | st.dictionaries(risky_keys, inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(deadline=None)
@given(data=st.dictionaries(risky_keys, risky_values, max_size=4))
def test_clear_text_is_refused_at_the_same_path_as_before(data: dict[str, Any]) -> None:
    try:
        _oracle_refuse(data)
    except PersonalDataError as exc:
        expected: str | None = str(exc)
    else:
        expected = None
    chain = AuditChain(trail_db())
    if expected is None:
        with contextlib.suppress(TypeError):  # bytes that are not clear text: still not JSON
            chain.append(at=T0, kind="state_change", subject="c", data=data)
    else:
        with pytest.raises(PersonalDataError) as refused:
            chain.append(at=T0, kind="state_change", subject="c", data=data)
        assert str(refused.value) == expected


def test_clear_text_deep_in_lists_is_named_by_its_path() -> None:
    chain = AuditChain(trail_db())
    data = {"sds": [{"ok": 1}, {"parts": ({"payload": b"Mann 67 \xc3\xa5r"},)}]}
    with pytest.raises(PersonalDataError, match=r"^data\.sds\[1\]\.parts\[0\]\.payload: "):
        chain.append(at=T0, kind="radio_indication", subject="unit:1", data=data)
