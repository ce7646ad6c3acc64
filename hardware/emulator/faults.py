"""Faults a radio or the network can suffer, on demand and at random (seeded).

A fault is a `FaultRequest` (what the control API's ``POST /radios/<name>/fault`` takes);
counted faults (``drop_reports``, ``duplicate``, ``congestion``) hit the next ``count``
messages, or every message for ``duration_s`` when a duration is given. `FaultWindow`
keeps that bookkeeping; `RandomFaults` draws faults with a seeded generator.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# kind -> (default duration in seconds, whether it is counted per message)
FAULT_DEFAULTS: dict[str, tuple[float, bool]] = {
    "reboot": (1.0, False),
    "disconnect": (1.0, False),
    "garbage": (0.0, False),
    "stall": (2.0, False),
    "drop_reports": (0.0, True),
    "duplicate": (0.0, True),
    "congestion": (0.0, True),
    "transmitting": (2.0, False),
    "coverage": (2.0, False),
}
# Kinds drawn by --random-faults: short and recoverable (a reboot too: radios do that).
RANDOM_KINDS: tuple[str, ...] = (
    "garbage",
    "stall",
    "drop_reports",
    "duplicate",
    "congestion",
    "reboot",
    "disconnect",
    "unit_coverage",
)


class FaultError(ValueError):
    """A fault request that cannot be applied; the message says why."""


@dataclass(frozen=True, slots=True)
class FaultRequest:
    """One fault: its kind, how long (seconds) and how many times."""

    kind: str
    duration_s: float | None = None
    count: int = 1

    def __post_init__(self) -> None:
        if self.kind not in FAULT_DEFAULTS:
            raise FaultError(
                f"unknown fault kind {self.kind!r} (known: {', '.join(FAULT_DEFAULTS)})"
            )
        if self.duration_s is not None and not 0 <= self.duration_s <= 3600:
            raise FaultError("duration_s must be within 0..3600")
        if not 1 <= self.count <= 10000:
            raise FaultError("count must be within 1..10000")

    @property
    def duration(self) -> float:
        """The duration, or the kind's default."""
        if self.duration_s is None:
            return FAULT_DEFAULTS[self.kind][0]
        return self.duration_s


class FaultWindow:
    """A counted fault: active for the next ``count`` hits, or until a deadline."""

    __slots__ = ("remaining", "until")

    def __init__(self) -> None:
        self.remaining = 0
        self.until = 0.0

    def arm(self, request: FaultRequest, now: float) -> None:
        """Start (or extend) the fault."""
        if request.duration_s:
            self.until = max(self.until, now + request.duration_s)
        else:
            self.remaining += request.count

    def hit(self, now: float) -> bool:
        """True when this message is affected (and a count is used up)."""
        if now < self.until:
            return True
        if self.remaining > 0:
            self.remaining -= 1
            return True
        return False

    def active(self, now: float) -> bool:
        """True while the fault would affect the next message."""
        return now < self.until or self.remaining > 0


class RandomFaults:
    """Draws faults as a Poisson process of ``rate_per_min`` over the whole network."""

    def __init__(self, rate_per_min: float, seed: int) -> None:
        self.rate_per_min = rate_per_min
        self._rng = random.Random(seed ^ 0x5EED)

    def next_delay(self) -> float:
        """Seconds until the next fault."""
        return self._rng.expovariate(self.rate_per_min / 60.0)

    def draw(self, radios: list[str], units: list[int]) -> tuple[str, str | int, FaultRequest]:
        """``(target kind, target, request)``: a radio fault, or a unit leaving coverage."""
        kind = self._rng.choice(RANDOM_KINDS)
        if kind == "unit_coverage" and units:
            return "unit", self._rng.choice(units), FaultRequest("coverage", 3.0)
        if kind == "unit_coverage":
            kind = "garbage"
        duration = round(self._rng.uniform(0.5, 2.0), 2)
        counted = FAULT_DEFAULTS[kind][1]
        request = FaultRequest(kind, None if counted else duration, self._rng.randint(1, 3))
        return "radio", self._rng.choice(radios), request
