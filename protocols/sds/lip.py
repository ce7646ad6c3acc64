"""Location Information Protocol (LIP, ETSI TS 100 392-18-1): the PDUs sent with PID 0x0A.

Supported, decode and encode:

* the short location report (PDU type 0, 84 bits with the PID), here;
* the long location report (PDU type 1, extension 0011), in ``protocols.sds.lip_long``
  (time data, location shapes 0, 1, 2, 4, 5, 10, velocity types 0, 1, 3, 5 — its module
  docstring lists them).

Everything else (other PDU types and extensions, and the long-report elements that
``lip_long`` does not support) raises ``ProtocolError`` naming the unsupported element.
Padding after any PDU is ignored.

This module is the front door: ``decode_lip`` / ``encode_lip`` / ``lip_length_bits``
take either report, and every public name of ``lip_elements`` (the enums and
conversions both reports share), ``lip_long`` and ``lip_shapes`` is re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import construct as cs
from construct.lib import bytes2bits

from protocols.errors import ProtocolError
from protocols.sds.lip_elements import (
    LATITUDE_FIELD,
    LATITUDE_STEP,
    LIP_PID,
    LONGITUDE_FIELD,
    LONGITUDE_STEP,
    AdditionalDataType,
    PositionError,
    ReasonForSending,
    TimeElapsed,
    as_enum,
    check_bits,
    finite_degrees,
    latitude_code,
    longitude_code,
    pad_to_bytes,
    reason_name,
    velocity_code,
    velocity_kmh,
)
from protocols.sds.lip_long import (
    LONG_EXTENSION,
    LipLongReport,
    TimeOfPosition,
    Velocity,
    VelocityType,
    decode_long_report,
    long_report_bits,
)
from protocols.sds.lip_shapes import (
    AltitudeType,
    LocationCircle,
    LocationCircleWithAltitude,
    LocationPoint,
    LocationPointWithAltitude,
    LocationPointWithPositionError,
    LocationShape,
)

__all__ = [
    "LIP_PID",
    "LIP_SHORT_BITS",
    "AdditionalDataType",
    "AltitudeType",
    "LipLongReport",
    "LipReport",
    "LipShortReport",
    "LocationCircle",
    "LocationCircleWithAltitude",
    "LocationPoint",
    "LocationPointWithAltitude",
    "LocationPointWithPositionError",
    "LocationShape",
    "PositionError",
    "ReasonForSending",
    "TimeElapsed",
    "TimeOfPosition",
    "Velocity",
    "VelocityType",
    "decode_lip",
    "encode_lip",
    "lip_length_bits",
    "velocity_code",
    "velocity_kmh",
]

LIP_SHORT_BITS = 84
"""Length of a short location report, PID included (pei-reference §7)."""

# Upper bound of the error in metres; None where there is no bound (>200 km, unknown).
_ERROR_M: dict[PositionError, int | None] = {
    PositionError.LESS_THAN_2_M: 2,
    PositionError.LESS_THAN_20_M: 20,
    PositionError.LESS_THAN_200_M: 200,
    PositionError.LESS_THAN_2_KM: 2_000,
    PositionError.LESS_THAN_20_KM: 20_000,
    PositionError.AT_MOST_200_KM: 200_000,
    PositionError.MORE_THAN_200_KM: None,
    PositionError.UNKNOWN: None,
}


@dataclass(frozen=True, slots=True)
class LipShortReport:
    """A short location report. ``longitude``/``latitude`` are degrees (WGS84).

    The 7-bit ``horizontal_velocity`` and 4-bit ``direction_of_travel`` are the codes as
    sent; the properties give km/h and degrees. Encoding rounds the coordinates to the
    nearest step of the 25/24-bit fields (about 1 m).
    """

    time_elapsed: TimeElapsed
    longitude: float
    latitude: float
    position_error: PositionError
    horizontal_velocity: int
    direction_of_travel: int
    additional_data_type: AdditionalDataType
    reason_or_data: int

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "time_elapsed", as_enum(TimeElapsed, self.time_elapsed, "time elapsed")
        )
        object.__setattr__(
            self, "position_error", as_enum(PositionError, self.position_error, "position error")
        )
        object.__setattr__(
            self,
            "additional_data_type",
            as_enum(AdditionalDataType, self.additional_data_type, "type of additional data"),
        )
        longitude_code(self.longitude)
        latitude_code(self.latitude)
        check_bits(self.horizontal_velocity, 7, "horizontal velocity")
        check_bits(self.direction_of_travel, 4, "direction of travel")
        check_bits(self.reason_or_data, 8, "additional data")

    @classmethod
    def from_position(
        cls,
        latitude: float,
        longitude: float,
        *,
        time_elapsed: TimeElapsed = TimeElapsed.LESS_THAN_5_S,
        position_error: PositionError = PositionError.LESS_THAN_20_M,
        speed_kmh: float | None = None,
        direction_deg: float = 0.0,
        reason: int = ReasonForSending.MAX_INTERVAL,
    ) -> LipShortReport:
        """A report of a position in degrees, speed in km/h (None: unknown), heading in degrees."""
        return cls(
            time_elapsed=time_elapsed,
            longitude=longitude_code(longitude) * LONGITUDE_STEP,
            latitude=latitude_code(latitude) * LATITUDE_STEP,
            position_error=position_error,
            horizontal_velocity=velocity_code(speed_kmh),
            direction_of_travel=round(finite_degrees(direction_deg) / 22.5) % 16,
            additional_data_type=AdditionalDataType.REASON_FOR_SENDING,
            reason_or_data=reason,
        )

    @property
    def velocity_kmh(self) -> float | None:
        """Horizontal speed in km/h, None when unknown (code 127)."""
        return velocity_kmh(self.horizontal_velocity)

    @property
    def direction_deg(self) -> float:
        """Direction of travel, degrees clockwise from north (code × 22.5)."""
        return self.direction_of_travel * 22.5

    @property
    def error_m(self) -> int | None:
        """Upper bound of the error in metres (2 … 200000); None for >200 km (6) or unknown (7)."""
        return _ERROR_M[self.position_error]

    @property
    def reason_name(self) -> str | None:
        """snake_case name of the reason for sending; None for user data or an unnamed code."""
        return reason_name(self.additional_data_type, self.reason_or_data)

    def encode(self) -> bytes:
        """The PDU, PID included (84 bits, sent as 11 bytes with 4 zero padding bits)."""
        return encode_lip(self)


LipReport = LipShortReport | LipLongReport

# construct, at bit level: one stream byte per bit.
_SHORT = cs.Struct(
    "pid" / cs.BitsInteger(8),
    "pdu_type" / cs.BitsInteger(2),
    "time_elapsed" / cs.BitsInteger(2),
    LONGITUDE_FIELD,
    LATITUDE_FIELD,
    "position_error" / cs.BitsInteger(3),
    "horizontal_velocity" / cs.BitsInteger(7),
    "direction_of_travel" / cs.BitsInteger(4),
    "additional_data_type" / cs.BitsInteger(1),
    "reason_or_data" / cs.BitsInteger(8),
)


def decode_lip(payload: bytes, length_bits: int | None = None) -> LipReport:
    """Decode a LIP PDU whose first byte is the PID 0x0A.

    ``length_bits`` is the length the radio declared; bits past it are ignored, and a
    declared length longer than the payload is ignored (PEI reference §4: radios disagree
    on 84 bits sent as 21 or 22 hex digits). Raises ``ProtocolError`` for anything else.
    """
    if not payload:
        raise ProtocolError("LIP PDU is empty")
    if payload[0] != LIP_PID:
        raise ProtocolError(f"not a LIP PDU: protocol identifier 0x{payload[0]:02X}, not 0x0A")
    bits = len(payload) * 8
    if length_bits is not None:
        if length_bits < 0:
            raise ProtocolError(f"declared length {length_bits} bits is negative")
        bits = min(bits, length_bits)
    if bits < 10:
        raise ProtocolError(f"LIP PDU of {bits} bits has no PDU type")
    stream = bytes2bits(payload)[:bits]
    pdu_type = payload[1] >> 6
    if pdu_type == 0:
        if bits < LIP_SHORT_BITS:
            raise ProtocolError(f"LIP short location report needs 84 bits, got {bits}")
        return _short_from(_SHORT.parse(stream))
    if pdu_type != 1:
        raise ProtocolError(f"LIP PDU type {pdu_type} is not supported (reserved)")
    extension = (payload[1] >> 2) & 0xF
    if extension != LONG_EXTENSION:
        raise ProtocolError(
            f"LIP PDU type extension {extension} is not supported (only 3, long location report)"
        )
    return decode_long_report(stream, bits)


def _short_from(c: Any) -> LipShortReport:
    return LipShortReport(
        time_elapsed=c.time_elapsed,
        longitude=c.longitude * LONGITUDE_STEP,
        latitude=c.latitude * LATITUDE_STEP,
        position_error=c.position_error,
        horizontal_velocity=c.horizontal_velocity,
        direction_of_travel=c.direction_of_travel,
        additional_data_type=c.additional_data_type,
        reason_or_data=c.reason_or_data,
    )


def _bits_of(report: LipReport) -> bytes:
    if not isinstance(report, LipShortReport):
        return long_report_bits(report)
    return bytes(
        _SHORT.build(
            {
                "pid": LIP_PID,
                "pdu_type": 0,
                "time_elapsed": report.time_elapsed,
                "longitude": longitude_code(report.longitude),
                "latitude": latitude_code(report.latitude),
                "position_error": report.position_error,
                "horizontal_velocity": report.horizontal_velocity,
                "direction_of_travel": report.direction_of_travel,
                "additional_data_type": report.additional_data_type,
                "reason_or_data": report.reason_or_data,
            }
        )
    )


def encode_lip(report: LipReport) -> bytes:
    """The PDU as bytes, PID 0x0A first, zero-padded to a whole byte."""
    return pad_to_bytes(_bits_of(report))


def lip_length_bits(report: LipReport) -> int:
    """The length to declare in ``AT+CMGS`` for this report (84 for a short report)."""
    return len(_bits_of(report))
