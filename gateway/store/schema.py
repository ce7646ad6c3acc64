"""Schema of the durable store and its migrations (tracked in ``PRAGMA user_version``).

Migration ``n`` (1-based) brings a file from version ``n-1`` to ``n``; each runs in one
transaction together with the ``user_version`` bump, so a crash mid-migration leaves the old
version intact. Add new migrations at the end; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from gateway.audit import AUDIT_SCHEMA

_V1: Final[tuple[str, ...]] = (
    """
    CREATE TABLE incidents (
        incident_id     TEXT PRIMARY KEY,
        priority        TEXT,
        gssi            INTEGER,
        talkgroup_state TEXT NOT NULL DEFAULT 'none'
            CHECK (talkgroup_state IN ('none', 'creating', 'active', 'failed', 'released')),
        opened_at       REAL NOT NULL,
        closed_at       REAL,
        close_reason    TEXT
    )
    """,
    # Never two open incidents holding one talk group (a released group may be reused).
    """
    CREATE UNIQUE INDEX incidents_open_gssi ON incidents (gssi)
    WHERE gssi IS NOT NULL AND closed_at IS NULL AND talkgroup_state <> 'released'
    """,
    """
    CREATE TABLE callouts (
        callout_id  TEXT PRIMARY KEY,
        incident_id TEXT NOT NULL REFERENCES incidents (incident_id),
        priority    TEXT,
        talkgroup   INTEGER NOT NULL CHECK (talkgroup IN (0, 1)),
        created_at  REAL NOT NULL,
        deadline_at REAL NOT NULL,
        text_sha256 TEXT NOT NULL,
        text_length INTEGER NOT NULL,
        state       TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'completed'))
    )
    """,
    "CREATE INDEX callouts_incident ON callouts (incident_id)",
    "CREATE INDEX callouts_active_deadline ON callouts (deadline_at) WHERE state = 'active'",
    # The personal data, apart from everything else so it can be erased on its own.
    """
    CREATE TABLE callout_texts (
        callout_id TEXT PRIMARY KEY REFERENCES callouts (callout_id) ON DELETE CASCADE,
        text       TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE sends (
        send_id         INTEGER PRIMARY KEY,
        callout_id      TEXT NOT NULL REFERENCES callouts (callout_id),
        issi            INTEGER NOT NULL,
        role            TEXT NOT NULL,
        state           TEXT NOT NULL DEFAULT 'pending'
            CHECK (state IN ('pending', 'sent', 'delivered', 'read', 'unreached')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL,
        last_reason     TEXT,
        radio           TEXT,
        message_refs    TEXT NOT NULL DEFAULT '[]',
        sent_at         REAL,
        delivered_at    REAL,
        read_at         REAL,
        final_at        REAL,
        updated_at      REAL NOT NULL,
        UNIQUE (callout_id, issi)
    )
    """,
    """
    CREATE INDEX sends_unfinished ON sends (next_attempt_at)
    WHERE state IN ('pending', 'sent')
    """,
    """
    CREATE TABLE timeline_units (
        incident_id     TEXT NOT NULL REFERENCES incidents (incident_id),
        issi            INTEGER NOT NULL,
        role            TEXT NOT NULL,
        alerted_at      REAL NOT NULL,
        delivered_at    REAL,
        acknowledged_at REAL,
        en_route_at     REAL,
        on_scene_at     REAL,
        ended_at        REAL,
        ended_by        TEXT,
        PRIMARY KEY (incident_id, issi)
    )
    """,
    "CREATE INDEX timeline_units_issi ON timeline_units (issi)",
    """
    CREATE TABLE unit_status (
        issi        INTEGER PRIMARY KEY,
        value       INTEGER NOT NULL,
        meaning     TEXT,
        label       TEXT,
        incident_id TEXT,
        radio       TEXT,
        at          REAL NOT NULL
    )
    """,
    """
    CREATE TABLE outbox (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        topic      TEXT NOT NULL,
        payload    BLOB NOT NULL,
        qos        INTEGER NOT NULL CHECK (qos IN (0, 1, 2)),
        retain     INTEGER NOT NULL CHECK (retain IN (0, 1)),
        created_at REAL NOT NULL
    )
    """,
    *AUDIT_SCHEMA,
)

# Version 2: single sends to one unit (``units/<issi>/send``), durable like callouts; the text
# (personal data) in its own table, erased when the request ends.
_V2: Final = (
    """
    CREATE TABLE unit_requests (
        request_id  TEXT PRIMARY KEY,
        issi        INTEGER NOT NULL,
        status      INTEGER,
        state       TEXT NOT NULL CHECK (state IN ('pending', 'done')),
        outcome     TEXT,
        created_at  REAL NOT NULL,
        deadline_at REAL NOT NULL
    )
    """,
    """
    CREATE TABLE unit_request_texts (
        request_id TEXT PRIMARY KEY REFERENCES unit_requests (request_id),
        text       TEXT NOT NULL
    )
    """,
)

# Version 3: a retained publication supersedes the pending retained ones of its topic
# (``TransactionBase.publish``); without an index that scanned the whole outbox for every
# status and position, a cost that grew with the backlog (docs/performance.md).
_V3: Final = ("CREATE INDEX outbox_retained_topic ON outbox (topic) WHERE retain = 1",)

MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (_V1, _V2, _V3)
"""Migration scripts; the file's ``user_version`` is the number already applied."""

SCHEMA_VERSION: Final = len(MIGRATIONS)


class StoreVersionError(RuntimeError):
    """The file was written by a newer tetragw (its schema version is unknown here)."""


def schema_version(conn: sqlite3.Connection) -> int:
    """The file's ``PRAGMA user_version``."""
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def _known_version(conn: sqlite3.Connection) -> int:
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise StoreVersionError(
            f"store schema version {version} is newer than this tetragw ({SCHEMA_VERSION})"
        )
    return version


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the file to :data:`SCHEMA_VERSION`; returns the number of migrations applied.

    ``conn`` must be in autocommit mode (``isolation_level=None``).
    """
    applied = 0
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = _known_version(conn)
            if version == SCHEMA_VERSION:
                conn.execute("COMMIT")
                return applied
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied += 1
