"""decode_sds picks the right decoder; describe gives the JSON object of `tetragw decode`."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.errors import ProtocolError
from protocols.payload import payload_from_hex
from protocols.sds.lip import LipLongReport, LipShortReport, TimeOfPosition, encode_lip
from protocols.sds.message import SdsMessage, StatusMessage, UnknownSds, decode_sds, describe
from protocols.sds.status import StatusTable
from protocols.sds.text import build_text_transfers
from protocols.sds.tl import (
    DeliveryReportRequest,
    SdsAck,
    SdsReport,
    SdsTransfer,
    ShortReport,
    ShortReportType,
    SimpleSds,
)

HEI = SdsTransfer(0x82, DeliveryReportRequest.RECEIVED, True, False, 1, bytes.fromhex("01486569"))

# (ai service, hex, declared bits, message decode_sds must give)
DISPATCH: list[tuple[int, str, int | None, SdsMessage]] = [
    (13, "8004", 16, StatusMessage(0x8004)),
    (13, "0000", 16, StatusMessage(0)),
    (13, "7E01", 16, ShortReport(ShortReportType.RECEIVED, 1)),
    (13, "7FFF", None, ShortReport(ShortReportType.CONSUMED, 0xFF)),
    (13, "7C00", None, ShortReport(ShortReportType.NOT_SUPPORTED, 0)),
    (13, "7BFF", None, StatusMessage(0x7BFF)),
    (12, "82040101486569", 56, HEI),
    (12, "82100001", 32, SdsReport(0x82, False, False, 0, 1)),
    (12, "8220410A", 32, SdsAck(0x82, 0x41, 10)),
    (12, "0201486569", None, SimpleSds(0x02, bytes.fromhex("01486569"))),
    (12, "4411", None, SimpleSds(0x44, b"\x11")),
    (12, "0012AB", None, UnknownSds(0x00, b"\x12\xab")),
    (12, "7F", None, UnknownSds(0x7F, b"")),
    (10, "0512", 16, UnknownSds(0x05, b"\x12")),
]


@pytest.mark.parametrize(("ai", "digits", "bits", "expected"), DISPATCH)
def test_decode_sds_routes_by_ai_service_and_pid(
    ai: int, digits: str, bits: int | None, expected: SdsMessage
) -> None:
    assert decode_sds(ai, payload_from_hex(digits, bits), bits) == expected


@pytest.mark.parametrize(("ai", "digits", "bits", "expected"), DISPATCH)
def test_decoded_message_encodes_back_to_its_payload(
    ai: int, digits: str, bits: int | None, expected: SdsMessage
) -> None:
    message = decode_sds(ai, bytes.fromhex(digits), bits)
    assert message.encode() == bytes.fromhex(digits)


@pytest.mark.parametrize("digits", ["0A0088BD4247F737FFE810", "0A0088BD4247F737FFE81"])
def test_lip_arrives_as_a_short_report_from_either_vendor(digits: str) -> None:
    message = decode_sds(12, payload_from_hex(digits, 84), 84)
    assert isinstance(message, LipShortReport)
    assert describe(message) == {
        "kind": "lip_short",
        "pid": 0x0A,
        "lat": 51.325099,
        "lon": 12.018099,
        "time_elapsed": "less_than_5_s",
        "position_error": "unknown",
        "position_error_m": None,
        "velocity_kmh": None,
        "direction_deg": 337.5,
        "reason": 129,
        "reason_name": "max_interval",
    }


def test_declared_length_cuts_trailing_bytes_of_an_sds_tl_report() -> None:
    assert decode_sds(12, bytes.fromhex("82100001FFFF"), 32) == SdsReport(0x82, False, False, 0, 1)


def test_text_is_described_with_its_sds_tl_fields() -> None:
    assert describe(HEI) == {
        "kind": "text",
        "pid": 0x82,
        "text": "Hei",
        "coding": 1,
        "coding_name": "iso_8859_1",
        "message_reference": 1,
        "delivery_report": "received",
        "short_form_report": True,
    }


def test_simple_text_has_no_message_reference() -> None:
    described = describe(decode_sds(12, bytes.fromhex("0201486569")))
    assert described["kind"] == "text"
    assert described["text"] == "Hei"
    assert described["message_reference"] is None
    assert described["delivery_report"] is None


def test_concatenated_part_is_described_as_text_with_its_part_numbers() -> None:
    text = "Hjertestans, Storgata 1. " * 12
    parts = build_text_transfers(text, range(1, 100), concat_reference=7)
    assert len(parts) > 1
    decoded = decode_sds(12, parts[1].encode())
    described = describe(decoded)
    assert described["kind"] == "text"
    assert described["pid"] == 0x8A
    assert described["message_reference"] == 2
    assert described["concatenation"] == {"reference": 7, "total": len(parts), "part": 2}
    assert described["text"] in text


def test_report_and_ack_give_delivery_status_and_reference() -> None:
    report = describe(decode_sds(12, bytes.fromhex("8210000C")))
    assert report["kind"] == "sds_report"
    assert (report["delivery_status"], report["message_reference"]) == (0, 12)
    assert report["delivery_status_name"] == "received"
    assert report["delivery_class"] == "success"
    ack = describe(decode_sds(12, bytes.fromhex("82204A05")))
    assert ack["kind"] == "sds_ack"
    assert (ack["delivery_status"], ack["message_reference"]) == (0x4A, 5)
    assert ack["delivery_class"] == "failure"


def test_non_text_transfer_is_an_sds_transfer_with_its_user_data() -> None:
    described = describe(decode_sds(12, bytes.fromhex("C00E07DEAD")))
    assert described == {
        "kind": "sds_transfer",
        "pid": 0xC0,
        "message_reference": 7,
        "delivery_report": "both",
        "short_form_report": False,
        "store_forward": False,
        "user_data": "DEAD",
    }


def test_status_is_described_with_its_class_and_table_entry() -> None:
    table = StatusTable.from_mapping(
        {"name": "t", "status": [{"value": 0x8004, "meaning": "on_scene", "label": "Framme"}]}
    )
    assert describe(StatusMessage(0x8004), table) == {
        "kind": "status",
        "pid": None,
        "value": 0x8004,
        "hex": "8004",
        "status_class": "operator",
        "meaning": "on_scene",
        "label": "Framme",
    }
    assert describe(StatusMessage(0x8005), table)["meaning"] is None
    assert describe(StatusMessage(0))["status_class"] == "emergency"
    assert "meaning" not in describe(StatusMessage(0x8004))


def test_short_report_is_described_with_type_and_reference() -> None:
    described = describe(decode_sds(13, bytes.fromhex("7E01")))
    assert described["kind"] == "short_report"
    assert described["report_type"] == "received"
    assert described["message_reference"] == 1


def test_unknown_pid_is_described_as_unknown_with_its_data() -> None:
    assert describe(UnknownSds(0x00, b"\x12")) == {"kind": "unknown", "pid": 0, "data": "12"}
    assert describe(SimpleSds(0x44, b"\x01"))["kind"] == "unknown"


def test_long_lip_is_described_with_time_shape_and_velocity() -> None:
    report = LipLongReport.from_position(
        59.9, 10.7, time=TimeOfPosition(21, 22, 19, 5), speed_kmh=50, direction_deg=90
    )
    described = describe(decode_sds(12, encode_lip(report)))
    assert described["kind"] == "lip_long"
    assert described["lat"] == pytest.approx(59.9, abs=1e-5)
    assert described["lon"] == pytest.approx(10.7, abs=1e-5)
    assert described["shape"] == "location_point"
    assert described["time_of_position"] == {"day": 21, "hour": 22, "minute": 19, "second": 5}
    assert described["time_elapsed"] is None
    assert described["velocity_kmh"] == pytest.approx(50, rel=0.02)
    assert described["direction_deg"] == 90.0
    assert described["reason_name"] == "max_interval"


@pytest.mark.parametrize(
    ("ai", "payload", "bits", "message"),
    [
        (14, b"\x80\x04", None, "ai service 14"),
        (13, b"\x80", None, "16 bits"),
        (13, b"\x80\x04", 8, "16 bits"),
        (12, b"", None, "empty"),
        (12, b"\x82\x00", None, "too short"),
        (12, b"\x0a", None, "LIP"),
        (12, b"\x82\x04", -1, "negative"),
    ],
)
def test_undecodable_input_is_a_protocol_error_saying_why(
    ai: int, payload: bytes, bits: int | None, message: str
) -> None:
    with pytest.raises(ProtocolError, match=message):
        decode_sds(ai, payload, bits)


def test_status_message_refuses_values_outside_16_bits() -> None:
    with pytest.raises(ProtocolError):
        StatusMessage(0x10000)
    with pytest.raises(ProtocolError):
        StatusMessage(-1)


@given(
    st.sampled_from([9, 10, 11, 12, 13]),
    st.binary(max_size=32),
    st.none() | st.integers(0, 300),
)
def test_random_bytes_give_a_jsonable_message_or_only_protocol_error(
    ai: int, payload: bytes, bits: int | None
) -> None:
    with contextlib.suppress(ProtocolError):
        described = describe(decode_sds(ai, payload, bits))
        assert isinstance(described["kind"], str)
        json.dumps(described)


@given(st.binary(max_size=32))
def test_random_sds_tl_and_lip_bodies_give_only_protocol_error(body: bytes) -> None:
    for pid in (0x0A, 0x82, 0x89, 0x8A, 0x02):
        with contextlib.suppress(ProtocolError):
            json.dumps(describe(decode_sds(12, bytes([pid]) + body)))
