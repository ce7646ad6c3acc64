"""A process killed with SIGKILL loses nothing it committed and leaves nothing half-written."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.audit import verify
from gateway.store import Store

SCRIPT = """
import os, signal, sys
from gateway.store import NewCallout, Store, UnitAssignment

store = Store(sys.argv[1])
callout = NewCallout(
    callout_id=sys.argv[2], incident_id="OSL-7",
    units=(UnitAssignment(2040101, "ambulance"), UnitAssignment(2047001, "first_responder")),
    text="Brystsmerter", deadline_s=60, talkgroup=True,
)
if sys.argv[3] == "after_commit":
    with store.transaction(now=1000.0) as tx:
        tx.accept_callout(callout)
        tx.publish("tetragw/v1/callouts/" + callout.callout_id + "/events", b"accepted")
    os.kill(os.getpid(), signal.SIGKILL)
else:
    with store.transaction(now=1000.0) as tx:
        tx.accept_callout(callout)
        tx.publish("tetragw/v1/callouts/" + callout.callout_id + "/events", b"accepted")
        os.kill(os.getpid(), signal.SIGKILL)
"""

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")


def run_and_kill(path: Path, callout_id: str, when: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(path), callout_id, when],
        check=False,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()


def test_callout_committed_before_sigkill_is_resumed_after_restart(tmp_path: Path) -> None:
    path = tmp_path / "tetragw.sqlite3"
    run_and_kill(path, "C-1", "after_commit")
    with Store(path) as store:
        assert [(s.callout_id, s.issi, s.state) for s in store.unfinished_sends()] == [
            ("C-1", 2040101, "pending"),
            ("C-1", 2047001, "pending"),
        ]
        assert [m.payload for m in store.pending_outbox()] == [b"accepted"]
        assert store.callout_text("C-1") == "Brystsmerter"
    assert verify(path).ok


def test_sigkill_inside_a_transaction_leaves_no_trace_of_it(tmp_path: Path) -> None:
    path = tmp_path / "tetragw.sqlite3"
    run_and_kill(path, "C-1", "after_commit")
    run_and_kill(path, "C-2", "inside")
    with Store(path) as store:
        assert store.callout("C-2") is None
        assert store.sends_of("C-2") == []
        assert len(store.pending_outbox()) == 1
        assert {s.callout_id for s in store.unfinished_sends()} == {"C-1"}
    result = verify(path)
    assert (result.ok, result.entries) == (True, 1)
