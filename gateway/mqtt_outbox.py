"""The outbound half of the MQTT bridge: the store's outbox published in order, pipelined.

:class:`OutboxPump` publishes the pending publications of an ``OutboxSource`` in ``seq``
order with up to ``window`` awaiting their PUBACKs, and confirms each to the outbox after its
own PUBACK. MQTT keeps one session's QoS 1 messages in order (3.1.1 §4.6, 5 §4.6), so the
pipelining changes nothing a subscriber sees; before it, the pump waited for each PUBACK
before sending the next publication (one round trip per event, docs/performance.md fix 9).
A batch waits for ``durable()`` first: nothing is announced that a power loss could undo.

paho is driven directly (``client._client.publish``) because aiomqtt's ``publish`` neither
pipelines nor tells which PUBACK refused what; the bridge routes every PUBACK's reason code to
:meth:`OutboxPump.on_puback` by packet id.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiomqtt
from paho.mqtt.client import MQTT_ERR_SUCCESS
from paho.mqtt.reasoncodes import ReasonCode

from gateway.logging import get_logger
from gateway.mqtt_interfaces import OutboxSource, Publication

_log = get_logger("gateway.mqtt")
_T = TypeVar("_T")

_InFlight = collections.deque[tuple[Publication, "asyncio.Future[ReasonCode | None]"]]


async def resolve(value: _T | Awaitable[_T]) -> _T:
    """``value``, awaited if it is awaitable (an ``OutboxSource`` may be sync or async)."""
    if inspect.isawaitable(value):
        return await value
    return value


class OutboxPump:
    """Publishes an outbox over one connection at a time (:meth:`run` per connection)."""

    def __init__(
        self,
        outbox: OutboxSource,
        *,
        window: int,
        puback_timeout_s: float,
        wake: asyncio.Event,
        durable: Callable[[], Awaitable[None]] | None,
        on_published: Callable[[], None],
        on_refused: Callable[[str], None],
    ) -> None:
        self._outbox = outbox
        self._window = max(1, window)
        self._timeout_s = puback_timeout_s
        self._wake = wake
        self._durable = durable
        self._on_published = on_published
        self._on_refused = on_refused
        #: PUBACKs awaited, by packet id (one connection's worth).
        self._pubacks: dict[int, asyncio.Future[ReasonCode | None]] = {}

    def on_puback(self, mid: int, reason_code: ReasonCode) -> bool:
        """A PUBACK arrived; True if it answers one of this pump's publications."""
        future = self._pubacks.pop(mid, None)
        if future is None:
            return False
        if not future.done():
            future.set_result(reason_code)
        return True

    async def run(self, client: aiomqtt.Client) -> None:
        """Publish until cancelled (the connection ended); raises ``MqttError`` when the
        broker does not answer a publication within the timeout."""
        in_flight: _InFlight = collections.deque()
        try:
            while True:
                # Clear before reading: a notify() that lands while we read is not lost.
                self._wake.clear()
                batch = await resolve(self._outbox.pending())
                if not batch:
                    await self._wake.wait()
                    continue
                if self._durable is not None:
                    await self._durable()
                for publication in batch:
                    if len(in_flight) >= self._window:
                        await self._settle(*in_flight.popleft())
                    in_flight.append((publication, self._send(client, publication)))
                while in_flight:
                    await self._settle(*in_flight.popleft())
                # Python 3.11's asyncio.wait_for loses a cancel that lands as the awaited
                # future completes (CPython gh-86296); honour a pending cancel here, or a
                # SIGTERM could leave the pump waiting on its wake-up forever.
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise asyncio.CancelledError
        finally:
            for _publication, future in in_flight:
                future.cancel()
            self._pubacks.clear()

    def _send(
        self, client: aiomqtt.Client, publication: Publication
    ) -> asyncio.Future[ReasonCode | None]:
        """Hand one publication to paho; the future resolves with its PUBACK's reason code."""
        info = client._client.publish(
            publication.topic, publication.payload, publication.qos, publication.retain
        )
        if info.rc != MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttCodeError(info.rc, "Could not publish message")
        future: asyncio.Future[ReasonCode | None] = asyncio.get_running_loop().create_future()
        if publication.qos == 0:
            future.set_result(None)  # no PUBACK comes for QoS 0
        else:
            # A PUBACK is read from the socket by the event loop, never inside publish():
            # registering the packet id now cannot miss it.
            self._pubacks[info.mid] = future
        return future

    async def _settle(
        self, publication: Publication, puback: asyncio.Future[ReasonCode | None]
    ) -> None:
        """Wait for ``publication``'s PUBACK (the connection's timeout), then confirm it."""
        if puback.done():  # usual with a full window: it came while later ones were sent
            reason = puback.result()
        else:
            try:
                reason = await asyncio.wait_for(puback, self._timeout_s)
            except TimeoutError:
                raise aiomqtt.MqttError("timed out waiting for a PUBACK") from None
        if reason is not None and reason.is_failure:
            self._on_refused(str(reason))
            _log.error(
                "mqtt_publication_refused",
                topic=publication.topic,
                seq=publication.seq,
                reason=str(reason),
            )
        await resolve(self._outbox.confirm(publication.seq))
        self._on_published()


__all__ = ["OutboxPump", "resolve"]
