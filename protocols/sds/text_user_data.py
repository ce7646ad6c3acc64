"""The user data of an SDS-TL text: coding byte, optional timestamp, the text.

Layouts (EN 300 392-2 clause 29.5; PEI reference §5):

* SDS-TL text, PID 0x82 (0x89 immediate): SDS-TL header (``protocols.sds.tl``), then the
  text user data ``t ccccccc | [timestamp, 3 bytes] | text`` where t = timestamp present
  and c the coding scheme (``protocols.sds.text_coding``).
* Timestamp (24 bits): ``ff rr mmmm | ddddd hhh | hh nnnnnn`` = time frame (01 = UTC),
  reserved, month 1-12, day 1-31, hour 0-23, minute 0-59. There is no year.

The same coding byte and timestamp open a concatenated part (``protocols.sds.concat``).
Everything public here is re-exported by ``protocols.sds.text`` except the two
coding-header functions, which serve the text modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from construct import BitsInteger, BitStruct

from protocols.errors import ProtocolError
from protocols.sds.text_coding import CodingScheme, coding_scheme, decode_chars, encode_chars

__all__ = [
    "SIMPLE_TEXT_PIDS",
    "TL_TEXT_PIDS",
    "SdsTimestamp",
    "TextUserData",
    "coding_header",
    "split_coding_header",
]

SIMPLE_TEXT_PIDS: Final = frozenset({0x02, 0x09})
TL_TEXT_PIDS: Final = frozenset({0x82, 0x89})

_TIMESTAMP = BitStruct(
    "time_frame" / BitsInteger(2),
    "reserved" / BitsInteger(2),
    "month" / BitsInteger(4),
    "day" / BitsInteger(5),
    "hour" / BitsInteger(5),
    "minute" / BitsInteger(6),
)


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


def split_coding_header(data: bytes) -> tuple[CodingScheme, SdsTimestamp | None, bytes]:
    """The coding, the timestamp (None if absent) and the bytes after them."""
    if not data:
        raise ProtocolError("text user data is empty (no coding scheme byte)")
    coding = coding_scheme(data[0] & 0x7F)
    if data[0] & 0x80:
        return coding, SdsTimestamp.decode(data[1:4]), data[4:]
    return coding, None, data[1:]


def coding_header(coding: CodingScheme, timestamp: SdsTimestamp | None) -> bytes:
    """The coding byte (bit 7 = timestamp present) and the timestamp, if any."""
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
        object.__setattr__(self, "coding", coding_scheme(int(self.coding)))

    def encode(self) -> bytes:
        """Coding byte (bit 7 = timestamp present), timestamp, encoded text."""
        return coding_header(self.coding, self.timestamp) + encode_chars(self.text, self.coding)

    @classmethod
    def decode(cls, data: bytes) -> TextUserData:
        """Parse the user data of an SDS-TL text (PID 0x82/0x89)."""
        coding, timestamp, rest = split_coding_header(bytes(data))
        return cls(decode_chars(rest, coding), coding, timestamp)
