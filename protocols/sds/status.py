"""TETRA status values and the configured tables that give them a meaning.

A status is a 16-bit value (PEI reference §6): 0 is an emergency, 0x7C00-0x7FFF carry
SDS-SHORT-REPORTs (``protocols.sds.delivery.ShortReport``), 0x8000-0xFFFF are defined by the
network operator or user organisation, and the rest is reserved by the standard.

What an operator value *means* is configuration, never code: a ``StatusTable`` is loaded
from TOML text (files in ``config/status/``; protocols never reads files, callers pass the
text)::

    name = "AMK default"

    [[status]]
    value = 0x8001
    meaning = "acknowledged"   # optional: one of MEANINGS
    label = "Kvittert"         # what people read

Validation raises ``ProtocolError`` naming the entry: a duplicate value, a value outside
0..0xFFFF or inside the short-report range, an unknown meaning, a missing or empty label,
an unknown key.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Final

from protocols.errors import ProtocolError
from protocols.sds.delivery import SHORT_REPORT_FIRST, SHORT_REPORT_LAST

__all__ = [
    "EMERGENCY_STATUS",
    "MEANINGS",
    "StatusEntry",
    "StatusKind",
    "StatusTable",
    "classify_status",
]

EMERGENCY_STATUS: Final = 0
OPERATOR_FIRST: Final = 0x8000

# The meanings the dispatch API knows (dispatch-api.md, units/<issi>/status), in its order.
MEANING_NAMES: Final = (
    "acknowledged",
    "en_route",
    "on_scene",
    "patient_contact",
    "transporting",
    "at_hospital",
    "mission_ended",
    "available",
    "unavailable",
    "emergency",
)
MEANINGS: Final = frozenset(MEANING_NAMES)

_ENTRY_KEYS: Final = frozenset({"value", "meaning", "label"})
_TABLE_KEYS: Final = frozenset({"name", "status"})


class StatusKind(Enum):
    """Which part of the 16-bit status space a value belongs to."""

    EMERGENCY = "emergency"
    SHORT_REPORT = "short_report"
    OPERATOR = "operator"
    RESERVED = "reserved"


def _check_value(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError(f"{where}: status value must be an integer")
    if not 0 <= value <= 0xFFFF:
        raise ProtocolError(f"{where}: status value {value} is outside 0..0xFFFF")
    return value


def classify_status(value: int) -> StatusKind:
    """The kind of a status value; ``ProtocolError`` outside 0..0xFFFF."""
    _check_value(value, "status")
    if value == EMERGENCY_STATUS:
        return StatusKind.EMERGENCY
    if SHORT_REPORT_FIRST <= value <= SHORT_REPORT_LAST:
        return StatusKind.SHORT_REPORT
    if value >= OPERATOR_FIRST:
        return StatusKind.OPERATOR
    return StatusKind.RESERVED


@dataclass(frozen=True, slots=True)
class StatusEntry:
    """One row of a status table. ``meaning`` is one of ``MEANINGS`` or None."""

    value: int
    meaning: str | None
    label: str


@dataclass(frozen=True, slots=True)
class StatusTable:
    """A validated table of status meanings. Build it with ``from_toml`` or ``from_mapping``."""

    name: str
    entries: tuple[StatusEntry, ...]
    _by_value: dict[int, StatusEntry] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_value: dict[int, StatusEntry] = {}
        for index, entry in enumerate(self.entries):
            where = f"status entry {index + 1}"
            value = _check_value(entry.value, where)
            where = f"{where} (value 0x{value:04X})"
            if value in by_value:
                raise ProtocolError(f"{where}: duplicate status value")
            if classify_status(value) is StatusKind.SHORT_REPORT:
                raise ProtocolError(f"{where}: 0x7C00-0x7FFF is reserved for short reports")
            if entry.meaning is not None and entry.meaning not in MEANINGS:
                raise ProtocolError(
                    f"{where}: unknown meaning {entry.meaning!r}; allowed: {sorted(MEANINGS)}"
                )
            if not isinstance(entry.label, str) or not entry.label.strip():
                raise ProtocolError(f"{where}: label must be a non-empty string")
            by_value[value] = entry
        object.__setattr__(self, "_by_value", by_value)

    @classmethod
    def from_toml(cls, text: str) -> StatusTable:
        """Parse and validate a table from TOML text (format in the module docstring)."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ProtocolError(f"status table is not valid TOML: {exc}") from None
        except RecursionError:
            # tomllib parses nested arrays and inline tables recursively (found by fuzzing).
            raise ProtocolError("status table nests values too deeply") from None
        return cls.from_mapping(data)

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> StatusTable:
        """Validate a table given as a mapping (``name`` and a list ``status`` of entries)."""
        unknown = set(data) - _TABLE_KEYS
        if unknown:
            raise ProtocolError(f"status table: unknown keys {sorted(unknown)}")
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ProtocolError("status table: 'name' must be a non-empty string")
        rows = data.get("status", [])
        if not isinstance(rows, list):
            raise ProtocolError("status table: 'status' must be an array of tables")
        entries = []
        for index, row in enumerate(rows):
            where = f"status entry {index + 1}"
            if not isinstance(row, Mapping):
                raise ProtocolError(f"{where}: must be a table")
            if "value" in row and isinstance(row["value"], int):
                where = f"{where} (value 0x{row['value']:04X})"
            unknown = set(row) - _ENTRY_KEYS
            if unknown:
                raise ProtocolError(f"{where}: unknown keys {sorted(unknown)}")
            if "value" not in row:
                raise ProtocolError(f"{where}: 'value' is missing")
            meaning = row.get("meaning")
            if meaning is not None and not isinstance(meaning, str):
                raise ProtocolError(f"{where}: 'meaning' must be a string")
            label = row.get("label")
            if not isinstance(label, str):
                raise ProtocolError(f"{where}: 'label' must be a string")
            entries.append(StatusEntry(_check_value(row["value"], where), meaning, label))
        return cls(name, tuple(entries))

    def lookup(self, value: int) -> StatusEntry | None:
        """The entry for ``value``, or None when the table does not know it."""
        _check_value(value, "status")
        return self._by_value.get(value)

    def value_of(self, meaning: str) -> int | None:
        """The first value (in table order) with ``meaning``, or None."""
        for entry in self.entries:
            if entry.meaning == meaning:
                return entry.value
        return None
