"""The audit trail: an append-only, hash-chained log kept in the store's SQLite file.

Every entry is written inside the same transaction as the state change it documents (see
``gateway.store``), so the trail never claims something the store did not do and vice versa.

Entry ``n`` carries ``prev_hash`` (the hash of entry ``n-1``, or :data:`GENESIS_HASH` for the
first) and ``hash = sha256(prev_hash || canonical JSON of {seq, at, kind, subject, issi, data})``.
Triggers refuse UPDATE and DELETE on the table, so a quiet edit has to drop them first; the
chain still shows it. The hash of the latest entry is kept in ``audit_head`` (one row, updated
in the same transaction), which is how a cut-off tail is told apart from a short trail.

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

AuditKind = Literal[
    "inbound_request", "radio_command", "radio_indication", "state_change", "publication"
]
AUDIT_KINDS: Final[frozenset[str]] = frozenset(get_args(AuditKind))

GENESIS_HASH: Final = "0" * 64
"""``prev_hash`` of the first entry."""

_APPEND_ONLY_TRIGGERS: Final = ("audit_no_update", "audit_no_delete")

# Keys whose value, when a plain string, would be clear text from a person: refused.
_CLEAR_TEXT_KEYS: Final = frozenset({"text", "free_text", "payload", "reason_text"})

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


class PersonalDataError(ValueError):
    """An audit ``data`` object held clear text where only a digest may go."""


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


def canonical_json(value: object) -> str:
    """Deterministic JSON: sorted keys, no spaces, ASCII only, no NaN."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def entry_hash(
    prev_hash: str,
    *,
    seq: int,
    at: float,
    kind: str,
    subject: str,
    issi: int | None,
    data: Mapping[str, Any],
) -> str:
    """``sha256(prev_hash || canonical JSON of the entry)`` as hex."""
    body = canonical_json(
        {
            "seq": seq,
            "at": float(at),
            "kind": kind,
            "subject": subject,
            "issi": issi,
            "data": data,
        }
    )
    return hashlib.sha256(prev_hash.encode("ascii") + body.encode("ascii")).hexdigest()


def _refuse_clear_text(value: object, path: str = "data") -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key in _CLEAR_TEXT_KEYS and isinstance(item, str | bytes):
                raise PersonalDataError(f"{path}.{key}: use redact_text(), not clear text")
            _refuse_clear_text(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _refuse_clear_text(item, f"{path}[{index}]")


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
    unknown ``kind`` or data that is not JSON; nothing is written then.
    """
    if kind not in AUDIT_KINDS:
        raise ValueError(f"unknown audit kind {kind!r}")
    _refuse_clear_text(data)
    data_json = canonical_json(data)  # raises on values JSON cannot hold
    stored_data: dict[str, Any] = json.loads(data_json)
    head = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    prev_seq, prev_hash = (0, GENESIS_HASH) if head is None else (int(head[0]), str(head[1]))
    seq = prev_seq + 1
    digest = entry_hash(
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
    return AuditEntry(seq, float(at), kind, subject, issi, stored_data, prev_hash, digest)


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
