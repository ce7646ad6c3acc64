"""The fuzz targets: each pairs an input generator with the contract the code must keep.

A check returns normally when the code under test kept its contract and raises (usually
``AssertionError``, or whatever the code itself leaked) when it did not. The same targets
drive the quick pytest run (``tests/fuzz/test_fuzz_targets.py``) and the budgeted runner
(``python -m tests.fuzz.run``).

Contracts (docs/internal-api.md):

- ``PeiParser(role).feed(bytes)`` never raises, yields only the role's event types, keeps
  ``buffered_bytes <= MAX_LINE_BYTES``, and every event it yields can be written back with
  ``to_bytes()``.
- The SDS decoders, ``StatusTable.from_toml`` and ``payload_from_hex`` raise only
  ``ProtocolError``; ``describe`` of anything ``decode_sds`` returned gives a strict JSON object.
- ``parse_inbound(topic, payload)`` raises only ``DispatchRejected`` with a known ``error``,
  and its ``detail`` never repeats a value from the topic or payload.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, get_args

from hypothesis import strategies as st

from protocols.dispatch import DispatchRejected, RejectionCode, parse_inbound
from protocols.errors import ProtocolError
from protocols.payload import payload_from_hex
from protocols.pei import MAX_LINE_BYTES, AbortSds, AtCommand, PeiParser, SendSds, Unrecognised
from protocols.pei.events import PeiEvent
from protocols.sds.lip import decode_lip
from protocols.sds.message import decode_sds, describe
from protocols.sds.status import StatusTable
from protocols.sds.text import TextUserData
from protocols.sds.tl import decode_tl
from tests.fuzz import strategies as gen

_PEI_EVENT_TYPES: Final = get_args(PeiEvent)
_MT_EVENT_TYPES: Final = (AtCommand, SendSds, AbortSds, Unrecognised)
_REJECTION_CODES: Final = frozenset(get_args(RejectionCode))


@dataclass(frozen=True, slots=True)
class FuzzTarget:
    """One fuzzed entry point: ``check(example)`` for every ``example`` drawn from ``inputs``."""

    name: str
    inputs: st.SearchStrategy[Any]
    check: Callable[[Any], None]
    #: Examples for the quick run inside ``make test`` (a few seconds for all targets).
    quick_examples: int = 60


# ---- PEI parser ---------------------------------------------------------------------------------


def _feed_all(role: str, chunks: list[bytes], allowed: tuple[type, ...]) -> None:
    parser = PeiParser(role)  # type: ignore[call-overload]
    for chunk in chunks:
        events: list[object] = parser.feed(chunk)
        assert parser.buffered_bytes <= MAX_LINE_BYTES, parser.buffered_bytes
        for event in events:
            assert isinstance(event, allowed), type(event)
            written = event.to_bytes()  # type: ignore[attr-defined]
            assert isinstance(written, bytes)


def _chunked(streams: st.SearchStrategy[bytes]) -> st.SearchStrategy[list[bytes]]:
    return streams.flatmap(gen.split_points)


def check_pei_dte(chunks: list[bytes]) -> None:
    _feed_all("dte", chunks, _PEI_EVENT_TYPES)


def check_pei_mt(chunks: list[bytes]) -> None:
    _feed_all("mt", chunks, _MT_EVENT_TYPES)


# ---- SDS decoders -------------------------------------------------------------------------------


def check_decode_tl(example: tuple[bytes, int | None]) -> None:
    payload, length_bits = example
    with contextlib.suppress(ProtocolError):
        decode_tl(payload, length_bits)


def check_text_user_data(data: bytes) -> None:
    try:
        decoded = TextUserData.decode(data)
    except ProtocolError:
        return
    assert isinstance(decoded.text, str)


def check_decode_lip(example: tuple[bytes, int | None]) -> None:
    payload, length_bits = example
    with contextlib.suppress(ProtocolError):
        decode_lip(payload, length_bits)


_TABLE: Final = StatusTable.from_toml(
    'name = "fuzz"\n[[status]]\nvalue = 0x8003\nmeaning = "on_scene"\nlabel = "Framme"\n'
)


def check_decode_sds(example: tuple[int, bytes, int | None]) -> None:
    ai_service, payload, length_bits = example
    try:
        message = decode_sds(ai_service, payload, length_bits)
    except ProtocolError:
        return
    for table in (None, _TABLE):
        # decode_sds does not look inside a text PDU's user data; describe does and may
        # refuse it (ProtocolError, which `tetragw decode` reports). Anything it returns is
        # printed by `tetragw decode`: it must be a strict JSON object.
        try:
            described = describe(message, table)
        except ProtocolError:
            continue
        assert isinstance(described, dict)
        assert {"kind", "pid"} <= described.keys()
        json.dumps(described, allow_nan=False, ensure_ascii=False)


def check_status_table(text: str) -> None:
    try:
        table = StatusTable.from_toml(text)
    except ProtocolError:
        return
    for entry in table.entries:
        assert table.lookup(entry.value) is not None


def check_payload_from_hex(example: tuple[str, int | None]) -> None:
    digits, length_bits = example
    try:
        data = payload_from_hex(digits, length_bits)
    except ProtocolError:
        return
    # The docstring's promise: odd digits are padded, a declared length that fits cuts the
    # bytes to what it needs, a longer one keeps what is there.
    available = (len(digits.strip()) + 1) // 2
    needed = available if length_bits is None else (length_bits + 7) // 8
    assert len(data) == min(available, needed), (len(data), available, needed)


# ---- dispatch API -------------------------------------------------------------------------------


def check_parse_inbound(example: tuple[str, bytes, int]) -> None:
    topic, payload, max_bytes = example
    try:
        parse_inbound(topic, payload, max_bytes=max_bytes)
    except DispatchRejected as exc:
        rejected = exc
    else:
        return
    assert rejected.error in _REJECTION_CODES, rejected.error
    assert rejected.topic == topic
    for secret in (gen.CANARY, gen.NUMBER_CANARY, "\u2603", "QZX"):
        assert secret not in rejected.detail, f"detail echoes the input: {rejected.detail[:200]!r}"


# ---- the list -----------------------------------------------------------------------------------

_ai_services = st.one_of(st.sampled_from((9, 10, 11, 12, 13)), st.integers(-5, 300))


@st.composite
def _sds_examples(draw: st.DrawFn) -> tuple[int, bytes, int | None]:
    payload = draw(gen.damaged(gen.sds_payloads))
    return draw(_ai_services), payload, draw(gen.length_bits_for(payload))


TARGETS: Final[tuple[FuzzTarget, ...]] = (
    FuzzTarget("pei_parser_dte", _chunked(gen.radio_output), check_pei_dte),
    FuzzTarget("pei_parser_mt", _chunked(gen.gateway_output), check_pei_mt),
    FuzzTarget("decode_tl", gen.with_length(gen.damaged(gen.tl_pdus)), check_decode_tl),
    FuzzTarget("text_user_data", gen.damaged(gen.text_user_data), check_text_user_data),
    FuzzTarget("decode_lip", gen.with_length(gen.damaged(gen.lip_pdus)), check_decode_lip),
    FuzzTarget("decode_sds_describe", _sds_examples(), check_decode_sds),
    FuzzTarget("status_table_toml", gen.status_tables, check_status_table),
    FuzzTarget(
        "payload_from_hex",
        st.tuples(gen.hex_digits, st.none() | st.integers(-10, 400)),
        check_payload_from_hex,
    ),
    FuzzTarget("parse_inbound", gen.inbound_messages(), check_parse_inbound, quick_examples=40),
)
"""Every fuzz target, in the order the runner visits them."""

TARGETS_BY_NAME: Final = {target.name: target for target in TARGETS}
