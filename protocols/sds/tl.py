"""SDS-TL: the short data transport layer PDUs (EN 300 392-2 clause 29).

The first byte of every SDS type-4 payload is the protocol identifier (PID). PIDs from
0x80 up carry an SDS-TL header; PIDs below 0x80 carry their data directly (``SimpleSds``).

Layouts (bit numbers are within the byte, 7 = most significant):

* SDS-TRANSFER: ``PID | 0000 RR S F | ref | [validity:5 type:3 address] | user data``
  where RR is the delivery report request, S the short-form-report bit and F the
  store/forward (storage) bit. The forward fields are present only when F is set.
* SDS-REPORT: ``PID | 0001 A xx F | delivery status | ref | user data`` (A = ack required).
* SDS-ACK: ``PID | 0010 xxxx | delivery status | ref``.
* SDS-SHORT-REPORT is not an SDS-TL PDU at all: it travels as a 16-bit *status* value
  ``011111 TT rrrrrrrr`` (0x7C00-0x7FFF), see ``ShortReport`` in ``protocols.sds.delivery``.

Reserved bits (``x``) are sent as zero and ignored on receipt. The delivery report
request, the delivery status values and the short report live in
``protocols.sds.delivery``; this module re-exports them.

Forward addresses (EN 300 392-2 29.4.3.5, forward address type): supported are
0 = short number address (SNA, 8 bits), 1 = SSI (24 bits) and 7 = no forward address.
TSI (2) and external subscriber numbers (3) raise ``ProtocolError`` ("not supported"):
no radio we drive sends them, and guessing their layout would corrupt the user data.

For SDS-REPORT, a set store/forward bit means the standard places validity and forward
address fields before the user data; they are not interpreted here and stay at the
start of ``SdsReport.user_data`` unchanged, so the PDU round-trips byte for byte.

A declared ``length_bits`` (from ``+CTSDSR``) shorter than the bytes cuts the payload to
the bytes those bits need (PEI reference §4: never fail for padding). Fixed-length PDUs
(SDS-ACK) ignore anything after their fourth byte; PDUs that end in user data take every
remaining byte as user data, so callers should pass the declared length when they have it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from construct import BitsInteger, BitStruct, ConstructError, Flag

from protocols.errors import ProtocolError
from protocols.sds.delivery import (
    SHORT_REPORT_FIRST,
    SHORT_REPORT_LAST,
    DeliveryReportRequest,
    DeliveryStatus,
    ShortReport,
    ShortReportType,
    delivery_class,
)
from protocols.sds.fields import build_bits, check_range

__all__ = [
    "SHORT_REPORT_FIRST",
    "SHORT_REPORT_LAST",
    "DeliveryReportRequest",
    "DeliveryStatus",
    "ForwardAddressType",
    "SdsAck",
    "SdsReport",
    "SdsTransfer",
    "ShortReport",
    "ShortReportType",
    "SimpleSds",
    "TlPdu",
    "decode_tl",
    "delivery_class",
    "encode_tl",
]

_MESSAGE_TRANSFER: Final = 0
_MESSAGE_REPORT: Final = 1
_MESSAGE_ACK: Final = 2


class ForwardAddressType(IntEnum):
    """Forward address types this module can encode and decode (see module docstring)."""

    SHORT_NUMBER = 0
    SSI = 1
    NONE = 7


_FORWARD_ADDRESS_BITS: Final = {
    ForwardAddressType.SHORT_NUMBER: 8,
    ForwardAddressType.SSI: 24,
    ForwardAddressType.NONE: 0,
}


# --- private bit layouts (construct has no type stubs: keep it behind typed code) -------

_TL_FIRST = BitStruct("message_type" / BitsInteger(4), "low" / BitsInteger(4))
_TRANSFER_FLAGS = BitStruct(
    "message_type" / BitsInteger(4),
    "delivery_report" / BitsInteger(2),
    "short_form_disallowed" / Flag,
    "storage" / Flag,
)
_REPORT_FLAGS = BitStruct(
    "message_type" / BitsInteger(4),
    "ack_required" / Flag,
    "reserved" / BitsInteger(2),
    "storage" / Flag,
)
_FORWARD_CONTROL = BitStruct("validity" / BitsInteger(5), "address_type" / BitsInteger(3))


def _check_tl_pid(pid: int) -> None:
    check_range("protocol identifier", pid, 0xFF)
    if pid < 0x80:
        raise ProtocolError(f"protocol identifier 0x{pid:02X} has no SDS-TL header (< 0x80)")


@dataclass(frozen=True, slots=True)
class SdsTransfer:
    """An SDS-TRANSFER: user data with an SDS-TL header.

    ``short_form_report`` is True when the sender lets the receiver answer with a
    short report (the wire bit is then 0, EN 300 392-2 29.4.3.11), False when only a
    full SDS-REPORT is allowed. With ``store_forward``, ``validity`` (0-31) and
    ``forward_address_type`` are required and ``forward_address`` is required unless
    the type is ``ForwardAddressType.NONE``; without it all three must be None.
    """

    pid: int
    delivery_report: DeliveryReportRequest
    short_form_report: bool
    store_forward: bool
    message_reference: int
    user_data: bytes
    validity: int | None = None
    forward_address_type: int | None = None
    forward_address: int | None = None

    def __post_init__(self) -> None:
        _check_tl_pid(self.pid)
        check_range("delivery report request", self.delivery_report, 3)
        object.__setattr__(self, "delivery_report", DeliveryReportRequest(self.delivery_report))
        check_range("message reference", self.message_reference, 0xFF)
        if not isinstance(self.user_data, bytes):
            raise ProtocolError("user data must be bytes")
        if not self.store_forward:
            if (self.validity, self.forward_address_type, self.forward_address) != (
                None,
                None,
                None,
            ):
                raise ProtocolError("forward fields given without the store/forward bit")
            return
        if self.validity is None or self.forward_address_type is None:
            raise ProtocolError("store/forward needs a validity and a forward address type")
        check_range("validity", self.validity, 31)
        check_range("forward address type", self.forward_address_type, 7)
        if self.forward_address_type not in _FORWARD_ADDRESS_BITS:
            raise ProtocolError(
                f"forward address type {self.forward_address_type} is not supported"
            )
        bits = _FORWARD_ADDRESS_BITS[ForwardAddressType(self.forward_address_type)]
        if bits == 0:
            if self.forward_address is not None:
                raise ProtocolError("forward address given with address type 7 (none)")
        elif self.forward_address is None:
            raise ProtocolError("forward address missing")
        else:
            check_range("forward address", self.forward_address, (1 << bits) - 1)

    def encode(self) -> bytes:
        """The payload bytes, PID first."""
        head = bytes([self.pid]) + build_bits(
            _TRANSFER_FLAGS,
            {
                "message_type": _MESSAGE_TRANSFER,
                "delivery_report": int(self.delivery_report),
                "short_form_disallowed": not self.short_form_report,
                "storage": self.store_forward,
            },
        )
        head += bytes([self.message_reference])
        if self.store_forward:
            assert self.forward_address_type is not None  # checked in __post_init__
            head += build_bits(
                _FORWARD_CONTROL,
                {"validity": self.validity, "address_type": self.forward_address_type},
            )
            bits = _FORWARD_ADDRESS_BITS[ForwardAddressType(self.forward_address_type)]
            if bits:
                assert self.forward_address is not None
                head += self.forward_address.to_bytes(bits // 8, "big")
        return head + self.user_data

    @classmethod
    def decode(cls, payload: bytes, length_bits: int | None = None) -> SdsTransfer:
        """Parse an SDS-TRANSFER (PID >= 0x80, message type 0)."""
        pdu = decode_tl(payload, length_bits)
        if not isinstance(pdu, SdsTransfer):
            raise ProtocolError(f"expected an SDS-TRANSFER, got {type(pdu).__name__}")
        return pdu


@dataclass(frozen=True, slots=True)
class SdsReport:
    """An SDS-REPORT: the outcome of an earlier SDS-TRANSFER with this reference.

    ``delivery_status`` is the raw byte (compare with ``DeliveryStatus``; classify with
    ``delivery_class``). With ``store_forward`` set, ``user_data`` starts with the
    uninterpreted forward fields (see the module docstring).
    """

    pid: int
    ack_required: bool
    store_forward: bool
    delivery_status: int
    message_reference: int
    user_data: bytes = b""

    def __post_init__(self) -> None:
        _check_tl_pid(self.pid)
        check_range("delivery status", self.delivery_status, 0xFF)
        check_range("message reference", self.message_reference, 0xFF)
        if not isinstance(self.user_data, bytes):
            raise ProtocolError("user data must be bytes")

    def encode(self) -> bytes:
        """The payload bytes, PID first."""
        flags = build_bits(
            _REPORT_FLAGS,
            {
                "message_type": _MESSAGE_REPORT,
                "ack_required": self.ack_required,
                "reserved": 0,
                "storage": self.store_forward,
            },
        )
        return (
            bytes([self.pid])
            + flags
            + bytes([self.delivery_status, self.message_reference])
            + self.user_data
        )


@dataclass(frozen=True, slots=True)
class SdsAck:
    """An SDS-ACK: acknowledges an SDS-REPORT that asked for one."""

    pid: int
    delivery_status: int
    message_reference: int

    def __post_init__(self) -> None:
        _check_tl_pid(self.pid)
        check_range("delivery status", self.delivery_status, 0xFF)
        check_range("message reference", self.message_reference, 0xFF)

    def encode(self) -> bytes:
        """The four payload bytes, PID first."""
        first = build_bits(_TL_FIRST, {"message_type": _MESSAGE_ACK, "low": 0})
        return bytes([self.pid]) + first + bytes([self.delivery_status, self.message_reference])


@dataclass(frozen=True, slots=True)
class SimpleSds:
    """An SDS without SDS-TL header (PID < 0x80): the PID and the bytes after it."""

    pid: int
    data: bytes

    def __post_init__(self) -> None:
        check_range("protocol identifier", self.pid, 0xFF)
        if self.pid >= 0x80:
            raise ProtocolError(f"protocol identifier 0x{self.pid:02X} needs an SDS-TL header")
        if not isinstance(self.data, bytes):
            raise ProtocolError("data must be bytes")

    def encode(self) -> bytes:
        """The payload bytes, PID first."""
        return bytes([self.pid]) + self.data


TlPdu = SdsTransfer | SdsReport | SdsAck | SimpleSds


def _cut_to_declared(payload: bytes, length_bits: int | None) -> bytes:
    if not isinstance(payload, bytes | bytearray):
        raise ProtocolError("payload must be bytes")
    payload = bytes(payload)
    if length_bits is None:
        return payload
    check_range("declared length", length_bits, 1 << 20)
    needed = (length_bits + 7) // 8
    return payload[:needed] if needed < len(payload) else payload


def decode_tl(payload: bytes, length_bits: int | None = None) -> TlPdu:
    """Decode an SDS type-4 payload (PID first) into its SDS-TL PDU.

    PIDs below 0x80 give ``SimpleSds``. Every malformed input raises ``ProtocolError``.
    """
    data = _cut_to_declared(payload, length_bits)
    if not data:
        raise ProtocolError("empty SDS payload")
    pid = data[0]
    if pid < 0x80:
        return SimpleSds(pid, data[1:])
    if len(data) < 3:
        raise ProtocolError(f"SDS-TL PDU of {len(data)} bytes is too short for its header")
    try:
        first = _TL_FIRST.parse(data[1:2])
        message_type = int(first.message_type)
        if message_type == _MESSAGE_TRANSFER:
            return _decode_transfer(pid, data)
        if message_type == _MESSAGE_REPORT:
            if len(data) < 4:
                raise ProtocolError("SDS-REPORT needs at least 4 bytes")
            flags = _REPORT_FLAGS.parse(data[1:2])
            return SdsReport(
                pid=pid,
                ack_required=bool(flags.ack_required),
                store_forward=bool(flags.storage),
                delivery_status=data[2],
                message_reference=data[3],
                user_data=data[4:],
            )
        if message_type == _MESSAGE_ACK:
            if len(data) < 4:
                raise ProtocolError("SDS-ACK needs 4 bytes")
            return SdsAck(pid=pid, delivery_status=data[2], message_reference=data[3])
    except ConstructError as exc:  # pragma: no cover - fixed-size parses of sliced bytes
        raise ProtocolError(f"malformed SDS-TL header: {exc}") from exc
    raise ProtocolError(f"SDS-TL message type {message_type} is not supported")


def _decode_transfer(pid: int, data: bytes) -> SdsTransfer:
    flags = _TRANSFER_FLAGS.parse(data[1:2])
    reference = data[2]
    rest = data[3:]
    validity: int | None = None
    address_type: int | None = None
    address: int | None = None
    if flags.storage:
        if not rest:
            raise ProtocolError("SDS-TRANSFER with store/forward lacks its forward fields")
        control = _FORWARD_CONTROL.parse(rest[:1])
        validity = int(control.validity)
        address_type = int(control.address_type)
        if address_type not in _FORWARD_ADDRESS_BITS:
            raise ProtocolError(f"forward address type {address_type} is not supported")
        size = _FORWARD_ADDRESS_BITS[ForwardAddressType(address_type)] // 8
        if len(rest) < 1 + size:
            raise ProtocolError("SDS-TRANSFER ends inside its forward address")
        if size:
            address = int.from_bytes(rest[1 : 1 + size], "big")
        rest = rest[1 + size :]
    return SdsTransfer(
        pid=pid,
        delivery_report=DeliveryReportRequest(int(flags.delivery_report)),
        short_form_report=not flags.short_form_disallowed,
        store_forward=bool(flags.storage),
        message_reference=reference,
        user_data=rest,
        validity=validity,
        forward_address_type=address_type,
        forward_address=address,
    )


def encode_tl(pdu: TlPdu) -> bytes:
    """The payload bytes of any SDS-TL PDU (same as ``pdu.encode()``)."""
    return pdu.encode()
