"""The audit trail's hash chain: append-only by trigger, and tampering that works around the
triggers is still found by ``verify`` and ``tetragw audit verify``."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

import pytest

from gateway.audit import GENESIS_HASH, entry_hash, read_entries, verify
from gateway.cli import main
from gateway.store import Store, store_path

T0 = 1_800_000_000.0


def build_trail(data_dir: Path, entries: int = 6) -> Path:
    """A store whose trail holds ``entries`` entries (seq 1..entries)."""
    path = store_path(data_dir)
    with Store(path) as store:
        for i in range(entries):
            with store.transaction(now=T0 + i) as tx:
                tx.audit(
                    "radio_indication",
                    f"unit:{2040100 + i}",
                    {"status": 32768 + i, "radio": "gw1"},
                    issi=2040100 + i,
                )
    return path


def tamper(path: Path, *statements: str) -> None:
    """Edit the file the way someone with write access would: drop the guard, change rows."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("DROP TRIGGER audit_no_update")
        conn.execute("DROP TRIGGER audit_no_delete")
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


def restore_triggers(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute(
            "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
            " BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END"
        )
        conn.execute(
            "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
            " BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END"
        )
        conn.commit()
    finally:
        conn.close()


def test_intact_trail_verifies_and_links_from_genesis(tmp_path: Path) -> None:
    path = build_trail(tmp_path)
    result = verify(path)
    assert (result.ok, result.entries, result.first_bad_seq) == (True, 6, None)
    conn = sqlite3.connect(path)
    entries = list(read_entries(conn))
    conn.close()
    assert entries[0].prev_hash == GENESIS_HASH
    assert all(later.prev_hash == earlier.hash for earlier, later in itertools.pairwise(entries))
    first = entries[0]
    assert first.hash == entry_hash(
        GENESIS_HASH,
        seq=1,
        at=T0,
        kind="radio_indication",
        subject="unit:2040100",
        issi=2040100,
        data={"status": 32768, "radio": "gw1"},
    )
    assert result.head_hash == entries[-1].hash


def test_empty_trail_of_a_new_store_verifies(tmp_path: Path) -> None:
    Store(store_path(tmp_path)).close()
    assert verify(store_path(tmp_path)).ok


def test_update_and_delete_are_refused_by_triggers(tmp_path: Path) -> None:
    path = build_trail(tmp_path)
    conn = sqlite3.connect(path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE audit SET subject = 'x' WHERE seq = 2")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM audit WHERE seq = 6")
    finally:
        conn.close()
    assert verify(path).ok


@pytest.mark.parametrize(
    "edit",
    [
        'UPDATE audit SET data = \'{"radio":"gw1","status":32799}\' WHERE seq = 3',
        "UPDATE audit SET at = at + 1 WHERE seq = 3",
        "UPDATE audit SET kind = 'state_change' WHERE seq = 3",
        "UPDATE audit SET subject = 'unit:1' WHERE seq = 3",
        "UPDATE audit SET issi = 1 WHERE seq = 3",
    ],
)
def test_an_edited_field_is_found_at_its_seq(tmp_path: Path, edit: str) -> None:
    path = build_trail(tmp_path)
    tamper(path, edit)
    restore_triggers(path)
    result = verify(path)
    assert not result.ok
    assert result.first_bad_seq == 3
    assert "altered" in result.reason


def test_an_edit_that_also_rehashes_the_entry_breaks_the_next_link(tmp_path: Path) -> None:
    path = build_trail(tmp_path)
    conn = sqlite3.connect(path)
    prev = conn.execute("SELECT prev_hash FROM audit WHERE seq = 3").fetchone()[0]
    conn.close()
    forged = entry_hash(
        prev,
        seq=3,
        at=T0 + 2,
        kind="radio_indication",
        subject="unit:2040102",
        issi=2040102,
        data={"status": 1, "radio": "gw1"},
    )
    tamper(
        path,
        f'UPDATE audit SET data = \'{{"radio":"gw1","status":1}}\', hash = \'{forged}\''
        " WHERE seq = 3",
    )
    restore_triggers(path)
    result = verify(path)
    assert (result.ok, result.first_bad_seq) == (False, 4)
    assert "chain broken" in result.reason


def test_a_deleted_entry_is_found(tmp_path: Path) -> None:
    path = build_trail(tmp_path)
    tamper(path, "DELETE FROM audit WHERE seq = 4")
    restore_triggers(path)
    result = verify(path)
    assert (result.ok, result.first_bad_seq) == (False, 4)
    assert "missing" in result.reason


def test_a_deleted_and_renumbered_entry_breaks_the_chain(tmp_path: Path) -> None:
    path = build_trail(tmp_path)
    tamper(
        path,
        "DELETE FROM audit WHERE seq = 4",
        "UPDATE audit SET seq = seq - 1 WHERE seq > 4",
        "UPDATE audit_head SET seq = seq - 1",
    )
    restore_triggers(path)
    result = verify(path)
    assert (result.ok, result.first_bad_seq) == (False, 4)


def test_reordered_entries_are_found(tmp_path: Path) -> None:
    path = build_trail(tmp_path)
    tamper(
        path,
        "UPDATE audit SET seq = -2 WHERE seq = 2",
        "UPDATE audit SET seq = 2 WHERE seq = 3",
        "UPDATE audit SET seq = 3 WHERE seq = -2",
    )
    restore_triggers(path)
    result = verify(path)
    assert (result.ok, result.first_bad_seq) == (False, 2)


def test_an_inserted_entry_is_found(tmp_path: Path) -> None:
    path = build_trail(tmp_path)
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER audit_no_update")
    for seq in range(6, 2, -1):  # make room at seq 3, from the top so seq stays unique
        conn.execute("UPDATE audit SET seq = ? WHERE seq = ?", (seq + 1, seq))
    prev = conn.execute("SELECT hash FROM audit WHERE seq = 2").fetchone()[0]
    conn.execute(
        "INSERT INTO audit VALUES (3, ?, 'state_change', 'x', NULL, '{}', ?, ?)",
        (T0, prev, "f" * 64),
    )
    conn.commit()
    conn.close()
    result = verify(path)
    assert (result.ok, result.first_bad_seq) == (False, 3)


def test_a_truncated_tail_is_found_through_the_recorded_head(tmp_path: Path) -> None:
    path = build_trail(tmp_path)
    tamper(path, "DELETE FROM audit WHERE seq >= 5")
    restore_triggers(path)
    result = verify(path)
    assert (result.ok, result.entries, result.first_bad_seq) == (False, 4, 5)
    assert "truncated" in result.reason


def test_a_removed_head_record_is_found(tmp_path: Path) -> None:
    path = build_trail(tmp_path)
    tamper(path, "DELETE FROM audit WHERE seq >= 5", "DELETE FROM audit_head")
    restore_triggers(path)
    result = verify(path)
    assert not result.ok
    assert "head" in result.reason


def test_dropped_triggers_alone_make_the_trail_not_intact(tmp_path: Path) -> None:
    path = build_trail(tmp_path)
    tamper(path)
    result = verify(path)
    assert (result.ok, result.first_bad_seq) == (False, None)
    assert "trigger" in result.reason


def test_missing_store_file_is_not_intact(tmp_path: Path) -> None:
    result = verify(tmp_path / "absent.sqlite3")
    assert not result.ok
    assert "no store file" in result.reason


def test_cli_audit_verify_exits_0_when_intact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build_trail(tmp_path)
    assert main(["audit", "verify", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    assert "intact: 6 entries" in out[0]


def test_cli_audit_verify_exits_1_and_names_the_seq(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = build_trail(tmp_path)
    tamper(path, "UPDATE audit SET subject = 'unit:1' WHERE seq = 2")
    restore_triggers(path)
    assert main(["audit", "verify", "--data-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out.strip()
    assert "NOT intact at seq 2" in out
    assert "altered" in out


def test_cli_audit_verify_defaults_to_var(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    build_trail(tmp_path / "var", entries=2)
    assert main(["audit", "verify"]) == 0
    assert "2 entries" in capsys.readouterr().out
