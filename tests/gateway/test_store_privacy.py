"""The callout text is personal data: kept only while a radio try may need it, then erased
so that it is gone from the file bytes, and never written to the audit trail."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.audit import PersonalDataError, read_entries, redact_text
from gateway.store import NewCallout, Store, UnitAssignment

T0 = 1_800_000_000.0
# Long enough to span an overflow page, with a marker that cannot appear by accident.
TEXT = "Hjertestans PERSONDATA-7f3a Storgata 1, Oslo. Mann 67 år. " + "Bakgang, 3. etg. " * 300
MARKER = b"PERSONDATA-7f3a"


def callout(callout_id: str, issis: tuple[int, ...]) -> NewCallout:
    return NewCallout(
        callout_id=callout_id,
        incident_id="OSL-9",
        units=tuple(UnitAssignment(issi, "ambulance") for issi in issis),
        text=TEXT,
        deadline_s=60,
        talkgroup=False,
    )


def file_bytes(path: Path) -> bytes:
    """The store file and its WAL (the ``-shm`` index holds no row data)."""
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def test_text_is_erased_from_the_file_once_every_send_is_final(tmp_path: Path) -> None:
    path = tmp_path / "tetragw.sqlite3"
    with Store(path) as store:
        with store.transaction(now=T0) as tx:
            sends = tx.accept_callout(callout("C-1", (1, 2))).sends
        store.checkpoint()
        assert MARKER in path.read_bytes()  # it really was written to the main file
        with store.transaction(now=T0 + 1) as tx:
            tx.record_sent(sends[0].send_id, radio="gw1", message_refs=[1])
            tx.record_delivered(sends[0].send_id)
        assert store.callout_text("C-1") == TEXT  # unit 2 may still need it
        with store.transaction(now=T0 + 61) as tx:
            tx.record_unreached(sends[1].send_id, reason="deadline")
        assert store.callout_text("C-1") is None
        completed = store.callout("C-1")
        assert completed is not None
        assert completed.state == "completed"
        assert completed.text_length == len(TEXT)
        assert MARKER not in file_bytes(path)


def test_text_stays_while_another_send_is_unfinished_even_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "tetragw.sqlite3"
    with Store(path) as store, store.transaction(now=T0) as tx:
        sends = tx.accept_callout(callout("C-2", (1, 2))).sends
        tx.record_unreached(sends[0].send_id, reason="deadline")
    with Store(path) as store:
        assert store.callout_text("C-2") == TEXT
        with store.transaction(now=T0 + 2) as tx:
            tx.record_read(sends[1].send_id)
        assert store.callout_text("C-2") is None
        assert MARKER not in file_bytes(path)


def test_text_never_enters_the_audit_trail(tmp_path: Path) -> None:
    path = tmp_path / "tetragw.sqlite3"
    with Store(path) as store:
        with store.transaction(now=T0) as tx:
            tx.accept_callout(callout("C-3", (1,)))
        rows = store._conn.execute("SELECT data FROM audit").fetchall()
        assert all("PERSONDATA" not in row[0] for row in rows)
        accepted = next(iter(read_entries(store._conn)))
        assert accepted.data["text_digest"] == redact_text(TEXT)


def test_audit_refuses_clear_text_under_a_text_key(tmp_path: Path) -> None:
    with Store(tmp_path / "tetragw.sqlite3") as store:
        with pytest.raises(PersonalDataError), store.transaction(now=T0) as tx:
            tx.audit("radio_indication", "unit:1", {"sds": {"text": "Mann 67 år"}}, issi=1)
        assert list(read_entries(store._conn)) == []


def test_published_unit_message_is_removed_from_the_outbox_bytes(tmp_path: Path) -> None:
    path = tmp_path / "tetragw.sqlite3"
    with Store(path) as store:
        payload = b'{"issi": 1, "text": "PERSONDATA-7f3a pasient ' + b"x" * 5000 + b'"}'
        with store.transaction(now=T0) as tx:
            seq = tx.publish("tetragw/v1/units/1/messages", payload)
        with store.transaction(now=T0 + 1) as tx:
            assert tx.mark_published(seq)
        store.checkpoint()
        assert store.outbox_size() == 0
        assert MARKER not in file_bytes(path)
        publication = list(read_entries(store._conn))[-1]
        assert publication.kind == "publication"
        assert publication.data["payload_digest"] == redact_text(payload)


def test_redact_text_gives_sha256_and_character_length() -> None:
    # FIPS 180-2 test vector for "abc".
    assert redact_text("abc") == {
        "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "length": 3,
    }
    assert redact_text("år")["length"] == 2
    assert redact_text("år".encode())["length"] == 3
