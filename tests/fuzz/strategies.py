"""Structure-aware input generators for the fuzz targets.

Random bytes alone rarely get past a decoder's first length check, so most inputs here start
from something valid — a PDU built by the project's own encoders, a line a real radio writes,
a callout that validates — and are then damaged: bits flipped, cut short, bytes inserted or
deleted, a chunk repeated, a field replaced by a hostile value. Pure noise is mixed in too.

Every hostile string planted in a dispatch payload carries :data:`CANARY`, and every hostile
number contains :data:`NUMBER_CANARY`, so a check can tell whether an error text repeats the
input (dispatch-api.md: ``detail`` never echoes a value that may hold personal data).
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from typing import Final

from hypothesis import strategies as st

from protocols.pei import (
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
from protocols.pei.events import SdsReceived
from protocols.sds.lip import LipLongReport, LipShortReport, PositionError, TimeElapsed
from protocols.sds.message import StatusMessage
from protocols.sds.text import (
    SdsTimestamp,
    TextUserData,
    build_text_transfers,
    pick_coding,
    simple_text,
)
from protocols.sds.tl import (
    DeliveryReportRequest,
    SdsAck,
    SdsReport,
    SdsTransfer,
    ShortReport,
    ShortReportType,
)

CANARY: Final = "QZX\u2603"
"""Planted in every hostile string (and hostile key, and topic id) of a dispatch payload."""
NUMBER_CANARY: Final = "31415926"
"""The digits every hostile number literal contains."""

# ---- byte mutations -------------------------------------------------------------------------

_INTERESTING_BYTES: Final = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0x0D, 0x0A, 0x1A, 0x1B, 0x2C, 0x22)


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[bytes], max_mutations: int = 4) -> bytes:
    """``base`` damaged by up to ``max_mutations`` edits (bit flip, truncation, insertion,
    deletion, duplication, a boundary byte); zero edits keeps it valid."""
    data = bytearray(draw(base))
    for _ in range(draw(st.integers(0, max_mutations))):
        edit = draw(st.sampled_from(("flip", "cut", "insert", "delete", "dup", "set")))
        at_ = draw(st.integers(0, len(data)))
        if edit == "flip" and data:
            index = min(at_, len(data) - 1)
            data[index] ^= 1 << draw(st.integers(0, 7))
        elif edit == "cut":
            del data[at_:]
        elif edit == "insert":
            data[at_:at_] = draw(st.binary(min_size=1, max_size=8))
        elif edit == "delete":
            del data[at_ : at_ + draw(st.integers(1, 4))]
        elif edit == "dup" and data:
            end = min(len(data), at_ + draw(st.integers(1, 16)))
            data[at_:at_] = data[at_:end]
        elif edit == "set" and data:
            data[min(at_, len(data) - 1)] = draw(st.sampled_from(_INTERESTING_BYTES))
    return bytes(data)


def length_bits_for(payload: bytes) -> st.SearchStrategy[int | None]:
    """A declared bit length: none, the true one, near it (PEI reference §4: radios disagree
    with their own hex), or anything at all."""
    true_bits = len(payload) * 8
    return st.one_of(
        st.none(),
        st.just(true_bits),
        st.integers(max(0, true_bits - 12), true_bits + 12),
        st.integers(-8, 4096),
        st.sampled_from((0, 1, 7, 15, 16, 17, 84, 88, 2047, 2**31, 2**64)),
    )


@st.composite
def with_length(draw: st.DrawFn, payloads: st.SearchStrategy[bytes]) -> tuple[bytes, int | None]:
    payload = draw(payloads)
    return payload, draw(length_bits_for(payload))


# ---- valid SDS payloads (built by the project's encoders) -------------------------------------

_refs = st.integers(0, 255)
_short_text = st.text(max_size=80)


def _transfer(pid: int, user_data: bytes, ref: int, report: int, short: bool) -> bytes:
    return SdsTransfer(pid, DeliveryReportRequest(report), short, False, ref, user_data).encode()


def _forwarded(validity: int, address_type: int, address: int | None, data: bytes) -> bytes:
    return SdsTransfer(
        0x82, DeliveryReportRequest.RECEIVED, True, True, 7, data, validity, address_type, address
    ).encode()


def _text_user_data(text: str, timestamp: SdsTimestamp | None) -> bytes:
    return TextUserData(text, pick_coding(text), timestamp).encode()


def _text_parts(text: str, first_ref: int, concat: int) -> list[bytes]:
    refs = iter(range(first_ref, first_ref + 1000))
    transfers = build_text_transfers(
        text, (r % 256 for r in refs), concat_reference=concat, max_payload_bits=200
    )
    return [t.encode() for t in transfers]


_timestamps = st.builds(
    SdsTimestamp, st.integers(1, 12), st.integers(1, 31), st.integers(0, 23), st.integers(0, 59)
)
_latitudes = st.floats(-90, 90, allow_nan=False)
_longitudes = st.floats(-180, 180, allow_nan=False, exclude_max=True)

tl_pdus: Final[st.SearchStrategy[bytes]] = st.one_of(
    st.builds(
        _transfer,
        st.sampled_from((0x82, 0x83, 0x89, 0x8A, 0x8C, 0xC0, 0xFE)),
        st.binary(max_size=40),
        _refs,
        st.integers(0, 3),
        st.booleans(),
    ),
    st.builds(
        _forwarded,
        st.integers(0, 31),
        st.just(1),
        st.integers(0, 2**24 - 1),
        st.binary(max_size=16),
    ),
    st.builds(
        _forwarded, st.integers(0, 31), st.just(0), st.integers(0, 255), st.binary(max_size=8)
    ),
    st.builds(_forwarded, st.integers(0, 31), st.just(7), st.none(), st.binary(max_size=8)),
    st.builds(
        lambda pid, ack, status, ref, data: SdsReport(pid, ack, False, status, ref, data).encode(),
        st.sampled_from((0x82, 0x8A, 0xC0)),
        st.booleans(),
        st.integers(0, 255),
        _refs,
        st.binary(max_size=6),
    ),
    st.builds(
        lambda pid, status, ref: SdsAck(pid, status, ref).encode(),
        st.sampled_from((0x82, 0x8A)),
        st.integers(0, 255),
        _refs,
    ),
    st.builds(lambda text: simple_text(text).encode(), _short_text),
    st.builds(_text_user_data, _short_text, st.none() | _timestamps).map(
        lambda user_data: _transfer(0x82, user_data, 1, 1, True)
    ),
    st.builds(_text_parts, st.text(min_size=1, max_size=120), _refs, st.integers(0, 65535)).flatmap(
        st.sampled_from
    ),
)
"""SDS-TL PDUs (and simple PIDs) as the encoders write them."""


def _lip_short(lat: float, lon: float, speed: float | None, direction: float) -> bytes:
    return LipShortReport.from_position(
        lat,
        lon,
        time_elapsed=TimeElapsed.LESS_THAN_5_S,
        position_error=PositionError.LESS_THAN_20_M,
        speed_kmh=speed,
        direction_deg=direction,
    ).encode()


def _lip_long(lat: float, lon: float, speed: float | None, ack: bool) -> bytes:
    return LipLongReport.from_position(lat, lon, speed_kmh=speed, ack_request=ack).encode()


_speeds = st.none() | st.floats(0, 1000, allow_nan=False)
lip_pdus: Final[st.SearchStrategy[bytes]] = st.one_of(
    st.builds(_lip_short, _latitudes, _longitudes, _speeds, st.floats(0, 359.9)),
    st.builds(_lip_long, _latitudes, _longitudes, _speeds, st.booleans()),
    st.just(bytes.fromhex("0A0088BD4247F737FFE810")),  # PEI reference §7 worked example
)
"""LIP short and long reports (PID 0x0A first)."""

status_pdus: Final[st.SearchStrategy[bytes]] = st.one_of(
    st.integers(0, 0xFFFF)
    .filter(lambda v: not _is_short(v))
    .map(lambda v: StatusMessage(v).encode()),
    st.builds(
        lambda kind, ref: ShortReport(ShortReportType(kind), ref).encode(),
        st.integers(0, 3),
        _refs,
    ),
)


def _is_short(value: int) -> bool:
    return 0x7C00 <= value <= 0x7FFF


text_user_data: Final[st.SearchStrategy[bytes]] = st.builds(
    _text_user_data, _short_text, st.none() | _timestamps
)

sds_payloads: Final = st.one_of(tl_pdus, lip_pdus, status_pdus, st.binary(max_size=64))
"""Anything a ``+CTSDSR`` may carry."""


def damaged(base: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """``base`` as built, damaged, or replaced by noise."""
    return st.one_of(base, mutated(base), st.binary(max_size=300))


# ---- PEI lines ------------------------------------------------------------------------------

RADIO_LINES: Final = (
    b"OK\r\n",
    b"ERROR\r\n",
    b"+CME ERROR: 35\r\n",
    b"+CME Error: 42\r\n",
    b"+CMS ERROR: 500\r\n",
    b"\r\n+CTSDSR: 12,2040101,0,2049999,0,56\r\n82040101486569\r\n",
    b"+CTSDSR: 13,2040101,0,2049999,0,16\r\n8004\r\n",
    b"+CTSDSR: 12,2040101,84\r\n0A0088BD4247F737FFE81\r\n",
    b"+CTSDSR: 12,2040101,2049999,88\r\n0A0088BD4247F737FFE810\r\n",
    b"+CTSDSR: 12,2040101,0,2049999,0,0,32\r\n82100001\r\n",
    b"+CMGS: 5\r\n",
    b"+CMGS: 5,4,1\r\n",
    b"+CMGS: 5,5\r\n",
    b"+CNUMF: 6,26212345678\r\n",
    b"+CSQ: 21,99\r\n",
    b"+CSQ: 99\r\n",
    b"+CTGS: 1,9001\r\n",
    b"+CTOM: 0\r\n",
    b"+CTICN: 1,0,0,4,2040101,1,1,0,1,1,0,9001,1\r\n",
    b"+CTCC: 1,1,1,0,0,1,1\r\n",
    b"+CTXG: 1,3,0,0\r\n",
    b"+CTXG: 1,1,0,0,1,2040101\r\n",
    b"+CTCR: 1,1\r\n",
    b"+CTSDSR: 12,2040101\r\n",
    b"ATE0\r\n",
    b"> ",
)
"""Lines radios write (PEI reference §§1-10), vendor quirks included."""

_GARBAGE_TOKENS: Final = (
    b",",
    b'"',
    b"\x00",
    b"\r",
    b"\n",
    b"\x1a",
    b"\x1b",
    b"-1",
    b"9" * 400,
    b"+CTSDSR: ",
    b"+CMGS: ",
    b"AT+CMGS=",
    b"\xff\xfe",
    b" " * 50,
    b"Z" * 5000,
)


@st.composite
def _radio_sds(draw: st.DrawFn) -> bytes:
    payload = draw(sds_payloads.filter(bool))
    return SdsReceived.from_payload(
        draw(st.sampled_from((9, 10, 11, 12, 13))),
        draw(st.integers(0, 2**24 - 1)),
        draw(st.integers(0, 2**24 - 1)),
        payload,
    ).to_bytes()


def _gateway_commands() -> st.SearchStrategy[bytes]:
    fixed = (
        at(),
        echo_off(),
        set_charset("8859-1"),
        set_operating_mode(0),
        query_operating_mode(),
        register_service(2, 2, 20),
        register_service(1, 3, 130),
        query_own_identity(),
        query_signal(),
        select_sds_service(12),
        select_sds_service(13),
        select_group(9001),
        query_group(),
        b"AT+CMGS=2040101,16\r\n8004\x1b",
        b"ATZ\r",
        b"AT+CMGS=?\r",
    )
    sds = st.builds(
        send_sds, st.integers(0, 2**24 - 1), sds_payloads.filter(lambda p: 0 < len(p) <= 255)
    )
    return st.one_of(st.sampled_from(fixed), sds)


def _line_stream(lines: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """Several lines, each maybe damaged, with garbage tokens between them."""
    piece = st.one_of(
        lines, mutated(lines, 3), st.sampled_from(_GARBAGE_TOKENS), st.binary(max_size=40)
    )
    return st.lists(piece, max_size=12).map(b"".join)


radio_output: Final = _line_stream(st.one_of(st.sampled_from(RADIO_LINES), _radio_sds()))
"""What a radio (or a broken cable) may write: for ``PeiParser("dte")``."""
gateway_output: Final = _line_stream(_gateway_commands())
"""What a gateway (or a broken cable) may write: for ``PeiParser("mt")``."""


@st.composite
def split_points(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """``data`` cut into chunks at random places (the serial line delivers any split)."""
    if not data:
        return [data]
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(data) - 1)), max_size=8)))
    edges = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges) if b > a]


# ---- hex lines --------------------------------------------------------------------------------

hex_digits: Final = st.one_of(
    st.binary(max_size=40).map(lambda b: b.hex().upper()),
    st.text(alphabet="0123456789abcdefABCDEF", max_size=45),
    st.text(max_size=40),
    st.text(alphabet="0123456789ABCDEF \t\r\n\x00\u0660\uff10g-", max_size=30),
)
"""Hex as radios send it (upper/lower case, odd digit counts), with noise and non-ASCII digits."""


# ---- status tables (TOML) ----------------------------------------------------------------------

_MEANINGS: Final = ("acknowledged", "en_route", "on_scene", "mission_ended", "emergency")


@st.composite
def _valid_table(draw: st.DrawFn) -> str:
    values = draw(st.lists(st.integers(0x8000, 0xFFFF), max_size=6, unique=True))
    rows = [f"name = {json.dumps(draw(st.text(min_size=1, max_size=20)))}"]
    for value in values:
        rows += ["", "[[status]]", f"value = 0x{value:04X}"]
        if draw(st.booleans()):
            rows.append(f'meaning = "{draw(st.sampled_from(_MEANINGS))}"')
        rows.append(f"label = {json.dumps(draw(st.text(min_size=1, max_size=20)))}")
    return "\n".join(rows) + "\n"


_TOML_HOSTILE: Final = (
    "value = 99999999999999999999999999999",
    "value = -1",
    "value = 0x7E01",
    "value = 1.5",
    "value = nan",
    "value = inf",
    'value = "0x8001"',
    "value = true",
    "value = [1, 2]",
    "value = { a = 1 }",
    "value = 1979-05-27T07:32:00Z",
    "meaning = 3",
    'meaning = "flying"',
    "label = []",
    'label = "   "',
    'label = "\\u0000"',
    'extra = "x"',
    "[[status]]",
    "[status]",
    "status = 1",
    "status = [1, 2]",
    'name = ""',
    "name = 1",
    "a = " + "[" * 3000 + "]" * 3000,
    "a = " + "{ b = " * 600 + "1" + " }" * 600,
)


@st.composite
def _hostile_table(draw: st.DrawFn) -> str:
    lines = draw(_valid_table()).splitlines()
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(lines)))
        lines.insert(index, draw(st.sampled_from(_TOML_HOSTILE)))
    return "\n".join(lines)


@st.composite
def _char_damaged(draw: st.DrawFn, base: st.SearchStrategy[str]) -> str:
    text = draw(base)
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            text = text[:index] + draw(st.text(max_size=4)) + text[index:]
        else:
            text = text[:index] + text[index + draw(st.integers(1, 5)) :]
    return text


status_tables: Final = st.one_of(
    _valid_table(), _hostile_table(), _char_damaged(_valid_table()), st.text(max_size=200)
)
"""Status-table TOML: valid, with hostile entries, with characters damaged, or any text."""


# ---- dispatch payloads ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RawJson:
    """A literal JSON fragment (not a Python value): ``1e999``, ``NaN``, deep nesting."""

    text: str


_RAW_HOSTILE: Final = (
    RawJson("1e999"),
    RawJson("-1e999"),
    RawJson("NaN"),
    RawJson("Infinity"),
    RawJson(NUMBER_CANARY + "0" * 5000),
    RawJson("-" + NUMBER_CANARY + "e-400"),
    RawJson("[" * 5000 + "]" * 5000),
    RawJson('{"' + CANARY + '":' * 3000 + "1" + "}" * 3000),
    RawJson('"\\ud800' + CANARY + '"'),
    RawJson('"' + CANARY + '\\u0000"'),
)

_hostile_numbers = st.sampled_from(
    (
        int(NUMBER_CANARY) * 10**100,
        -int(NUMBER_CANARY + "5"),
        int(NUMBER_CANARY) * 10**9 + 7,
        float(f"{NUMBER_CANARY}e290"),
        float(f"-0.{NUMBER_CANARY}"),
        float(f"{NUMBER_CANARY}.5"),
    )
)
_hostile_strings = st.one_of(
    st.text(max_size=30).map(lambda s: CANARY + s),
    st.text(max_size=30).map(lambda s: s + CANARY),
    st.integers(1, 3).map(lambda n: CANARY + "Ø" * (n * 350_000)),  # ~0.7-2 MB of UTF-8
    st.just(CANARY + "\u202e\ufeff\U0001f691"),
)
_hostile_leaf = st.one_of(
    _hostile_strings, _hostile_numbers, st.sampled_from(_RAW_HOSTILE), st.none(), st.booleans()
)
hostile_values: Final = st.recursive(
    _hostile_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=8).map(lambda k: CANARY + k), inner, max_size=3),
    ),
    max_leaves=8,
)
"""Values that must never be echoed: strings with :data:`CANARY`, numbers with
:data:`NUMBER_CANARY`, non-finite and huge literals, deep nesting, 1 MB strings."""


def to_json(value: object) -> str:
    """``value`` as JSON text, with :class:`RawJson` fragments inserted verbatim."""
    if isinstance(value, RawJson):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        return "1e999"
    return json.dumps(value)


_ids = st.from_regex(r"[A-Za-z0-9._:-]{1,64}", fullmatch=True)
_issis = st.integers(0, 2**24 - 1)


@st.composite
def _valid_callout(draw: st.DrawFn) -> dict[str, object]:
    issis = draw(st.lists(_issis, min_size=1, max_size=5, unique=True))
    return {
        "callout_id": draw(_ids),
        "incident_id": draw(_ids),
        "priority": "1A",
        "units": [{"issi": i, "role": draw(st.sampled_from(("ambulance", "fire")))} for i in issis],
        "text": "Hjertestans. Storgata 1, Oslo. Mann 67 år.",
        "talkgroup": draw(st.booleans()),
        "deadline_s": draw(st.integers(5, 3600)),
    }


def _valid_close() -> st.SearchStrategy[dict[str, object]]:
    return st.one_of(st.just({}), st.builds(lambda r: {"reason": r}, st.text(max_size=50)))


def _valid_send() -> st.SearchStrategy[dict[str, object]]:
    return st.one_of(
        st.builds(lambda r, t: {"request_id": r, "text": t}, _ids, st.text(min_size=1)),
        st.builds(lambda r, s: {"request_id": r, "status": s}, _ids, st.integers(0, 0xFFFF)),
    )


_FIELD_PATHS: Final = (
    ("callout_id",),
    ("incident_id",),
    ("priority",),
    ("units",),
    ("units", 0),
    ("units", 0, "issi"),
    ("units", 0, "role"),
    ("text",),
    ("talkgroup",),
    ("deadline_s",),
    ("reason",),
    ("request_id",),
    ("status",),
)


@st.composite
def _poisoned(draw: st.DrawFn, base: st.SearchStrategy[dict[str, object]]) -> object:
    """A valid payload with some fields (existing or new) replaced by hostile values."""
    payload: object = draw(base)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_FIELD_PATHS))
        payload = _replace(payload, path, draw(hostile_values))
    if draw(st.booleans()):
        payload = draw(hostile_values)  # the whole payload is hostile (a list, a string, ...)
    return payload


def _replace(node: object, path: tuple[str | int, ...], value: object) -> object:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, dict) and isinstance(head, str):
        return {**node, head: _replace(node.get(head), rest, value)}
    if isinstance(node, list) and isinstance(head, int) and head < len(node):
        copy = list(node)
        copy[head] = _replace(node[head], rest, value)
        return copy
    return node


def _topic_id() -> st.SearchStrategy[str]:
    return st.one_of(_ids, st.text(max_size=20).map(lambda s: CANARY + s))


inbound_topics: Final = st.one_of(
    st.just("callouts"),
    st.builds("incidents/{}/close".format, _topic_id()),
    st.builds("units/{}/send".format, st.one_of(_issis.map(str), _topic_id())),
    st.sampled_from(
        (
            "units/16777216/send",
            "units/-1/send",
            "units/+/send",
            "units/0x10/send",
            "units/０１/send",
            "incidents//close",
            "incidents/#/close",
            "callouts/x",
            "",
            "/",
        )
    ),
    st.text(max_size=30).map(lambda s: CANARY + s),
)
"""Inbound topics relative to ``<root>/v1/``; made-up ids carry :data:`CANARY`."""


def _payload_for(topic: str) -> st.SearchStrategy[dict[str, object]]:
    if topic.startswith("incidents/"):
        return _valid_close()
    if topic.startswith("units/"):
        return _valid_send()
    return _valid_callout()


@st.composite
def inbound_messages(draw: st.DrawFn) -> tuple[str, bytes, int]:
    """(topic, payload bytes, max_bytes): valid, poisoned, byte-damaged, or noise."""
    topic = draw(inbound_topics)
    base = _payload_for(topic)
    encoded = st.one_of(
        base.map(to_json),
        _poisoned(base).map(to_json),
    ).map(lambda text: text.encode("utf-8", errors="surrogatepass"))
    payload = draw(st.one_of(encoded, mutated(encoded), st.binary(max_size=200)))
    # The default limit (64 KiB), and a generous one so that 1 MB strings reach the parser.
    max_bytes = draw(st.sampled_from((64 * 1024, 4 * 1024 * 1024)))
    return topic, payload, max_bytes
