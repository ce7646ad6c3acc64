"""Text coding schemes of SDS text (EN 300 392-2 29.5.4.1): the characters of a text as bytes.

0 = 7-bit (GSM 03.38 default alphabet, septets packed LSB first as in ETS 300 628, with
the extension table behind ESC; 7 spare bits at the end are filled with CR as in 3GPP
TS 23.038 6.1.2.3.1 and that CR is dropped on decode), 1-10 = ISO 8859-1..10,
0x0B/0x0C/0x0D = ISO 8859-13/14/15, 0x1A = UCS-2, sent as UTF-16BE (characters outside the
BMP become surrogate pairs). A 7-bit text whose septet count is a multiple of 8 and that
ends in CR cannot be told apart from padding: encoding it raises ``ProtocolError``.

``CodingScheme`` and ``pick_coding`` are re-exported by ``protocols.sds.text``; the other
functions serve the text modules (``text_user_data``, ``concat``, ``text``).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from typing import Final

from protocols.errors import ProtocolError

__all__ = [
    "CodingScheme",
    "char_cost",
    "char_costs",
    "coding_scheme",
    "decode_chars",
    "encode_chars",
    "pick_coding",
]


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


def coding_scheme(value: int) -> CodingScheme:
    """The ``CodingScheme`` of a coding byte's low 7 bits; ``ProtocolError`` if unsupported."""
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


def encode_chars(text: str, coding: CodingScheme) -> bytes:
    """``text`` in ``coding`` (7-bit: packed septets); ``ProtocolError`` naming a misfit."""
    if coding is CodingScheme.SEVEN_BIT:
        return _pack_septets(text)
    try:
        return text.encode(_CODECS[coding])
    except UnicodeEncodeError as exc:
        bad = text[exc.start]
        raise ProtocolError(f"character U+{ord(bad):04X} does not fit {coding.name}") from None


def decode_chars(data: bytes, coding: CodingScheme) -> str:
    """The text of ``data`` in ``coding``; ``ProtocolError`` if it is not valid there."""
    if coding is CodingScheme.SEVEN_BIT:
        return _unpack_septets(data)
    try:
        return data.decode(_CODECS[coding])
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"text is not valid {coding.name}: {exc.reason}") from None


def char_cost(ch: str, coding: CodingScheme) -> int:
    """Size of one character: septets for 7-bit, bytes otherwise."""
    if coding is CodingScheme.SEVEN_BIT:
        return len(_septets(ch))
    return len(encode_chars(ch, coding))


def char_costs(text: str, coding: CodingScheme) -> list[int]:
    """``char_cost`` of every character of ``text``, in one pass; ``ProtocolError`` naming
    the first character ``coding`` cannot hold. The ISO 8859 codings take one byte per
    character and UCS-2 two (four for a character outside the BMP: a surrogate pair), so only
    the 7-bit alphabet, whose extension characters take two septets, looks characters up."""
    if coding is CodingScheme.SEVEN_BIT:
        return [len(_septets(ch)) for ch in text]
    encode_chars(text, coding)  # raises for a misfit, as char_cost would
    if coding is CodingScheme.UCS2:
        return [2 if ord(ch) < 0x10000 else 4 for ch in text]
    return [1] * len(text)


def pick_coding(text: str, candidates: Sequence[CodingScheme] = _PREFERRED) -> CodingScheme:
    """The smallest coding that holds ``text``: the first of ``candidates`` (one byte per
    character; by default the Latin-script ISO 8859 parts, 8859-1 first, then 8859-15)
    that can encode every character, else UCS-2. Nordic æøåäö give 8859-1, "€" 8859-15.
    """
    for coding in candidates:
        try:
            encode_chars(text, coding)
        except ProtocolError:
            continue
        return coding
    return CodingScheme.UCS2
