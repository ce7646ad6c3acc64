"""SDS-TL (EN 300 392-2 clause 29; PEI reference §5): one table of vectors drives encoder
and decoder; hypothesis round trips every PDU type; random bytes only ever give
``ProtocolError``.

The vector bytes are written out by hand from the field layouts of the standard, so they
check the construct layouts in ``protocols.sds.tl`` rather than the code against itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.errors import ProtocolError
from protocols.payload import payload_from_hex
from protocols.sds.tl import (
    DeliveryReportRequest,
    DeliveryStatus,
    ForwardAddressType,
    SdsAck,
    SdsReport,
    SdsTransfer,
    ShortReport,
    ShortReportType,
    SimpleSds,
    decode_tl,
    delivery_class,
    encode_tl,
)

RECEIVED = DeliveryReportRequest.RECEIVED


@dataclass(frozen=True)
class Vector:
    name: str
    hex: str
    pdu: Any
    decode: Callable[[bytes, int | None], Any]
    fixed_length: bool = False  # bytes after the PDU are ignored even without a length


def _decode_short(payload: bytes, length_bits: int | None) -> ShortReport:
    return ShortReport.decode(payload_from_hex(payload.hex(), length_bits))


VECTORS = [
    # The worked example: "Hei" (8859-1), receipt report requested, reference 1.
    Vector("hei_receipt_requested", "82040101486569",
           SdsTransfer(0x82, RECEIVED, True, False, 1, b"\x01Hei"), decode_tl),
    # Its receipt: SDS-REPORT, delivery status 0x00 (received), reference 1.
    Vector("receipt_report", "82100001", SdsReport(0x82, False, False, 0x00, 0x01), decode_tl),
    # 0x18 = report | ack required; consumed, reference 0x0A.
    Vector("consumed_report_ack_required", "8218020A",
           SdsReport(0x82, True, False, DeliveryStatus.CONSUMED, 0x0A), decode_tl),
    # Report with the storage bit: forward fields stay in user_data, uninterpreted.
    Vector("report_with_storage", "8211220519",
           SdsReport(0x82, False, True, DeliveryStatus.NOT_REACHABLE_STORED, 0x05, b"\x19"),
           decode_tl),
    Vector("ack", "8220000A", SdsAck(0x82, DeliveryStatus.RECEIVED, 0x0A), decode_tl,
           fixed_length=True),
    # 0x0F: both reports, short form not allowed, storage; validity 3 | type 1 (SSI) = 0x19;
    # SSI 2040101 = 0x1F2125.
    Vector("transfer_store_forward_ssi", "820FC8191F212578",
           SdsTransfer(0x82, DeliveryReportRequest.BOTH, False, True, 0xC8, b"x",
                       validity=3, forward_address_type=ForwardAddressType.SSI,
                       forward_address=2040101), decode_tl),
    # 0x01: no report, storage; validity 0 | type 0 (short number address) 0x2A.
    Vector("transfer_store_forward_sna", "820103002A0142",
           SdsTransfer(0x82, DeliveryReportRequest.NONE, True, True, 3, b"\x01B",
                       validity=0, forward_address_type=0, forward_address=0x2A), decode_tl),
    # 0x05: received report, storage; validity 31 | type 7 (no forward address) = 0xFF.
    Vector("transfer_store_forward_no_address", "820502FF0141",
           SdsTransfer(0x82, RECEIVED, True, True, 2, b"\x01A",
                       validity=31, forward_address_type=7), decode_tl),
    Vector("simple_text", "0201486569", SimpleSds(0x02, b"\x01Hei"), decode_tl),
    Vector("user_defined_tl_empty_data", "C00033",
           SdsTransfer(0xC0, DeliveryReportRequest.NONE, True, False, 0x33, b""), decode_tl),
    # Short report as status 0x7E01: 011111 10 00000001 = received, reference 1.
    Vector("short_report_received", "7E01", ShortReport(ShortReportType.RECEIVED, 1),
           _decode_short, fixed_length=True),
    Vector("short_report_memory_full", "7DFF", ShortReport(ShortReportType.MEMORY_FULL, 0xFF),
           _decode_short, fixed_length=True),
]  # fmt: skip


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.name)
def test_vector_encodes_to_its_bytes(vector: Vector) -> None:
    assert vector.pdu.encode().hex().upper() == vector.hex


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.name)
def test_vector_decodes_whole(vector: Vector) -> None:
    assert vector.decode(bytes.fromhex(vector.hex), None) == vector.pdu


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.name)
def test_vector_decodes_with_trailing_bytes_cut_by_declared_length(vector: Vector) -> None:
    whole = bytes.fromhex(vector.hex)
    assert vector.decode(whole + b"\xab\xcd\x00", 8 * len(whole)) == vector.pdu


@pytest.mark.parametrize("vector", [v for v in VECTORS if v.fixed_length], ids=lambda v: v.name)
def test_fixed_length_vector_ignores_trailing_bytes_without_length(vector: Vector) -> None:
    assert vector.decode(bytes.fromhex(vector.hex) + b"\xff", None) == vector.pdu


def test_receipt_arrives_from_hex_line_with_padding_digit() -> None:
    # Sepura-style: declared 32 bits, but one padding digit more on the hex line.
    payload = payload_from_hex("821000010", 32)
    assert decode_tl(payload, 32) == SdsReport(0x82, False, False, 0, 1)


def test_encode_tl_equals_encode_for_every_vector_pdu() -> None:
    for vector in VECTORS:
        if not isinstance(vector.pdu, ShortReport):
            assert encode_tl(vector.pdu) == bytes.fromhex(vector.hex)


def test_short_report_received_ref_1_is_status_7e01() -> None:
    assert ShortReport(ShortReportType.RECEIVED, 0x01).to_status() == 0x7E01
    assert ShortReport.from_status(0x7C00) == ShortReport(ShortReportType.NOT_SUPPORTED, 0)


@pytest.mark.parametrize("value", [0x0000, 0x7BFF, 0x8000, 0x8003, -1, 0x10000])
def test_status_outside_short_report_range_is_not_a_short_report(value: int) -> None:
    with pytest.raises(ProtocolError):
        ShortReport.from_status(value)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (0x00, "success"),
        (0x05, "success"),
        (0x1F, "success"),
        (0x20, "temporary"),
        (0x22, "temporary"),
        (0x3F, "temporary"),
        (0x40, "failure"),
        (0x4A, "failure"),
        (0x5A, "failure"),
        (0x7F, "failure"),
        (0xFF, "failure"),
    ],
)
def test_delivery_status_class_follows_the_ranges(status: int, expected: str) -> None:
    assert delivery_class(status) == expected


def test_delivery_class_rejects_values_outside_a_byte() -> None:
    with pytest.raises(ProtocolError):
        delivery_class(0x100)


def test_named_delivery_statuses_have_the_reference_values() -> None:
    assert DeliveryStatus.RECEIVED.value == 0x00
    assert DeliveryStatus.CONSUMED.value == 0x02
    assert DeliveryStatus.STORED.value == 0x21
    assert DeliveryStatus.DELIVERY_FAILED.value == 0x4A
    assert DeliveryStatus.NOT_REGISTERED.value == 0x4B
    assert DeliveryStatus.DESTINATION_NOT_REACHABLE.value == 0x5A
    assert delivery_class(DeliveryStatus.NOT_AUTHORISED) == "failure"


@pytest.mark.parametrize(
    ("hex_payload", "reason"),
    [
        ("", "empty"),
        ("82", "too short"),
        ("8204", "too short"),
        ("8210", "too short"),
        ("821000", "4 bytes"),
        ("822000", "4 bytes"),
        ("823001", "message type 3"),
        ("820101", "lacks its forward fields"),
        ("82010102", "not supported"),  # forward address type 2 (TSI)
        ("820101011F", "inside its forward address"),
    ],
)
def test_malformed_tl_payload_raises_error_saying_why(hex_payload: str, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        decode_tl(bytes.fromhex(hex_payload))


def test_transfer_with_forward_fields_but_no_store_forward_bit_is_refused() -> None:
    with pytest.raises(ProtocolError):
        SdsTransfer(0x82, RECEIVED, True, False, 1, b"", validity=3, forward_address_type=1)


def test_pdu_constructors_refuse_out_of_range_fields() -> None:
    with pytest.raises(ProtocolError):
        SdsTransfer(0x02, RECEIVED, True, False, 1, b"")
    with pytest.raises(ProtocolError):
        SdsTransfer(0x82, RECEIVED, True, False, 256, b"")
    with pytest.raises(ProtocolError):
        SdsTransfer(0x82, RECEIVED, True, True, 1, b"", validity=1, forward_address_type=1,
                    forward_address=1 << 24)  # fmt: skip
    with pytest.raises(ProtocolError):
        SdsReport(0x82, False, False, 0x100, 1)
    with pytest.raises(ProtocolError):
        SdsAck(0x7F, 0, 1)
    with pytest.raises(ProtocolError):
        SimpleSds(0x82, b"")
    with pytest.raises(ProtocolError):
        ShortReport(ShortReportType.RECEIVED, -1)


# --- hypothesis round trips ---------------------------------------------------------------

tl_pids = st.integers(0x80, 0xFF)
refs = st.integers(0, 0xFF)
data = st.binary(max_size=100)


@st.composite
def transfers(draw: st.DrawFn) -> SdsTransfer:
    store_forward = draw(st.booleans())
    kwargs: dict[str, Any] = {}
    if store_forward:
        address_type = draw(st.sampled_from(list(ForwardAddressType)))
        kwargs["validity"] = draw(st.integers(0, 31))
        kwargs["forward_address_type"] = address_type
        if address_type is ForwardAddressType.SSI:
            kwargs["forward_address"] = draw(st.integers(0, 0xFFFFFF))
        elif address_type is ForwardAddressType.SHORT_NUMBER:
            kwargs["forward_address"] = draw(st.integers(0, 0xFF))
    return SdsTransfer(
        draw(tl_pids),
        draw(st.sampled_from(list(DeliveryReportRequest))),
        draw(st.booleans()),
        store_forward,
        draw(refs),
        draw(data),
        **kwargs,
    )


reports = st.builds(SdsReport, tl_pids, st.booleans(), st.booleans(), refs, refs, data)
acks = st.builds(SdsAck, tl_pids, refs, refs)
simples = st.builds(SimpleSds, st.integers(0, 0x7F), data)
short_reports = st.builds(ShortReport, st.sampled_from(list(ShortReportType)), refs)


@given(st.one_of(transfers(), reports, acks, simples))
def test_every_tl_pdu_round_trips(pdu: Any) -> None:
    encoded = pdu.encode()
    assert decode_tl(encoded) == pdu
    assert decode_tl(encoded + b"\x00\x99", 8 * len(encoded)) == pdu


@given(short_reports)
def test_short_report_round_trips_through_its_status_value(report: ShortReport) -> None:
    status = report.to_status()
    assert 0x7C00 <= status <= 0x7FFF
    assert ShortReport.from_status(status) == report
    assert ShortReport.decode(report.encode()) == report


@given(st.integers(0x7C00, 0x7FFF))
def test_every_short_report_status_decodes_and_re_encodes(status: int) -> None:
    assert ShortReport.from_status(status).to_status() == status


# --- random input: only ProtocolError -----------------------------------------------------


@given(st.binary(max_size=40), st.one_of(st.none(), st.integers(0, 400)))
def test_random_bytes_give_a_pdu_or_protocol_error(payload: bytes, length_bits: int | None) -> None:
    with contextlib.suppress(ProtocolError):
        pdu = decode_tl(payload, length_bits)
        assert decode_tl(pdu.encode()) == pdu
    with contextlib.suppress(ProtocolError):
        ShortReport.decode(payload)
    with contextlib.suppress(ProtocolError):
        SdsTransfer.decode(payload, length_bits)
