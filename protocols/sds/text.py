"""Text in short data: coding schemes, timestamps, simple and SDS-TL text, concatenation.

Layouts (EN 300 392-2 clause 29.5; PEI reference §5):

* Simple text, PID 0x02 (0x09 immediate): ``PID | r ccccccc | text``. Bit 7 of the byte
  after the PID is *reserved* in simple text messaging (29.5.2: no timestamp exists
  there); it is sent as 0 and ignored on receipt. Bits 6-0 are the text coding scheme.
* SDS-TL text, PID 0x82 (0x89 immediate): SDS-TL header (``protocols.sds.tl``), then the
  text user data ``t ccccccc | [timestamp, 3 bytes] | text`` where t = timestamp present.
* Timestamp (24 bits): ``ff rr mmmm | ddddd hhh | hh nnnnnn`` = time frame (01 = UTC),
  reserved, month 1-12, day 1-31, hour 0-23, minute 0-59. There is no year.
* Concatenated text, PID 0x8A ("message with user-data header"). The layout used here is
  SDS-TL header, then ``t ccccccc | [timestamp] | 05 00 03 <ref> <total> <part> | text``:
  the same coding byte (and optional timestamp) as PID 0x82, followed by a user-data
  header in the style of 3GPP TS 23.040 9.2.3.24 - length 5, information element 0x00
  (concatenated message, 8-bit reference) of length 3 - and then this part's text.
  Parts are numbered 1..total. On receipt, IE 0x08 (16-bit reference, length 4) is
  accepted too and other IEs are skipped.

Coding schemes: 0 = 7-bit (GSM 03.38 default alphabet, septets packed LSB first as in
ETS 300 628, with the extension table behind ESC; 7 spare bits at the end are filled with
CR as in 3GPP TS 23.038 6.1.2.3.1 and that CR is dropped on decode), 1-10 = ISO 8859-1..10,
0x0B/0x0C/0x0D = ISO 8859-13/14/15, 0x1A = UCS-2, sent as UTF-16BE (characters outside the
BMP become surrogate pairs). A 7-bit text whose septet count is a multiple of 8 and that
ends in CR cannot be told apart from padding: encoding it raises ``ProtocolError``.

Sizes: a PDU is kept within ``max_payload_bits`` (default 656 = 82 bytes, PID included;
radios take up to 1184 bits but ~660 is what works in practice). A text that does not
fit in one SDS-TRANSFER is split into PID 0x8A parts; more than ``max_parts`` (at most
255, the size of the "total" field) raises ``TextTooLong``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

from construct import BitsInteger, BitStruct

from protocols.errors import ProtocolError
from protocols.sds.tl import DeliveryReportRequest, SdsTransfer, SimpleSds

__all__ = [
    "CONCATENATED_TEXT_PID",
    "DEFAULT_MAX_PAYLOAD_BITS",
    "MAX_TEXT_PARTS",
    "SIMPLE_TEXT_PIDS",
    "TL_TEXT_PIDS",
    "CodingScheme",
    "ConcatenationHeader",
    "SdsTimestamp",
    "TextPart",
    "TextReassembler",
    "TextTooLong",
    "TextUserData",
    "build_text_transfers",
    "decode_text",
    "decode_text_part",
    "pick_coding",
    "simple_text",
]

SIMPLE_TEXT_PIDS: Final = frozenset({0x02, 0x09})
TL_TEXT_PIDS: Final = frozenset({0x82, 0x89})
CONCATENATED_TEXT_PID: Final = 0x8A
MAX_TEXT_PARTS: Final = 255
DEFAULT_MAX_PAYLOAD_BITS: Final = 656
_TL_HEADER_BYTES: Final = 3  # PID, message type/flags, message reference


class TextTooLong(ProtocolError):  # noqa: N818 - name fixed by docs/internal-api.md
    """The text needs more SDS parts than allowed (``max_parts``, at most 255)."""


class CodingScheme(IntEnum):
    """Text coding scheme (EN 300 392-2 29.5.4.1), the low 7 bits of the coding byte."""

    SEVEN_BIT = 0x00
    ISO_8859_1 = 0x01
    ISO_8859_2 = 0x02
    ISO_8859_3 = 0x03
    ISO_8859_4 = 0x04
    ISO_8859_5 = 0x05
    ISO_8859_6 = 0x06
    ISO_8859_7 = 0x07
    ISO_8859_8 = 0x08
    ISO_8859_9 = 0x09
    ISO_8859_10 = 0x0A
    ISO_8859_13 = 0x0B
    ISO_8859_14 = 0x0C
    ISO_8859_15 = 0x0D
    UCS2 = 0x1A


_CODECS: Final = {
    **{CodingScheme(n): f"iso8859_{n}" for n in range(1, 11)},
    CodingScheme.ISO_8859_13: "iso8859_13",
    CodingScheme.ISO_8859_14: "iso8859_14",
    CodingScheme.ISO_8859_15: "iso8859_15",
    CodingScheme.UCS2: "utf_16_be",
}

# The encoder's preference among the one-byte codings: Latin-script parts, Western first,
# 8859-15 right after 8859-1 for "€". Cyrillic/Greek/Arabic/Hebrew parts are left out on
# purpose: terminals display UCS-2 far more reliably than those parts.
_PREFERRED: Final = (
    CodingScheme.ISO_8859_1,
    CodingScheme.ISO_8859_15,
    CodingScheme.ISO_8859_2,
    CodingScheme.ISO_8859_3,
    CodingScheme.ISO_8859_4,
    CodingScheme.ISO_8859_9,
    CodingScheme.ISO_8859_10,
    CodingScheme.ISO_8859_13,
    CodingScheme.ISO_8859_14,
)

# GSM 03.38 default alphabet; index = septet. 0x1B is ESC (the extension table follows).
_GSM_BASIC: Final = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_ESC: Final = 0x1B
_GSM_CR: Final = 0x0D
_GSM_EXTENSION: Final = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}
_GSM_ENCODE: Final = {
    **{ch: (i,) for i, ch in enumerate(_GSM_BASIC) if i != _GSM_ESC},
    **{ch: (_GSM_ESC, code) for code, ch in _GSM_EXTENSION.items()},
}

_TIMESTAMP = BitStruct(
    "time_frame" / BitsInteger(2),
    "reserved" / BitsInteger(2),
    "month" / BitsInteger(4),
    "day" / BitsInteger(5),
    "hour" / BitsInteger(5),
    "minute" / BitsInteger(6),
)


def _coding(value: int) -> CodingScheme:
    try:
        return CodingScheme(value)
    except ValueError:
        raise ProtocolError(f"text coding scheme 0x{value:02X} is not supported") from None


# --- 7-bit alphabet ---------------------------------------------------------------------


def _septets(text: str) -> list[int]:
    out: list[int] = []
    for ch in text:
        codes = _GSM_ENCODE.get(ch)
        if codes is None:
            raise ProtocolError(f"character U+{ord(ch):04X} is not in the 7-bit alphabet")
        out.extend(codes)
    return out


def _pack_septets(text: str) -> bytes:
    septets = _septets(text)
    if septets and len(septets) % 8 == 0 and septets[-1] == _GSM_CR:
        raise ProtocolError("a 7-bit text of 8n septets ending in CR is ambiguous")
    size = (7 * len(septets) + 7) // 8
    if 8 * size - 7 * len(septets) == 7:
        septets.append(_GSM_CR)  # 3GPP TS 23.038 6.1.2.3.1: pad 7 spare bits with CR
    acc = 0
    for i, septet in enumerate(septets):
        acc |= septet << (7 * i)
    return acc.to_bytes(size, "little")


def _unpack_septets(data: bytes) -> str:
    count = len(data) * 8 // 7
    acc = int.from_bytes(data, "little")
    septets = [(acc >> (7 * i)) & 0x7F for i in range(count)]
    if len(data) % 7 == 0 and septets and septets[-1] == _GSM_CR:
        septets.pop()  # the CR that filled 7 spare bits
    chars: list[str] = []
    escaped = False
    for septet in septets:
        if escaped:
            # 23.038: an unknown extension code shows the default-alphabet character.
            chars.append(_GSM_EXTENSION.get(septet, _GSM_BASIC[septet]))
            escaped = False
        elif septet == _GSM_ESC:
            escaped = True
        else:
            chars.append(_GSM_BASIC[septet])
    if escaped:
        raise ProtocolError("7-bit text ends inside an escape sequence")
    return "".join(chars)


# --- text bytes ---------------------------------------------------------------------------


def _encode_chars(text: str, coding: CodingScheme) -> bytes:
    if coding is CodingScheme.SEVEN_BIT:
        return _pack_septets(text)
    try:
        return text.encode(_CODECS[coding])
    except UnicodeEncodeError as exc:
        bad = text[exc.start]
        raise ProtocolError(f"character U+{ord(bad):04X} does not fit {coding.name}") from None


def _decode_chars(data: bytes, coding: CodingScheme) -> str:
    if coding is CodingScheme.SEVEN_BIT:
        return _unpack_septets(data)
    try:
        return data.decode(_CODECS[coding])
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"text is not valid {coding.name}: {exc.reason}") from None


def _char_cost(ch: str, coding: CodingScheme) -> int:
    """Size of one character: septets for 7-bit, bytes otherwise."""
    if coding is CodingScheme.SEVEN_BIT:
        return len(_septets(ch))
    return len(_encode_chars(ch, coding))


def pick_coding(text: str, candidates: Sequence[CodingScheme] = _PREFERRED) -> CodingScheme:
    """The smallest coding that holds ``text``: the first of ``candidates`` (one byte per
    character; by default the Latin-script ISO 8859 parts, 8859-1 first, then 8859-15)
    that can encode every character, else UCS-2. Nordic æøåäö give 8859-1, "€" 8859-15.
    """
    for coding in candidates:
        try:
            _encode_chars(text, coding)
        except ProtocolError:
            continue
        return coding
    return CodingScheme.UCS2


# --- timestamp and text user data -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SdsTimestamp:
    """The 24-bit SDS-TL text timestamp (no year). ``time_frame`` 1 = UTC."""

    month: int
    day: int
    hour: int
    minute: int
    time_frame: int = 1

    def __post_init__(self) -> None:
        for name, low, high in (
            ("month", 1, 12),
            ("day", 1, 31),
            ("hour", 0, 23),
            ("minute", 0, 59),
            ("time_frame", 0, 3),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ProtocolError(f"timestamp {name} {value!r} is outside {low}..{high}")

    def encode(self) -> bytes:
        """The three timestamp bytes."""
        values: dict[str, Any] = {
            "time_frame": self.time_frame,
            "reserved": 0,
            "month": self.month,
            "day": self.day,
            "hour": self.hour,
            "minute": self.minute,
        }
        return bytes(_TIMESTAMP.build(values))

    @classmethod
    def decode(cls, data: bytes) -> SdsTimestamp:
        """Parse the first three bytes of ``data``."""
        if len(data) < 3:
            raise ProtocolError(f"timestamp needs 3 bytes, got {len(data)}")
        f = _TIMESTAMP.parse(bytes(data[:3]))
        return cls(int(f.month), int(f.day), int(f.hour), int(f.minute), int(f.time_frame))


def _split_coding_header(data: bytes) -> tuple[CodingScheme, SdsTimestamp | None, bytes]:
    if not data:
        raise ProtocolError("text user data is empty (no coding scheme byte)")
    coding = _coding(data[0] & 0x7F)
    if data[0] & 0x80:
        return coding, SdsTimestamp.decode(data[1:4]), data[4:]
    return coding, None, data[1:]


def _coding_header(coding: CodingScheme, timestamp: SdsTimestamp | None) -> bytes:
    if timestamp is None:
        return bytes([coding])
    return bytes([0x80 | coding]) + timestamp.encode()


@dataclass(frozen=True, slots=True)
class TextUserData:
    """The user data of an SDS-TL text: coding byte, optional timestamp, the text."""

    text: str
    coding: CodingScheme
    timestamp: SdsTimestamp | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise ProtocolError("text must be a str")
        object.__setattr__(self, "coding", _coding(int(self.coding)))

    def encode(self) -> bytes:
        """Coding byte (bit 7 = timestamp present), timestamp, encoded text."""
        return _coding_header(self.coding, self.timestamp) + _encode_chars(self.text, self.coding)

    @classmethod
    def decode(cls, data: bytes) -> TextUserData:
        """Parse the user data of an SDS-TL text (PID 0x82/0x89)."""
        coding, timestamp, rest = _split_coding_header(bytes(data))
        return cls(_decode_chars(rest, coding), coding, timestamp)


# --- concatenation --------------------------------------------------------------------------


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
        text = _encode_chars(self.user_data.text, self.user_data.coding)
        return _coding_header(self.user_data.coding, self.user_data.timestamp) + udh + text


def decode_text_part(transfer: SdsTransfer) -> TextPart:
    """Decode a PID 0x8A SDS-TRANSFER (layout in the module docstring)."""
    if transfer.pid != CONCATENATED_TEXT_PID:
        raise ProtocolError(f"PID 0x{transfer.pid:02X} is not a concatenated text (0x8A)")
    coding, timestamp, rest = _split_coding_header(transfer.user_data)
    header, text = ConcatenationHeader.split(rest)
    return TextPart(header, TextUserData(_decode_chars(text, coding), coding, timestamp))


def decode_text(pdu: SdsTransfer | SimpleSds) -> TextUserData:
    """The text of a simple (0x02/0x09), SDS-TL (0x82/0x89) or concatenated-part (0x8A) SDS.

    For a 0x8A part this is that part's text only; use ``TextReassembler`` for the whole.
    """
    if isinstance(pdu, SimpleSds):
        if pdu.pid not in SIMPLE_TEXT_PIDS:
            raise ProtocolError(f"PID 0x{pdu.pid:02X} is not a simple text")
        if not pdu.data:
            raise ProtocolError("simple text lacks its coding scheme byte")
        coding = _coding(pdu.data[0] & 0x7F)  # bit 7 reserved in simple text (29.5.2)
        return TextUserData(_decode_chars(pdu.data[1:], coding), coding)
    if isinstance(pdu, SdsTransfer):
        if pdu.pid in TL_TEXT_PIDS:
            return TextUserData.decode(pdu.user_data)
        if pdu.pid == CONCATENATED_TEXT_PID:
            return decode_text_part(pdu).user_data
        raise ProtocolError(f"PID 0x{pdu.pid:02X} is not a text")
    raise ProtocolError(f"{type(pdu).__name__} does not carry text")


def simple_text(
    text: str, coding: CodingScheme | None = None, *, immediate: bool = False
) -> SimpleSds:
    """A simple text SDS (PID 0x02, or 0x09 when ``immediate``); coding picked if None."""
    chosen = pick_coding(text) if coding is None else _coding(int(coding))
    pid = 0x09 if immediate else 0x02
    return SimpleSds(pid, bytes([chosen]) + _encode_chars(text, chosen))


def _chunks(text: str, coding: CodingScheme, capacity_bytes: int) -> list[str]:
    """Split ``text`` into pieces that each encode into ``capacity_bytes``."""
    seven_bit = coding is CodingScheme.SEVEN_BIT
    capacity = capacity_bytes * 8 // 7 if seven_bit else capacity_bytes
    pieces: list[str] = []
    start, used = 0, 0
    for i, ch in enumerate(text):
        cost = _char_cost(ch, coding)
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
    chosen = pick_coding(text) if coding is None else _coding(int(coding))
    refs = iter(references)
    header = _coding_header(chosen, timestamp)
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


class TextReassembler:
    """Collects the parts of concatenated texts and gives each text once it is whole.

    Pure and bounded: at most ``max_pending`` incomplete texts are kept, keyed by
    (sender, concatenation reference); starting one more evicts the oldest. A part whose
    total disagrees with the pending text of the same key replaces that text (the sender
    has reused the reference). Duplicate parts are ignored.
    """

    __slots__ = ("_max_pending", "_pending")

    def __init__(self, max_pending: int = 64) -> None:
        if max_pending < 1:
            raise ProtocolError("max_pending must be at least 1")
        self._max_pending = max_pending
        self._pending: dict[tuple[int, int], tuple[int, dict[int, str]]] = {}

    @property
    def pending(self) -> int:
        """How many incomplete texts are held."""
        return len(self._pending)

    def add(self, sender_issi: int, transfer: SdsTransfer | SimpleSds) -> str | None:
        """Take one text SDS; return the whole text when it is complete, else None.

        A text that is not a 0x8A part (or is one without a concatenation header) is
        complete by itself and is returned at once.
        """
        if not (isinstance(transfer, SdsTransfer) and transfer.pid == CONCATENATED_TEXT_PID):
            return decode_text(transfer).text
        part = decode_text_part(transfer)
        header = part.concatenation
        if header is None:
            return part.user_data.text
        key = (sender_issi, header.reference)
        entry = self._pending.get(key)
        if entry is None or entry[0] != header.total:
            self._pending.pop(key, None)
            if len(self._pending) >= self._max_pending:
                del self._pending[next(iter(self._pending))]
            entry = (header.total, {})
            self._pending[key] = entry
        entry[1].setdefault(header.part, part.user_data.text)
        if len(entry[1]) < header.total:
            return None
        del self._pending[key]
        return "".join(entry[1][n] for n in range(1, header.total + 1))
