"""Round trips for every PEI event and command: build from strategies → to_bytes → parse → equal.

Each example is also fed in random pieces, so framing does not depend on how reads split.
"""

from __future__ import annotations

import itertools
import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.payload import payload_from_hex
from protocols.pei import (
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
    Ok,
    OperatingMode,
    OwnIdentity,
    PeiParser,
    SdsInstance,
    SdsOutcome,
    SdsReceived,
    SendSds,
    SignalQuality,
    TransmitGrant,
    Unrecognised,
    send_sds,
)

numbers = st.integers(min_value=0, max_value=2**32)
identities = st.integers(min_value=0, max_value=10**17)
optional_numbers = st.none() | st.integers(min_value=0, max_value=255)

_PLAIN = string.ascii_letters + string.digits + "-_.#*"
plain_fields = st.text(alphabet=_PLAIN, max_size=8)
quoted_fields = st.text(alphabet=_PLAIN + " ,;:", max_size=10).map(lambda s: f'"{s}"')
field_lists = (
    st.lists(plain_fields | quoted_fields, max_size=8)
    .filter(lambda fields: fields != [""])
    .map(tuple)
)

# Printable latin-1 without the characters str.strip() removes.
_LINE_CHARS = st.characters(
    min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f\x85\xa0"
).filter(lambda c: not (0x80 <= ord(c) <= 0x9F))
line_texts = st.text(alphabet=_LINE_CHARS, max_size=60).filter(lambda s: s == s.strip())

_DECODED_NAMES = {"+CMGS", "+CNUMF", "+CSQ", "+CTOM", "+CTCR", "+CTGS", "+CTICN", "+CTCC"}
_DECODED_NAMES |= {"+CTXG", "+CTSDSR"}
response_names = st.from_regex(r"\A\+[A-Za-z][A-Za-z0-9]{0,7}\Z").filter(
    lambda name: name.upper() not in _DECODED_NAMES
)


@st.composite
def sds_indications(draw: st.DrawFn) -> SdsReceived:
    digits = draw(st.text(alphabet=string.hexdigits, min_size=1, max_size=300))
    length_bits = draw(st.integers(min_value=0, max_value=4 * len(digits) + 16))
    return SdsReceived(
        ai_service=draw(st.integers(min_value=0, max_value=15)),
        calling_issi=draw(identities),
        calling_type=draw(optional_numbers),
        called_issi=draw(st.none() | identities),
        called_type=draw(optional_numbers),
        length_bits=length_bits,
        # The end-to-end encryption parameter is a flag (EN 300 392-5).
        e2e=draw(st.sampled_from([None, 0, 1])),
        hex=digits,
        payload=payload_from_hex(digits, length_bits),
    )


@st.composite
def own_identities(draw: st.DrawFn) -> OwnIdentity:
    tsi = draw(st.text(alphabet=string.digits, min_size=1, max_size=17))
    return OwnIdentity.from_tsi(tsi, draw(st.none() | numbers))


@st.composite
def sds_sends(draw: st.DrawFn) -> SendSds:
    payload = draw(st.binary(min_size=1, max_size=200))
    bits = draw(st.integers(min_value=8 * len(payload) - 7, max_value=8 * len(payload)))
    return SendSds(draw(identities), bits, payload)


DTE_EVENTS: dict[str, st.SearchStrategy[Any]] = {
    "Ok": st.just(Ok()),
    "Error": st.just(Error()),
    "CmeError": st.builds(CmeError, numbers),
    "CmsError": st.builds(CmsError, numbers),
    "SdsReceived": sds_indications(),
    "SdsInstance": st.builds(SdsInstance, numbers),
    "SdsOutcome": st.builds(SdsOutcome, numbers, numbers, st.none() | numbers),
    "OwnIdentity": own_identities(),
    "SignalQuality": st.builds(SignalQuality, st.integers(0, 99), st.none() | st.integers(0, 99)),
    "OperatingMode": st.builds(OperatingMode, st.integers(0, 6)),
    "GroupSelection": st.builds(GroupSelection, field_lists),
    "IncomingCall": st.builds(IncomingCall, field_lists),
    "CallConnected": st.builds(CallConnected, field_lists),
    "TransmitGrant": st.builds(TransmitGrant, field_lists),
    "CallReleased": st.builds(CallReleased, numbers, numbers),
    "InformationResponse": st.builds(InformationResponse, response_names, field_lists),
    "CommandEcho": st.builds(CommandEcho, st.builds("AT{}".format, line_texts)),
    "Unrecognised": st.builds(
        Unrecognised, st.builds("{}{}".format, st.sampled_from("#$%&*=~\\"), line_texts)
    ),
}

_BASIC_NAMES = st.from_regex(r"\A[A-Z&][A-Z0-9;#*]{0,6}\Z")
_EXTENDED_NAMES = st.from_regex(r"\A\+[A-Z][A-Z0-9]{0,7}\Z")
_ARGS = field_lists.filter(lambda args: args != ("?",))

commands = st.one_of(
    st.just(AtCommand("")),
    st.builds(AtCommand, _BASIC_NAMES),
    st.builds(AtCommand, _EXTENDED_NAMES, st.sampled_from(["exec", "read", "test"])),
    st.builds(AtCommand, _EXTENDED_NAMES.filter(lambda n: n != "+CMGS"), st.just("set"), _ARGS),
)

MT_EVENTS: dict[str, st.SearchStrategy[Any]] = {
    "AtCommand": commands,
    "SendSds": sds_sends(),
}


def _pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    bounds = [0, *points, len(data)]
    return [data[start:end] for start, end in itertools.pairwise(bounds)]


def _feed_in_pieces(parser: PeiParser[Any], data: bytes, cuts: list[int]) -> list[Any]:
    events: list[Any] = []
    for piece in _pieces(data, cuts):
        events += parser.feed(piece)
    return events


cut_lists = st.lists(st.integers(min_value=0, max_value=2000), max_size=12)


@pytest.mark.parametrize("kind", sorted(DTE_EVENTS))
@settings(deadline=None)  # a loaded 2-core CI box must not make these flaky
@given(data=st.data(), cuts=cut_lists)
def test_radio_event_survives_encoding_and_parsing(
    kind: str, data: st.DataObject, cuts: list[int]
) -> None:
    event = data.draw(DTE_EVENTS[kind])
    assert type(event).__name__ == kind
    assert PeiParser().feed(event.to_bytes()) == [event]
    assert _feed_in_pieces(PeiParser(), event.to_bytes(), cuts) == [event]


@pytest.mark.parametrize("kind", sorted(MT_EVENTS))
@settings(deadline=None)  # a loaded 2-core CI box must not make these flaky
@given(data=st.data(), cuts=cut_lists)
def test_gateway_command_survives_encoding_and_parsing(
    kind: str, data: st.DataObject, cuts: list[int]
) -> None:
    command = data.draw(MT_EVENTS[kind])
    assert PeiParser("mt").feed(command.to_bytes()) == [command]
    assert _feed_in_pieces(PeiParser("mt"), command.to_bytes(), cuts) == [command]


@settings(deadline=None)  # a loaded 2-core CI box must not make these flaky
@given(send=sds_sends(), keep=st.integers(min_value=0, max_value=400), cuts=cut_lists)
def test_esc_after_any_part_of_the_data_aborts_the_sds(
    send: SendSds, keep: int, cuts: list[int]
) -> None:
    head, _, _ = send.to_bytes().partition(b"\x1a")
    data = head[: len(head) - len(send.payload) * 2 + keep] + AbortSds().to_bytes()
    assert _feed_in_pieces(PeiParser("mt"), data, cuts) == [AbortSds()]


@settings(deadline=None)  # a loaded 2-core CI box must not make these flaky
@given(sends=st.lists(sds_sends(), min_size=1, max_size=5), cuts=cut_lists)
def test_sds_built_by_the_gateway_builder_arrives_at_the_radio_unchanged(
    sends: list[SendSds], cuts: list[int]
) -> None:
    data = b"".join(send_sds(s.called_issi, s.payload, s.length_bits) for s in sends)
    assert _feed_in_pieces(PeiParser("mt"), data, cuts) == sends


@settings(deadline=None)  # a loaded 2-core CI box must not make these flaky
@given(events=st.lists(st.one_of(*DTE_EVENTS.values()), max_size=8), cuts=cut_lists)
def test_a_stream_of_radio_events_parses_back_in_order(events: list[Any], cuts: list[int]) -> None:
    data = b"".join(event.to_bytes() for event in events)
    assert _feed_in_pieces(PeiParser(), data, cuts) == events
