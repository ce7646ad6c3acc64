"""Real-radio behaviour from pei-reference.md that the codec must cope with."""

from __future__ import annotations

import pytest

from protocols.pei import (
    CmeError,
    CommandEcho,
    FinalResult,
    InformationResponse,
    Ok,
    OperatingMode,
    OwnIdentity,
    PeiEvent,
    PeiParser,
    SdsInstance,
    SdsOutcome,
    SdsReceived,
    SignalQuality,
    TransmitGrant,
    Unrecognised,
)

LIP_84_BITS = bytes.fromhex("0A0088BD4247F737FFE810")

# An initialisation and one SDS exchange as a radio writes it, lines ended CR LF.
SESSION_LINES = [
    b"+CME ERROR: 35",
    b"OK",
    b"+CTOM: 0",
    b"OK",
    b"+CNUMF: 6,262100002049999",
    b"OK",
    b"+CSQ: 22,99",
    b"OK",
    b"+CMGS: 12",
    b"+CTSDSR: 13,2040101,0,2049999,0,16",
    b"8004",
    b"OK",
    b"+CMGS: 12,4,1",
]
SESSION_EVENTS: list[PeiEvent] = [
    CmeError(35),
    Ok(),
    OperatingMode(0),
    Ok(),
    OwnIdentity(6, "262100002049999", 2049999),
    Ok(),
    SignalQuality(22, 99),
    Ok(),
    SdsInstance(12),
    SdsReceived(13, 2040101, 0, 2049999, 0, 16, None, "8004", b"\x80\x04"),
    Ok(),
    SdsOutcome(12, 4, 1),
]


@pytest.mark.parametrize("ending", [b"\r\n", b"\n", b"\r", b"\r\n\r\n", b"\n\r"])
def test_session_reads_the_same_whatever_ends_the_lines(ending: bytes) -> None:
    data = b"".join(line + ending for line in SESSION_LINES)
    assert PeiParser().feed(data) == SESSION_EVENTS


def test_session_reads_the_same_with_blank_lines_between_replies_as_v25ter_sends() -> None:
    data = b"".join(b"\r\n" + line + b"\r\n" for line in SESSION_LINES)
    assert PeiParser().feed(data) == SESSION_EVENTS


def test_mixed_case_cme_error_is_a_final_result() -> None:
    (event,) = PeiParser().feed(b"+CME Error: 35\r\n")
    assert event == CmeError(35)
    assert isinstance(event, FinalResult)
    assert event.meaning == "syntax error"


def test_sds_indication_arriving_between_command_and_ok_is_delivered_in_order() -> None:
    events = PeiParser().feed(
        b"+CMGS: 3\r\n+CTSDSR: 12,2040101,0,2049999,0,84\r\n0A0088BD4247F737FFE810\r\nOK\r\n"
    )
    assert [type(event) for event in events] == [SdsInstance, SdsReceived, Ok]


@pytest.mark.parametrize(
    "digits",
    ["0A0088BD4247F737FFE810", "0A0088BD4247F737FFE81", "0a0088bd4247f737ffe810"],
    ids=["motorola-22-digits", "sepura-21-digits", "lowercase"],
)
def test_84_bit_lip_decodes_to_the_same_payload_from_21_or_22_digits(digits: str) -> None:
    data = f"+CTSDSR: 12,2040101,0,2049999,0,84\r\n{digits}\r\n".encode()
    (event,) = PeiParser().feed(data)
    assert isinstance(event, SdsReceived)
    assert event.payload == LIP_84_BITS
    assert event.hex == digits


@pytest.mark.parametrize(
    ("header", "calling_type", "called", "e2e"),
    [
        (b"+CTSDSR: 13,2040101,16", None, None, None),
        (b"+CTSDSR: 13,2040101,2049999,16", None, 2049999, None),
        (b"+CTSDSR: 13,2040101,0,2049999,0,16", 0, 2049999, None),
        (b"+CTSDSR: 13,2040101,0,2049999,0,16,0", 0, 2049999, 0),
    ],
    ids=["3-fields", "4-fields", "6-fields", "7-fields"],
)
def test_sds_header_of_3_4_6_or_7_fields_is_accepted(
    header: bytes, calling_type: int | None, called: int | None, e2e: int | None
) -> None:
    (event,) = PeiParser().feed(header + b"\r\n8004\r\n")
    assert isinstance(event, SdsReceived)
    assert (event.calling_issi, event.calling_type, event.called_issi, event.e2e) == (
        2040101,
        calling_type,
        called,
        e2e,
    )
    assert (event.ai_service, event.length_bits, event.payload) == (13, 16, b"\x80\x04")


def test_sds_header_of_5_fields_is_unrecognised() -> None:
    events = PeiParser().feed(b"+CTSDSR: 13,2040101,0,2049999,16\r\n8004\r\n")
    assert events == [Unrecognised("+CTSDSR: 13,2040101,0,2049999,16"), Unrecognised("8004")]


def test_sds_header_not_followed_by_hex_is_unrecognised_and_the_line_is_read_normally() -> None:
    events = PeiParser().feed(b"+CTSDSR: 13,2040101,0,2049999,0,16\r\n+CMGS: 4,4,9\r\n")
    assert events == [Unrecognised("+CTSDSR: 13,2040101,0,2049999,0,16"), SdsOutcome(4, 4, 9)]


def test_second_sds_header_replaces_a_first_that_lost_its_hex_line() -> None:
    events = PeiParser().feed(
        b"+CTSDSR: 13,2040101,0,2049999,0,16\r\n+CTSDSR: 13,2040102,0,2049999,0,16\r\n8005\r\n"
    )
    assert events == [
        Unrecognised("+CTSDSR: 13,2040101,0,2049999,0,16"),
        SdsReceived(13, 2040102, 0, 2049999, 0, 16, None, "8005", b"\x80\x05"),
    ]


def test_blank_lines_between_sds_header_and_hex_keep_them_together() -> None:
    (event,) = PeiParser().feed(b"+CTSDSR: 13,2040101,0,2049999,0,16\r\n\r\n\r\n8004\r\n")
    assert isinstance(event, SdsReceived)
    assert event.payload == b"\x80\x04"


def test_hex_line_without_a_header_is_unrecognised() -> None:
    assert PeiParser().feed(b"8004\r\n") == [Unrecognised("8004")]


def test_sds_from_a_tsi_gives_the_issi_in_its_last_8_digits() -> None:
    (event,) = PeiParser().feed(b"+CTSDSR: 13,262100002040101,1,2049999,0,16\r\n8004\r\n")
    assert isinstance(event, SdsReceived)
    assert event.calling_issi == 262100002040101
    assert event.calling_ssi == 2040101
    assert event.called_ssi == 2049999


def test_prompt_without_line_end_does_not_hide_the_reply() -> None:
    assert PeiParser().feed(b"\r\n> \r\n+CMGS: 5\r\n\r\nOK\r\n") == [SdsInstance(5), Ok()]


def test_echoed_sds_command_does_not_disturb_the_replies() -> None:
    events = PeiParser().feed(b"AT+CMGS=2040101,16\r\n8004\x1a\r\n+CMGS: 5\r\n\r\nOK\r\n")
    assert events == [
        CommandEcho("AT+CMGS=2040101,16"),
        Unrecognised("8004"),
        SdsInstance(5),
        Ok(),
    ]


def test_unknown_response_is_kept_as_information_response_with_name_as_sent() -> None:
    assert PeiParser().feed(b"+Ctbcs: 1 , 2\r\n") == [InformationResponse("+Ctbcs", ("1", "2"))]


def test_own_identity_takes_the_issi_from_a_tsi_or_a_bare_issi() -> None:
    events = PeiParser().feed(b"+CNUMF: 6,262100002049999\r\n+CNUMF: 2049999\r\n")
    assert [event.issi for event in events if isinstance(event, OwnIdentity)] == [2049999] * 2


@pytest.mark.parametrize(("rssi", "dbm"), [(0, -113), (20, -73), (31, -51), (99, None)])
def test_signal_quality_in_dbm_is_minus_113_plus_twice_rssi(rssi: int, dbm: int | None) -> None:
    assert SignalQuality(rssi, 99).dbm == dbm


def test_transmit_grant_of_four_fields_is_ours_and_six_someone_elses() -> None:
    ours, theirs = PeiParser().feed(b"+CTXG: 1,0,0,0\r\n+CTXG: 1,3,0,0,1,2040101\r\n")
    assert isinstance(ours, TransmitGrant)
    assert isinstance(theirs, TransmitGrant)
    assert (ours.granted_to_us, theirs.granted_to_us) == (True, False)
    assert ours.call_id == 1


def test_latin1_bytes_never_fail_to_decode() -> None:
    (event,) = PeiParser().feed(b"+CTXYZ: \xe6\xf8\xe5\r\n")
    assert event == InformationResponse("+CTXYZ", ("æøå",))
    assert event.to_bytes() == b"+CTXYZ: \xe6\xf8\xe5\r\n"


def test_result_behind_line_noise_without_a_line_end_is_not_lost() -> None:
    """Noise with no line end joins the next result; the status and the OK survive it."""
    parser = PeiParser()
    events = parser.feed(
        b"\x8fzq+CTSDSR: 13,2040101,0,2049999,0,16\r\n8005\r\n\x01\xffOK\r\n\xfe\x02ERROR\r\n"
    )
    assert [type(e).__name__ for e in events] == ["SdsReceived", "Ok", "Error"]
    assert events[0].payload == b"\x80\x05"  # type: ignore[union-attr]


def test_plain_text_line_stays_unrecognised() -> None:
    assert [type(e).__name__ for e in PeiParser().feed(b"Motorola Solutions\r\nbook OK\r\n")] == [
        "Unrecognised",
        "Unrecognised",
    ]
