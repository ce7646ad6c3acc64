"""What a chaos run does, drawn in advance from a seed: the callouts and the faults.

Everything here is pure (no clocks, no IO): `draw_plan(options)` returns the same `ChaosPlan`
for the same options, so a failing run can be replayed with its ``--seed``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

#: Fault kinds the runner can inject, and their default rates (per minute of the run).
DEFAULT_RATES: dict[str, float] = {
    "gateway_kill": 1.0,  # SIGKILL the gateway, restart it on the same data dir
    "broker_restart": 0.5,  # Mosquitto stopped (SIGTERM, state saved) and started again
    "radio_reboot": 1.0,  # the radio powers off and on: its PEI state is lost
    "radio_disconnect": 1.0,  # the serial line goes dead for a while
    "radio_garbage": 1.0,  # line noise on the PEI
    "radio_stall": 1.0,  # the radio neither answers nor reports for a while
    "drop_reports": 1.0,  # the next delivery reports never reach the radio
    "unit_coverage": 3.0,  # a field unit leaves coverage and comes back
}
KINDS: tuple[str, ...] = tuple(DEFAULT_RATES)
#: Faults that take the whole gateway or broker away: kept this far apart (seconds).
DISRUPTIVE = frozenset({"gateway_kill", "broker_restart"})
DISRUPTIVE_GAP_S = 15.0
#: First fault not before this (seconds): the system is up and the first callouts are out.
FIRST_FAULT_S = 3.0
#: First status value of the probes (0xA000..): unknown to the status table, so unique.
PROBE_BASE = 0xA000
PROBE_MAX = 0x1FFF


@dataclass(frozen=True, slots=True)
class ChaosOptions:
    """The knobs of a run (the command line of ``python -m tests.chaos``)."""

    callouts: int = 500
    radios: int = 4
    units: int = 50
    first_issi: int = 2040101
    seed: int = 1
    callout_rate: float = 1.2  # callouts per second
    max_units_per_callout: int = 3
    deadline_s: int = 45
    #: A unit in coverage without a break for ``deadline_s - slack_s`` must not be unreached.
    slack_s: float = 15.0
    rates: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_RATES))
    #: When given: exactly these faults, evenly spread (the rates are then ignored).
    fault_list: tuple[str, ...] = ()
    #: Unit statuses sent through the emulator per second (0: none).
    probe_rate: float = 1.0
    coverage_out_s: tuple[float, float] = (5.0, 50.0)
    #: Upper bound of the whole run (seconds): the runner gives up and reports after it.
    time_limit_s: float = 900.0

    @property
    def issis(self) -> tuple[int, ...]:
        return tuple(range(self.first_issi, self.first_issi + self.units))

    @property
    def duration_s(self) -> float:
        """How long publishing the callouts takes."""
        return self.callouts / self.callout_rate


@dataclass(frozen=True, slots=True)
class PlannedCallout:
    """One callout: when (seconds from the start) and to whom."""

    at_s: float
    callout_id: str
    incident_id: str
    issis: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class PlannedFault:
    """One fault: when, what, on which target, how long (or how many)."""

    at_s: float
    kind: str
    target: str = ""  # radio name or unit ISSI; empty for gateway/broker
    duration_s: float = 0.0
    count: int = 1


@dataclass(frozen=True, slots=True)
class PlannedProbe:
    """One status a unit sends (a unique value, so that it can be followed)."""

    at_s: float
    issi: int
    value: int


@dataclass(frozen=True, slots=True)
class ChaosPlan:
    callouts: tuple[PlannedCallout, ...]
    faults: tuple[PlannedFault, ...]
    probes: tuple[PlannedProbe, ...]


def draw_plan(options: ChaosOptions) -> ChaosPlan:
    """The callouts, faults and probes of a run, drawn from ``options.seed``."""
    rng = random.Random(options.seed)
    issis = options.issis
    callouts = []
    for n in range(options.callouts):
        count = rng.randint(1, min(options.max_units_per_callout, len(issis)))
        callout_id = f"CH{options.seed}-{n:05d}"
        callouts.append(
            PlannedCallout(
                at_s=n / options.callout_rate,
                callout_id=callout_id,
                incident_id=f"INC-{callout_id}",
                issis=tuple(rng.sample(issis, count)),
            )
        )
    faults = _draw_faults(options, rng)
    probes = []
    if options.probe_rate > 0:
        total = min(PROBE_MAX, int(options.duration_s * options.probe_rate))
        for n in range(total):
            probes.append(
                PlannedProbe(
                    at_s=n / options.probe_rate, issi=rng.choice(issis), value=PROBE_BASE + n
                )
            )
    return ChaosPlan(tuple(callouts), faults, tuple(probes))


def _draw_faults(options: ChaosOptions, rng: random.Random) -> tuple[PlannedFault, ...]:
    span = max(options.duration_s, FIRST_FAULT_S + 1.0)
    times: list[tuple[float, str]] = []
    if options.fault_list:
        step = (span - FIRST_FAULT_S) / len(options.fault_list)
        times = [(FIRST_FAULT_S + step * n, kind) for n, kind in enumerate(options.fault_list)]
    else:
        for kind, per_min in options.rates.items():
            if per_min <= 0:
                continue
            at = FIRST_FAULT_S + rng.expovariate(per_min / 60.0)
            while at < span:
                times.append((at, kind))
                at += rng.expovariate(per_min / 60.0)
    times.sort()
    faults: list[PlannedFault] = []
    last_disruptive = -DISRUPTIVE_GAP_S
    for planned_at, kind in times:
        at = planned_at
        if kind in DISRUPTIVE:
            at = max(at, last_disruptive + DISRUPTIVE_GAP_S)
            last_disruptive = at
        faults.append(_fault(kind, at, options, rng))
    faults.sort(key=lambda f: f.at_s)
    return tuple(faults)


def _fault(kind: str, at: float, options: ChaosOptions, rng: random.Random) -> PlannedFault:
    radio = f"gw{rng.randint(1, options.radios)}"
    seconds = round(rng.uniform(1.0, 3.0), 2)
    match kind:
        case "gateway_kill":
            return PlannedFault(at, kind, duration_s=round(rng.uniform(0.2, 2.0), 2))
        case "broker_restart":
            return PlannedFault(at, kind)
        case "radio_garbage":
            return PlannedFault(at, kind, radio, count=rng.randint(1, 3))
        case "drop_reports":
            return PlannedFault(at, kind, radio, count=rng.randint(1, 2))
        case "unit_coverage":
            low, high = options.coverage_out_s
            unit = str(rng.choice(options.issis))
            return PlannedFault(at, kind, unit, duration_s=round(rng.uniform(low, high), 1))
        case "radio_reboot" | "radio_disconnect" | "radio_stall":
            return PlannedFault(at, kind, radio, duration_s=seconds)
    raise ValueError(f"unknown fault kind {kind!r} (known: {', '.join(KINDS)})")
