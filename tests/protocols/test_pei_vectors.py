"""One table of PEI vectors drives both the encoder (to_bytes) and the parser, like h11's test_io.

Every vector is checked three ways on the decoding side: fed whole, one byte at a time, and
followed by another complete line (both events must come out). The same is done for the
mt role (a radio reading a gateway's commands).
"""

from __future__ import annotations

from typing import Any

import pytest

from protocols.pei import (
    NEED_DATA,
    AbortSds,
    AtCommand,
    CallConnected,
    CallReleased,
    CmeError,
    CmsError,
    CommandEcho,
    Error,
    GroupSelection,
    IncomingCall,
    InformationResponse,
    MtEvent,
    Ok,
    OperatingMode,
    OwnIdentity,
    PeiEvent,
    PeiParser,
    SdsInstance,
    SdsOutcome,
    SdsReceived,
    SendSds,
    SignalQuality,
    TransmitGrant,
    Unrecognised,
)

HEI = bytes.fromhex("82040101486569")
LIP = bytes.fromhex("0A0088BD4247F737FFE810")

# (bytes a radio writes, the event) — both directions must hold exactly.
DTE_VECTORS: list[tuple[bytes, PeiEvent]] = [
    (b"OK\r\n", Ok()),
    (b"ERROR\r\n", Error()),
    (b"+CME ERROR: 35\r\n", CmeError(35)),
    (b"+CME ERROR: 42\r\n", CmeError(42)),
    (b"+CMS ERROR: 500\r\n", CmsError(500)),
    (
        b"+CTSDSR: 12,2040101,0,2049999,0,56\r\n82040101486569\r\n",
        SdsReceived(12, 2040101, 0, 2049999, 0, 56, None, "82040101486569", HEI),
    ),
    (
        b"+CTSDSR: 13,2040101,0,2049999,0,16\r\n8004\r\n",
        SdsReceived(13, 2040101, 0, 2049999, 0, 16, None, "8004", b"\x80\x04"),
    ),
    (
        b"+CTSDSR: 12,2040101,0,2049999,0,32,0\r\n82100001\r\n",
        SdsReceived(12, 2040101, 0, 2049999, 0, 32, 0, "82100001", bytes.fromhex("82100001")),
    ),
    (  # 3-field header
        b"+CTSDSR: 13,2040101,16\r\n7E01\r\n",
        SdsReceived(13, 2040101, None, None, None, 16, None, "7E01", b"\x7e\x01"),
    ),
    (  # 4-field header
        b"+CTSDSR: 13,2040101,2049999,16\r\n7E01\r\n",
        SdsReceived(13, 2040101, None, 2049999, None, 16, None, "7E01", b"\x7e\x01"),
    ),
    (  # Motorola: 84-bit LIP in 22 digits
        b"+CTSDSR: 12,2040101,0,2049999,0,84\r\n0A0088BD4247F737FFE810\r\n",
        SdsReceived(12, 2040101, 0, 2049999, 0, 84, None, "0A0088BD4247F737FFE810", LIP),
    ),
    (  # Sepura: the same LIP in 21 digits
        b"+CTSDSR: 12,2040101,0,2049999,0,84\r\n0A0088BD4247F737FFE81\r\n",
        SdsReceived(12, 2040101, 0, 2049999, 0, 84, None, "0A0088BD4247F737FFE81", LIP),
    ),
    (b"+CMGS: 5\r\n", SdsInstance(5)),
    (b"+CMGS: 5,4,1\r\n", SdsOutcome(5, 4, 1)),
    (b"+CMGS: 5,5\r\n", SdsOutcome(5, 5, None)),
    (b"+CNUMF: 6,901000002049999\r\n", OwnIdentity(6, "901000002049999", 2049999)),
    (b"+CNUMF: 2049999\r\n", OwnIdentity(None, "2049999", 2049999)),
    (b"+CSQ: 20,99\r\n", SignalQuality(20, 99)),
    (b"+CSQ: 99,99\r\n", SignalQuality(99, 99)),
    (b"+CTOM: 0\r\n", OperatingMode(0)),
    (b"+CTGS: 1,1000001\r\n", GroupSelection(("1", "1000001"))),
    (
        b"+CTICN: 1,0,0,4,2040101,0,1,0,0,0,0,1000001,0\r\n",
        IncomingCall(("1", "0", "0", "4", "2040101", "0", "1", "0", "0", "0", "0", "1000001", "0")),
    ),
    (b"+CTCC: 1,1,1,0,0,1,1\r\n", CallConnected(("1", "1", "1", "0", "0", "1", "1"))),
    (b"+CTXG: 1,0,0,0\r\n", TransmitGrant(("1", "0", "0", "0"))),
    (b"+CTCR: 1,1\r\n", CallReleased(1, 1)),
    (b"+CTSP: 2,2,20\r\n", InformationResponse("+CTSP", ("2", "2", "20"))),
    (b'+CSCS: "8859-1"\r\n', InformationResponse("+CSCS", ('"8859-1"',))),
    (b"+CTSDS:\r\n", InformationResponse("+CTSDS", ())),
    (b"AT+CSQ?\r\n", CommandEcho("AT+CSQ?")),
    (b"RING\r\n", Unrecognised("RING")),
    (b"+CSQ: strong\r\n", Unrecognised("+CSQ: strong")),
]

# (bytes a gateway writes, the command) — both directions must hold exactly.
MT_VECTORS: list[tuple[bytes, MtEvent]] = [
    (b"AT\r", AtCommand("")),
    (b"ATE0\r", AtCommand("E0")),
    (b"AT+CTSP=2,2,20\r", AtCommand("+CTSP", "set", ("2", "2", "20"))),
    (b"AT+CTSP=1,3,130\r", AtCommand("+CTSP", "set", ("1", "3", "130"))),
    (b"AT+CTOM=0\r", AtCommand("+CTOM", "set", ("0",))),
    (b"AT+CNUMF?\r", AtCommand("+CNUMF", "read")),
    (b"AT+CSQ?\r", AtCommand("+CSQ", "read")),
    (b"AT+CMGS=?\r", AtCommand("+CMGS", "test")),
    (b"AT+CTSDS=12,0\r", AtCommand("+CTSDS", "set", ("12", "0"))),
    (b"AT+CTGS=1,1000001\r", AtCommand("+CTGS", "set", ("1", "1000001"))),
    (b"AT+CSCS=8859-1\r", AtCommand("+CSCS", "set", ("8859-1",))),
    (b"AT+CMGS=2040101,56\r\n82040101486569\x1a", SendSds(2040101, 56, HEI)),
    (b"AT+CMGS=2040101,16\r\n8004\x1a", SendSds(2040101, 16, b"\x80\x04")),
    (b"AT+CMGS=2040101,84\r\n0A0088BD4247F737FFE810\x1a", SendSds(2040101, 84, LIP)),
]

# Decoding only: liberal input whose canonical encoding differs.
DTE_DECODE_ONLY: list[tuple[bytes, PeiEvent]] = [
    (b"+CME Error: 35\r\n", CmeError(35)),
    (b"+cme error:35\r\n", CmeError(35)),
    (b"+CMS Error: 304\r\n", CmsError(304)),
    (b"ok\r\n", Ok()),
    (b"  OK  \r\n", Ok()),
    (b"Error\r\n", Error()),
    (b"+CSQ:20, 99\r\n", SignalQuality(20, 99)),
    (b"+CSQ: 31\r\n", SignalQuality(31, None)),
    (b"+ctom: 1\r\n", OperatingMode(1)),
    (b"+CMGS: 5, 4, 1\r\n", SdsOutcome(5, 4, 1)),
    (b"+CNUMF: 6, 901000002049999\r\n", OwnIdentity(6, "901000002049999", 2049999)),
    (b'+CNUMF: 1,"2049999"\r\n', OwnIdentity(1, "2049999", 2049999)),
    (b"\r\n> \r\n+CMGS: 5\r\n", SdsInstance(5)),
    (b"> +CMGS: 7\r\n", SdsInstance(7)),
    (
        b"+CTSDSR: 13, 2040101, 0, 2049999, 0, 16\r\n 80 04 \r\n",
        SdsReceived(13, 2040101, 0, 2049999, 0, 16, None, "8004", b"\x80\x04"),
    ),
    (  # EN 300 392-5 order: end-to-end flag before the length
        b"+CTSDSR: 12,2040101,0,2049999,0,1,32\r\n82100001\r\n",
        SdsReceived(12, 2040101, 0, 2049999, 0, 32, 1, "82100001", bytes.fromhex("82100001")),
    ),
    (  # empty optional identity type
        b"+CTSDSR: 13,2040101,,2049999,0,16\r\n8004\r\n",
        SdsReceived(13, 2040101, None, 2049999, 0, 16, None, "8004", b"\x80\x04"),
    ),
    (b"\x00\x07O\x7fK\x1a\r\n", Ok()),
]

MT_DECODE_ONLY: list[tuple[bytes, MtEvent]] = [
    (b"XYZZY\r", Unrecognised("XYZZY")),
    (b"at\r", AtCommand("")),
    (b"ate0\n", AtCommand("E0")),
    (b"AT+CTSP=2, 2, 20\r\n", AtCommand("+CTSP", "set", ("2", "2", "20"))),
    (b"at+cnumf?\r", AtCommand("+CNUMF", "read")),
    (b"AT+CMGS=2040101,16\r\n80\r\n04\r\n\x1a", SendSds(2040101, 16, b"\x80\x04")),
    (b"AT+CMGS=2040101,16\r\n8004\x1b", AbortSds()),
    (b"AT+CMGS=2040101,16\r\n\x1b", AbortSds()),
    (b"AT+CMGS=2040101,16\n8004\x1a", SendSds(2040101, 16, b"\x80\x04")),
    (b"AT+CMGS=2040101,16\r\n80 04\x1a", SendSds(2040101, 16, b"\x80\x04")),
]

DTE_TRAILER = (b"OK\r\n", Ok())
MT_TRAILER = (b"AT\r", AtCommand(""))


def _ids(vectors: list[tuple[bytes, Any]]) -> list[str]:
    return [repr(data)[:60] for data, _ in vectors]


def _bytewise(parser: PeiParser[Any], data: bytes) -> list[Any]:
    events: list[Any] = []
    for index in range(len(data)):
        parser.receive_data(data[index : index + 1])
        while (event := parser.next_event()) is not NEED_DATA:
            events.append(event)
    return events


def _check_decoding(role: str, data: bytes, expected: object, trailer: tuple[bytes, Any]) -> None:
    def parser() -> PeiParser[Any]:
        return PeiParser("mt") if role == "mt" else PeiParser("dte")

    assert parser().feed(data) == [expected]
    assert _bytewise(parser(), data) == [expected]
    assert parser().feed(data + trailer[0]) == [expected, trailer[1]]
    assert _bytewise(parser(), data + trailer[0]) == [expected, trailer[1]]


@pytest.mark.parametrize(("data", "event"), DTE_VECTORS, ids=_ids(DTE_VECTORS))
def test_radio_output_vector_encodes_exactly(data: bytes, event: PeiEvent) -> None:
    assert event.to_bytes() == data


@pytest.mark.parametrize(
    ("data", "event"), DTE_VECTORS + DTE_DECODE_ONLY, ids=_ids(DTE_VECTORS + DTE_DECODE_ONLY)
)
def test_radio_output_vector_decodes_whole_bytewise_and_with_trailing_line(
    data: bytes, event: PeiEvent
) -> None:
    _check_decoding("dte", data, event, DTE_TRAILER)


@pytest.mark.parametrize(("data", "command"), MT_VECTORS, ids=_ids(MT_VECTORS))
def test_gateway_command_vector_encodes_exactly(data: bytes, command: MtEvent) -> None:
    assert command.to_bytes() == data


@pytest.mark.parametrize(
    ("data", "command"), MT_VECTORS + MT_DECODE_ONLY, ids=_ids(MT_VECTORS + MT_DECODE_ONLY)
)
def test_gateway_command_vector_decodes_whole_bytewise_and_with_trailing_line(
    data: bytes, command: MtEvent
) -> None:
    _check_decoding("mt", data, command, MT_TRAILER)


def test_abort_is_the_single_esc_byte() -> None:
    assert AbortSds().to_bytes() == b"\x1b"


def test_next_event_says_need_data_until_a_line_is_complete() -> None:
    parser = PeiParser()
    parser.receive_data(b"+CSQ: 20,9")
    assert parser.next_event() is NEED_DATA
    parser.receive_data(b"9\r")
    assert parser.next_event() == SignalQuality(20, 99)
    assert parser.next_event() is NEED_DATA
