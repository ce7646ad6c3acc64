"""``tetragw report incident ID`` and ``tetragw report kpi``: read the store, print a report.

The store is opened read-only (``mode=ro``): a report may run next to a running daemon (the
store is SQLite in WAL mode, so a second connection reads the last committed state without
blocking the writer) and never creates, migrates or changes a file.

``report incident --format json`` prints exactly the retained ``incidents/<id>/timeline``
payload that the gateway publishes (dispatch-api.md), built by :func:`timeline_event`; the
table and ``tetragw demo`` render that same :class:`~protocols.dispatch.Timeline` model.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from rich import box
from rich.console import Console
from rich.table import Table

from gateway.publisher import timeline_event
from gateway.store import SCHEMA_VERSION, STORE_FILENAME, KpiReport, StoreReader
from gateway.store import store_path as _store_path
from gateway.store.kpi import KPI_FIELDS
from protocols.dispatch import Timeline, format_time, parse_time
from protocols.errors import ProtocolError

#: Timeline steps shown per unit, in order: (timeline field, column heading).
TIMELINE_STEPS: Final[tuple[tuple[str, str], ...]] = (
    ("delivered_at", "delivered"),
    ("acknowledged_at", "acknowledged"),
    ("en_route_at", "en route"),
    ("on_scene_at", "on scene"),
    ("ended_at", "ended"),
)

_KPI_LABELS: Final[dict[str, str]] = {
    "delivered": "dispatch → delivered",
    "acknowledged": "dispatch → acknowledged",
    "on_scene": "dispatch → on scene",
}


class ReportError(Exception):
    """A report that cannot be made (no store, unknown incident); the message is one line."""


# -- reading the store -------------------------------------------------------------------


@contextmanager
def open_reader(data_dir: str | Path) -> Iterator[StoreReader]:
    """The store's queries over a read-only connection to ``<data_dir>/tetragw.sqlite3``.

    Raises :class:`ReportError` when there is no store there or it has another schema version.
    """
    path = _store_path(data_dir)
    if not path.is_file():
        raise ReportError(f"no store at {path} (is --data-dir right?)")
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 5000")
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version != SCHEMA_VERSION:
            raise ReportError(
                f"store {path} has schema version {version}, this tetragw reads {SCHEMA_VERSION}"
            )
        yield StoreReader(conn)
    finally:
        conn.close()


def _time(value: float | None) -> str | None:
    return None if value is None else format_time(value)


# -- rendering ---------------------------------------------------------------------------


def clock_time(api_time: str | None) -> str:
    """``2026-11-21T22:19:05.123Z`` → ``22:19:05`` (UTC, whole seconds); ``-`` for ``None``."""
    if api_time is None:
        return "-"
    return api_time[11:19]


def since_alert(api_time: str | None, alerted_at: str | None) -> str:
    """Seconds from the alert to ``api_time`` as ``+12.3 s``; empty when either is unknown."""
    if api_time is None or alerted_at is None:
        return ""
    try:
        seconds = parse_time(api_time) - parse_time(alerted_at)
    except ProtocolError:
        return ""
    return f"+{seconds:.1f}s"


def _step_cell(api_time: str | None, alerted_at: str | None) -> str:
    if api_time is None:
        return "-"
    offset = since_alert(api_time, alerted_at)
    return f"{clock_time(api_time)}\n{offset}" if offset else clock_time(api_time)


def timeline_table(timeline: Timeline) -> Table:
    """A rich table of the timeline: one row per unit, each step with its time since alert
    (fits 80 columns: the role folds, ``ended by`` goes under the end time)."""
    closed = clock_time(timeline.closed_at) if timeline.closed_at else "open"
    title = (
        f"Incident {timeline.incident_id}  priority {timeline.priority or '-'}  "
        f"talk group {timeline.gssi if timeline.gssi is not None else '-'}\n"
        f"opened {clock_time(timeline.opened_at)}  closed {closed}  (times UTC)"
    )
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    table.add_column("ISSI", justify="right", min_width=7)
    table.add_column("role", min_width=9, overflow="fold")
    table.add_column("alerted", min_width=8)
    for _, heading in TIMELINE_STEPS:
        table.add_column(heading, min_width=8)
    for unit in timeline.units:
        cells = [_step_cell(getattr(unit, field), unit.alerted_at) for field, _ in TIMELINE_STEPS]
        if unit.ended_by is not None:
            cells[-1] += f"\nby {unit.ended_by}"
        table.add_row(str(unit.issi), unit.role or "-", clock_time(unit.alerted_at), *cells)
    return table


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def kpi_table(report: KpiReport, *, title: str = "Response times") -> Table:
    """A rich table of the three intervals: units counted, median, 90th percentile."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("interval", no_wrap=True)
    table.add_column("units", justify="right")
    table.add_column("median", justify="right")
    table.add_column("90th percentile", justify="right")
    for name, _ in KPI_FIELDS:
        stats = getattr(report, name)
        table.add_row(
            _KPI_LABELS[name], str(stats.count), _seconds(stats.median_s), _seconds(stats.p90_s)
        )
    return table


def kpi_json(
    report: KpiReport,
    *,
    since: float | None = None,
    until: float | None = None,
    role: str | None = None,
) -> dict[str, Any]:
    """The KPI report as a JSON object (times in the API's format, durations in seconds)."""
    body: dict[str, Any] = {"since": _time(since), "until": _time(until), "role": role}
    for name, _ in KPI_FIELDS:
        stats = getattr(report, name)
        body[name] = {"count": stats.count, "median_s": stats.median_s, "p90_s": stats.p90_s}
    return body


# -- the command -------------------------------------------------------------------------


def parse_report_time(text: str) -> float:
    """``--since``/``--until``: an API time (``2026-11-21T22:19:05.123Z``) or any ISO 8601
    date or date-time; without a zone it is UTC. Returns epoch seconds."""
    try:
        return parse_time(text)
    except ProtocolError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time like 2026-11-21T22:19:05Z or 2026-11-21"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def register(subparsers: Any) -> None:  # argparse's _SubParsersAction is private
    """Add ``report incident ID`` and ``report kpi``."""
    report_parser: argparse.ArgumentParser = subparsers.add_parser(
        "report", help="incident timelines and response-time figures from the store"
    )
    report_sub = report_parser.add_subparsers(
        dest="report_command", metavar="REPORT", required=True
    )

    incident = report_sub.add_parser(
        "incident",
        help="an incident's timeline: who was alerted, delivered, acknowledged, arrived, ended",
        description="Print an incident's timeline from the store. Exit 1 if it is unknown.",
    )
    incident.add_argument("incident_id", metavar="ID", help="the incident id")
    _common_arguments(incident)
    incident.set_defaults(func=run_incident)

    kpi = report_sub.add_parser(
        "kpi",
        help="median and 90th percentile of dispatch → delivered, acknowledged, on scene",
        description=(
            "Response-time figures over the units alerted in [--since, --until): "
            "median and 90th percentile of the seconds from the alert to delivery, to "
            "acknowledgement and to arrival on scene."
        ),
    )
    kpi.add_argument("--since", type=parse_report_time, help="first alert time counted (UTC)")
    kpi.add_argument("--until", type=parse_report_time, help="alert times before this (UTC)")
    kpi.add_argument("--role", help="only units of this role (e.g. ambulance)")
    _common_arguments(kpi)
    kpi.set_defaults(func=run_kpi)


def _common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", default="./var", help=f"directory holding {STORE_FILENAME} (default ./var)"
    )
    parser.add_argument("--format", choices=("table", "json"), default="table")


def run_incident(args: argparse.Namespace) -> int:
    """Print the timeline; 1 with one line on stderr when the incident or store is unknown."""
    try:
        with open_reader(args.data_dir) as reader:
            record = reader.timeline(args.incident_id)
    except ReportError as exc:
        return _fail(str(exc))
    if record is None:
        return _fail(f"no incident {args.incident_id!r} in {_store_path(args.data_dir)}")
    event = timeline_event(record)
    if args.format == "json":
        print(event.to_json().decode())  # noqa: T201 - the command's output
    else:
        report_console().print(timeline_table(event))
    return 0


def run_kpi(args: argparse.Namespace) -> int:
    """Print the KPI figures; 1 with one line on stderr when there is no store."""
    try:
        with open_reader(args.data_dir) as reader:
            report = reader.kpi(since=args.since, until=args.until, role=args.role)
    except ReportError as exc:
        return _fail(str(exc))
    if args.format == "json":
        body = kpi_json(report, since=args.since, until=args.until, role=args.role)
        print(json.dumps(body, separators=(",", ":")))  # noqa: T201 - the command's output
    else:
        report_console().print(kpi_table(report))
    return 0


def report_console() -> Console:
    """A console for tables: the terminal's width, or wide enough not to wrap into a file."""
    console = Console()
    return console if console.is_terminal else Console(width=max(console.width, 160))


def _fail(message: str) -> int:
    print(f"tetragw report: {message}", file=sys.stderr)  # noqa: T201 - one line, never wrapped
    return 1
