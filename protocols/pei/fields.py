"""AT parameter lists: the comma-separated fields after ``=`` or ``:`` (EN 300 392-5 §6.x syntax).

Radios differ in spacing (``+CSQ: 20,99`` vs ``+CSQ:20, 99``) and some quote strings, so
splitting is liberal: fields are stripped of surrounding whitespace and a double-quoted
string is one field even when it holds commas (the quotes are kept, so joining the fields
again gives the canonical text back).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from protocols.errors import ProtocolError

_DECIMAL = re.compile(r"[0-9]+")
# Python refuses int() on more than 4300 digits; no AT number is anywhere near that long.
_MAX_DIGITS = 40


def split_fields(text: str) -> tuple[str, ...]:
    """Split ``a, b,"c,d"`` into ``("a", "b", '"c,d"')``; blank text gives ``()``."""
    text = text.strip()
    if not text:
        return ()
    if '"' not in text:
        return tuple(field.strip() for field in text.split(","))
    fields: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
            current.append(char)
        elif char == "," and not quoted:
            fields.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    fields.append("".join(current).strip())
    return tuple(fields)


def join_fields(fields: Iterable[str]) -> str:
    """The canonical text of a parameter list: fields joined by commas, no spaces added."""
    return ",".join(fields)


def parse_int(field: str, what: str) -> int:
    """A non-negative decimal field; raises ProtocolError naming ``what`` otherwise."""
    text = field.strip()
    if not _DECIMAL.fullmatch(text) or len(text) > _MAX_DIGITS:
        raise ProtocolError(f"{what} is not a decimal number: {field!r}")
    return int(text)


def parse_optional_int(field: str, what: str) -> int | None:
    """Like `parse_int`, but an empty field (an omitted optional parameter) is ``None``."""
    if not field.strip():
        return None
    return parse_int(field, what)


def format_optional_int(value: int | None) -> str:
    """The field text of an optional number: empty when omitted."""
    return "" if value is None else str(value)


def result_line(text: str) -> bytes:
    """One line as a radio writes it: latin-1, ended by CR LF (V.25ter verbose mode)."""
    # latin-1 is what the parser decodes with; a character outside it cannot have come
    # from a radio, so it is replaced rather than raising.
    return text.encode("latin-1", errors="replace") + b"\r\n"


def response_line(name: str, fields: tuple[str, ...]) -> bytes:
    """``<name>: <fields>`` CR LF (``<name>:`` alone when there are no fields)."""
    if not fields:
        return result_line(f"{name}:")
    return result_line(f"{name}: {join_fields(fields)}")
