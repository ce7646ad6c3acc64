"""LIP information elements shared by the short and the long location report.

The enums of TS 100 392-18-1 that both reports carry (time elapsed, position error, type
of additional data, reason for sending), the coordinate and velocity conversions, the
field checks with their ``ProtocolError`` messages, and the construct fields for the
25-bit longitude and 24-bit latitude.

Internal module of ``protocols.sds.lip`` (which re-exports the public names): import
the reports and enums from there.
"""

from __future__ import annotations

import math
from enum import IntEnum
from typing import Final, TypeVar

import construct as cs
from construct.lib import bits2bytes

from protocols.errors import ProtocolError

__all__ = [
    "LATITUDE_FIELD",
    "LATITUDE_STEP",
    "LIP_PID",
    "LONGITUDE_FIELD",
    "LONGITUDE_STEP",
    "AdditionalDataType",
    "PositionError",
    "ReasonForSending",
    "TimeElapsed",
    "as_enum",
    "check_bits",
    "finite_degrees",
    "latitude_code",
    "longitude_code",
    "pad_to_bytes",
    "reason_name",
    "velocity_code",
    "velocity_kmh",
]

LIP_PID: Final = 0x0A
LONGITUDE_STEP: Final = 360 / 2**25
"""Degrees per unit of the 25-bit longitude."""
LATITUDE_STEP: Final = 180 / 2**24
"""Degrees per unit of the 24-bit latitude."""

# construct, at bit level: one stream byte per bit.
LONGITUDE_FIELD: Final = "longitude" / cs.BitsInteger(25, signed=True)
LATITUDE_FIELD: Final = "latitude" / cs.BitsInteger(24, signed=True)


class TimeElapsed(IntEnum):
    """How old the position is (TS 100 392-18-1 time elapsed, 2 bits)."""

    LESS_THAN_5_S = 0
    LESS_THAN_5_MIN = 1
    LESS_THAN_30_MIN = 2
    UNKNOWN = 3


class PositionError(IntEnum):
    """Horizontal position error (3 bits)."""

    LESS_THAN_2_M = 0
    LESS_THAN_20_M = 1
    LESS_THAN_200_M = 2
    LESS_THAN_2_KM = 3
    LESS_THAN_20_KM = 4
    AT_MOST_200_KM = 5
    MORE_THAN_200_KM = 6
    UNKNOWN = 7


class AdditionalDataType(IntEnum):
    """What the last 8 bits of a report carry."""

    REASON_FOR_SENDING = 0
    USER_DEFINED = 1


class ReasonForSending(IntEnum):
    """The reasons for sending that we name (TS 100 392-18-1 table "Reason for sending")."""

    POWER_ON = 0
    POWER_OFF = 1
    EMERGENCY = 2
    PTT = 3
    STATUS = 4
    TRANSMIT_INHIBIT_ON = 5
    TRANSMIT_INHIBIT_OFF = 6
    SYSTEM_ACCESS = 7
    DMO_ON = 8
    ENTER_SERVICE = 9
    SERVICE_LOSS = 10
    CELL_RESELECTION = 11
    LOW_BATTERY = 12
    CAR_KIT_CONNECTED = 13
    CAR_KIT_DISCONNECTED = 14
    TRANSFER_INITIALISATION_REQUEST = 15
    ARRIVAL_AT_DESTINATION = 16
    ARRIVAL_AT_LOCATION = 17
    APPROACHING_LOCATION = 18
    SDS_TYPE_1_ENTERED = 19
    USER_APPLICATION = 20
    LOCATION_REQUEST_REPLY = 32
    MAX_INTERVAL = 129
    MAX_DISTANCE = 130


def check_bits(value: int, bits: int, what: str) -> int:
    """``value`` if it fits an unsigned field of ``bits`` bits, else ``ProtocolError``."""
    if not 0 <= value < 1 << bits:
        raise ProtocolError(f"LIP {what} {value} does not fit in {bits} bits")
    return value


_E = TypeVar("_E", bound=IntEnum)


def as_enum(kind: type[_E], value: int, what: str) -> _E:
    """``value`` as a member of ``kind``; ``ProtocolError`` naming ``what`` if it is none."""
    try:
        return kind(value)
    except ValueError:
        raise ProtocolError(f"LIP {what} {value} is not valid") from None


def longitude_code(lon: float) -> int:
    """The 25-bit longitude nearest to ``lon`` degrees (-180..180)."""
    if not -180 <= lon <= 180:
        raise ProtocolError(f"LIP longitude {lon} is outside -180..180")
    raw = round(lon / LONGITUDE_STEP)
    return -(2**24) if raw == 2**24 else raw  # +180° is the same meridian as -180°


def latitude_code(lat: float) -> int:
    """The 24-bit latitude nearest to ``lat`` degrees (-90..90)."""
    if not -90 <= lat <= 90:
        raise ProtocolError(f"LIP latitude {lat} is outside -90..90")
    return min(round(lat / LATITUDE_STEP), 2**23 - 1)  # +90° itself is one step out of range


def velocity_kmh(code: int) -> float | None:
    """Speed for a 7-bit velocity code: K ≤ 28 is K km/h, above 16 × 1.038^(K−13); 127 unknown."""
    if code == 127:
        return None
    if code <= 28:
        return float(code)
    return 16 * 1.038 ** (code - 13)


def velocity_code(kmh: float | None) -> int:
    """The 7-bit code nearest to a speed in km/h (None → 127, unknown; capped at 126)."""
    if kmh is None:
        return 127
    if not (kmh >= 0 and math.isfinite(kmh)):
        raise ProtocolError(f"LIP velocity {kmh} km/h is negative or not a finite number")
    if kmh < 28.5:
        return round(kmh)
    return max(29, min(126, round(13 + math.log(kmh / 16) / math.log(1.038))))


def finite_degrees(degrees: float) -> float:
    """``degrees`` if it is a finite number (a direction of travel), else ``ProtocolError``."""
    if not math.isfinite(degrees):
        raise ProtocolError(f"LIP direction {degrees} is not a finite number of degrees")
    return degrees


def reason_name(kind: AdditionalDataType, code: int) -> str | None:
    """snake_case name of the reason for sending; None for user data or an unnamed code."""
    if kind != AdditionalDataType.REASON_FOR_SENDING:
        return None
    try:
        return ReasonForSending(code).name.lower()
    except ValueError:
        return None


def pad_to_bytes(bits: bytes) -> bytes:
    """A construct bit stream (one byte per bit) as bytes, zero-padded to a whole byte."""
    return bytes(bits2bytes(bits + b"\x00" * (-len(bits) % 8)))
