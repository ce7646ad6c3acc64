"""The emulator's scenario: radios, field units, incident, timing and faults (TOML).

The format is documented in ``docs/emulator.md``; ``config/emulator-scenario.toml`` is an
example. ``load_scenario(text)`` validates and raises ``ScenarioError`` naming the key.
"""

from __future__ import annotations

import math
import random
import tomllib
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from hardware.emulator.vendors import VENDORS

Behaviour = Literal["responsive", "slow", "unreachable", "silent"]
ReportForm = Literal["full", "short", "mixed"]
BEHAVIOURS: tuple[Behaviour, ...] = ("responsive", "slow", "unreachable", "silent")
REPORT_FORMS: tuple[ReportForm, ...] = ("full", "short", "mixed")
FAULT_KINDS = (
    "reboot",
    "disconnect",
    "garbage",
    "stall",
    "drop_reports",
    "duplicate",
    "congestion",
    "transmitting",
    "coverage",
)


class ScenarioError(ValueError):
    """A scenario that cannot be run; the message names the offending key."""


@dataclass(frozen=True, slots=True)
class NetworkSettings:
    """Network-wide timing and policy. Times are seconds unless the name says otherwise."""

    seed: int = 0
    time_scale: float = 1.0
    sds_delay_ms: float = 50.0
    baud: int = 0
    random_faults_per_min: float = 0.0
    mcc: int = 242
    mnc: int = 1
    unreachable_report: Literal["failure", "none"] = "failure"
    unreachable_report_delay_s: float = 3.0
    max_dynamic_groups: int = 4
    dgna_delay_ms: float = 200.0
    dgna_timeout_s: float = 10.0
    default_group: int = 1001
    status_table: str = "amk-default"
    status_retry_s: float = 2.0
    status_retries: int = 5


@dataclass(frozen=True, slots=True)
class Position:
    """WGS84 degrees."""

    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class RadioSpec:
    """A gateway terminal: a PEI endpoint on a pty and on a TCP port of 127.0.0.1."""

    name: str
    issi: int
    vendor: str = "generic"
    rssi: int = 25
    tcp_port: int = 0
    reboot_s: float = 1.0
    attach_s: float = 1.0


@dataclass(frozen=True, slots=True)
class UnitSpec:
    """A simulated field terminal (ambulance, first responder)."""

    issi: int
    name: str
    role: str = "ambulance"
    behaviour: Behaviour = "responsive"
    position: Position = field(default_factory=lambda: Position(59.95, 10.70))
    report_form: ReportForm = "full"
    speed_kmh: float = 60.0
    in_coverage: bool = True


@dataclass(frozen=True, slots=True)
class ScheduledFault:
    """A fault injected at ``at_s`` seconds after start (not time-scaled).

    Without ``duration_s`` a counted fault hits the next ``count`` messages and a timed
    one lasts its default (`hardware.emulator.faults.FAULT_DEFAULTS`).
    """

    radio: str
    kind: str
    at_s: float
    duration_s: float | None = None
    count: int = 1


@dataclass(frozen=True, slots=True)
class Scenario:
    """Everything the emulator runs."""

    network: NetworkSettings
    incident: Position
    radios: tuple[RadioSpec, ...]
    units: tuple[UnitSpec, ...]
    faults: tuple[ScheduledFault, ...] = ()


def _check(condition: bool, key: str, why: str) -> None:
    if not condition:
        raise ScenarioError(f"{key}: {why}")


def _number(table: dict[str, Any], key: str, where: str, default: float) -> float:
    value = table.get(key, default)
    _check(
        isinstance(value, int | float) and not isinstance(value, bool),
        f"{where}.{key}",
        "must be a number",
    )
    return float(value)


def _integer(table: dict[str, Any], key: str, where: str, default: int | None = None) -> int:
    value = table.get(key, default)
    _check(
        isinstance(value, int) and not isinstance(value, bool),
        f"{where}.{key}",
        "must be an integer",
    )
    assert isinstance(value, int)
    return value


def _choice(table: dict[str, Any], key: str, where: str, default: str, options: Any) -> Any:
    value = table.get(key, default)
    _check(value in options, f"{where}.{key}", f"must be one of {', '.join(options)}")
    return value


def _position(table: dict[str, Any], where: str, default: Position) -> Position:
    lat = _number(table, "lat", where, default.lat)
    lon = _number(table, "lon", where, default.lon)
    _check(-90 <= lat <= 90, f"{where}.lat", "must be within -90..90")
    _check(-180 <= lon <= 180, f"{where}.lon", "must be within -180..180")
    return Position(lat, lon)


def _network(table: dict[str, Any]) -> NetworkSettings:
    d = NetworkSettings()
    w = "network"
    settings = NetworkSettings(
        seed=_integer(table, "seed", w, d.seed),
        time_scale=_number(table, "time_scale", w, d.time_scale),
        sds_delay_ms=_number(table, "sds_delay_ms", w, d.sds_delay_ms),
        baud=_integer(table, "baud", w, d.baud),
        random_faults_per_min=_number(table, "random_faults", w, d.random_faults_per_min),
        mcc=_integer(table, "mcc", w, d.mcc),
        mnc=_integer(table, "mnc", w, d.mnc),
        unreachable_report=_choice(
            table, "unreachable_report", w, d.unreachable_report, ("failure", "none")
        ),
        unreachable_report_delay_s=_number(
            table, "unreachable_report_delay_s", w, d.unreachable_report_delay_s
        ),
        max_dynamic_groups=_integer(table, "max_dynamic_groups", w, d.max_dynamic_groups),
        dgna_delay_ms=_number(table, "dgna_delay_ms", w, d.dgna_delay_ms),
        dgna_timeout_s=_number(table, "dgna_timeout_s", w, d.dgna_timeout_s),
        default_group=_integer(table, "default_group", w, d.default_group),
        status_table=str(table.get("status_table", d.status_table)),
        status_retry_s=_number(table, "status_retry_s", w, d.status_retry_s),
        status_retries=_integer(table, "status_retries", w, d.status_retries),
    )
    validate_network(settings)
    return settings


def validate_network(settings: NetworkSettings) -> None:
    """Raise ``ScenarioError`` for settings the emulator cannot honour."""
    _check(settings.time_scale > 0, "network.time_scale", "must be > 0")
    _check(settings.sds_delay_ms >= 0, "network.sds_delay_ms", "must be >= 0")
    _check(settings.baud >= 0, "network.baud", "must be >= 0 (0 = unpaced)")
    _check(settings.random_faults_per_min >= 0, "network.random_faults", "must be >= 0")
    _check(settings.max_dynamic_groups >= 0, "network.max_dynamic_groups", "must be >= 0")
    _check(settings.dgna_timeout_s > 0, "network.dgna_timeout_s", "must be > 0")


def _issi(value: int, key: str) -> int:
    _check(0 < value < 2**24, key, "an ISSI is 24 bits (1..16777215)")
    return value


def _radio(table: dict[str, Any], index: int) -> RadioSpec:
    w = f"radios[{index}]"
    name = table.get("name", f"gw{index + 1}")
    _check(isinstance(name, str) and name.isidentifier(), f"{w}.name", "must be a plain name")
    return RadioSpec(
        name=name,
        issi=_issi(_integer(table, "issi", w), f"{w}.issi"),
        vendor=_choice(table, "vendor", w, "generic", tuple(VENDORS)),
        rssi=_integer(table, "rssi", w, 25),
        tcp_port=_integer(table, "tcp_port", w, 0),
        reboot_s=_number(table, "reboot_s", w, 1.0),
        attach_s=_number(table, "attach_s", w, 1.0),
    )


def _unit(table: dict[str, Any], where: str, issi: int, incident: Position) -> UnitSpec:
    default_position = Position(incident.lat + 0.05, incident.lon - 0.05)
    behaviour = _choice(table, "behaviour", where, "responsive", BEHAVIOURS)
    return UnitSpec(
        issi=_issi(issi, f"{where}.issi"),
        name=str(table.get("name", str(issi))),
        role=str(table.get("role", "ambulance")),
        behaviour=behaviour,
        position=_position(table, where, default_position),
        report_form=_choice(table, "report_form", where, "full", REPORT_FORMS),
        speed_kmh=_number(table, "speed_kmh", where, 60.0),
        in_coverage=bool(table.get("in_coverage", behaviour != "unreachable")),
    )


def _fault(table: dict[str, Any], index: int, radios: set[str]) -> ScheduledFault:
    w = f"faults[{index}]"
    radio = table.get("radio")
    _check(radio in radios, f"{w}.radio", "must name a radio of the scenario")
    assert isinstance(radio, str)
    return ScheduledFault(
        radio=radio,
        kind=_choice(table, "kind", w, "", FAULT_KINDS),
        at_s=_number(table, "at_s", w, 0.0),
        duration_s=_number(table, "duration_s", w, 0.0) if "duration_s" in table else None,
        count=_integer(table, "count", w, 1),
    )


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    _check(isinstance(value, dict), key, "must be a table")
    assert isinstance(value, dict)
    return value


def _tables(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = data.get(key, [])
    _check(
        isinstance(value, list) and all(isinstance(t, dict) for t in value),
        key,
        f"must be an array of tables ([[{key}]])",
    )
    assert isinstance(value, list)
    return value


def load_scenario(text: str) -> Scenario:
    """Parse and validate a TOML scenario."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"not valid TOML: {exc}") from None
    network = _network(_table(data, "network"))
    incident = _position(_table(data, "incident"), "incident", Position(59.91, 10.75))
    radios = tuple(_radio(t, i) for i, t in enumerate(_tables(data, "radios")))
    _check(bool(radios), "radios", "at least one gateway terminal is needed")
    units: list[UnitSpec] = [
        _unit(t, f"units[{i}]", _integer(t, "issi", f"units[{i}]"), incident)
        for i, t in enumerate(_tables(data, "units"))
    ]
    for i, t in enumerate(_tables(data, "unit_ranges")):
        where = f"unit_ranges[{i}]"
        first, last = _integer(t, "first", where), _integer(t, "last", where)
        _check(first <= last, where, "first must be <= last")
        spread = spread_positions(incident, last - first + 1, network.seed + i)
        for issi, pos in zip(range(first, last + 1), spread, strict=True):
            units.append(_unit({**t, "lat": pos.lat, "lon": pos.lon}, where, issi, incident))
    issis = [r.issi for r in radios] + [u.issi for u in units]
    _check(len(set(issis)) == len(issis), "units", "every ISSI must be unique")
    names = [r.name for r in radios]
    _check(len(set(names)) == len(names), "radios", "every radio name must be unique")
    faults = tuple(_fault(t, i, set(names)) for i, t in enumerate(_tables(data, "faults")))
    return Scenario(network, incident, radios, tuple(units), faults)


def spread_positions(centre: Position, count: int, seed: int) -> list[Position]:
    """``count`` positions 2–15 km around ``centre``, the same for the same seed."""
    rng = random.Random(seed)
    positions = []
    for _ in range(count):
        distance_km = rng.uniform(2.0, 15.0)
        bearing = rng.uniform(0.0, 2 * math.pi)
        dlat = distance_km * math.cos(bearing) / 111.0
        dlon = distance_km * math.sin(bearing) / (111.0 * math.cos(math.radians(centre.lat)))
        positions.append(Position(round(centre.lat + dlat, 6), round(centre.lon + dlon, 6)))
    return positions


def quick_scenario(
    *,
    radios: int = 1,
    units: tuple[int, int] = (2040101, 2040110),
    behaviour: Behaviour = "responsive",
    vendor: str = "generic",
    network: NetworkSettings | None = None,
) -> Scenario:
    """The scenario of the quick command-line flags (``--radios``, ``--units``, ...)."""
    settings = network or NetworkSettings()
    validate_network(settings)
    _check(radios >= 1, "--radios", "must be >= 1")
    _check(vendor in VENDORS, "--vendor", f"must be one of {', '.join(VENDORS)}")
    first, last = units
    _check(0 < first <= last < 2**24, "--units", "must be a range A-B of ISSIs")
    incident = Position(59.91, 10.75)
    gateways = tuple(
        RadioSpec(name=f"gw{i + 1}", issi=2049999 - i, vendor=vendor) for i in range(radios)
    )
    gateway_issis = {g.issi for g in gateways}
    spread = spread_positions(incident, last - first + 1, settings.seed)
    field_units = tuple(
        UnitSpec(
            issi=issi,
            name=str(issi),
            behaviour=behaviour,
            position=pos,
            in_coverage=behaviour != "unreachable",
        )
        for issi, pos in zip(range(first, last + 1), spread, strict=True)
        if issi not in gateway_issis
    )
    return Scenario(settings, incident, gateways, field_units)


def with_network(scenario: Scenario, **changes: Any) -> Scenario:
    """The scenario with some network settings replaced (command-line overrides)."""
    network = replace(scenario.network, **changes)
    validate_network(network)
    return replace(scenario, network=network)
