"""Inbound dispatch messages: validation per dispatch-api.md and refusals that name the field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from protocols.dispatch import (
    CalloutRequest,
    DispatchRejected,
    IncidentCloseCommand,
    UnitSendCommand,
    parse_inbound,
)
from protocols.errors import ProtocolError

SECRET = "Pasient Kari Nordmann 12345678901"


def callout(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "callout_id": "OSL-2026-000123-1",
        "incident_id": "OSL-2026-000123",
        "priority": "1A",
        "units": [
            {"issi": 2040101, "role": "ambulance"},
            {"issi": 2047001, "role": "first_responder"},
        ],
        "text": "Hjertestans. Storgata 1, Oslo. Mann 67 år.",
        "talkgroup": True,
        "deadline_s": 60,
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


def encode(body: object) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


def rejected(topic: str, payload: bytes, **kwargs: Any) -> DispatchRejected:
    with pytest.raises(DispatchRejected) as info:
        parse_inbound(topic, payload, **kwargs)
    return info.value


def test_contract_example_callout_is_accepted_as_given() -> None:
    message = parse_inbound("callouts", encode(callout()))
    assert isinstance(message, CalloutRequest)
    assert message.callout_id == "OSL-2026-000123-1"
    assert message.issis == (2040101, 2047001)
    assert message.units[1].role == "first_responder"
    assert message.text == "Hjertestans. Storgata 1, Oslo. Mann 67 år."
    assert message.priority == "1A"
    assert message.deadline_s == 60


def test_callout_defaults_deadline_60_and_talkgroup_only_for_several_units() -> None:
    single = parse_inbound(
        "callouts",
        encode(callout(talkgroup=..., deadline_s=..., priority=..., units=[{"issi": 1}])),
    )
    assert isinstance(single, CalloutRequest)
    assert single.deadline_s == 60
    assert single.priority is None
    assert single.units[0].role is None
    assert single.wants_talkgroup is False
    several = parse_inbound("callouts", encode(callout(talkgroup=...)))
    assert isinstance(several, CalloutRequest)
    assert several.wants_talkgroup is True
    forced_off = parse_inbound("callouts", encode(callout(talkgroup=False)))
    assert isinstance(forced_off, CalloutRequest)
    assert forced_off.wants_talkgroup is False


def test_unknown_fields_are_ignored_for_cad_upgrades() -> None:
    message = parse_inbound("callouts", encode(callout(caller_phone="+4799999999", v2=True)))
    assert isinstance(message, CalloutRequest)
    assert not hasattr(message, "caller_phone")


def test_validated_callout_is_frozen() -> None:
    message = parse_inbound("callouts", encode(callout()))
    with pytest.raises(ValidationError):
        message.text = "changed"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"callout_id": ...}, "callout_id: is required"),
        ({"callout_id": ""}, "callout_id: must not be empty"),
        ({"callout_id": "a" * 65}, "callout_id: must be at most 64 characters"),
        ({"callout_id": "OSL 1"}, "callout_id: must match ^[A-Za-z0-9._:-]+$"),
        ({"incident_id": "OSL/1"}, "incident_id: must match ^[A-Za-z0-9._:-]+$"),
        ({"units": []}, "units: must not be empty"),
        ({"units": [{"issi": n} for n in range(101)]}, "units: must have at most 100 entries"),
        ({"units": [{"issi": 1}, {"issi": 16777216}]}, "units[1].issi: must be <= 16777215"),
        ({"units": [{"issi": -1}]}, "units[0].issi: must be >= 0"),
        ({"units": [{"issi": "2040101"}]}, "units[0].issi: must be an integer"),
        ({"units": [{"issi": 2040101.0}]}, "units[0].issi: must be an integer"),
        ({"units": [{"role": "ambulance"}]}, "units[0].issi: is required"),
        (
            {"units": [{"issi": 5}, {"issi": 6}, {"issi": 5}]},
            "units[2].issi: must be distinct (repeats units[0].issi)",
        ),
        ({"text": ...}, "text: is required"),
        ({"text": ""}, "text: must not be empty"),
        ({"text": " \n\t"}, "text: must not be blank"),
        ({"text": 42}, "text: must be a string"),
        ({"talkgroup": 1}, "talkgroup: must be true or false"),
        ({"deadline_s": 4}, "deadline_s: must be >= 5"),
        ({"deadline_s": 3601}, "deadline_s: must be <= 3600"),
        ({"deadline_s": 60.5}, "deadline_s: must be an integer"),
        ({"priority": ""}, "priority: must not be empty"),
    ],
)
def test_invalid_callout_is_rejected_naming_the_field(changes: dict[str, Any], detail: str) -> None:
    error = rejected("callouts", encode(callout(**changes)))
    assert error.error == "invalid_payload"
    assert error.detail == detail
    assert error.topic == "callouts"
    assert isinstance(error, ProtocolError)


def test_several_problems_are_all_named_up_to_three() -> None:
    error = rejected(
        "callouts", encode({"units": [], "text": "", "deadline_s": 1, "callout_id": "x y"})
    )
    assert error.detail.startswith("callout_id: must match")
    assert "incident_id: is required" in error.detail
    assert error.detail.endswith("; and 2 more")  # text, deadline_s


@pytest.mark.parametrize(
    "payload", [b"", b"{", b'{"a":1}{}', b"\xff\xfe{}", b'{"text": "\xff"}', b"\xef\xbb\xbf{}"]
)
def test_bytes_that_are_not_json_are_invalid_json(payload: bytes) -> None:
    error = rejected("callouts", payload)
    assert error.error == "invalid_json"
    assert error.detail.startswith("payload: not valid JSON")


@pytest.mark.parametrize("payload", [b"[]", b'"callout"', b"null", b"42"])
def test_json_that_is_not_an_object_is_invalid_payload(payload: bytes) -> None:
    error = rejected("callouts", payload)
    assert error.error == "invalid_payload"
    assert error.detail == "payload: must be an object"


def test_payload_over_the_limit_is_refused_before_parsing() -> None:
    body = encode(callout())
    assert isinstance(parse_inbound("callouts", body, max_bytes=len(body)), CalloutRequest)
    error = rejected("callouts", body + b" ", max_bytes=len(body))
    assert error.error == "payload_too_large"
    assert error.detail == f"payload: must be at most {len(body)} bytes"
    # Refused unread: even garbage of that size is "too large", not "invalid_json".
    assert rejected("callouts", b"\x00" * 11, max_bytes=10).error == "payload_too_large"


def test_incident_close_takes_the_incident_from_the_topic() -> None:
    empty = parse_inbound("incidents/OSL-2026-000123/close", b"{}")
    assert empty == IncidentCloseCommand("OSL-2026-000123", empty.request)  # type: ignore[union-attr]
    assert isinstance(empty, IncidentCloseCommand)
    assert empty.reason is None
    with_reason = parse_inbound("incidents/OSL-1/close", encode({"reason": "patient transported"}))
    assert isinstance(with_reason, IncidentCloseCommand)
    assert with_reason.reason == "patient transported"
    assert rejected("incidents/OSL-1/close", b'{"reason": 1}').detail == "reason: must be a string"


def test_unit_send_takes_the_issi_from_the_topic_and_exactly_one_of_text_or_status() -> None:
    status = parse_inbound("units/2040101/send", encode({"request_id": "r-1", "status": 32771}))
    assert isinstance(status, UnitSendCommand)
    assert (status.issi, status.request.status, status.request.text) == (2040101, 32771, None)
    text = parse_inbound("units/0/send", encode({"request_id": "r-2", "text": "Ring AMK"}))
    assert isinstance(text, UnitSendCommand)
    assert (text.issi, text.request.text) == (0, "Ring AMK")
    for body in ({"request_id": "r"}, {"request_id": "r", "text": "x", "status": 1}):
        error = rejected("units/1/send", encode(body))
        assert error.detail == "payload: exactly one of text or status must be given"
    assert rejected("units/1/send", encode({"request_id": "r", "status": 65536})).detail == (
        "status: must be <= 65535"
    )
    assert rejected("units/1/send", encode({"request_id": "r", "text": ""})).detail == (
        "text: must not be empty"
    )


@pytest.mark.parametrize(
    ("topic", "detail"),
    [
        ("callout", "topic: not one of callouts, incidents/+/close, units/+/send"),
        ("callouts/x", "topic: not one of callouts, incidents/+/close, units/+/send"),
        ("units/1/status", "topic: not one of callouts, incidents/+/close, units/+/send"),
        ("incidents/a b/close", "topic: incident_id must be 1-64 of [A-Za-z0-9._:-]"),
        ("incidents//close", "topic: incident_id must be 1-64 of [A-Za-z0-9._:-]"),
        ("units/16777216/send", "topic: issi must be a decimal 0..16777215"),
        ("units/-1/send", "topic: issi must be a decimal 0..16777215"),
        ("units/0x10/send", "topic: issi must be a decimal 0..16777215"),
    ],
)
def test_unknown_topic_or_bad_id_in_topic_is_refused(topic: str, detail: str) -> None:
    error = rejected(topic, b"{}")
    assert error.error == "unknown_topic"
    assert error.detail == detail


_SECRET_PAYLOADS: list[tuple[str, bytes]] = [
    ("callouts", encode(callout(text=SECRET, units=[{"issi": SECRET}]))),
    ("callouts", encode(callout(text=[SECRET]))),
    ("callouts", encode(callout(callout_id=SECRET))),
    ("callouts", encode(callout(incident_id={"name": SECRET}))),
    ("callouts", encode(callout(units=[{"issi": 1, "role": SECRET * 3}]))),
    ("callouts", encode(callout(priority=SECRET * 3))),
    ("callouts", encode(callout(talkgroup=SECRET, deadline_s=SECRET))),
    ("callouts", encode(callout(text=SECRET, units=SECRET))),
    ("callouts", encode([SECRET])),
    ("callouts", encode(SECRET)),
    ("callouts", b'{"text": "' + SECRET.encode() + b'", '),
    ("callouts", b"{" + SECRET.encode() + b"}"),
    ("units/1/send", encode({"request_id": SECRET, "text": SECRET})),
    ("units/1/send", encode({"request_id": "r", "text": SECRET, "status": SECRET})),
    ("incidents/x/close", encode({"reason": SECRET * 20})),
    ("incidents/x/close", encode({"reason": [SECRET]})),
]


@pytest.mark.parametrize(("topic", "payload"), _SECRET_PAYLOADS)
def test_rejection_detail_never_echoes_a_payload_value(topic: str, payload: bytes) -> None:
    error = rejected(topic, payload)
    for fragment in ("Kari", "Nordmann", "12345678901"):
        assert fragment not in error.detail
        assert fragment not in str(error)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None)
@given(
    field=st.sampled_from(
        ["callout_id", "incident_id", "units", "text", "talkgroup", "deadline_s", "priority"]
    ),
    value=_json_values,
)
def test_no_rejection_of_a_mangled_callout_quotes_the_secret_text(field: str, value: Any) -> None:
    # The secret rides along in the text (or a role) while another field is wrong.
    body = callout(**{field: value})
    if field != "text":
        body["text"] = SECRET
    else:
        body["units"] = [{"issi": 1, "role": SECRET}, {"issi": -1}]
    refusal = ""
    try:
        parse_inbound("callouts", encode(body))
    except DispatchRejected as error:
        refusal = str(error)
    assert "Nordmann" not in refusal
