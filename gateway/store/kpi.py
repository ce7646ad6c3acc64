"""Response-time figures for ``tetragw report kpi``, computed from the incident timelines.

For every timeline unit with both times set: alerted → delivered, alerted → acknowledged and
alerted → on scene, in seconds. Percentiles interpolate linearly between the two nearest
ranks (the "type 7" definition, as NumPy's default and ``statistics.quantiles(...,
method="inclusive")``), so the median of an even count is the mean of the middle pair.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

KPI_FIELDS: Final[tuple[tuple[str, str], ...]] = (
    ("delivered", "delivered_at"),
    ("acknowledged", "acknowledged_at"),
    ("on_scene", "on_scene_at"),
)


@dataclass(frozen=True, slots=True)
class DurationStats:
    """Distribution of one interval over ``count`` units (``None`` figures when empty)."""

    count: int
    median_s: float | None
    p90_s: float | None


@dataclass(frozen=True, slots=True)
class KpiReport:
    """alerted → delivered / acknowledged / on scene."""

    delivered: DurationStats
    acknowledged: DurationStats
    on_scene: DurationStats


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear-interpolated percentile (``fraction`` in [0, 1]) of a non-empty sequence."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError("fraction must be within [0, 1]")
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    lower = math.floor(position)
    upper = math.ceil(position)
    weight = position - lower
    return ordered[lower] + (ordered[upper] - ordered[lower]) * weight


def duration_stats(values: Sequence[float]) -> DurationStats:
    """Count, median and 90th percentile of ``values``."""
    if not values:
        return DurationStats(0, None, None)
    return DurationStats(len(values), percentile(values, 0.5), percentile(values, 0.9))


def interval_durations(
    conn: sqlite3.Connection,
    column: str,
    *,
    since: float | None = None,
    until: float | None = None,
    role: str | None = None,
) -> list[float]:
    """Seconds from ``alerted_at`` to ``column`` for units alerted in ``[since, until)``."""
    allowed = {name for _, name in KPI_FIELDS}
    if column not in allowed:
        raise ValueError(f"not a KPI column: {column!r}")
    rows = conn.execute(
        f"SELECT {column} - alerted_at FROM timeline_units"  # noqa: S608 - column whitelisted
        f" WHERE {column} IS NOT NULL AND alerted_at >= ? AND alerted_at < ?"
        " AND (? IS NULL OR role = ?)",
        (
            -math.inf if since is None else since,
            math.inf if until is None else until,
            role,
            role,
        ),
    ).fetchall()
    return [float(row[0]) for row in rows]


def kpi_report(
    conn: sqlite3.Connection,
    *,
    since: float | None = None,
    until: float | None = None,
    role: str | None = None,
) -> KpiReport:
    """The three intervals' statistics over all timeline units (optionally filtered by the
    alert time window and by role)."""
    stats = {
        name: duration_stats(interval_durations(conn, column, since=since, until=until, role=role))
        for name, column in KPI_FIELDS
    }
    return KpiReport(stats["delivered"], stats["acknowledged"], stats["on_scene"])
