"""The DGNA service: the network attaches dynamic groups to units on a dispatcher's request.

PEI reference §8: DGNA is done by the SwMI, not over the PEI. A group has a GSSI, targets,
a lifetime, a class of usage (``selected`` or ``scanned``) and an ack request. Each target
is ``queued`` until the network reaches it (``dgna_delay_ms``); then it is
``acknowledged`` (with an ack request; ``attached`` without one: the network has no answer
to show), ``rejected`` (its list already holds ``max_dynamic_groups`` groups, or the ISSI is
not a unit of the network), or — still out of coverage after ``dgna_timeout_s`` —
``timeout``. Removing a target or deleting the group detaches it; a unit whose selected
group is withdrawn falls back to the default group. The lifetime ends the group by itself.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Literal

from hardware.emulator.network import Swmi

ClassOfUsage = Literal["selected", "scanned"]
CLASSES: tuple[ClassOfUsage, ...] = ("selected", "scanned")
_RETRY_S = 0.5


class DgnaError(ValueError):
    """A request the service refuses; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class DynamicGroup:
    """One dynamic group and the state of each target."""

    gssi: int
    lifetime_s: float
    class_of_usage: ClassOfUsage
    ack_requested: bool
    created_at: float
    targets: dict[int, str] = field(default_factory=dict)
    handles: list[asyncio.TimerHandle] = field(default_factory=list)

    def as_dict(self, now: float) -> dict[str, Any]:
        """``{"gssi", "targets": {"<issi>": state}, ...}`` as the HTTP API returns it."""
        return {
            "gssi": self.gssi,
            "targets": {str(issi): state for issi, state in self.targets.items()},
            "lifetime_s": self.lifetime_s,
            "expires_in_s": round(max(0.0, self.created_at + self.lifetime_s - now), 3),
            "class_of_usage": self.class_of_usage,
            "ack_requested": self.ack_requested,
        }


class DgnaService:
    """Creates, changes and withdraws dynamic groups."""

    def __init__(self, swmi: Swmi) -> None:
        self.swmi = swmi
        self.groups: dict[int, DynamicGroup] = {}

    def create(
        self,
        gssi: int,
        targets: list[int],
        lifetime_s: float,
        class_of_usage: ClassOfUsage,
        ack_requested: bool,
    ) -> DynamicGroup:
        """A new group; every target starts ``queued``. 409 if the GSSI exists."""
        settings = self.swmi.settings
        if gssi in self.groups or gssi == settings.default_group:
            raise DgnaError(409, f"group {gssi} exists")
        if gssi in self.swmi.units or gssi in self.swmi.terminals:
            raise DgnaError(409, f"{gssi} is the ISSI of a terminal")
        group = DynamicGroup(
            gssi, lifetime_s, class_of_usage, ack_requested, created_at=self.swmi.now()
        )
        self.groups[gssi] = group
        group.handles.append(self.swmi.schedule(lifetime_s, self._expire, gssi))
        self._add_targets(group, targets)
        return group

    def get(self, gssi: int) -> DynamicGroup:
        """The group; 404 if unknown."""
        group = self.groups.get(gssi)
        if group is None:
            raise DgnaError(404, f"no dynamic group {gssi}")
        return group

    def modify(self, gssi: int, add: list[int], remove: list[int]) -> DynamicGroup:
        """Add targets (queued) and remove targets (detached at once)."""
        group = self.get(gssi)
        for issi in remove:
            group.targets.pop(issi, None)
            unit = self.swmi.units.get(issi)
            if unit is not None:
                unit.detach(gssi)
        self._add_targets(group, [issi for issi in add if issi not in group.targets])
        return group

    def delete(self, gssi: int) -> DynamicGroup:
        """Withdraw the group from every unit."""
        group = self.get(gssi)
        del self.groups[gssi]
        for handle in group.handles:
            handle.cancel()
        for unit in self.swmi.units.values():
            unit.detach(gssi)
        return group

    def _expire(self, gssi: int) -> None:
        if gssi in self.groups:
            self.delete(gssi)

    def _add_targets(self, group: DynamicGroup, targets: list[int]) -> None:
        deadline = self.swmi.now() + self.swmi.settings.dgna_timeout_s
        delay = self.swmi.settings.dgna_delay_ms / 1000.0
        for issi in targets:
            group.targets[issi] = "queued"
            group.handles.append(self.swmi.schedule(delay, self._assign, group, issi, deadline))

    def _assign(self, group: DynamicGroup, issi: int, deadline: float) -> None:
        if self.groups.get(group.gssi) is not group or group.targets.get(issi) != "queued":
            return  # withdrawn meanwhile
        unit = self.swmi.units.get(issi)
        if unit is None:
            group.targets[issi] = "rejected"
            return
        if not unit.in_coverage:
            if self.swmi.now() >= deadline:
                group.targets[issi] = "timeout"
            else:
                group.handles.append(
                    self.swmi.schedule(_RETRY_S, self._assign, group, issi, deadline)
                )
            return
        if len(unit.groups) >= self.swmi.settings.max_dynamic_groups:
            group.targets[issi] = "rejected"  # the unit's group list is full
            return
        unit.attach(group.gssi, group.class_of_usage)
        group.targets[issi] = "acknowledged" if group.ack_requested else "attached"

    def cancel(self) -> None:
        """Stop every timer (shutdown)."""
        for group in self.groups.values():
            for handle in group.handles:
                handle.cancel()
