"""The audit trail: an append-only, hash-chained log kept in the store's SQLite file.

Every entry is written inside the same transaction as the state change it documents (see
``gateway.store``), so the trail never claims something the store did not do and vice versa.

Entry ``n`` carries ``prev_hash`` (the hash of entry ``n-1``, or :data:`GENESIS_HASH` for the
first) and ``hash = sha256(prev_hash || canonical JSON of {seq, at, kind, subject, issi, data})``.
Triggers refuse UPDATE and DELETE on the table, so a quiet edit has to drop them first; the
chain still shows it. The hash of the latest entry is kept in ``audit_head`` (one row, updated
in the same transaction), which is how a cut-off tail is told apart from a short trail.

Writing is cheap on purpose — a relayed callout writes a dozen entries: an :class:`AuditChain`
reads the head once per transaction, chains later entries in memory and writes the head once
before COMMIT; each entry's ``data`` is JSON-encoded once and the hashed body is assembled
around that encoding (:func:`entry_hash_of_json`), which is what :func:`entry_hash` computes.

Personal data never enters the trail: callout text and any free text appear only as
:func:`redact_text` (sha256 digest + length), and :func:`append_entry` refuses a ``data`` that
holds a clear-text string under a ``text``/``reason_text``/``payload`` key.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, get_args

from gateway.audit_encoding import (
    PersonalDataError,
    _refuse_clear_text,
    canonical_json,
    entry_hash,
    entry_hash_of_json,
)

__all__ = [
    "AUDIT_KINDS",
    "AUDIT_SCHEMA",
    "GENESIS_HASH",
    "AuditChain",
    "AuditEntry",
    "AuditKind",
    "PersonalDataError",
    "VerifyResult",
    "append_entry",
    "canonical_json",
    "entry_hash",
    "entry_hash_of_json",
    "read_entries",
    "redact_text",
    "verify",
    "verify_connection",
]

AuditKind = Literal[
    "inbound_request", "radio_command", "radio_indication", "state_change", "publication"
]
AUDIT_KINDS: Final[frozenset[str]] = frozenset(get_args(AuditKind))

GENESIS_HASH: Final = "0" * 64
"""``prev_hash`` of the first entry."""

_APPEND_ONLY_TRIGGERS: Final = ("audit_no_update", "audit_no_delete")


AUDIT_SCHEMA: Final[tuple[str, ...]] = (
    """
    CREATE TABLE audit (
        seq       INTEGER PRIMARY KEY,
        at        REAL    NOT NULL,
        kind      TEXT    NOT NULL,
        subject   TEXT    NOT NULL,
        issi      INTEGER,
        data      TEXT    NOT NULL,
        prev_hash TEXT    NOT NULL,
        hash      TEXT    NOT NULL
    )
    """,
    """
    CREATE TABLE audit_head (
        id   INTEGER PRIMARY KEY CHECK (id = 1),
        seq  INTEGER NOT NULL,
        hash TEXT    NOT NULL
    )
    """,
    """
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END
    """,
    """
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END
    """,
)
"""DDL of the audit tables; applied by the store's first migration."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One stored entry of the trail."""

    seq: int
    at: float
    kind: str
    subject: str
    issi: int | None
    data: Mapping[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """Outcome of :func:`verify`.

    ``ok`` is true only when every entry's hash recomputes, the chain links, the sequence has
    no gap, the recorded head matches the last entry and the append-only triggers exist.
    Otherwise ``first_bad_seq`` names the first entry found wrong (``None`` when the fault is
    not one entry's, e.g. missing triggers) and ``reason`` says what.
    """

    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str = ""
    head_hash: str | None = None

    def describe(self) -> str:
        """One line for humans (``tetragw audit verify``)."""
        if self.ok:
            head = (self.head_hash or GENESIS_HASH)[:16]
            return f"audit trail intact: {self.entries} entries, head {head}"
        where = f" at seq {self.first_bad_seq}" if self.first_bad_seq is not None else ""
        return f"audit trail NOT intact{where}: {self.reason} ({self.entries} entries read)"


def redact_text(text: str | bytes) -> dict[str, str | int]:
    """What the trail keeps of a text that may hold personal data: its sha256 and length.

    ``length`` counts characters for ``str`` and bytes for ``bytes``.
    """
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return {"sha256": hashlib.sha256(raw).hexdigest(), "length": len(text)}


class AuditChain:
    """Appends entries through ``conn`` inside one transaction the caller owns.

    The head is read at the first :meth:`append`; later entries chain in memory and
    :meth:`write_head` records the last one in ``audit_head`` — call it once, before COMMIT
    (``Store.transaction`` does, through ``Transaction.before_commit``). A rollback discards
    entries and head alike; drop the chain with its transaction. While a chain has unwritten
    entries, nothing else may append in the same transaction (its seq would collide: the
    insert fails on the primary key).
    """

    __slots__ = ("_conn", "_head_written", "_last_hash", "_last_seq")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._last_seq: int | None = None
        self._last_hash = GENESIS_HASH
        self._head_written = True

    def append(
        self,
        *,
        at: float,
        kind: AuditKind,
        subject: str,
        data: Mapping[str, Any],
        issi: int | None = None,
    ) -> AuditEntry:
        """Insert one entry (the head moves at :meth:`write_head`).

        Raises :class:`PersonalDataError` for clear text in ``data`` and ``ValueError`` for an
        unknown ``kind`` or data that is not JSON; nothing is written then. The returned
        entry's ``data`` is ``data`` itself (:func:`read_entries` gives the stored form).
        """
        return self._append(at=at, kind=kind, subject=subject, data=data, issi=issi)[0]

    def _append(
        self,
        *,
        at: float,
        kind: AuditKind,
        subject: str,
        data: Mapping[str, Any],
        issi: int | None,
    ) -> tuple[AuditEntry, str]:
        if kind not in AUDIT_KINDS:
            raise ValueError(f"unknown audit kind {kind!r}")
        plain = _refuse_clear_text(data)
        data_json = canonical_json(data)  # raises on values JSON cannot hold
        # The hash covers the stored form: json.loads(data_json) re-encoded. For plain data
        # that is data_json itself; anything else (int keys, enums...) takes the long way.
        hashed_json = data_json if plain else canonical_json(json.loads(data_json))
        if self._last_seq is None:
            head = self._conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
            if head is not None:
                self._last_seq, self._last_hash = int(head[0]), str(head[1])
            else:
                self._last_seq = 0
        prev_hash = self._last_hash
        seq = self._last_seq + 1
        at_value = float(at)
        digest = entry_hash_of_json(
            prev_hash,
            seq=seq,
            at=at_value,
            kind=kind,
            subject=subject,
            issi=issi,
            data_json=hashed_json,
        )
        self._conn.execute(
            "INSERT INTO audit (seq, at, kind, subject, issi, data, prev_hash, hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, at_value, kind, subject, issi, data_json, prev_hash, digest),
        )
        self._last_seq, self._last_hash, self._head_written = seq, digest, False
        entry = AuditEntry(seq, at_value, kind, subject, issi, data, prev_hash, digest)
        return entry, data_json

    def mark(self) -> tuple[int | None, str, bool]:
        """Where the chain stands; :meth:`restore` returns to it (a savepoint rolled back)."""
        return self._last_seq, self._last_hash, self._head_written

    def restore(self, mark: tuple[int | None, str, bool]) -> None:
        """Forget the entries appended since :meth:`mark` (their rows were rolled back)."""
        self._last_seq, self._last_hash, self._head_written = mark

    def write_head(self) -> None:
        """Record the last appended entry in ``audit_head`` (nothing to do if none since the
        last call)."""
        if self._head_written:
            return
        self._conn.execute(
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            (self._last_seq, self._last_hash),
        )
        self._head_written = True


def append_entry(
    conn: sqlite3.Connection,
    *,
    at: float,
    kind: AuditKind,
    subject: str,
    data: Mapping[str, Any],
    issi: int | None = None,
) -> AuditEntry:
    """Append one entry and move the head; the caller owns the surrounding transaction.

    Raises :class:`PersonalDataError` for clear text in ``data`` and ``ValueError`` for an
    unknown ``kind`` or data that is not JSON; nothing is written then. The returned entry's
    ``data`` is the stored form (parsed). Several entries in one transaction are cheaper
    through one :class:`AuditChain`.
    """
    chain = AuditChain(conn)
    entry, data_json = chain._append(at=at, kind=kind, subject=subject, data=data, issi=issi)
    chain.write_head()
    return AuditEntry(
        entry.seq,
        entry.at,
        entry.kind,
        entry.subject,
        entry.issi,
        json.loads(data_json),
        entry.prev_hash,
        entry.hash,
    )


def read_entries(conn: sqlite3.Connection, *, after_seq: int = 0) -> Iterator[AuditEntry]:
    """Entries with ``seq > after_seq`` in seq order (``data`` parsed)."""
    cursor = conn.execute(
        "SELECT seq, at, kind, subject, issi, data, prev_hash, hash FROM audit"
        " WHERE seq > ? ORDER BY seq",
        (after_seq,),
    )
    for seq, at, kind, subject, issi, data, prev_hash, digest in cursor:
        yield AuditEntry(seq, float(at), kind, subject, issi, json.loads(data), prev_hash, digest)


def verify_connection(conn: sqlite3.Connection) -> VerifyResult:
    """Check the whole chain through an open connection (see :class:`VerifyResult`)."""
    count = 0
    expected_seq = 1
    prev_hash = GENESIS_HASH
    cursor = conn.execute(
        "SELECT seq, at, kind, subject, issi, data, prev_hash, hash FROM audit ORDER BY seq"
    )
    for seq, at, kind, subject, issi, data, stored_prev, stored_hash in cursor:
        count += 1
        if seq != expected_seq:
            return VerifyResult(
                False, count, expected_seq, f"entry {expected_seq} is missing (next is {seq})"
            )
        if stored_prev != prev_hash:
            return VerifyResult(False, count, seq, "chain broken: prev_hash does not link")
        try:
            parsed = json.loads(data)
            recomputed = entry_hash(
                prev_hash, seq=seq, at=at, kind=kind, subject=subject, issi=issi, data=parsed
            )
        except (TypeError, ValueError):
            return VerifyResult(False, count, seq, "entry is not well-formed")
        if recomputed != stored_hash:
            return VerifyResult(False, count, seq, "hash mismatch: entry was altered")
        prev_hash = stored_hash
        expected_seq += 1
    last_seq = expected_seq - 1
    head = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    if head is None:
        if count:
            return VerifyResult(False, count, None, "head record is missing")
    elif int(head[0]) > last_seq:
        return VerifyResult(
            False,
            count,
            last_seq + 1,
            f"tail truncated: head is seq {head[0]}, trail ends at {last_seq}",
        )
    elif int(head[0]) != last_seq or head[1] != prev_hash:
        return VerifyResult(False, count, int(head[0]), "head does not match the last entry")
    triggers = {
        str(row[0]) for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    }
    missing = [name for name in _APPEND_ONLY_TRIGGERS if name not in triggers]
    if missing:
        return VerifyResult(
            False, count, None, f"append-only trigger removed: {', '.join(missing)}", prev_hash
        )
    return VerifyResult(True, count, None, "", prev_hash)


def verify(path: str | Path) -> VerifyResult:
    """Verify the audit trail of the store file at ``path``, opened read-only."""
    file = Path(path)
    if not file.is_file():
        return VerifyResult(False, 0, None, f"no store file at {file}")
    conn = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return verify_connection(conn)
    except sqlite3.DatabaseError as exc:
        return VerifyResult(False, 0, None, f"cannot read the trail: {exc}")
    finally:
        conn.close()
