"""Find and load the status table whose meanings the field units send.

Status meanings live in configuration (``config/status/*.toml``), never in code. In a
checkout the tables are in ``<repo>/config/status``; in an installed wheel the same files
are shipped as ``gateway/_config/status`` next to this package. ``hardware`` never imports
``gateway``, so the lookup is done here by path.
"""

from __future__ import annotations

from pathlib import Path

from protocols.sds.status import StatusTable

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIRS: tuple[Path, ...] = (
    _PACKAGE_ROOT / "config",
    _PACKAGE_ROOT / "gateway" / "_config",
)
# What a unit that got a callout sends, in order (PEI reference §6: meanings are configuration).
CALLOUT_SEQUENCE: tuple[str, ...] = ("acknowledged", "en_route", "on_scene", "mission_ended")


def status_table_path(name_or_path: str) -> Path:
    """The file of a table: a path to a TOML file, or a name looked up in ``config/status``."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" and candidate.is_file():
        return candidate
    for directory in CONFIG_DIRS:
        path = directory / "status" / f"{name_or_path}.toml"
        if path.is_file():
            return path
    searched = ", ".join(str(d / "status") for d in CONFIG_DIRS)
    raise FileNotFoundError(f"status table {name_or_path!r} not found (searched {searched})")


def load_status_table(name_or_path: str = "amk-default") -> StatusTable:
    """Load a status table by name or path."""
    return StatusTable.from_toml(status_table_path(name_or_path).read_text(encoding="utf-8"))


def callout_status_values(table: StatusTable) -> tuple[int, ...]:
    """The values of ``CALLOUT_SEQUENCE`` in ``table``; ``KeyError`` naming a missing meaning."""
    values = []
    for meaning in CALLOUT_SEQUENCE:
        value = table.value_of(meaning)
        if value is None:
            raise KeyError(f"status table {table.name!r} has no value meaning {meaning!r}")
        values.append(value)
    return tuple(values)
