"""The gateway's retained health: which radios are up, their identity and signal, the outbox.

``RadioStates`` follows the radios' link and signal events; ``health_payload`` builds the
``gateway/<id>/health`` event (dispatch-api.md) that the MQTT bridge publishes, retained, on
every connect and whenever a radio changes state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from hardware.radio_events import LinkDown, LinkUp, SignalReport
from protocols.dispatch import HealthEvent, RadioHealth


@dataclass(slots=True)
class _Radio:
    state: str = "connecting"
    issi: int | None = None
    rssi_dbm: int | None = None


class RadioStates:
    """The last known state of each configured radio."""

    def __init__(self, names: Iterable[str], on_change: Callable[[], None] | None = None) -> None:
        self._radios = {name: _Radio() for name in names}
        self._on_change = on_change

    def update(self, event: LinkUp | LinkDown | SignalReport) -> None:
        radio = self._radios.setdefault(event.radio, _Radio())
        before = radio.state
        match event:
            case LinkUp():
                radio.state = "up"
                radio.issi = event.issi if event.issi is not None else radio.issi
            case LinkDown():
                radio.state = "down"
            case SignalReport():
                radio.rssi_dbm = event.dbm
        if radio.state != before and self._on_change is not None:
            self._on_change()

    def up(self) -> list[str]:
        return [name for name, radio in self._radios.items() if radio.state == "up"]

    def health(self) -> tuple[RadioHealth, ...]:
        return tuple(
            RadioHealth(name=name, state=r.state, issi=r.issi, rssi_dbm=r.rssi_dbm)
            for name, r in self._radios.items()
        )


def health_payload(version: str, radios: RadioStates, outbox: int) -> bytes:
    """The retained ``online`` health event."""
    return HealthEvent(
        state="online", version=version, radios=radios.health(), outbox=outbox
    ).to_json()
