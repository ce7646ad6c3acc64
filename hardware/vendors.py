"""Vendor init profiles: how each make of radio wants to be brought up, as data.

Radio behaviour that differs by vendor lives here (architecture principle), never in ``if``
chains inside the terminal driver. A profile is the ordered list of commands the terminal sends
after every (re)connect or detected reboot, plus the few knobs that differ between makes.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "GENERIC",
    "MOTOROLA",
    "PROFILES",
    "SEPURA",
    "ServiceRegistration",
    "VendorProfile",
    "profile_for",
]


@dataclass(frozen=True, slots=True)
class ServiceRegistration:
    """One ``AT+CTSP=<profile>,<layer1>[,<layer2>]`` routing a service to the PEI (§2)."""

    profile: int
    layer1: int
    layer2: int | None = None
    # A radio that refuses an optional registration still works for callouts.
    required: bool = True


@dataclass(frozen=True, slots=True)
class VendorProfile:
    """What the terminal sends to bring one make of radio into a known state.

    ``registrations`` are all sent after every (re)connect: a rebooted radio has forgotten
    them (PEI reference §1). No profile resets the radio with ``ATZ``: it reboots Sepura
    terminals (§1), and the sequence below reaches a known state without it.
    """

    name: str
    registrations: tuple[ServiceRegistration, ...]
    operating_mode: int = 0
    charset: str | None = None
    # Whether the radio sends the unsolicited ``+CMGS: <n>,<status>,<ref>`` outcome (§3);
    # without it a send that asked for no report counts as sent once the radio takes it.
    reports_send_outcome: bool = True
    # How many times ``AT`` is repeated at start to clear a stale ``+CME ERROR: 35``.
    sync_attempts: int = 8


# Text messaging (PID 130 = 0x82), LIP (PID 10 = 0x0A) and group-management indications
# are common to every make; only the status registration differs (PEI reference §2).
_TEXT = ServiceRegistration(3, 3, 130)
_LIP = ServiceRegistration(3, 3, 10)
_CONCAT_TEXT = ServiceRegistration(3, 3, 138, required=False)  # PID 0x8A: texts in parts
_GROUP_MANAGEMENT = ServiceRegistration(1, 1, 11)

MOTOROLA = VendorProfile(
    name="motorola",
    # Motorola routes status messages only with service profile 2.
    registrations=(ServiceRegistration(2, 2, 20), _TEXT, _CONCAT_TEXT, _LIP, _GROUP_MANAGEMENT),
)
SEPURA = VendorProfile(
    name="sepura",
    registrations=(ServiceRegistration(1, 2, 20), _TEXT, _CONCAT_TEXT, _LIP, _GROUP_MANAGEMENT),
)
GENERIC = VendorProfile(
    name="generic",
    registrations=(ServiceRegistration(1, 2, 20), _TEXT, _CONCAT_TEXT, _LIP, _GROUP_MANAGEMENT),
)

PROFILES: dict[str, VendorProfile] = {p.name: p for p in (MOTOROLA, SEPURA, GENERIC)}


def profile_for(vendor: str) -> VendorProfile:
    """The profile for a vendor name (``motorola``, ``sepura``, ``generic``); KeyError names it."""
    try:
        return PROFILES[vendor.lower()]
    except KeyError:
        raise KeyError(f"unknown radio vendor {vendor!r}; known: {sorted(PROFILES)}") from None
