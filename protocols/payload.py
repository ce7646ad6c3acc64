"""Hex payloads as radios send them: declared bit lengths that disagree with the digits.

PEI reference §4: Motorola declares 84 bits and sends 22 hex digits (88 bits); Sepura
declares 84 and sends 21. We decode from the declared length where it fits in the hex,
and never fail for padding.
"""

from __future__ import annotations

import string

from protocols.errors import ProtocolError

_HEX = frozenset(string.hexdigits)


def payload_from_hex(digits: str, length_bits: int | None = None) -> bytes:
    """Turn the hex line of an SDS into bytes.

    An odd number of digits is padded with a trailing zero nibble. When ``length_bits``
    is given and the digits hold at least that many bits, the result is cut to the bytes
    those bits need (the bits past the declared length inside the last byte are left as sent).
    When the digits hold fewer bits than declared, the bytes that are there are returned:
    the decoder of the PDU decides whether they are enough.
    """
    text = digits.strip()
    if not text:
        raise ProtocolError("empty hex payload")
    if not set(text) <= _HEX:
        bad = next(c for c in text if c not in _HEX)
        raise ProtocolError(f"hex payload has a non-hex character {bad!r}")
    if length_bits is not None and length_bits < 0:
        raise ProtocolError(f"declared length {length_bits} bits is negative")
    if len(text) % 2:
        text += "0"
    data = bytes.fromhex(text)
    if length_bits is not None:
        needed = (length_bits + 7) // 8
        if needed <= len(data):
            data = data[:needed]
    return data


def payload_to_hex(payload: bytes) -> str:
    """Uppercase hex, as the PEI sends it."""
    return payload.hex().upper()
