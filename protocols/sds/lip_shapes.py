"""LIP location shapes of the long location report (TS 100 392-18-1 clause 6.3).

Supported: 1 point, 2 circle (point with horizontal uncertainty), 4 point with altitude,
5 circle with altitude, 10 point with position error (shape 0, "no shape", is a report
without a location). Shapes 3, 6-9 and 11-15 are not; ``shape_name`` names them so that
the error can. The altitude layout (altitude type 1 bit, altitude 11 bits) follows our
reading of clause 6.3 and is checked against our own encoder only.

Internal module of ``protocols.sds.lip_long``; the shape classes and ``AltitudeType`` are
re-exported by ``protocols.sds.lip``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Any, Final

import construct as cs

from protocols.sds.lip_elements import (
    LATITUDE_FIELD,
    LATITUDE_STEP,
    LONGITUDE_FIELD,
    LONGITUDE_STEP,
    PositionError,
    as_enum,
    check_bits,
    latitude_code,
    longitude_code,
)

__all__ = [
    "SHAPE_LAYOUTS",
    "AltitudeType",
    "LocationCircle",
    "LocationCircleWithAltitude",
    "LocationPoint",
    "LocationPointWithAltitude",
    "LocationPointWithPositionError",
    "LocationShape",
    "shape_code",
    "shape_fields",
    "shape_from_fields",
    "shape_name",
]


class AltitudeType(IntEnum):
    """Reference of a location altitude."""

    ABOVE_WGS84_ELLIPSOID = 0
    ABOVE_MEAN_SEA_LEVEL = 1


_SHAPE_NAMES = {
    3: "location ellipse",
    6: "location ellipse with altitude",
    7: "location circle with altitude and altitude uncertainty",
    8: "location ellipse with altitude and altitude uncertainty",
    9: "location arc",
    15: "location shape extension",
}


class _Shape:
    """Checks every location shape makes on construction: the coordinates, and the codes
    of the fields the shape has (uncertainty, altitude, position error)."""

    __slots__ = ()

    def __post_init__(self) -> None:
        shape: Any = self
        longitude_code(shape.longitude)
        latitude_code(shape.latitude)
        if hasattr(shape, "uncertainty"):
            check_bits(shape.uncertainty, 6, "horizontal position uncertainty")
        if hasattr(shape, "altitude"):
            check_bits(shape.altitude, 11, "altitude")
            altitude_type = as_enum(AltitudeType, shape.altitude_type, "altitude type")
            object.__setattr__(shape, "altitude_type", altitude_type)
        if hasattr(shape, "position_error"):
            error = as_enum(PositionError, shape.position_error, "position error")
            object.__setattr__(shape, "position_error", error)


class _ShapeWithAltitude(_Shape):
    __slots__ = ()
    altitude: int

    @property
    def altitude_m(self) -> int | None:
        """Altitude in metres (1 m steps to 1000 m, then 2 m to 2450 m, then 75 m); None for 0."""
        # 1 m steps from -200 m to 1000 m, 2 m steps to 2450 m, 75 m steps to 11525 m; 0 reserved.
        code = self.altitude
        if code == 0:
            return None
        if code <= 1201:
            return code - 201
        if code <= 1926:
            return 1000 + 2 * (code - 1201)
        return 2450 + 75 * (code - 1926)


@dataclass(frozen=True, slots=True)
class LocationPoint(_Shape):
    """Shape 1: a point in degrees."""

    longitude: float
    latitude: float


@dataclass(frozen=True, slots=True)
class LocationCircle(_Shape):
    """Shape 2: a point with the 6-bit horizontal position uncertainty code as sent."""

    longitude: float
    latitude: float
    uncertainty: int


@dataclass(frozen=True, slots=True)
class LocationPointWithAltitude(_ShapeWithAltitude):
    """Shape 4: a point with the 11-bit altitude code as sent (see ``altitude_m``)."""

    longitude: float
    latitude: float
    altitude_type: AltitudeType
    altitude: int


@dataclass(frozen=True, slots=True)
class LocationCircleWithAltitude(_ShapeWithAltitude):
    """Shape 5: a circle (uncertainty code) with an altitude code (see ``altitude_m``)."""

    longitude: float
    latitude: float
    uncertainty: int
    altitude_type: AltitudeType
    altitude: int


@dataclass(frozen=True, slots=True)
class LocationPointWithPositionError(_Shape):
    """Shape 10: a point with the 3-bit position error of the short report."""

    longitude: float
    latitude: float
    position_error: PositionError


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


# construct, at bit level: one stream byte per bit.
_UNCERTAINTY = "uncertainty" / cs.BitsInteger(6)
_ALTITUDE = ("altitude_type" / cs.BitsInteger(1), "altitude" / cs.BitsInteger(11))
SHAPE_LAYOUTS: Final = {
    1: cs.Struct(LONGITUDE_FIELD, LATITUDE_FIELD),
    2: cs.Struct(LONGITUDE_FIELD, LATITUDE_FIELD, _UNCERTAINTY),
    4: cs.Struct(LONGITUDE_FIELD, LATITUDE_FIELD, *_ALTITUDE),
    5: cs.Struct(LONGITUDE_FIELD, LATITUDE_FIELD, _UNCERTAINTY, *_ALTITUDE),
    10: cs.Struct(LONGITUDE_FIELD, LATITUDE_FIELD, "position_error" / cs.BitsInteger(3)),
}


def shape_name(code: int) -> str:
    """The standard's name of an unsupported shape code ("reserved" if it has none)."""
    return _SHAPE_NAMES.get(code, "reserved")


def shape_code(shape: LocationShape) -> int:
    """The 4-bit location shape code of ``shape``."""
    return _SHAPE_CODES[type(shape)]


def shape_fields(shape: LocationShape) -> dict[str, int]:
    """The values to build ``SHAPE_LAYOUTS[shape_code(shape)]`` from (coordinates as codes)."""
    values = {
        f.name: int(getattr(shape, f.name))
        for f in fields(shape)
        if f.name not in ("longitude", "latitude")
    }
    values.update(longitude=longitude_code(shape.longitude), latitude=latitude_code(shape.latitude))
    return values


def shape_from_fields(code: int, parsed: Any) -> LocationShape:
    """The shape of a supported ``code`` from what ``SHAPE_LAYOUTS[code]`` parsed."""
    extra = {k: v for k, v in parsed.items() if k not in ("_io", "longitude", "latitude")}
    shape: LocationShape = _SHAPE_CLASSES[code](
        longitude=parsed.longitude * LONGITUDE_STEP,
        latitude=parsed.latitude * LATITUDE_STEP,
        **extra,
    )
    return shape
