"""Concatenated text (PID 0x8A): the user-data header, and splitting a text into parts.

Layout (EN 300 392-2 29.5, PID 0x8A "message with user-data header"; PEI reference §5):
SDS-TL header, then ``t ccccccc | [timestamp] | 05 00 03 <ref> <total> <part> | text``:
the same coding byte (and optional timestamp) as PID 0x82 (``protocols.sds.text_user_data``),
followed by a user-data header in the style of 3GPP TS 23.040 9.2.3.24 - length 5,
information element 0x00 (concatenated message, 8-bit reference) of length 3 - and then
this part's text. Parts are numbered 1..total. On receipt, IE 0x08 (16-bit reference,
length 4) is accepted too and other IEs are skipped.

Sizes: a PDU is kept within ``max_payload_bits`` (default 656 = 82 bytes, PID included;
radios take up to 1184 bits but ~660 is what works in practice). A text that does not
fit in one SDS-TRANSFER is split into PID 0x8A parts; more than ``max_parts`` (at most
255, the size of the "total" field) raises ``TextTooLong``.

Putting the parts back together is ``protocols.sds.text.TextReassembler``, next to
``decode_text`` which it uses. Every public name here is re-exported by ``protocols.sds.text``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from protocols.errors import ProtocolError
from protocols.sds.text_coding import (
    CodingScheme,
    char_costs,
    coding_scheme,
    decode_chars,
    encode_chars,
    pick_coding,
)
from protocols.sds.text_user_data import (
    SdsTimestamp,
    TextUserData,
    coding_header,
    split_coding_header,
)
from protocols.sds.tl import DeliveryReportRequest, SdsTransfer

__all__ = [
    "CONCATENATED_TEXT_PID",
    "DEFAULT_MAX_PAYLOAD_BITS",
    "MAX_TEXT_PARTS",
    "ConcatenationHeader",
    "TextPart",
    "TextTooLong",
    "build_text_transfers",
    "decode_text_part",
]

CONCATENATED_TEXT_PID: Final = 0x8A
MAX_TEXT_PARTS: Final = 255
DEFAULT_MAX_PAYLOAD_BITS: Final = 656
_TL_HEADER_BYTES: Final = 3  # PID, message type/flags, message reference


class TextTooLong(ProtocolError):  # noqa: N818 - name fixed by docs/internal-api.md
    """The text needs more SDS parts than allowed (``max_parts``, at most 255)."""


@dataclass(frozen=True, slots=True)
class ConcatenationHeader:
    """The user-data header of one part: reference, number of parts, this part (1-based)."""

    reference: int
    total: int
    part: int

    def __post_init__(self) -> None:
        if not 0 <= self.reference <= 0xFFFF:
            raise ProtocolError(f"concatenation reference {self.reference} is outside 0..65535")
        if not 1 <= self.total <= MAX_TEXT_PARTS:
            raise ProtocolError(f"concatenation total {self.total} is outside 1..255")
        if not 1 <= self.part <= self.total:
            raise ProtocolError(f"concatenation part {self.part} is outside 1..{self.total}")

    def encode(self) -> bytes:
        """``05 00 03 ref total part`` (IE 0x08 with a 16-bit reference above 255)."""
        if self.reference <= 0xFF:
            return bytes([5, 0x00, 3, self.reference, self.total, self.part])
        return bytes([6, 0x08, 4, *self.reference.to_bytes(2, "big"), self.total, self.part])

    @staticmethod
    def split(data: bytes) -> tuple[ConcatenationHeader | None, bytes]:
        """Parse a user-data header at the start of ``data``; return it and the rest."""
        if not data:
            raise ProtocolError("user-data header missing")
        end = 1 + data[0]
        if len(data) < end:
            raise ProtocolError("user-data header longer than the data")
        header: ConcatenationHeader | None = None
        pos = 1
        while pos < end:
            if pos + 2 > end or pos + 2 + data[pos + 1] > end:
                raise ProtocolError("user-data header information element overruns")
            iei, size, value = data[pos], data[pos + 1], data[pos + 2 : pos + 2 + data[pos + 1]]
            if iei == 0x00 and size == 3:
                header = ConcatenationHeader(value[0], value[1], value[2])
            elif iei == 0x08 and size == 4:
                header = ConcatenationHeader(int.from_bytes(value[:2], "big"), value[2], value[3])
            pos += 2 + size
        return header, data[end:]


@dataclass(frozen=True, slots=True)
class TextPart:
    """A decoded PID 0x8A transfer: its concatenation header (None if it has none) and text."""

    concatenation: ConcatenationHeader | None
    user_data: TextUserData

    def encode(self) -> bytes:
        """The user data of the SDS-TRANSFER: coding header, UDH, text (module docstring)."""
        udh = b"\x00" if self.concatenation is None else self.concatenation.encode()
        text = encode_chars(self.user_data.text, self.user_data.coding)
        return coding_header(self.user_data.coding, self.user_data.timestamp) + udh + text


def decode_text_part(transfer: SdsTransfer) -> TextPart:
    """Decode a PID 0x8A SDS-TRANSFER (layout in the module docstring)."""
    if transfer.pid != CONCATENATED_TEXT_PID:
        raise ProtocolError(f"PID 0x{transfer.pid:02X} is not a concatenated text (0x8A)")
    coding, timestamp, rest = split_coding_header(transfer.user_data)
    header, text = ConcatenationHeader.split(rest)
    return TextPart(header, TextUserData(decode_chars(text, coding), coding, timestamp))


def _chunks(text: str, coding: CodingScheme, capacity_bytes: int) -> list[str]:
    """Split ``text`` into pieces that each encode into ``capacity_bytes``."""
    seven_bit = coding is CodingScheme.SEVEN_BIT
    capacity = capacity_bytes * 8 // 7 if seven_bit else capacity_bytes
    pieces: list[str] = []
    start, used = 0, 0
    for i, cost in enumerate(char_costs(text, coding)):
        if cost > capacity:
            raise ProtocolError("max_payload_bits is too small for one character")
        if used + cost > capacity:
            end = i
            if seven_bit and used % 8 == 0 and text[i - 1] == "\r":
                # 8n septets ending in CR cannot be encoded (module docstring): the CR
                # opens the next piece instead. used >= 8 here, so it still fits.
                end = i - 1
            pieces.append(text[start:end])
            start, used = end, i - end
        used += cost
    last = text[start:]
    if seven_bit and used and used % 8 == 0 and last.endswith("\r"):
        pieces.extend((last[:-1], "\r"))
    else:
        pieces.append(last)
    return pieces


def build_text_transfers(
    text: str,
    references: Iterable[int],
    *,
    delivery_report: DeliveryReportRequest = DeliveryReportRequest.RECEIVED,
    short_form_report: bool = True,
    concat_reference: int = 0,
    max_payload_bits: int = DEFAULT_MAX_PAYLOAD_BITS,
    coding: CodingScheme | None = None,
    timestamp: SdsTimestamp | None = None,
    max_parts: int = MAX_TEXT_PARTS,
) -> list[SdsTransfer]:
    """The SDS-TRANSFERs that carry ``text``.

    One PID 0x82 transfer when it fits in ``max_payload_bits`` (PID included), else PID
    0x8A parts numbered 1..n under ``concat_reference``. ``references`` gives one SDS-TL
    message reference per transfer, in order. ``coding`` defaults to ``pick_coding``.
    More than ``max_parts`` parts raise ``TextTooLong``.
    """
    if not 1 <= max_parts <= MAX_TEXT_PARTS:
        raise ProtocolError(f"max_parts {max_parts} is outside 1..{MAX_TEXT_PARTS}")
    chosen = pick_coding(text) if coding is None else coding_scheme(int(coding))
    refs = iter(references)
    header = coding_header(chosen, timestamp)
    budget = max_payload_bits // 8 - _TL_HEADER_BYTES - len(header)
    try:
        single = TextUserData(text, chosen, timestamp).encode()
    except ProtocolError:
        if chosen is not CodingScheme.SEVEN_BIT:
            raise
        single = b""  # the 7-bit CR ambiguity: splitting moves the CR to its own part
    else:
        if len(single) - len(header) <= budget:
            return [_transfer(0x82, single, refs, delivery_report, short_form_report)]
    udh_size = len(ConcatenationHeader(concat_reference, 1, 1).encode())
    pieces = _chunks(text, chosen, budget - udh_size)
    if len(pieces) > max_parts:
        raise TextTooLong(f"text needs {len(pieces)} parts, at most {max_parts} allowed")
    total = len(pieces)
    return [
        _transfer(
            CONCATENATED_TEXT_PID,
            TextPart(
                ConcatenationHeader(concat_reference, total, number),
                TextUserData(piece, chosen, timestamp),
            ).encode(),
            refs,
            delivery_report,
            short_form_report,
        )
        for number, piece in enumerate(pieces, start=1)
    ]


def _transfer(
    pid: int,
    user_data: bytes,
    refs: Iterator[int],
    delivery_report: DeliveryReportRequest,
    short_form_report: bool,
) -> SdsTransfer:
    reference = next(refs, None)
    if reference is None:
        raise ProtocolError("references ran out before every part had one")
    return SdsTransfer(pid, delivery_report, short_form_report, False, reference, user_data)
