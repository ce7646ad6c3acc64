"""The PEI parser never raises, never grows without bound, and finds its feet after garbage."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.errors import ProtocolError
from protocols.pei import (
    MAX_LINE_BYTES,
    AbortSds,
    AtCommand,
    MtEvent,
    Ok,
    PeiEvent,
    PeiParser,
    SendSds,
    SignalQuality,
    Unrecognised,
)
from protocols.pei.parser import TRANSITIONS, State

# Pieces that steer the parser into every state: headers, AT+CMGS, Ctrl-Z, ESC, line ends.
_TOKENS = [
    b"\r",
    b"\n",
    b"\r\n",
    b"\x1a",
    b"\x1b",
    b"\x00",
    b"\xff",
    b" ",
    b",",
    b">",
    b"OK",
    b"ERROR",
    b"+CME ERROR: ",
    b"+CTSDSR: ",
    b"12,2040101,0,2049999,0,56",
    b"13,1,16",
    b"8004",
    b"0A0088bd4247F737FFE81",
    b"AT",
    b"AT+CMGS=",
    b"2040101,16",
    b"+CMGS: ",
    b"5,4,1",
    b"+CNUMF: ",
    b"+CSQ:",
    b"99",
    b'"',
    b"Z" * 1500,
    b"8" * 1500,
]
garbage = st.one_of(
    st.binary(max_size=3000),
    st.lists(st.sampled_from(_TOKENS) | st.binary(max_size=4), max_size=60).map(b"".join),
)
cuts = st.lists(st.integers(min_value=0, max_value=5000), max_size=20)


def _pieces(data: bytes, cut_points: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cut_points})
    return [data[a:b] for a, b in itertools.pairwise([0, *points, len(data)])]


def _state(parser: PeiParser[Any]) -> State:
    # A call, so that mypy does not narrow the property across feeds.
    return parser.state


def _feed(parser: PeiParser[Any], data: bytes, cut_points: list[int]) -> list[Any]:
    events: list[Any] = []
    for piece in _pieces(data, cut_points):
        events += parser.feed(piece)
        assert parser.buffered_bytes <= MAX_LINE_BYTES
    return events


@settings(deadline=None)  # a loaded 2-core CI box must not make these flaky
@given(data=garbage, cut_points=cuts)
def test_radio_side_parser_survives_any_bytes_and_resynchronises(
    data: bytes, cut_points: list[int]
) -> None:
    parser = PeiParser()
    events = _feed(parser, data, cut_points)
    assert all(isinstance(event, PeiEvent) for event in events)
    # After any garbage, a line end and an OK give the OK.
    assert parser.feed(b"\r\nOK\r\n")[-1:] == [Ok()]
    assert _state(parser) is State.READING_LINE


@settings(deadline=None)  # a loaded 2-core CI box must not make these flaky
@given(data=garbage, cut_points=cuts)
def test_radio_side_parser_gives_the_same_events_however_the_bytes_are_split(
    data: bytes, cut_points: list[int]
) -> None:
    assert _feed(PeiParser(), data, cut_points) == PeiParser().feed(data)


@settings(deadline=None)  # a loaded 2-core CI box must not make these flaky
@given(data=garbage, cut_points=cuts)
def test_command_side_parser_survives_any_bytes_and_resynchronises(
    data: bytes, cut_points: list[int]
) -> None:
    parser = PeiParser("mt")
    events = _feed(parser, data, cut_points)
    assert all(isinstance(event, MtEvent) for event in events)
    # ESC ends any SDS data or skipped line; then a line end and AT give the AT.
    assert parser.feed(b"\x1b\r\nAT\r")[-1:] == [AtCommand("")]


@settings(deadline=None)  # a loaded 2-core CI box must not make these flaky
@given(data=garbage, cut_points=cuts)
def test_command_side_parser_gives_the_same_events_however_the_bytes_are_split(
    data: bytes, cut_points: list[int]
) -> None:
    assert _feed(PeiParser("mt"), data, cut_points) == PeiParser("mt").feed(data)


def test_over_long_line_becomes_unrecognised_and_the_next_line_is_read() -> None:
    parser = PeiParser()
    events: list[PeiEvent] = []
    for _ in range(256):  # 1 MiB without a line end
        events += parser.feed(b"X" * 4096)
        assert parser.buffered_bytes <= MAX_LINE_BYTES
    events += parser.feed(b"\r\nOK\r\n")
    assert events == [Unrecognised("X" * MAX_LINE_BYTES), Ok()]


def test_line_of_exactly_the_limit_is_still_decoded() -> None:
    line = b"+CSQ: 20,99".ljust(MAX_LINE_BYTES, b" ")
    assert PeiParser().feed(line + b"\r\n") == [SignalQuality(20, 99)]
    longer = PeiParser().feed(line + b" \r\n")
    assert len(longer) == 1
    assert isinstance(longer[0], Unrecognised)


def test_over_long_line_after_sds_header_makes_both_unrecognised() -> None:
    events = PeiParser().feed(
        b"+CTSDSR: 13,2040101,0,2049999,0,16\r\n" + b"8" * 5000 + b"\r\nOK\r\n"
    )
    assert events == [
        Unrecognised("+CTSDSR: 13,2040101,0,2049999,0,16"),
        Unrecognised("8" * MAX_LINE_BYTES),
        Ok(),
    ]


def test_over_long_sds_data_is_refused_and_the_next_command_is_read() -> None:
    parser = PeiParser("mt")
    events = parser.feed(b"AT+CMGS=2040101,16\r\n" + b"80" * 5000)
    assert parser.buffered_bytes <= MAX_LINE_BYTES
    events += parser.feed(b"\x1aAT\r")
    assert events == [Unrecognised("AT+CMGS=2040101,16"), AtCommand("")]


def test_spaces_in_sds_data_cannot_grow_the_buffer() -> None:
    parser = PeiParser("mt")
    events = parser.feed(b"AT+CMGS=2040101,16\r\n" + b" " * 10000)
    assert parser.buffered_bytes <= MAX_LINE_BYTES
    assert events == [Unrecognised("AT+CMGS=2040101,16")]


def test_command_that_gives_up_on_sds_data_is_unrecognised_and_the_next_command_read() -> None:
    events = PeiParser("mt").feed(b"AT+CMGS=2040101,16\r\nAT+CSQ?\r")
    assert events == [Unrecognised("AT+CMGS=2040101,16"), AtCommand("+CSQ", "read")]


def test_sds_command_without_data_is_unrecognised() -> None:
    assert PeiParser("mt").feed(b"AT+CMGS=2040101,16\r\n\x1a") == [
        Unrecognised("AT+CMGS=2040101,16")
    ]


def test_malformed_cmgs_is_passed_on_as_a_command_for_the_radio_to_refuse() -> None:
    events = PeiParser("mt").feed(b"AT+CMGS=x,16\r\n8004\x1a\r")
    assert events[0] == AtCommand("+CMGS", "set", ("x", "16"))
    assert events[1] == Unrecognised("8004")


def test_stray_ctrl_z_and_esc_outside_sds_data_are_ignored() -> None:
    assert PeiParser("mt").feed(b"\x1b\x1aAT\x1b+CSQ?\r") == [AtCommand("+CSQ", "read")]


def test_parser_states_follow_the_two_line_sds_indication() -> None:
    parser = PeiParser()
    parser.feed(b"+CTSDSR: 13,2040101,0,2049999,0,16\r\n")
    assert _state(parser) is State.AWAITING_SDS_HEX
    parser.feed(b"8004\r\n")
    assert _state(parser) is State.READING_LINE


def test_parser_states_follow_an_sds_submission() -> None:
    parser = PeiParser("mt")
    parser.feed(b"AT+CMGS=2040101,16\r\n80")
    assert _state(parser) is State.READING_SDS_DATA
    assert parser.feed(b"04\x1a") == [SendSds(2040101, 16, b"\x80\x04")]
    assert _state(parser) is State.READING_LINE
    parser.feed(b"AT+CMGS=2040101,16\r\n")
    assert parser.feed(b"\x1b") == [AbortSds()]


def test_every_transition_leads_to_a_state_that_can_leave_again() -> None:
    sources = {state for state, _ in TRANSITIONS}
    assert set(TRANSITIONS.values()) <= sources
    assert sources == set(State)


def test_unknown_role_is_refused() -> None:
    with pytest.raises(ProtocolError):
        PeiParser("modem")  # type: ignore[call-overload]
