"""Vendor profiles: how each make of radio differs on the PEI, as data (not ``if`` chains).

PEI reference §1–§4 lists the quirks: Motorola wants service profile 2 for status
registrations, declares 84 bits and sends 22 hex digits for a LIP report and refuses SDS
while transmitting (``+CME ERROR: 41``); Sepura reboots on ``ATZ`` and sends 21 digits;
radios often answer a stale ``+CME ERROR: 35`` to the first command after power-up.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class VendorProfile:
    """What a radio of one make does on its PEI.

    ``status_profile`` is the only service profile accepted for status registrations
    (``AT+CTSP=<profile>,2,20``); ``None`` accepts any. ``lip_hex_digits`` is the number of
    hex digits sent for an 84-bit LIP short report (22 = padded to whole bytes, 21 = exact
    nibbles). ``duplicate_registration_error`` is the ``+CME ERROR`` answered to a
    registration that is already in place (``None``: answer ``OK``).
    """

    name: str
    manufacturer: str
    status_profile: int | None
    lip_hex_digits: int
    refuses_sds_while_transmitting: bool
    atz_reboots: bool
    stale_error_after_power_up: bool
    echo_after_power_up: bool
    duplicate_registration_error: int | None
    max_registrations: int
    max_sds_bits: int = 1184


VENDORS: dict[str, VendorProfile] = {
    profile.name: profile
    for profile in (
        VendorProfile(
            name="motorola",
            manufacturer="Motorola Solutions",
            status_profile=2,
            lip_hex_digits=22,
            refuses_sds_while_transmitting=True,
            atz_reboots=False,
            stale_error_after_power_up=True,
            echo_after_power_up=True,
            duplicate_registration_error=None,
            max_registrations=8,
        ),
        VendorProfile(
            name="sepura",
            manufacturer="Sepura",
            status_profile=None,
            lip_hex_digits=21,
            refuses_sds_while_transmitting=False,
            atz_reboots=True,
            stale_error_after_power_up=True,
            echo_after_power_up=True,
            # Registering a PID twice: "38 PID already registered" (PEI reference §9).
            duplicate_registration_error=38,
            max_registrations=8,
        ),
        VendorProfile(
            name="generic",
            manufacturer="Generic EN 300 392-5",
            status_profile=None,
            lip_hex_digits=21,
            refuses_sds_while_transmitting=False,
            atz_reboots=False,
            stale_error_after_power_up=False,
            echo_after_power_up=True,
            duplicate_registration_error=None,
            max_registrations=16,
        ),
    )
}


def vendor_profile(name: str) -> VendorProfile:
    """The profile called ``name``; ``KeyError`` naming the known ones otherwise."""
    try:
        return VENDORS[name]
    except KeyError:
        known = ", ".join(sorted(VENDORS))
        raise KeyError(f"unknown vendor {name!r} (known: {known})") from None
