"""Field checks shared by the SDS-TL modules (``tl``, ``delivery``).

One place for the range check and its ``ProtocolError`` messages ("message reference 300
is outside 0..255"), and for the typed wrapper around ``construct``'s ``build``.
"""

from __future__ import annotations

from typing import Any

from protocols.errors import ProtocolError

__all__ = ["build_bits", "check_range"]


def build_bits(layout: Any, values: dict[str, Any]) -> bytes:
    """``layout.build(values)`` as ``bytes``: a typed wrapper around untyped ``construct``."""
    return bytes(layout.build(values))


def check_range(what: str, value: int, maximum: int) -> None:
    """``ProtocolError`` unless ``value`` is an ``int`` (not a bool) in 0..``maximum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError(f"{what} must be an integer, got {type(value).__name__}")
    if not 0 <= value <= maximum:
        raise ProtocolError(f"{what} {value} is outside 0..{maximum}")
