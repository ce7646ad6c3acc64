"""One entry point for everything a radio hands up in ``+CTSDSR``: status, SDS-TL, LIP, text.

``decode_sds(ai_service, payload, length_bits)`` picks the decoder from the air-interface
service and the protocol identifier; ``describe(message)`` turns the result into the JSON
object printed by ``tetragw decode`` (cli-and-emulator.md).

Dispatch (PEI reference §3-§7):

* ai service 13 (status): the first 16 bits. 0x7C00-0x7FFF is an SDS-SHORT-REPORT
  (``tl.ShortReport``), any other value a ``StatusMessage``.
* ai services 9-12 (SDS type 1-4), by the PID in the first byte: 0x0A → LIP
  (``LipShortReport`` / ``LipLongReport``); 0x80-0xFF → SDS-TL (``SdsTransfer`` /
  ``SdsReport`` / ``SdsAck``); the simple PIDs of PEI reference §5 (0x02, 0x03, 0x09,
  0x0C, 0x40-0x7E) → ``SimpleSds``; any other PID → ``UnknownSds``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from protocols.errors import ProtocolError
from protocols.payload import payload_to_hex
from protocols.sds.lip import (
    LIP_PID,
    AdditionalDataType,
    LipLongReport,
    LipShortReport,
    LocationCircle,
    LocationCircleWithAltitude,
    LocationPointWithAltitude,
    LocationPointWithPositionError,
    TimeOfPosition,
    decode_lip,
    velocity_kmh,
)
from protocols.sds.status import StatusTable, classify_status
from protocols.sds.text import (
    CONCATENATED_TEXT_PID,
    SIMPLE_TEXT_PIDS,
    TL_TEXT_PIDS,
    decode_text,
    decode_text_part,
)
from protocols.sds.tl import (
    SHORT_REPORT_FIRST,
    SHORT_REPORT_LAST,
    DeliveryStatus,
    SdsAck,
    SdsReport,
    SdsTransfer,
    ShortReport,
    SimpleSds,
    decode_tl,
    delivery_class,
)

__all__ = [
    "AI_STATUS",
    "SDS_AI_SERVICES",
    "SdsMessage",
    "StatusMessage",
    "UnknownSds",
    "decode_sds",
    "describe",
]

AI_STATUS: Final = 13
SDS_AI_SERVICES: Final = frozenset({9, 10, 11, 12})
"""SDS type 1, 2, 3 and 4 (PEI reference §3)."""

# PIDs below 0x80 that PEI reference §5 names; they carry no SDS-TL header.
_SIMPLE_PIDS: Final = frozenset({0x02, 0x03, 0x09, 0x0C, *range(0x40, 0x7F)})


@dataclass(frozen=True, slots=True)
class StatusMessage:
    """A 16-bit status value (not a short report). Its meaning comes from a status table."""

    value: int

    def __post_init__(self) -> None:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise ProtocolError("status value must be an integer")
        if not 0 <= self.value <= 0xFFFF:
            raise ProtocolError(f"status value {self.value} is outside 0..0xFFFF")

    def encode(self) -> bytes:
        """The two bytes sent with ``AT+CMGS=<issi>,16``."""
        return self.value.to_bytes(2, "big")


@dataclass(frozen=True, slots=True)
class UnknownSds:
    """An SDS whose PID we do not interpret: the PID and the bytes after it."""

    pid: int
    data: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.pid <= 0xFF:
            raise ProtocolError(f"protocol identifier {self.pid} is outside 0..0xFF")
        if not isinstance(self.data, bytes):
            raise ProtocolError("data must be bytes")

    def encode(self) -> bytes:
        """The payload bytes, PID first."""
        return bytes([self.pid]) + self.data


SdsMessage = (
    StatusMessage
    | ShortReport
    | SdsTransfer
    | SdsReport
    | SdsAck
    | LipShortReport
    | LipLongReport
    | SimpleSds
    | UnknownSds
)


def decode_sds(ai_service: int, payload: bytes, length_bits: int | None = None) -> SdsMessage:
    """Decode the payload of a ``+CTSDSR`` for its ai service (module docstring).

    ``length_bits`` is the declared length; bits beyond it are ignored and a declared length
    longer than the payload is tolerated (PEI reference §4). Raises ``ProtocolError`` for
    anything that cannot be decoded, an unknown ai service included.
    """
    if length_bits is not None and length_bits < 0:
        raise ProtocolError(f"declared length {length_bits} bits is negative")
    if ai_service == AI_STATUS:
        return _decode_status(payload, length_bits)
    if ai_service not in SDS_AI_SERVICES:
        raise ProtocolError(f"ai service {ai_service} is not short data (9-12) or status (13)")
    if length_bits is not None:
        payload = payload[: max(1, (length_bits + 7) // 8)]
    if not payload:
        raise ProtocolError("empty SDS payload")
    pid = payload[0]
    if pid == LIP_PID:
        return decode_lip(payload, length_bits)
    if pid >= 0x80 or pid in _SIMPLE_PIDS:
        return decode_tl(payload, length_bits)
    return UnknownSds(pid, bytes(payload[1:]))


def _decode_status(payload: bytes, length_bits: int | None) -> ShortReport | StatusMessage:
    if length_bits is not None and length_bits < 16:
        raise ProtocolError(f"a status is 16 bits, {length_bits} declared")
    if len(payload) < 2:
        raise ProtocolError(f"a status is 16 bits, got {len(payload) * 8}")
    value = int.from_bytes(payload[:2], "big")
    if SHORT_REPORT_FIRST <= value <= SHORT_REPORT_LAST:
        return ShortReport.from_status(value)
    return StatusMessage(value)


# ---- describe ----------------------------------------------------------------------------


def describe(message: SdsMessage, status_table: StatusTable | None = None) -> dict[str, Any]:
    """The JSON object of ``tetragw decode`` for a decoded message.

    Always ``kind`` (status, short_report, text, sds_transfer, sds_report, sds_ack,
    lip_short, lip_long, unknown) and ``pid`` (None for status values). Coded fields are
    numbers with a ``*_name`` companion; enumerations are lower-case names. A status is
    looked up in ``status_table`` when one is given (``meaning``, ``label``).
    """
    match message:
        case StatusMessage(value=value):
            out: dict[str, Any] = {
                "kind": "status",
                "pid": None,
                "value": value,
                "hex": f"{value:04X}",
                "status_class": classify_status(value).value,
            }
            if status_table is not None:
                entry = status_table.lookup(value)
                out["meaning"] = None if entry is None else entry.meaning
                out["label"] = None if entry is None else entry.label
            return out
        case ShortReport():
            status = message.to_status()
            return {
                "kind": "short_report",
                "pid": None,
                "value": status,
                "hex": f"{status:04X}",
                "status_class": classify_status(status).value,
                "report_type": message.report_type.name.lower(),
                "message_reference": message.message_reference,
            }
        case SdsTransfer() if message.pid in TL_TEXT_PIDS | {CONCATENATED_TEXT_PID}:
            return _describe_text(message)
        case SimpleSds() if message.pid in SIMPLE_TEXT_PIDS:
            return _describe_text(message)
        case SdsTransfer():
            out = {
                "kind": "sds_transfer",
                "pid": message.pid,
                "message_reference": message.message_reference,
                "delivery_report": message.delivery_report.name.lower(),
                "short_form_report": message.short_form_report,
                "store_forward": message.store_forward,
                "user_data": payload_to_hex(message.user_data),
            }
            if message.store_forward:
                out["validity"] = message.validity
                out["forward_address_type"] = message.forward_address_type
                out["forward_address"] = message.forward_address
            return out
        case SdsReport():
            return {
                "kind": "sds_report",
                "pid": message.pid,
                **_delivery(message.delivery_status),
                "message_reference": message.message_reference,
                "ack_required": message.ack_required,
                "store_forward": message.store_forward,
                "user_data": payload_to_hex(message.user_data),
            }
        case SdsAck():
            return {
                "kind": "sds_ack",
                "pid": message.pid,
                **_delivery(message.delivery_status),
                "message_reference": message.message_reference,
            }
        case LipShortReport():
            return _describe_lip_short(message)
        case LipLongReport():
            return _describe_lip_long(message)
        case SimpleSds() | UnknownSds():
            data = message.data
            return {"kind": "unknown", "pid": message.pid, "data": payload_to_hex(data)}
    raise ProtocolError(f"cannot describe {type(message).__name__}")


def _delivery(status: int) -> dict[str, Any]:
    try:
        name: str | None = DeliveryStatus(status).name.lower()
    except ValueError:
        name = None
    return {
        "delivery_status": status,
        "delivery_status_name": name,
        "delivery_class": delivery_class(status),
    }


def _describe_text(message: SdsTransfer | SimpleSds) -> dict[str, Any]:
    user_data = decode_text(message)
    out: dict[str, Any] = {
        "kind": "text",
        "pid": message.pid,
        "text": user_data.text,
        "coding": int(user_data.coding),
        "coding_name": user_data.coding.name.lower(),
        "message_reference": None,
        "delivery_report": None,
    }
    if isinstance(message, SdsTransfer):
        out["message_reference"] = message.message_reference
        out["delivery_report"] = message.delivery_report.name.lower()
        out["short_form_report"] = message.short_form_report
        if message.pid == CONCATENATED_TEXT_PID:
            header = decode_text_part(message).concatenation
            out["concatenation"] = (
                None
                if header is None
                else {
                    "reference": header.reference,
                    "total": header.total,
                    "part": header.part,
                }
            )
    stamp = user_data.timestamp
    if stamp is not None:
        out["timestamp"] = {
            "month": stamp.month,
            "day": stamp.day,
            "hour": stamp.hour,
            "minute": stamp.minute,
            "time_frame": stamp.time_frame,
        }
    return out


def _additional(kind: AdditionalDataType, value: int, name: str | None) -> dict[str, Any]:
    if kind == AdditionalDataType.USER_DEFINED:
        return {"reason": None, "reason_name": None, "user_data": value}
    return {"reason": value, "reason_name": name}


def _describe_lip_short(report: LipShortReport) -> dict[str, Any]:
    return {
        "kind": "lip_short",
        "pid": LIP_PID,
        "lat": round(report.latitude, 6),
        "lon": round(report.longitude, 6),
        "time_elapsed": report.time_elapsed.name.lower(),
        "position_error": report.position_error.name.lower(),
        "position_error_m": report.error_m,
        "velocity_kmh": _round(report.velocity_kmh),
        "direction_deg": report.direction_deg,
        **_additional(report.additional_data_type, report.reason_or_data, report.reason_name),
    }


def _describe_lip_long(report: LipLongReport) -> dict[str, Any]:
    time: dict[str, Any] | str | None
    if report.time is None:
        time = None
    elif isinstance(report.time, TimeOfPosition):
        t = report.time
        time = {"day": t.day, "hour": t.hour, "minute": t.minute, "second": t.second}
    else:
        time = report.time.name.lower()
    loc = report.location
    out: dict[str, Any] = {
        "kind": "lip_long",
        "pid": LIP_PID,
        "lat": None if report.latitude is None else round(report.latitude, 6),
        "lon": None if report.longitude is None else round(report.longitude, 6),
        "shape": None if loc is None else _snake(type(loc).__name__),
        "time_elapsed": time if isinstance(time, str) else None,
        "time_of_position": time if isinstance(time, dict) else None,
    }
    if isinstance(loc, LocationCircle | LocationCircleWithAltitude):
        out["uncertainty"] = loc.uncertainty
    if isinstance(loc, LocationPointWithAltitude | LocationCircleWithAltitude):
        out["altitude_m"] = loc.altitude_m
        out["altitude_type"] = loc.altitude_type.name.lower()
    if isinstance(loc, LocationPointWithPositionError):
        out["position_error"] = loc.position_error.name.lower()
    velocity = report.velocity
    out["velocity_type"] = velocity.velocity_type.name.lower()
    out["velocity_kmh"] = _round(report.velocity_kmh)
    out["direction_deg"] = report.direction_deg
    if velocity.vertical is not None:
        out["vertical_velocity_kmh"] = _round(velocity_kmh(velocity.vertical))
        out["vertical_downward"] = velocity.vertical_downward
    out["ack_request"] = report.ack_request
    out.update(_additional(report.additional_data_type, report.reason_or_data, report.reason_name))
    return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
