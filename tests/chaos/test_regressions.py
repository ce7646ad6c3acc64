"""Bugs the chaos suite found, pinned one by one (fast: no processes)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from gateway.store import Store
from hardware.delivery import SendOutcome
from hardware.link import expected_issi
from protocols.dispatch import CalloutRequest
from tests.gateway.fakes import Hold, callout_body, delivered, make_harness, settle

AMBULANCE = 2040101
STATUS_TOPIC = "tetragw/v1/units/2040101/status"


def test_unit_statuses_queued_while_the_broker_is_away_all_reach_dispatch_in_order(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "tetragw.sqlite3", synchronous="OFF")
    try:
        with store.transaction() as tx:
            for body in (b"en_route", b"on_scene", b"mission_ended"):
                tx.publish(STATUS_TOPIC, body, retain=True, supersede=False)
        pending = [(m.payload, m.retain) for m in store.pending_outbox()]
    finally:
        store.close()
    # Every status goes out in order; only the latest is the broker's retained value.
    assert pending == [(b"en_route", False), (b"on_scene", False), (b"mission_ended", True)]


def test_emulator_radio_must_report_the_identity_its_ready_file_names(tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    radios = [{"name": "gw1", "issi": 2049999, "device": "/dev/pts/7"}]
    ready.write_text(json.dumps({"radios": radios}))
    assert expected_issi(f"emulator://{ready}#gw1") == 2049999
    assert expected_issi(f"emulator://{ready}") == 2049999
    assert expected_issi(f"emulator://{ready}#gw9") is None
    assert expected_issi("/dev/ttyUSB0") is None


async def test_callout_whose_report_was_lost_is_sent_again_before_the_deadline(
    tmp_path: Path,
) -> None:
    lost_report = Hold(then=SendOutcome("timeout", radio="gw1"))
    harness = make_harness(tmp_path)
    harness.radio.script(AMBULANCE, lost_report, delivered())
    request = CalloutRequest.model_validate(
        callout_body(units=[(AMBULANCE, "ambulance")], deadline_s=60)
    )
    try:
        harness.engine.accept(request, topic="t")
        harness.start_engine()
        await asyncio.wait_for(lost_report.started.wait(), 10)
        first = harness.radio.calls_to(AMBULANCE)[0]
        assert first.deadline is not None
        # One try waits at most attempt_timeout_s (20 s by default) for its report ...
        assert first.deadline - asyncio.get_running_loop().time() <= 20.5
        await harness.advance(20.0)
        lost_report.release()
        for _ in range(200):
            await settle()
            if "delivered" in harness.unit_events("OSL-1-1", AMBULANCE):
                break
            await harness.advance(1.0)
        # ... and is then tried again, well before the 60 s deadline.
        events = harness.unit_events("OSL-1-1", AMBULANCE)
        assert events == ["retrying", "sent", "delivered"], events
        assert len(harness.radio.calls_to(AMBULANCE)) == 2
    finally:
        await harness.stop()
        harness.store.close()
