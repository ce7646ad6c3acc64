"""What the MQTT bridge asks of the code around it, and what it reports back.

Kept apart from :mod:`gateway.mqtt` so that the store, the inbound router and the health
event can name these types without importing aiomqtt. :mod:`gateway.mqtt` re-exports them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

__all__ = ["BridgeCounters", "InboundDeferred", "InboundHandler", "OutboxSource", "Publication"]


class Publication(Protocol):
    """One row of the outbox as the pump sees it (``gateway/store/`` provides them)."""

    @property
    def seq(self) -> int: ...
    @property
    def topic(self) -> str: ...
    @property
    def payload(self) -> bytes | str: ...
    @property
    def qos(self) -> int: ...
    @property
    def retain(self) -> bool: ...


class OutboxSource(Protocol):
    """Where outbound publications come from. Either method may be sync or ``async``.

    ``pending()`` returns the unconfirmed publications in ``seq`` order; ``confirm(seq)``
    marks one as delivered to the broker. The bridge calls them from one task only.
    """

    def pending(self) -> Sequence[Publication] | Awaitable[Sequence[Publication]]: ...
    def confirm(self, seq: int) -> Awaitable[None] | None: ...


#: ``handler(topic, payload)``: must return only when the message is durably stored.
InboundHandler = Callable[[str, bytes], Awaitable[None]]


class InboundDeferred(Exception):  # noqa: N818 - the name says what the handler means
    """Raised by an inbound handler that cannot store a message now (database locked, disk
    full): the bridge reconnects without acknowledging, and the broker redelivers."""


@dataclasses.dataclass(frozen=True, slots=True)
class BridgeCounters:
    """Counters since the bridge was created, for the health event and metrics."""

    connected: bool = False
    connects: int = 0
    connection_losses: int = 0
    connect_failures: int = 0
    received: int = 0
    #: Messages on topics outside the inbound filters (a broker bug), acknowledged and dropped.
    ignored: int = 0
    handler_errors: int = 0
    deferred: int = 0
    published: int = 0
    #: Publications the broker refused in its PUBACK (MQTT 5 only), confirmed and not retried.
    refused: int = 0
    last_error: str | None = None
