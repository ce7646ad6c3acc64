"""Location Information Protocol (LIP, ETSI TS 100 392-18-1): the PDUs sent with PID 0x0A.

Supported, decode and encode:

* the short location report (PDU type 0, 84 bits with the PID);
* the long location report (PDU type 1, extension 0011) with
  - time data: none, time elapsed, time of position (day, hour, minute, second);
  - location shapes: 0 no shape, 1 point, 2 circle (point with horizontal uncertainty),
    4 point with altitude, 5 circle with altitude, 10 point with position error;
  - velocity types: 0 none, 1 horizontal, 3 horizontal and vertical,
    5 horizontal with direction of travel extended;
  - acknowledgement request and the reason for sending (or user-defined data).

Everything else (other PDU types and extensions, time type 3, location shapes 3, 6–9 and
11–15, velocity types 2, 4, 6, 7 — the ones with uncertainties) raises ``ProtocolError``
naming the unsupported element. Optional elements after the reason for sending in a long
report are not decoded and are ignored, as is padding after any PDU.

Bit layouts of the long report's velocity type 3 (horizontal 7, direction of vertical
velocity 1, vertical 7) and of the altitude (altitude type 1, altitude 11) follow our
reading of TS 100 392-18-1 clause 6.3; they are checked against our own encoder only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Any, TypeVar

import construct as cs
from construct.lib import bits2bytes, bytes2bits

from protocols.errors import ProtocolError

LIP_PID = 0x0A
LIP_SHORT_BITS = 84
"""Length of a short location report, PID included (pei-reference §7)."""

_LONG_EXTENSION = 0b0011
_LON_STEP = 360 / 2**25
_LAT_STEP = 180 / 2**24


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


class AltitudeType(IntEnum):
    """Reference of a location altitude."""

    ABOVE_WGS84_ELLIPSOID = 0
    ABOVE_MEAN_SEA_LEVEL = 1


class VelocityType(IntEnum):
    """Velocity type of a long report (3 bits); see the module docstring for the supported ones."""

    NONE = 0
    HORIZONTAL = 1
    HORIZONTAL_WITH_UNCERTAINTY = 2
    HORIZONTAL_AND_VERTICAL = 3
    HORIZONTAL_AND_VERTICAL_WITH_UNCERTAINTY = 4
    HORIZONTAL_WITH_DIRECTION = 5
    HORIZONTAL_WITH_DIRECTION_AND_UNCERTAINTY = 6
    HORIZONTAL_AND_VERTICAL_WITH_DIRECTION_AND_UNCERTAINTY = 7


_SUPPORTED_VELOCITY = frozenset({0, 1, 3, 5})
_SHAPE_NAMES = {
    3: "location ellipse",
    6: "location ellipse with altitude",
    7: "location circle with altitude and altitude uncertainty",
    8: "location ellipse with altitude and altitude uncertainty",
    9: "location arc",
    15: "location shape extension",
}


# ---- field conversions -------------------------------------------------------------------


def _check(value: int, bits: int, what: str) -> int:
    if not 0 <= value < 1 << bits:
        raise ProtocolError(f"LIP {what} {value} does not fit in {bits} bits")
    return value


_E = TypeVar("_E", bound=IntEnum)


def _enum(kind: type[_E], value: int, what: str) -> _E:
    try:
        return kind(value)
    except ValueError:
        raise ProtocolError(f"LIP {what} {value} is not valid") from None


def _lon_raw(lon: float) -> int:
    if not -180 <= lon <= 180:
        raise ProtocolError(f"LIP longitude {lon} is outside -180..180")
    raw = round(lon / _LON_STEP)
    return -(2**24) if raw == 2**24 else raw  # +180° is the same meridian as -180°


def _lat_raw(lat: float) -> int:
    if not -90 <= lat <= 90:
        raise ProtocolError(f"LIP latitude {lat} is outside -90..90")
    return min(round(lat / _LAT_STEP), 2**23 - 1)  # +90° itself is one step out of range


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


def _finite(degrees: float) -> float:
    if not math.isfinite(degrees):
        raise ProtocolError(f"LIP direction {degrees} is not a finite number of degrees")
    return degrees


def _altitude_m(code: int) -> int | None:
    # 1 m steps from -200 m to 1000 m, 2 m steps to 2450 m, 75 m steps to 11525 m; 0 reserved.
    if code == 0:
        return None
    if code <= 1201:
        return code - 201
    if code <= 1926:
        return 1000 + 2 * (code - 1201)
    return 2450 + 75 * (code - 1926)


# ---- typed reports -----------------------------------------------------------------------


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
            self, "time_elapsed", _enum(TimeElapsed, self.time_elapsed, "time elapsed")
        )
        object.__setattr__(
            self, "position_error", _enum(PositionError, self.position_error, "position error")
        )
        object.__setattr__(
            self,
            "additional_data_type",
            _enum(AdditionalDataType, self.additional_data_type, "type of additional data"),
        )
        _lon_raw(self.longitude)
        _lat_raw(self.latitude)
        _check(self.horizontal_velocity, 7, "horizontal velocity")
        _check(self.direction_of_travel, 4, "direction of travel")
        _check(self.reason_or_data, 8, "additional data")

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
            longitude=_lon_raw(longitude) * _LON_STEP,
            latitude=_lat_raw(latitude) * _LAT_STEP,
            position_error=position_error,
            horizontal_velocity=velocity_code(speed_kmh),
            direction_of_travel=round(_finite(direction_deg) / 22.5) % 16,
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
        return _reason_name(self.additional_data_type, self.reason_or_data)

    def encode(self) -> bytes:
        """The PDU, PID included (84 bits, sent as 11 bytes with 4 zero padding bits)."""
        return encode_lip(self)


@dataclass(frozen=True, slots=True)
class TimeOfPosition:
    """When the position was taken (UTC day of month, hour, minute, second)."""

    day: int
    hour: int
    minute: int
    second: int

    def __post_init__(self) -> None:
        for name, top in (("day", 31), ("hour", 23), ("minute", 59), ("second", 59)):
            value = getattr(self, name)
            if not 0 <= value <= top:
                raise ProtocolError(f"LIP time of position {name} {value} is outside 0..{top}")


def _check_shape(shape: Any) -> None:
    _lon_raw(shape.longitude)
    _lat_raw(shape.latitude)
    if hasattr(shape, "uncertainty"):
        _check(shape.uncertainty, 6, "horizontal position uncertainty")
    if hasattr(shape, "altitude"):
        _check(shape.altitude, 11, "altitude")
        altitude_type = _enum(AltitudeType, shape.altitude_type, "altitude type")
        object.__setattr__(shape, "altitude_type", altitude_type)
    if hasattr(shape, "position_error"):
        error = _enum(PositionError, shape.position_error, "position error")
        object.__setattr__(shape, "position_error", error)


@dataclass(frozen=True, slots=True)
class LocationPoint:
    """Shape 1: a point in degrees."""

    longitude: float
    latitude: float

    def __post_init__(self) -> None:
        _check_shape(self)


@dataclass(frozen=True, slots=True)
class LocationCircle:
    """Shape 2: a point with the 6-bit horizontal position uncertainty code as sent."""

    longitude: float
    latitude: float
    uncertainty: int

    def __post_init__(self) -> None:
        _check_shape(self)


@dataclass(frozen=True, slots=True)
class LocationPointWithAltitude:
    """Shape 4: a point with the 11-bit altitude code as sent (see ``altitude_m``)."""

    longitude: float
    latitude: float
    altitude_type: AltitudeType
    altitude: int

    def __post_init__(self) -> None:
        _check_shape(self)

    @property
    def altitude_m(self) -> int | None:
        """Altitude in metres (1 m steps to 1000 m, then 2 m to 2450 m, then 75 m); None for 0."""
        return _altitude_m(self.altitude)


@dataclass(frozen=True, slots=True)
class LocationCircleWithAltitude:
    """Shape 5: a circle (uncertainty code) with an altitude code."""

    longitude: float
    latitude: float
    uncertainty: int
    altitude_type: AltitudeType
    altitude: int

    def __post_init__(self) -> None:
        _check_shape(self)

    @property
    def altitude_m(self) -> int | None:
        """Altitude in metres, as for ``LocationPointWithAltitude``."""
        return _altitude_m(self.altitude)


@dataclass(frozen=True, slots=True)
class LocationPointWithPositionError:
    """Shape 10: a point with the 3-bit position error of the short report."""

    longitude: float
    latitude: float
    position_error: PositionError

    def __post_init__(self) -> None:
        _check_shape(self)


LocationShape = (
    LocationPoint
    | LocationCircle
    | LocationPointWithAltitude
    | LocationCircleWithAltitude
    | LocationPointWithPositionError
)
_SHAPE_CODES: dict[type[Any], int] = {
    LocationPoint: 1,
    LocationCircle: 2,
    LocationPointWithAltitude: 4,
    LocationCircleWithAltitude: 5,
    LocationPointWithPositionError: 10,
}
_SHAPE_CLASSES = {code: kind for kind, code in _SHAPE_CODES.items()}


@dataclass(frozen=True, slots=True)
class Velocity:
    """Velocity data of a long report: the codes as sent, present as ``velocity_type`` says.

    ``horizontal`` and ``vertical`` use the 7-bit speed code; ``vertical_downward`` is the
    direction of the vertical velocity; ``direction_extended`` is 8 bits of 360/256 degrees.
    """

    velocity_type: VelocityType = VelocityType.NONE
    horizontal: int | None = None
    vertical: int | None = None
    vertical_downward: bool | None = None
    direction_extended: int | None = None

    def __post_init__(self) -> None:
        kind = _enum(VelocityType, self.velocity_type, "velocity type")
        object.__setattr__(self, "velocity_type", kind)
        if kind not in _SUPPORTED_VELOCITY:
            raise ProtocolError(
                f"LIP velocity type {int(kind)} ({kind.name.lower()}) is not supported"
            )
        wanted = {
            "horizontal": kind != VelocityType.NONE,
            "vertical": kind == VelocityType.HORIZONTAL_AND_VERTICAL,
            "vertical_downward": kind == VelocityType.HORIZONTAL_AND_VERTICAL,
            "direction_extended": kind == VelocityType.HORIZONTAL_WITH_DIRECTION,
        }
        for name, present in wanted.items():
            if (getattr(self, name) is not None) != present:
                state = "needs" if present else "has no"
                raise ProtocolError(f"LIP velocity type {kind.name.lower()} {state} {name}")
        for name, bits in (("horizontal", 7), ("vertical", 7), ("direction_extended", 8)):
            value = getattr(self, name)
            if value is not None:
                _check(value, bits, f"velocity {name}")


@dataclass(frozen=True, slots=True)
class LipLongReport:
    """A long location report (see the module docstring for what is supported).

    ``time`` is None (no time data), a ``TimeElapsed`` or a ``TimeOfPosition``;
    ``location`` is None for "no shape".
    """

    time: TimeElapsed | TimeOfPosition | None
    location: LocationShape | None
    velocity: Velocity
    ack_request: bool
    additional_data_type: AdditionalDataType
    reason_or_data: int

    def __post_init__(self) -> None:
        if self.time is not None and not isinstance(self.time, TimeOfPosition):
            object.__setattr__(self, "time", _enum(TimeElapsed, self.time, "time elapsed"))
        object.__setattr__(
            self,
            "additional_data_type",
            _enum(AdditionalDataType, self.additional_data_type, "type of additional data"),
        )
        _check(self.reason_or_data, 8, "additional data")

    @classmethod
    def from_position(
        cls,
        latitude: float,
        longitude: float,
        *,
        time: TimeElapsed | TimeOfPosition | None = TimeElapsed.LESS_THAN_5_S,
        speed_kmh: float | None = None,
        direction_deg: float | None = None,
        reason: int = ReasonForSending.MAX_INTERVAL,
        ack_request: bool = False,
    ) -> LipLongReport:
        """A point report; a speed adds horizontal velocity (and a direction, if given)."""
        point = LocationPoint(_lon_raw(longitude) * _LON_STEP, _lat_raw(latitude) * _LAT_STEP)
        if speed_kmh is None:
            velocity = Velocity()
        elif direction_deg is None:
            velocity = Velocity(VelocityType.HORIZONTAL, horizontal=velocity_code(speed_kmh))
        else:
            velocity = Velocity(
                VelocityType.HORIZONTAL_WITH_DIRECTION,
                horizontal=velocity_code(speed_kmh),
                direction_extended=round(_finite(direction_deg) * 256 / 360) % 256,
            )
        return cls(
            time, point, velocity, ack_request, AdditionalDataType.REASON_FOR_SENDING, reason
        )

    @property
    def longitude(self) -> float | None:
        """Longitude of the shape's point in degrees, None without a location."""
        return None if self.location is None else self.location.longitude

    @property
    def latitude(self) -> float | None:
        """Latitude of the shape's point in degrees, None without a location."""
        return None if self.location is None else self.location.latitude

    @property
    def velocity_kmh(self) -> float | None:
        """Horizontal speed in km/h; None when absent or unknown."""
        code = self.velocity.horizontal
        return None if code is None else velocity_kmh(code)

    @property
    def direction_deg(self) -> float | None:
        """Direction of travel in degrees when the report carries one."""
        code = self.velocity.direction_extended
        return None if code is None else code * 360 / 256

    @property
    def reason_name(self) -> str | None:
        """snake_case name of the reason for sending; None for user data or an unnamed code."""
        return _reason_name(self.additional_data_type, self.reason_or_data)

    def encode(self) -> bytes:
        """The PDU, PID included, zero-padded to whole bytes."""
        return encode_lip(self)


LipReport = LipShortReport | LipLongReport


def _reason_name(kind: AdditionalDataType, code: int) -> str | None:
    if kind != AdditionalDataType.REASON_FOR_SENDING:
        return None
    try:
        return ReasonForSending(code).name.lower()
    except ValueError:
        return None


# ---- bit layouts (construct, at bit level: one stream byte per bit) -----------------------

_LON = "longitude" / cs.BitsInteger(25, signed=True)
_LAT = "latitude" / cs.BitsInteger(24, signed=True)
_UNCERTAINTY = "uncertainty" / cs.BitsInteger(6)
_ALTITUDE = ("altitude_type" / cs.BitsInteger(1), "altitude" / cs.BitsInteger(11))

_SHORT = cs.Struct(
    "pid" / cs.BitsInteger(8),
    "pdu_type" / cs.BitsInteger(2),
    "time_elapsed" / cs.BitsInteger(2),
    _LON,
    _LAT,
    "position_error" / cs.BitsInteger(3),
    "horizontal_velocity" / cs.BitsInteger(7),
    "direction_of_travel" / cs.BitsInteger(4),
    "additional_data_type" / cs.BitsInteger(1),
    "reason_or_data" / cs.BitsInteger(8),
)

_SHAPES = {
    1: cs.Struct(_LON, _LAT),
    2: cs.Struct(_LON, _LAT, _UNCERTAINTY),
    4: cs.Struct(_LON, _LAT, *_ALTITUDE),
    5: cs.Struct(_LON, _LAT, _UNCERTAINTY, *_ALTITUDE),
    10: cs.Struct(_LON, _LAT, "position_error" / cs.BitsInteger(3)),
}
_VELOCITIES = {
    1: cs.Struct("horizontal" / cs.BitsInteger(7)),
    3: cs.Struct(
        "horizontal" / cs.BitsInteger(7),
        "vertical_downward" / cs.BitsInteger(1),
        "vertical" / cs.BitsInteger(7),
    ),
    5: cs.Struct("horizontal" / cs.BitsInteger(7), "direction_extended" / cs.BitsInteger(8)),
}
_TIME_OF_POSITION = cs.Struct(
    "day" / cs.BitsInteger(5),
    "hour" / cs.BitsInteger(5),
    "minute" / cs.BitsInteger(6),
    "second" / cs.BitsInteger(6),
)

# StopIf ends parsing at an unsupported code so that the error can name it.
_LONG = cs.Struct(
    "pid" / cs.BitsInteger(8),
    "pdu_type" / cs.BitsInteger(2),
    "extension" / cs.BitsInteger(4),
    "time_type" / cs.BitsInteger(2),
    cs.StopIf(cs.this.time_type == 3),
    "time" / cs.Switch(cs.this.time_type, {1: cs.BitsInteger(2), 2: _TIME_OF_POSITION}),
    "shape" / cs.BitsInteger(4),
    cs.StopIf(lambda ctx: ctx.shape != 0 and ctx.shape not in _SHAPES),
    "location" / cs.Switch(cs.this.shape, _SHAPES),
    "velocity_type" / cs.BitsInteger(3),
    cs.StopIf(lambda ctx: ctx.velocity_type not in _SUPPORTED_VELOCITY),
    "velocity" / cs.Switch(cs.this.velocity_type, _VELOCITIES),
    "ack_request" / cs.BitsInteger(1),
    "additional_data_type" / cs.BitsInteger(1),
    "reason_or_data" / cs.BitsInteger(8),
)


# ---- decode ------------------------------------------------------------------------------


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
    if extension != _LONG_EXTENSION:
        raise ProtocolError(
            f"LIP PDU type extension {extension} is not supported (only 3, long location report)"
        )
    try:
        fields = _LONG.parse(stream)
    except cs.ConstructError:
        raise ProtocolError(f"LIP long location report is truncated at {bits} bits") from None
    return _long_from(fields)


def _short_from(c: Any) -> LipShortReport:
    return LipShortReport(
        time_elapsed=c.time_elapsed,
        longitude=c.longitude * _LON_STEP,
        latitude=c.latitude * _LAT_STEP,
        position_error=c.position_error,
        horizontal_velocity=c.horizontal_velocity,
        direction_of_travel=c.direction_of_travel,
        additional_data_type=c.additional_data_type,
        reason_or_data=c.reason_or_data,
    )


def _long_from(c: Any) -> LipLongReport:
    if c.time_type == 3:
        raise ProtocolError("LIP time type 3 is not supported (reserved)")
    if "location" not in c:
        name = _SHAPE_NAMES.get(c.shape, "reserved")
        raise ProtocolError(f"LIP location shape {c.shape} ({name}) is not supported")
    if "velocity" not in c:
        kind = VelocityType(c.velocity_type)
        raise ProtocolError(
            f"LIP velocity type {c.velocity_type} ({kind.name.lower()}) is not supported"
        )
    time: TimeElapsed | TimeOfPosition | None = None
    if c.time_type == 1:
        time = TimeElapsed(c.time)
    elif c.time_type == 2:
        time = TimeOfPosition(c.time.day, c.time.hour, c.time.minute, c.time.second)
    location: LocationShape | None = None
    if c.shape:
        loc = c.location
        extra = {k: v for k, v in loc.items() if k not in ("_io", "longitude", "latitude")}
        location = _SHAPE_CLASSES[c.shape](
            longitude=loc.longitude * _LON_STEP, latitude=loc.latitude * _LAT_STEP, **extra
        )
    velocity = Velocity()
    if c.velocity is not None:
        v = c.velocity
        velocity = Velocity(
            VelocityType(c.velocity_type),
            horizontal=v.horizontal,
            vertical=v.get("vertical"),
            vertical_downward=None if "vertical_downward" not in v else bool(v.vertical_downward),
            direction_extended=v.get("direction_extended"),
        )
    return LipLongReport(
        time=time,
        location=location,
        velocity=velocity,
        ack_request=bool(c.ack_request),
        additional_data_type=c.additional_data_type,
        reason_or_data=c.reason_or_data,
    )


# ---- encode ------------------------------------------------------------------------------


def _bits_of(report: LipReport) -> bytes:
    if isinstance(report, LipShortReport):
        return bytes(
            _SHORT.build(
                {
                    "pid": LIP_PID,
                    "pdu_type": 0,
                    "time_elapsed": report.time_elapsed,
                    "longitude": _lon_raw(report.longitude),
                    "latitude": _lat_raw(report.latitude),
                    "position_error": report.position_error,
                    "horizontal_velocity": report.horizontal_velocity,
                    "direction_of_travel": report.direction_of_travel,
                    "additional_data_type": report.additional_data_type,
                    "reason_or_data": report.reason_or_data,
                }
            )
        )
    pdu: dict[str, Any] = {"pid": LIP_PID, "pdu_type": 1, "extension": _LONG_EXTENSION}
    if report.time is None:
        pdu.update(time_type=0, time=None)
    elif isinstance(report.time, TimeOfPosition):
        t = report.time
        pdu.update(
            time_type=2, time={"day": t.day, "hour": t.hour, "minute": t.minute, "second": t.second}
        )
    else:
        pdu.update(time_type=1, time=int(report.time))
    loc = report.location
    if loc is None:
        pdu.update(shape=0, location=None)
    else:
        shape = {
            f.name: int(getattr(loc, f.name))
            for f in fields(loc)
            if f.name not in ("longitude", "latitude")
        }
        shape.update(longitude=_lon_raw(loc.longitude), latitude=_lat_raw(loc.latitude))
        pdu.update(shape=_SHAPE_CODES[type(loc)], location=shape)
    v = report.velocity
    pdu["velocity_type"] = int(v.velocity_type)
    pdu["velocity"] = {
        "horizontal": v.horizontal,
        "vertical": v.vertical,
        "vertical_downward": None if v.vertical_downward is None else int(v.vertical_downward),
        "direction_extended": v.direction_extended,
    }
    pdu.update(
        ack_request=int(report.ack_request),
        additional_data_type=int(report.additional_data_type),
        reason_or_data=report.reason_or_data,
    )
    return bytes(_LONG.build(pdu))


def encode_lip(report: LipReport) -> bytes:
    """The PDU as bytes, PID 0x0A first, zero-padded to a whole byte."""
    bits = _bits_of(report)
    return bytes(bits2bytes(bits + b"\x00" * (-len(bits) % 8)))


def lip_length_bits(report: LipReport) -> int:
    """The length to declare in ``AT+CMGS`` for this report (84 for a short report)."""
    return len(_bits_of(report))
