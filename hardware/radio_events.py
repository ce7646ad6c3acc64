"""The typed event stream of a radio terminal (and of the pool that merges several).

Every event names the radio that heard it (``radio``) and the wall-clock time it was
decoded (``received_at``, epoch seconds). Events that a field unit originates carry the
unit's ISSI as ``source_issi``; their ``dedupe_key()`` lets the pool merge the same
transmission heard by two gateway radios into one event. Radio-local events (link state,
signal, delivery of our own sends) return ``None`` and are never merged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from protocols.sds.lip import LipLongReport, LipShortReport, velocity_kmh

__all__ = [
    "DeliveryReported",
    "EmergencyReceived",
    "GroupChanged",
    "LinkDown",
    "LinkUp",
    "LocationReceived",
    "RadioEvent",
    "SignalReport",
    "StatusReceived",
    "TextReceived",
    "location_event",
]


@dataclass(frozen=True, slots=True)
class LinkUp:
    """The radio answers and is initialised (registrations sent, identity read)."""

    radio: str
    issi: int | None
    received_at: float

    def dedupe_key(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class LinkDown:
    """The radio stopped answering, its line dropped, or it rebooted; ``reason`` says which."""

    radio: str
    reason: str
    received_at: float

    def dedupe_key(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class StatusReceived:
    """A unit sent a 16-bit status value (not a short report, not an emergency)."""

    radio: str
    source_issi: int
    value: int
    received_at: float

    def dedupe_key(self) -> tuple[int, str, int]:
        return (self.source_issi, "status", self.value)


@dataclass(frozen=True, slots=True)
class EmergencyReceived:
    """A unit sent status 0: emergency (PEI reference §6)."""

    radio: str
    source_issi: int
    received_at: float

    def dedupe_key(self) -> tuple[int, str, int]:
        return (self.source_issi, "emergency", 0)


@dataclass(frozen=True, slots=True)
class TextReceived:
    """A unit sent a text; parts of a concatenated text are already reassembled.

    ``repr`` hides the text: it is personal data and must never reach a log in clear.
    """

    radio: str
    source_issi: int
    text: str
    received_at: float

    def dedupe_key(self) -> tuple[int, str, str]:
        return (self.source_issi, "text", self.text)

    def __repr__(self) -> str:
        return (
            f"TextReceived(radio={self.radio!r}, source_issi={self.source_issi}, "
            f"text=<{len(self.text)} chars>, received_at={self.received_at})"
        )


@dataclass(frozen=True, slots=True)
class LocationReceived:
    """A LIP report from a unit, reduced to what the dispatch side uses.

    ``velocity_kmh``/``direction_deg`` are ``None`` where the unit reported them unknown;
    ``reason`` is the LIP reason-for-sending name when the report carried one.
    """

    radio: str
    source_issi: int
    lat: float
    lon: float
    position_error_m: float | None
    velocity_kmh: float | None
    direction_deg: float | None
    reason: str | None
    received_at: float

    def dedupe_key(self) -> tuple[int, str, tuple[float, float, str | None]]:
        return (self.source_issi, "location", (self.lat, self.lon, self.reason))


@dataclass(frozen=True, slots=True)
class DeliveryReported:
    """A stage of one of our own sends reached outside ``send_text``'s return: ``sent`` (the
    network took every part; ``send_text`` still waits for the report), and ``read`` after
    ``delivered``.

    ``send_id`` is the caller's id given to ``send_text`` (or ``None``); ``stage`` is what
    the network or the unit reported now.
    """

    radio: str
    destination_issi: int
    send_id: str | None
    stage: Literal["sent", "delivered", "read", "failed"]
    received_at: float
    message_references: tuple[int, ...] = ()

    def dedupe_key(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class GroupChanged:
    """The radio reports its selected/scanned talk group changed (``+CTGS`` unsolicited)."""

    radio: str
    fields: tuple[str, ...]
    received_at: float

    def dedupe_key(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class SignalReport:
    """Received signal strength of the gateway radio; ``dbm`` is ``None`` when unknown (99)."""

    radio: str
    rssi: int
    dbm: int | None
    received_at: float

    def dedupe_key(self) -> None:
        return None


RadioEvent = (
    LinkUp
    | LinkDown
    | StatusReceived
    | EmergencyReceived
    | TextReceived
    | LocationReceived
    | DeliveryReported
    | GroupChanged
    | SignalReport
)


def location_event(
    radio: str, source_issi: int, report: LipShortReport | LipLongReport, received_at: float
) -> LocationReceived | None:
    """The event for a LIP report; ``None`` for a long report that carries no position."""
    if isinstance(report, LipShortReport):
        return LocationReceived(
            radio=radio,
            source_issi=source_issi,
            lat=report.latitude,
            lon=report.longitude,
            position_error_m=report.error_m,
            velocity_kmh=report.velocity_kmh,
            direction_deg=None if report.velocity_kmh is None else report.direction_deg,
            reason=report.reason_name,
            received_at=received_at,
        )
    location = report.location
    lat = getattr(location, "latitude", None)
    lon = getattr(location, "longitude", None)
    if lat is None or lon is None:
        return None
    horizontal = report.velocity.horizontal
    extended = report.velocity.direction_extended
    return LocationReceived(
        radio=radio,
        source_issi=source_issi,
        lat=float(lat),
        lon=float(lon),
        position_error_m=None,
        velocity_kmh=None if horizontal is None else velocity_kmh(horizontal),
        direction_deg=None if extended is None else extended * 360 / 256,
        reason=None,
        received_at=received_at,
    )
