"""The LIP long location report (TS 100 392-18-1, PDU type 1, extension 0011).

Supported, decode and encode:

* time data: none, time elapsed, time of position (day, hour, minute, second);
* location shapes (``protocols.sds.lip_shapes``): 0 no shape, 1 point, 2 circle (point
  with horizontal uncertainty), 4 point with altitude, 5 circle with altitude, 10 point
  with position error;
* velocity types: 0 none, 1 horizontal, 3 horizontal and vertical,
  5 horizontal with direction of travel extended;
* acknowledgement request and the reason for sending (or user-defined data).

Time type 3, location shapes 3, 6–9 and 11–15 and velocity types 2, 4, 6, 7 (the ones
with uncertainties) raise ``ProtocolError`` naming the unsupported element. Optional
elements after the reason for sending are not decoded and are ignored.

The bit layout of velocity type 3 (horizontal 7, direction of vertical velocity 1,
vertical 7) follows our reading of TS 100 392-18-1 clause 6.3; it is checked against our
own encoder only (as is the altitude, see ``lip_shapes``).

Import these names from ``protocols.sds.lip``, which re-exports them and holds the
``decode_lip``/``encode_lip`` entry points that read the PID and PDU type first.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

import construct as cs

from protocols.errors import ProtocolError
from protocols.sds.lip_elements import (
    LATITUDE_STEP,
    LIP_PID,
    LONGITUDE_STEP,
    AdditionalDataType,
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
from protocols.sds.lip_shapes import (
    SHAPE_LAYOUTS,
    LocationPoint,
    LocationShape,
    shape_code,
    shape_fields,
    shape_from_fields,
    shape_name,
)

__all__ = [
    "LONG_EXTENSION",
    "LipLongReport",
    "TimeOfPosition",
    "Velocity",
    "VelocityType",
    "decode_long_report",
    "long_report_bits",
]

LONG_EXTENSION: Final = 0b0011
"""PDU type extension of the long location report."""


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
        kind = as_enum(VelocityType, self.velocity_type, "velocity type")
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
                check_bits(value, bits, f"velocity {name}")


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
            object.__setattr__(self, "time", as_enum(TimeElapsed, self.time, "time elapsed"))
        object.__setattr__(
            self,
            "additional_data_type",
            as_enum(AdditionalDataType, self.additional_data_type, "type of additional data"),
        )
        check_bits(self.reason_or_data, 8, "additional data")

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
        point = LocationPoint(
            longitude_code(longitude) * LONGITUDE_STEP, latitude_code(latitude) * LATITUDE_STEP
        )
        if speed_kmh is None:
            velocity = Velocity()
        elif direction_deg is None:
            velocity = Velocity(VelocityType.HORIZONTAL, horizontal=velocity_code(speed_kmh))
        else:
            velocity = Velocity(
                VelocityType.HORIZONTAL_WITH_DIRECTION,
                horizontal=velocity_code(speed_kmh),
                direction_extended=round(finite_degrees(direction_deg) * 256 / 360) % 256,
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
        return reason_name(self.additional_data_type, self.reason_or_data)

    def encode(self) -> bytes:
        """The PDU, PID included, zero-padded to whole bytes."""
        return pad_to_bytes(long_report_bits(self))


# ---- bit layout (construct, at bit level: one stream byte per bit) ------------------------

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
    cs.StopIf(lambda ctx: ctx.shape != 0 and ctx.shape not in SHAPE_LAYOUTS),
    "location" / cs.Switch(cs.this.shape, SHAPE_LAYOUTS),
    "velocity_type" / cs.BitsInteger(3),
    cs.StopIf(lambda ctx: ctx.velocity_type not in _SUPPORTED_VELOCITY),
    "velocity" / cs.Switch(cs.this.velocity_type, _VELOCITIES),
    "ack_request" / cs.BitsInteger(1),
    "additional_data_type" / cs.BitsInteger(1),
    "reason_or_data" / cs.BitsInteger(8),
)


# ---- decode ------------------------------------------------------------------------------


def decode_long_report(stream: bytes, bits: int) -> LipLongReport:
    """Decode the bit stream (one byte per bit, ``bits`` of them) of a PDU whose PID, PDU
    type and extension the caller has checked. Raises ``ProtocolError``."""
    try:
        c = _LONG.parse(stream)
    except cs.ConstructError:
        raise ProtocolError(f"LIP long location report is truncated at {bits} bits") from None
    if c.time_type == 3:
        raise ProtocolError("LIP time type 3 is not supported (reserved)")
    if "location" not in c:
        name = shape_name(c.shape)
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
    location = shape_from_fields(c.shape, c.location) if c.shape else None
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


def long_report_bits(report: LipLongReport) -> bytes:
    """The PDU, PID first, as a construct bit stream (one byte per bit, not padded)."""
    pdu: dict[str, Any] = {"pid": LIP_PID, "pdu_type": 1, "extension": LONG_EXTENSION}
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
        pdu.update(shape=shape_code(loc), location=shape_fields(loc))
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
