"""The inbound router: the gateway's own limits, refusals on ``errors`` and ``rejected``,
incident close and single sends, and personal data kept out of every event but one."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.inbound import InboundLimits
from hardware.delivery import SendOutcome
from hardware.radio_events import TextReceived
from hardware.talkgroups import GssiRange, PoolBackend
from protocols.sds.text import build_text_transfers
from tests.gateway.fakes import (
    T0,
    Harness,
    Hold,
    callout_body,
    delivered,
    make_harness,
    settle,
    wait_until,
)

AMBULANCE = 2040101
RESPONDER = 2047001
ALLOWED = {AMBULANCE, RESPONDER, 2047002}


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    h = make_harness(
        tmp_path,
        limits=InboundLimits(
            max_text_length=200, max_units=2, issi_allowed=lambda issi: issi in ALLOWED
        ),
    )
    yield h
    await h.stop()
    h.store.close()


def errors(h: Harness) -> list[dict[str, Any]]:
    return h.on(h.topics.errors())


def assert_refused(h: Harness, callout_id: str, *, reason: str, detail: str) -> None:
    """One ``errors`` answer naming the field, one ``rejected``, nothing stored or sent."""
    (error,) = errors(h)
    assert error == {"topic": "tetragw/v1/callouts", "error": "invalid_payload", "detail": detail}
    assert [(e["event"], e["reason"]) for e in h.events(callout_id)] == [("rejected", reason)]
    assert h.store.callout(callout_id) is None
    assert h.store.open_incidents() == []
    assert h.radio.calls == []


# ---- the gateway's own limits ----------------------------------------------------------


async def test_callout_with_more_units_than_configured_is_rejected(harness: Harness) -> None:
    units = [(AMBULANCE, "ambulance"), (RESPONDER, "first_responder"), (2047002, "doctor")]
    await harness.callout(callout_body(units=units))
    assert_refused(
        harness,
        "OSL-1-1",
        reason="too_many_units",
        detail="units: must have at most 2 entries",
    )


async def test_callout_to_an_issi_outside_the_allow_list_is_rejected_naming_the_unit(
    harness: Harness,
) -> None:
    await harness.callout(callout_body(units=[(AMBULANCE, "ambulance"), (2049999, "doctor")]))
    assert_refused(
        harness,
        "OSL-1-1",
        reason="issi_not_allowed",
        detail="units[1].issi: not in the allowed ISSIs",
    )


async def test_callout_text_longer_than_configured_is_rejected(harness: Harness) -> None:
    await harness.callout(callout_body(text="x" * 201))
    assert_refused(
        harness,
        "OSL-1-1",
        reason="text_too_long",
        detail="text: must be at most 200 characters",
    )


async def test_callout_text_at_the_configured_maximum_is_accepted(harness: Harness) -> None:
    await harness.callout(callout_body(text="x" * 200))
    assert errors(harness) == []
    assert [e["event"] for e in harness.events("OSL-1-1")][:1] == ["accepted"]


async def test_callout_text_too_long_for_a_concatenated_sds_is_rejected(tmp_path: Path) -> None:
    h = make_harness(tmp_path, limits=InboundLimits(max_text_length=1_000_000))
    try:
        await h.callout(callout_body(text="x" * 20_000))  # needs 278 parts, 255 is the most
        assert_refused(
            h, "OSL-1-1", reason="text_too_long", detail="text: too long for a concatenated SDS"
        )
    finally:
        h.store.close()


async def test_callout_text_that_only_the_group_instruction_pushes_over_the_limit_is_rejected(
    tmp_path: Path,
) -> None:
    """A text that fits alone is refused when the group instruction sent with it will not fit."""
    limits = InboundLimits(max_text_length=1_000_000, text_suffix="\nVelg talegruppe 9099")
    h = make_harness(tmp_path, limits=limits)
    longest_alone = "x" * 18360  # 255 full parts of 8859-1 text
    assert len(build_text_transfers(longest_alone, itertools.repeat(1))) == 255
    try:
        await h.callout(callout_body(text=longest_alone))
        assert_refused(
            h, "OSL-1-1", reason="text_too_long", detail="text: too long for a concatenated SDS"
        )
    finally:
        h.store.close()


# ---- invalid payloads ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"units": [{"issi": 16777216}]}, "units[0].issi: must be <= 16777215"),
        ({"units": [{"issi": "2040101"}]}, "units[0].issi: must be an integer"),
        (
            {"units": [{"issi": AMBULANCE}, {"issi": AMBULANCE}]},
            "units[1].issi: must be distinct (repeats units[0].issi)",
        ),
        ({"deadline_s": 2}, "deadline_s: must be >= 5"),
        ({"text": "   "}, "text: must not be blank"),
        ({"units": []}, "units: must not be empty"),
    ],
)
async def test_invalid_callout_is_answered_on_errors_naming_the_field_and_rejected(
    harness: Harness, change: dict[str, Any], detail: str
) -> None:
    body = callout_body(text="Mann 67 år, Storgata 1") | change
    await harness.callout(body)

    (error,) = errors(harness)
    assert error == {"topic": "tetragw/v1/callouts", "error": "invalid_payload", "detail": detail}
    (rejected,) = harness.events("OSL-1-1")
    assert rejected["event"] == "rejected"
    assert rejected["incident_id"] == "OSL-1"
    assert rejected["reason"] == "invalid_payload"
    assert harness.store.callout("OSL-1-1") is None
    assert harness.radio.calls == []


async def test_callout_without_text_is_rejected_naming_the_missing_field(harness: Harness) -> None:
    body = callout_body()
    del body["text"]
    await harness.callout(body)
    assert errors(harness)[0]["detail"] == "text: is required"
    assert [e["event"] for e in harness.events("OSL-1-1")] == ["rejected"]


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"{not json", "invalid_json"),
        (b"[]", "invalid_payload"),
        (json.dumps(callout_body(callout_id="A/B")).encode(), "invalid_payload"),
        (json.dumps(callout_body() | {"incident_id": None}).encode(), "invalid_payload"),
    ],
)
async def test_invalid_callout_without_a_readable_id_gets_only_an_error(
    harness: Harness, payload: bytes, error: str
) -> None:
    await harness.router.handle(harness.topics.callouts(), payload)

    assert [e["error"] for e in errors(harness)] == [error]
    assert [p.topic for p in harness.outbox()] == ["tetragw/v1/errors"]


async def test_invalid_repeat_of_an_accepted_callout_does_not_claim_it_was_rejected(
    harness: Harness,
) -> None:
    await harness.callout(callout_body())
    await harness.callout(callout_body(deadline_s=1))

    assert [e["detail"] for e in errors(harness)] == ["deadline_s: must be >= 5"]
    assert "rejected" not in [e["event"] for e in harness.events("OSL-1-1")]
    assert harness.store.callout("OSL-1-1") is not None


async def test_oversized_payload_is_refused_without_being_parsed(tmp_path: Path) -> None:
    h = make_harness(tmp_path, limits=InboundLimits(max_payload_bytes=100))
    try:
        await h.callout(callout_body(text="x" * 200))
        assert [(e["error"], e["detail"]) for e in errors(h)] == [
            ("payload_too_large", "payload: must be at most 100 bytes")
        ]
        assert h.events("OSL-1-1") == []
    finally:
        h.store.close()


async def test_message_on_a_foreign_or_unknown_topic_is_refused(harness: Harness) -> None:
    await harness.router.handle("other/v1/callouts", b"{}")
    await harness.router.handle("tetragw/v1/nothing/here", b"{}")
    assert [e["error"] for e in errors(harness)] == ["unknown_topic", "unknown_topic"]
    assert [e["topic"] for e in errors(harness)] == ["other/v1/callouts", "tetragw/v1/nothing/here"]


async def test_refusal_is_audited_without_any_payload_content(harness: Harness) -> None:
    await harness.callout(callout_body(units=[(2049999, "doctor")], text="SECRET-PATIENT-NAME"))

    (entry,) = [row for row in harness.audit_rows() if row["kind"] == "inbound_request"]
    assert entry["subject"] == "OSL-1-1"
    assert entry["data"] == {
        "topic": "tetragw/v1/callouts",
        "outcome": "rejected",
        "error": "invalid_payload",
        "detail": "units[0].issi: not in the allowed ISSIs",
    }


# ---- routing ---------------------------------------------------------------------------


async def test_accepted_callout_wanting_a_talkgroup_gets_one(tmp_path: Path) -> None:
    h = make_harness(tmp_path, backend=PoolBackend(GssiRange(9001, 9002)))
    try:
        await h.callout(callout_body())
        await settle()
        incident = h.store.incident("OSL-1")
        assert incident is not None
        assert (incident.gssi, incident.talkgroup_state) == (9001, "active")
        await h.callout(callout_body(callout_id="OSL-2-1", incident_id="OSL-2", talkgroup=False))
        await settle()
        other = h.store.incident("OSL-2")
        assert other is not None
        assert (other.gssi, other.talkgroup_state) == (None, "none")
    finally:
        await h.stop()
        h.store.close()


async def test_close_of_an_unknown_incident_is_answered_on_errors(harness: Harness) -> None:
    await harness.router.handle(harness.topics.incident_close("OSL-9"), b"{}")
    (error,) = errors(harness)
    assert error["error"] == "invalid_payload"
    assert error["topic"] == "tetragw/v1/incidents/OSL-9/close"


async def test_close_closes_the_incident_timeline(harness: Harness) -> None:
    await harness.callout(callout_body())
    harness.clock.advance(30)
    await harness.router.handle(
        harness.topics.incident_close("OSL-1"), b'{"reason": "patient transported"}'
    )
    timeline = harness.on(harness.topics.incident_timeline("OSL-1"))
    assert timeline[-1]["closed_at"] is not None
    assert {u["ended_by"] for u in timeline[-1]["units"]} == {"dispatch"}
    assert errors(harness) == []


async def test_unit_send_text_answers_on_its_request_topic(harness: Harness) -> None:
    await harness.router.handle(
        harness.topics.unit_send(AMBULANCE), b'{"request_id": "R1", "text": "Ring AMK"}'
    )
    topic = harness.topics.request_events("R1")
    await wait_until(lambda: len(harness.on(topic)) == 3)
    assert [(e["event"], e.get("issi")) for e in harness.on(topic)] == [
        ("accepted", None),
        ("sent", AMBULANCE),
        ("delivered", AMBULANCE),
    ]
    assert harness.radio.calls[0].text == "Ring AMK"


async def test_unit_send_status_that_fails_ends_unreached(harness: Harness) -> None:
    harness.radio.script(AMBULANCE, SendOutcome.failed("network_failed_to_send"))
    await harness.router.handle(
        harness.topics.unit_send(AMBULANCE), b'{"request_id": "R2", "status": 32771}'
    )
    topic = harness.topics.request_events("R2")
    await wait_until(lambda: len(harness.on(topic)) == 2)
    assert [(e["event"], e.get("reason")) for e in harness.on(topic)] == [
        ("accepted", None),
        ("unreached", "network_failed_to_send"),
    ]
    assert harness.radio.status_calls == [(AMBULANCE, 32771)]


async def test_unit_send_that_crashes_in_the_radio_still_ends(harness: Harness) -> None:
    harness.radio.script(AMBULANCE, RuntimeError("driver bug"))
    await harness.router.handle(
        harness.topics.unit_send(AMBULANCE), b'{"request_id": "R3", "text": "Ring AMK"}'
    )
    topic = harness.topics.request_events("R3")
    await wait_until(lambda: len(harness.on(topic)) == 2)
    assert harness.on(topic)[-1]["event"] == "unreached"
    assert harness.on(topic)[-1]["reason"] == "internal_error"


async def test_republished_unit_send_is_answered_and_sent_only_once(harness: Harness) -> None:
    body = b'{"request_id": "R4", "text": "Ring AMK"}'
    await harness.router.handle(harness.topics.unit_send(AMBULANCE), body)
    topic = harness.topics.request_events("R4")
    await wait_until(lambda: len(harness.on(topic)) == 3)
    await harness.router.handle(harness.topics.unit_send(AMBULANCE), body)
    await wait_until(lambda: len(harness.on(topic)) == 4)
    assert harness.on(topic)[-1]["event"] == "accepted"
    assert harness.on(topic)[-1]["reason"] == "duplicate:delivered"
    assert len(harness.radio.calls) == 1


async def test_unit_send_pending_at_a_crash_is_sent_after_restart_and_its_text_erased(
    tmp_path: Path,
) -> None:
    first = make_harness(tmp_path)
    hold = Hold()
    first.radio.script(AMBULANCE, hold)
    await first.router.handle(
        first.topics.unit_send(AMBULANCE),
        json.dumps({"request_id": "R5", "text": "Ring AMK nå"}).encode(),
    )
    await hold.started.wait()
    # The gateway dies here: the radio never answered. Nothing is recorded as done.
    await first.router.stop()
    first.store.close()

    second = make_harness(tmp_path)
    try:
        second.router.resume()
        topic = second.topics.request_events("R5")
        await wait_until(lambda: "delivered" in [e["event"] for e in second.on(topic)])
        assert [call.text for call in second.radio.calls] == ["Ring AMK nå"]
        with second.store.transaction() as tx:
            stored = tx.unit_request("R5")
            assert tx.pending_requests() == []
        assert stored is not None
        assert (stored.state, stored.outcome, stored.text) == ("done", "delivered", None)
    finally:
        second.store.close()


# ---- personal data ---------------------------------------------------------------------


async def test_personal_data_is_in_no_outbox_row_but_the_units_message_and_in_no_audit_entry(
    tmp_path: Path,
) -> None:
    callout_text = "PATIENT-KARI-NORDMANN Storgata 1"
    refused_text = "PATIENT-OLA-REFUSED"
    request_text = "PATIENT-PER-REQUEST"
    unit_text = "PATIENT-UNIT-REPLY"
    secrets = (callout_text, refused_text, request_text, unit_text, "PATIENT-")
    h = make_harness(tmp_path, backend=PoolBackend(GssiRange(9001, 9002)))
    h.radio.script(RESPONDER, delivered())
    try:
        h.start_engine()
        await h.callout(callout_body(text=callout_text))
        await h.callout(callout_body(callout_id="X-1", units=[(16777216, "x")], text=refused_text))
        await h.router.handle(
            h.topics.unit_send(AMBULANCE),
            json.dumps({"request_id": "R1", "text": request_text}).encode(),
        )
        await h.relay.handle(TextReceived("gw1", RESPONDER, unit_text, T0 + 1))
        await wait_until(
            lambda: (
                all(s.is_final for s in h.store.sends_of("OSL-1-1"))
                and len(h.on(h.topics.request_events("R1"))) == 3
            )
        )
        assert any(callout_text in call.text for call in h.radio.calls)  # it did go by radio

        rows = h.outbox()
        with_text = [row for row in rows if any(s.encode() in row.raw for s in secrets)]
        assert [(row.topic, row.body["text"]) for row in with_text] == [
            (h.topics.unit_messages(RESPONDER), unit_text)
        ]
        audit_before = json.dumps(h.audit_rows())
        assert not any(s in audit_before for s in secrets)

        # Publishing (the bridge confirms each row) audits digests, never the payload.
        with h.store.transaction() as tx:
            for row in rows:
                assert tx.mark_published(row.seq)
        audit_after = json.dumps(h.audit_rows())
        assert not any(s in audit_after for s in secrets)
        assert h.store.pending_outbox() == []
    finally:
        await h.stop()
        h.store.close()
