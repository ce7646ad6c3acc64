"""Delivery reporting in SDS-TL (EN 300 392-2 clause 29): what a sender asks for and
what comes back.

* ``DeliveryReportRequest``: the 2-bit request in an SDS-TRANSFER.
* ``DeliveryStatus`` and ``delivery_class``: the status byte of SDS-REPORT / SDS-ACK.
* ``ShortReport``: the SDS-SHORT-REPORT. It is not an SDS-TL PDU at all: it travels as a
  16-bit *status* value ``011111 TT rrrrrrrr`` (0x7C00-0x7FFF, ``SHORT_REPORT_FIRST`` to
  ``SHORT_REPORT_LAST``), TT the report type and r the message reference.

Every public name here is re-exported by ``protocols.sds.tl``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final, Literal

from construct import BitsInteger, BitStruct

from protocols.errors import ProtocolError
from protocols.sds.fields import build_bits, check_range

__all__ = [
    "SHORT_REPORT_FIRST",
    "SHORT_REPORT_LAST",
    "DeliveryReportRequest",
    "DeliveryStatus",
    "ShortReport",
    "ShortReportType",
    "delivery_class",
]

SHORT_REPORT_FIRST: Final = 0x7C00
SHORT_REPORT_LAST: Final = 0x7FFF


class DeliveryReportRequest(IntEnum):
    """What the sender of an SDS-TRANSFER asks the receiver to report (2 bits)."""

    NONE = 0
    RECEIVED = 1
    CONSUMED = 2
    BOTH = 3


class DeliveryStatus(IntEnum):
    """Delivery status values of SDS-REPORT / SDS-ACK (EN 300 392-2 29.4.3.2).

    A report may carry a value not listed here; decoders keep it as a plain ``int``.
    """

    # 0x00-0x1F: success
    RECEIVED = 0x00
    RECEIPT_REPORT_ACK = 0x01
    CONSUMED = 0x02
    CONSUMED_REPORT_ACK = 0x03
    FORWARDED_EXTERNALLY = 0x04
    SENT_TO_GROUP = 0x05
    # 0x20-0x3F: temporary error, the SwMI keeps trying
    CONGESTION = 0x20
    STORED = 0x21
    NOT_REACHABLE_STORED = 0x22
    # 0x40-0x7F: failure, the message is lost
    NETWORK_OVERLOAD = 0x40
    SERVICE_UNAVAILABLE = 0x41
    SERVICE_TEMPORARILY_UNAVAILABLE = 0x42
    SOURCE_NOT_AUTHORISED = 0x43
    NOT_AUTHORISED = 0x44
    UNKNOWN_DESTINATION = 0x45
    DELIVERY_FAILED = 0x4A
    NOT_REGISTERED = 0x4B
    DESTINATION_QUEUE_FULL = 0x4C
    TOO_LONG = 0x4D
    NO_SDS_TL_AT_DESTINATION = 0x4E
    PROTOCOL_NOT_SUPPORTED = 0x50
    CODING_NOT_SUPPORTED = 0x51
    DESTINATION_MEMORY_FULL = 0x52
    DESTINATION_NOT_REACHABLE = 0x5A


def delivery_class(status: int) -> Literal["success", "temporary", "failure"]:
    """Class of a delivery status byte: 0x00-0x1F success, 0x20-0x3F temporary, else failure.

    Values 0x80-0xFF are reserved in the standard; they count as failure because they
    never confirm a delivery. A value outside 0-255 raises ``ProtocolError``.
    """
    check_range("delivery status", status, 0xFF)
    if status < 0x20:
        return "success"
    if status < 0x40:
        return "temporary"
    return "failure"


class ShortReportType(IntEnum):
    """The 2-bit type of an SDS-SHORT-REPORT."""

    NOT_SUPPORTED = 0
    MEMORY_FULL = 1
    RECEIVED = 2
    CONSUMED = 3


_SHORT_REPORT = BitStruct(
    "marker" / BitsInteger(6), "report_type" / BitsInteger(2), "reference" / BitsInteger(8)
)
_SHORT_REPORT_MARKER: Final = 0b011111


@dataclass(frozen=True, slots=True)
class ShortReport:
    """An SDS-SHORT-REPORT, carried as a status value 0x7C00-0x7FFF.

    "received, reference 0x01" is status 0x7E01.
    """

    report_type: ShortReportType
    message_reference: int

    def __post_init__(self) -> None:
        check_range("short report type", self.report_type, 3)
        object.__setattr__(self, "report_type", ShortReportType(self.report_type))
        check_range("message reference", self.message_reference, 0xFF)

    def to_status(self) -> int:
        """The 16-bit status value that carries this report."""
        raw = build_bits(
            _SHORT_REPORT,
            {
                "marker": _SHORT_REPORT_MARKER,
                "report_type": int(self.report_type),
                "reference": self.message_reference,
            },
        )
        return int.from_bytes(raw, "big")

    def encode(self) -> bytes:
        """The two bytes of the status value, as sent with ``AT+CMGS=<issi>,16``."""
        return self.to_status().to_bytes(2, "big")

    @classmethod
    def from_status(cls, value: int) -> ShortReport:
        """Decode a status value; ``ProtocolError`` unless it is in 0x7C00-0x7FFF."""
        check_range("status value", value, 0xFFFF)
        if not SHORT_REPORT_FIRST <= value <= SHORT_REPORT_LAST:
            raise ProtocolError(f"status 0x{value:04X} is not a short report (0x7C00-0x7FFF)")
        fields = _SHORT_REPORT.parse(value.to_bytes(2, "big"))
        return cls(ShortReportType(fields.report_type), int(fields.reference))

    @classmethod
    def decode(cls, payload: bytes) -> ShortReport:
        """Decode the two bytes of a status SDS (bytes after the second are ignored)."""
        if len(payload) < 2:
            raise ProtocolError(f"a status value needs 2 bytes, got {len(payload)}")
        return cls.from_status(int.from_bytes(payload[:2], "big"))
