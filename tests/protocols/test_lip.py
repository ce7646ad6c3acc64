"""LIP (TS 100 392-18-1): one table of vectors drives the decoder and the encoder.

The vectors' bytes are packed here field by field with a tiny independent bit packer, so
the construct layouts in ``protocols.sds.lip`` are checked against the field tables of the
standard, not against themselves.
"""

from __future__ import annotations

import contextlib
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.errors import ProtocolError
from protocols.payload import payload_from_hex
from protocols.sds.lip import (
    LIP_SHORT_BITS,
    AdditionalDataType,
    AltitudeType,
    LipLongReport,
    LipShortReport,
    LocationCircle,
    LocationCircleWithAltitude,
    LocationPoint,
    LocationPointWithAltitude,
    LocationPointWithPositionError,
    PositionError,
    ReasonForSending,
    TimeElapsed,
    TimeOfPosition,
    Velocity,
    VelocityType,
    decode_lip,
    encode_lip,
    lip_length_bits,
    velocity_code,
    velocity_kmh,
)

LON = 360 / 2**25
LAT = 180 / 2**24


def pack(*fields: tuple[int, int]) -> tuple[bytes, int]:
    """(value, width) fields, MSB first, two's complement for negatives → (bytes, bit count)."""
    acc = 0
    bits = 0
    for value, width in fields:
        acc = (acc << width) | (value & ((1 << width) - 1))
        bits += width
    pad = -bits % 8
    return (acc << pad).to_bytes((bits + pad) // 8, "big"), bits


def point(lon_raw: int, lat_raw: int) -> tuple[tuple[int, int], ...]:
    return ((lon_raw, 25), (lat_raw, 24))


PID = (0x0A, 8)
LONG_HEAD = (PID, (1, 2), (0b0011, 4))

# (id, (bytes, bits), report)
VECTORS: list[tuple[str, tuple[bytes, int], LipShortReport | LipLongReport]] = [
    (
        "short-worked-example",
        (bytes.fromhex("0A0088BD4247F737FFE810"), 84),
        LipShortReport(
            TimeElapsed.LESS_THAN_5_S,
            1_120_168 * LON,
            4_783_846 * LAT,
            PositionError.UNKNOWN,
            127,
            15,
            AdditionalDataType.REASON_FOR_SENDING,
            129,
        ),
    ),
    (
        "short-south-west-moving",
        pack(
            PID,
            (0, 2),
            (2, 2),
            *point(-2_000_000, -3_000_000),
            (2, 3),
            (28, 7),
            (4, 4),
            (0, 1),
            (3, 8),
        ),
        LipShortReport(
            TimeElapsed.LESS_THAN_30_MIN,
            -2_000_000 * LON,
            -3_000_000 * LAT,
            PositionError.LESS_THAN_200_M,
            28,
            4,
            AdditionalDataType.REASON_FOR_SENDING,
            ReasonForSending.PTT,
        ),
    ),
    (
        "short-user-defined-data",
        pack(
            PID,
            (0, 2),
            (3, 2),
            *point(2**24 - 1, -(2**23)),
            (0, 3),
            (0, 7),
            (0, 4),
            (1, 1),
            (0xAB, 8),
        ),
        LipShortReport(
            TimeElapsed.UNKNOWN,
            (2**24 - 1) * LON,
            -90.0,
            PositionError.LESS_THAN_2_M,
            0,
            0,
            AdditionalDataType.USER_DEFINED,
            0xAB,
        ),
    ),
    (
        "long-elapsed-point-no-velocity",
        pack(
            *LONG_HEAD,
            (1, 2),
            (1, 2),
            (1, 4),
            *point(1_000, 2_000),
            (0, 3),
            (0, 1),
            (0, 1),
            (129, 8),
        ),
        LipLongReport(
            TimeElapsed.LESS_THAN_5_MIN,
            LocationPoint(1_000 * LON, 2_000 * LAT),
            Velocity(),
            ack_request=False,
            additional_data_type=AdditionalDataType.REASON_FOR_SENDING,
            reason_or_data=129,
        ),
    ),
    (
        "long-time-of-position-circle-horizontal-ack",
        pack(
            *LONG_HEAD,
            (2, 2),
            (21, 5),
            (22, 5),
            (19, 6),
            (5, 6),
            (2, 4),
            *point(-5, 7),
            (33, 6),
            (1, 3),
            (60, 7),
            (1, 1),
            (0, 1),
            (2, 8),
        ),
        LipLongReport(
            TimeOfPosition(21, 22, 19, 5),
            LocationCircle(-5 * LON, 7 * LAT, 33),
            Velocity(VelocityType.HORIZONTAL, horizontal=60),
            ack_request=True,
            additional_data_type=AdditionalDataType.REASON_FOR_SENDING,
            reason_or_data=ReasonForSending.EMERGENCY,
        ),
    ),
    (
        "long-no-time-point-altitude-vertical-velocity",
        pack(
            *LONG_HEAD,
            (0, 2),
            (4, 4),
            *point(123_456, -654_321),
            (1, 1),
            (301, 11),
            (3, 3),
            (10, 7),
            (1, 1),
            (5, 7),
            (0, 1),
            (1, 1),
            (0x5A, 8),
        ),
        LipLongReport(
            None,
            LocationPointWithAltitude(
                123_456 * LON, -654_321 * LAT, AltitudeType.ABOVE_MEAN_SEA_LEVEL, 301
            ),
            Velocity(
                VelocityType.HORIZONTAL_AND_VERTICAL,
                horizontal=10,
                vertical=5,
                vertical_downward=True,
            ),
            ack_request=False,
            additional_data_type=AdditionalDataType.USER_DEFINED,
            reason_or_data=0x5A,
        ),
    ),
    (
        "long-circle-altitude-direction",
        pack(
            *LONG_HEAD,
            (1, 2),
            (0, 2),
            (5, 4),
            *point(-(2**24), 2**23 - 1),
            (63, 6),
            (0, 1),
            (1500, 11),
            (5, 3),
            (100, 7),
            (192, 8),
            (0, 1),
            (0, 1),
            (130, 8),
        ),
        LipLongReport(
            TimeElapsed.LESS_THAN_5_S,
            LocationCircleWithAltitude(
                -180.0, (2**23 - 1) * LAT, 63, AltitudeType.ABOVE_WGS84_ELLIPSOID, 1500
            ),
            Velocity(
                VelocityType.HORIZONTAL_WITH_DIRECTION, horizontal=100, direction_extended=192
            ),
            ack_request=False,
            additional_data_type=AdditionalDataType.REASON_FOR_SENDING,
            reason_or_data=130,
        ),
    ),
    (
        "long-no-shape",
        pack(*LONG_HEAD, (1, 2), (3, 2), (0, 4), (0, 3), (0, 1), (0, 1), (10, 8)),
        LipLongReport(
            TimeElapsed.UNKNOWN,
            None,
            Velocity(),
            ack_request=False,
            additional_data_type=AdditionalDataType.REASON_FOR_SENDING,
            reason_or_data=ReasonForSending.SERVICE_LOSS,
        ),
    ),
    (
        "long-point-with-position-error",
        pack(*LONG_HEAD, (0, 2), (10, 4), *point(42, -42), (3, 3), (0, 3), (0, 1), (0, 1), (32, 8)),
        LipLongReport(
            None,
            LocationPointWithPositionError(42 * LON, -42 * LAT, PositionError.LESS_THAN_2_KM),
            Velocity(),
            ack_request=False,
            additional_data_type=AdditionalDataType.REASON_FOR_SENDING,
            reason_or_data=ReasonForSending.LOCATION_REQUEST_REPLY,
        ),
    ),
]
IDS = [v[0] for v in VECTORS]


@pytest.mark.parametrize(("name", "wire", "report"), VECTORS, ids=IDS)
def test_vector_decodes_to_its_report(
    name: str, wire: tuple[bytes, int], report: LipShortReport | LipLongReport
) -> None:
    data, bits = wire
    assert decode_lip(data, bits) == report
    assert decode_lip(data) == report


@pytest.mark.parametrize(("name", "wire", "report"), VECTORS, ids=IDS)
def test_vector_with_trailing_bytes_decodes_to_its_report(
    name: str, wire: tuple[bytes, int], report: LipShortReport | LipLongReport
) -> None:
    data, bits = wire
    assert decode_lip(data + b"\xff\x00\xa5", bits) == report
    assert decode_lip(data + b"\xff\x00\xa5") == report


@pytest.mark.parametrize(("name", "wire", "report"), VECTORS, ids=IDS)
def test_vector_encodes_to_its_bytes_and_length(
    name: str, wire: tuple[bytes, int], report: LipShortReport | LipLongReport
) -> None:
    data, bits = wire
    assert encode_lip(report) == data
    assert report.encode() == data
    assert lip_length_bits(report) == bits


def test_worked_example_reads_as_the_reference_says() -> None:
    report = decode_lip(payload_from_hex("0A0088BD4247F737FFE810", 84), 84)
    assert isinstance(report, LipShortReport)
    assert round(report.longitude, 6) == 12.018099
    assert round(report.latitude, 6) == 51.325099
    assert report.time_elapsed is TimeElapsed.LESS_THAN_5_S
    assert report.position_error is PositionError.UNKNOWN
    assert report.error_m is None
    assert report.velocity_kmh is None
    assert report.reason_or_data == 129
    assert report.reason_name == "max_interval"


@pytest.mark.parametrize("digits", ["0A0088BD4247F737FFE810", "0A0088BD4247F737FFE81"])
def test_84_bit_report_is_read_from_22_digits_motorola_and_21_digits_sepura(digits: str) -> None:
    report = decode_lip(payload_from_hex(digits, LIP_SHORT_BITS), LIP_SHORT_BITS)
    assert report == VECTORS[0][2]


def test_declared_length_shorter_than_a_short_report_is_refused() -> None:
    with pytest.raises(ProtocolError, match="84 bits"):
        decode_lip(bytes.fromhex("0A0088BD4247F737FFE810"), 80)


def test_declared_length_longer_than_the_payload_is_tolerated() -> None:
    assert decode_lip(bytes.fromhex("0A0088BD4247F737FFE810"), 96) == VECTORS[0][2]


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (pack(PID, (2, 2), (0, 6)), "PDU type 2"),
        (pack(PID, (1, 2), (4, 4), (0, 2)), "extension 4"),
        (pack(*LONG_HEAD, (3, 2), (0, 30)), "time type 3"),
        (pack(*LONG_HEAD, (0, 2), (3, 4), (0, 80)), r"shape 3 \(location ellipse\)"),
        (pack(*LONG_HEAD, (0, 2), (9, 4), (0, 80)), r"shape 9 \(location arc\)"),
        (
            pack(*LONG_HEAD, (0, 2), (0, 4), (2, 3), (0, 30)),
            r"velocity type 2 \(horizontal_with_uncertainty\)",
        ),
        (pack(*LONG_HEAD, (0, 2), (0, 4), (7, 3), (0, 60)), "velocity type 7"),
    ],
    ids=["pdu-type", "extension", "time-type", "ellipse", "arc", "velocity-2", "velocity-7"],
)
def test_unsupported_element_is_named_in_the_error(wire: tuple[bytes, int], message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        decode_lip(wire[0])


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "empty"),
        (b"\x82\x00", "protocol identifier 0x82"),
        (b"\x0a", "no PDU type"),
        (bytes.fromhex("0A0088BD4247F737"), "84 bits"),
        (bytes.fromhex("0A4D041E6F80"), "truncated"),
    ],
)
def test_bad_payload_is_a_protocol_error_saying_why(payload: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        decode_lip(payload)


def test_velocity_codes_follow_the_two_ranges() -> None:
    assert velocity_kmh(0) == 0
    assert velocity_kmh(28) == 28
    assert velocity_kmh(29) == pytest.approx(16 * 1.038**16)
    assert velocity_kmh(126) == pytest.approx(16 * 1.038**113)
    assert velocity_kmh(127) is None
    assert velocity_code(None) == 127
    assert velocity_code(28.4) == 28
    assert velocity_code(5000) == 126
    for code in range(127):
        assert velocity_code(velocity_kmh(code)) == code


def test_direction_error_and_altitude_properties() -> None:
    short = VECTORS[1][2]
    assert isinstance(short, LipShortReport)
    assert short.direction_deg == 90.0
    assert short.velocity_kmh == 28.0
    assert short.error_m == 200
    assert short.reason_name == "ptt"
    user = VECTORS[2][2]
    assert user.reason_name is None
    errors = [LipShortReport.from_position(0, 0, position_error=e).error_m for e in PositionError]
    assert errors == [2, 20, 200, 2_000, 20_000, 200_000, None, None]
    long = VECTORS[5][2]
    assert isinstance(long, LipLongReport)
    assert isinstance(long.location, LocationPointWithAltitude)
    assert long.location.altitude_m == 100
    assert long.velocity_kmh == 10.0
    assert long.direction_deg is None
    assert LocationPointWithAltitude(0, 0, AltitudeType.ABOVE_MEAN_SEA_LEVEL, 1).altitude_m == -200
    assert (
        LocationPointWithAltitude(0, 0, AltitudeType.ABOVE_MEAN_SEA_LEVEL, 1926).altitude_m == 2450
    )
    assert (
        LocationPointWithAltitude(0, 0, AltitudeType.ABOVE_MEAN_SEA_LEVEL, 2047).altitude_m == 11525
    )
    assert LocationPointWithAltitude(0, 0, AltitudeType.ABOVE_MEAN_SEA_LEVEL, 0).altitude_m is None
    circle = VECTORS[6][2]
    assert isinstance(circle, LipLongReport)
    assert circle.direction_deg == 270.0
    assert circle.reason_name == "max_distance"


def test_short_report_from_position_lands_within_a_step_of_the_position() -> None:
    report = LipShortReport.from_position(
        59.91273, 10.74609, speed_kmh=50, direction_deg=100, reason=ReasonForSending.STATUS
    )
    decoded = decode_lip(encode_lip(report))
    assert isinstance(decoded, LipShortReport)
    assert abs(decoded.latitude - 59.91273) <= LAT / 2
    assert abs(decoded.longitude - 10.74609) <= LON / 2
    assert decoded.velocity_kmh == pytest.approx(50, rel=0.02)
    assert decoded.direction_deg == 90.0
    assert decoded.reason_name == "status"


def test_long_report_from_position_carries_speed_and_heading() -> None:
    report = LipLongReport.from_position(-33.8568, 151.2153, speed_kmh=80, direction_deg=45)
    decoded = decode_lip(encode_lip(report))
    assert decoded == report
    assert isinstance(decoded, LipLongReport)
    assert decoded.latitude is not None
    assert abs(decoded.latitude + 33.8568) <= LAT / 2
    assert decoded.direction_deg == 45.0
    assert decoded.velocity_kmh == pytest.approx(80, rel=0.02)


def test_longitude_180_is_encoded_as_minus_180_and_latitude_90_as_the_top_step() -> None:
    decoded = decode_lip(encode_lip(LipShortReport.from_position(90, 180)))
    assert isinstance(decoded, LipShortReport)
    assert decoded.longitude == -180.0
    assert decoded.latitude == pytest.approx(90, abs=LAT)


@pytest.mark.parametrize(
    ("latitude", "longitude"), [(91, 0), (0, 180.5), (math.nan, 0), (0, -math.inf)]
)
def test_position_outside_the_globe_is_refused(latitude: float, longitude: float) -> None:
    with pytest.raises(ProtocolError):
        LipShortReport.from_position(latitude, longitude)


@pytest.mark.parametrize(
    ("speed", "heading"), [(math.inf, 0.0), (-1.0, 0.0), (math.nan, 0.0), (10.0, math.nan)]
)
def test_speed_or_heading_that_is_not_a_finite_number_is_refused(
    speed: float, heading: float
) -> None:
    with pytest.raises(ProtocolError):
        LipShortReport.from_position(0, 0, speed_kmh=speed, direction_deg=heading)
    with pytest.raises(ProtocolError):
        LipLongReport.from_position(0, 0, speed_kmh=speed, direction_deg=heading)


def test_out_of_range_fields_are_refused_when_building() -> None:
    with pytest.raises(ProtocolError, match="direction of travel"):
        LipShortReport(TimeElapsed.UNKNOWN, 0, 0, PositionError.UNKNOWN, 0, 16, 0, 0)  # type: ignore[arg-type]
    with pytest.raises(ProtocolError, match="time elapsed"):
        LipShortReport(9, 0, 0, PositionError.UNKNOWN, 0, 0, 0, 0)  # type: ignore[arg-type]
    with pytest.raises(ProtocolError, match="hour 24"):
        TimeOfPosition(1, 24, 0, 0)
    with pytest.raises(ProtocolError, match="uncertainty"):
        LocationCircle(0, 0, 64)
    with pytest.raises(ProtocolError, match="needs horizontal"):
        Velocity(VelocityType.HORIZONTAL)
    with pytest.raises(ProtocolError, match="not supported"):
        Velocity(VelocityType.HORIZONTAL_WITH_UNCERTAINTY, horizontal=1)


# ---- property-based --------------------------------------------------------------------

lon_raw = st.integers(-(2**24), 2**24 - 1)
lat_raw = st.integers(-(2**23), 2**23 - 1)

short_reports = st.builds(
    LipShortReport,
    time_elapsed=st.sampled_from(TimeElapsed),
    longitude=lon_raw.map(lambda r: r * LON),
    latitude=lat_raw.map(lambda r: r * LAT),
    position_error=st.sampled_from(PositionError),
    horizontal_velocity=st.integers(0, 127),
    direction_of_travel=st.integers(0, 15),
    additional_data_type=st.sampled_from(AdditionalDataType),
    reason_or_data=st.integers(0, 255),
)

coords = {"longitude": lon_raw.map(lambda r: r * LON), "latitude": lat_raw.map(lambda r: r * LAT)}
shapes = st.one_of(
    st.none(),
    st.builds(LocationPoint, **coords),
    st.builds(LocationCircle, **coords, uncertainty=st.integers(0, 63)),
    st.builds(
        LocationPointWithAltitude,
        **coords,
        altitude_type=st.sampled_from(AltitudeType),
        altitude=st.integers(0, 2047),
    ),
    st.builds(
        LocationCircleWithAltitude,
        **coords,
        uncertainty=st.integers(0, 63),
        altitude_type=st.sampled_from(AltitudeType),
        altitude=st.integers(0, 2047),
    ),
    st.builds(
        LocationPointWithPositionError, **coords, position_error=st.sampled_from(PositionError)
    ),
)
speed = st.integers(0, 127)
velocities = st.one_of(
    st.just(Velocity()),
    st.builds(Velocity, st.just(VelocityType.HORIZONTAL), horizontal=speed),
    st.builds(
        Velocity,
        st.just(VelocityType.HORIZONTAL_AND_VERTICAL),
        horizontal=speed,
        vertical=speed,
        vertical_downward=st.booleans(),
    ),
    st.builds(
        Velocity,
        st.just(VelocityType.HORIZONTAL_WITH_DIRECTION),
        horizontal=speed,
        direction_extended=st.integers(0, 255),
    ),
)
times = st.one_of(
    st.none(),
    st.sampled_from(TimeElapsed),
    st.builds(
        TimeOfPosition,
        st.integers(0, 31),
        st.integers(0, 23),
        st.integers(0, 59),
        st.integers(0, 59),
    ),
)
long_reports = st.builds(
    LipLongReport,
    time=times,
    location=shapes,
    velocity=velocities,
    ack_request=st.booleans(),
    additional_data_type=st.sampled_from(AdditionalDataType),
    reason_or_data=st.integers(0, 255),
)


@given(short_reports)
def test_short_report_round_trips(report: LipShortReport) -> None:
    data = encode_lip(report)
    assert len(data) == 11
    assert decode_lip(data, LIP_SHORT_BITS) == report
    assert decode_lip(data[:-1] + bytes([data[-1] & 0xF0]), LIP_SHORT_BITS) == report


@given(long_reports, st.binary(max_size=4))
def test_long_report_round_trips_with_any_trailing_bytes(
    report: LipLongReport, trailing: bytes
) -> None:
    data = encode_lip(report)
    assert decode_lip(data, lip_length_bits(report)) == report
    assert decode_lip(data + trailing) == report


@given(st.binary(max_size=24))
def test_random_bytes_raise_only_protocol_error(data: bytes) -> None:
    for payload in (data, b"\x0a" + data):
        with contextlib.suppress(ProtocolError):
            assert isinstance(decode_lip(payload), LipShortReport | LipLongReport)


@given(st.binary(min_size=1, max_size=24), st.integers(0, 200))
def test_random_bytes_with_declared_length_raise_only_protocol_error(
    data: bytes, bits: int
) -> None:
    with contextlib.suppress(ProtocolError):
        assert isinstance(decode_lip(b"\x0a" + data, bits), LipShortReport | LipLongReport)
