"""The command builders write exactly what the PEI reference prescribes and refuse bad values."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from protocols.errors import ProtocolError
from protocols.pei import (
    PeiParser,
    SdsReceived,
    SendSds,
    at,
    echo_off,
    query_group,
    query_operating_mode,
    query_own_identity,
    query_signal,
    register_service,
    select_group,
    select_sds_service,
    send_sds,
    set_charset,
    set_operating_mode,
)

HEI = bytes.fromhex("82040101486569")


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        (at(), b"AT\r"),
        (echo_off(), b"ATE0\r"),
        (set_charset("8859-1"), b"AT+CSCS=8859-1\r"),
        (set_operating_mode(0), b"AT+CTOM=0\r"),
        (query_operating_mode(), b"AT+CTOM?\r"),
        (register_service(2, 2, 20), b"AT+CTSP=2,2,20\r"),
        (register_service(1, 3, 130), b"AT+CTSP=1,3,130\r"),
        (register_service(1, 1), b"AT+CTSP=1,1\r"),
        (query_own_identity(), b"AT+CNUMF?\r"),
        (query_signal(), b"AT+CSQ?\r"),
        (select_sds_service(12), b"AT+CTSDS=12,0\r"),
        (select_sds_service(13, 1), b"AT+CTSDS=13,1\r"),
        (select_group(1000001), b"AT+CTGS=1,1000001\r"),
        (select_group(1000001, 2), b"AT+CTGS=2,1000001\r"),
        (query_group(), b"AT+CTGS?\r"),
        (send_sds(2040101, HEI), b"AT+CMGS=2040101,56\r\n82040101486569\x1a"),
        (send_sds(2040101, b"\x80\x04"), b"AT+CMGS=2040101,16\r\n8004\x1a"),
        (
            send_sds(2040101, bytes.fromhex("0A0088BD4247F737FFE810"), 84),
            b"AT+CMGS=2040101,84\r\n0A0088BD4247F737FFE810\x1a",
        ),
    ],
)
def test_builder_writes_the_documented_bytes(built: bytes, expected: bytes) -> None:
    assert built == expected


@pytest.mark.parametrize(
    "build",
    [
        lambda: set_operating_mode(7),
        lambda: set_operating_mode(-1),
        lambda: register_service(1, -3, 130),
        lambda: select_group(-1),
        lambda: select_sds_service(True),
        lambda: send_sds(-5, HEI),
        lambda: send_sds(2040101, b""),
        lambda: send_sds(2040101, HEI, 57),
        lambda: send_sds(2040101, HEI, 48),
        lambda: send_sds(2040101, bytes(300)),
        lambda: set_charset("8859-1\rATZ"),
        lambda: set_charset(""),
    ],
    ids=[
        "mode-above-6",
        "negative-mode",
        "negative-layer",
        "negative-gssi",
        "bool-ai-service",
        "negative-issi",
        "empty-payload",
        "length-past-payload",
        "length-short-of-last-byte",
        "above-2047-bits",
        "charset-with-cr",
        "empty-charset",
    ],
)
def test_builder_refuses_values_the_radio_cannot_take(build: Callable[[], bytes]) -> None:
    with pytest.raises(ProtocolError):
        build()


def test_text_in_a_payload_cannot_inject_an_at_command() -> None:
    data = send_sds(2040101, b"\x82\x04\x01\x01\r\nATZ\r\x1a\x1b")
    assert data.count(b"\r") == 1
    assert data.endswith(b"\x1a")
    assert data.count(b"\x1a") == 1
    assert PeiParser("mt").feed(data) == [
        SendSds(2040101, 96, b"\x82\x04\x01\x01\r\nATZ\r\x1a\x1b")
    ]


def test_sds_indication_built_from_a_payload_is_what_the_parser_reads() -> None:
    indication = SdsReceived.from_payload(13, 2040101, 2049999, b"\x80\x04")
    assert indication.to_bytes() == b"+CTSDSR: 13,2040101,0,2049999,0,16\r\n8004\r\n"
    assert PeiParser().feed(indication.to_bytes()) == [indication]
