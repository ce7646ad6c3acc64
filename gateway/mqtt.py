"""The MQTT side of the gateway: one persistent, self-healing connection to the dispatch broker.

:class:`MqttBridge` subscribes to the inbound dispatch topics, hands each message to an async
handler, publishes the store's outbox in order, and keeps the gateway's retained health topic
truthful (``online`` on connect, ``offline`` by the will when the process dies).

Delivery guarantees (dispatch-api.md: inbound and outbound are QoS 1, at-least-once):

* **Inbound.** aiomqtt 2.5.1 has no manual-ack option of its own and paho acknowledges a
  QoS 1 PUBLISH as soon as it is read. The bridge therefore switches the underlying paho client
  to manual acknowledgement (``manual_ack_set``, paho ≥ 1.6) and sends the PUBACK only after the
  handler has returned, one message at a time. The handler must return only once the message
  is durably stored; a crash before that leaves the message unacknowledged in the broker's
  persistent session and the broker re-sends it on reconnect (MQTT 3.1.1 §4.4, MQTT 5 §4.4).
  The handler therefore sees duplicates and must be idempotent (``callout_id``).
  With ``durable`` given (the daemon passes the store's group flush,
  ``gateway/store/durability.py``), the PUBACK also waits until what the handler committed is
  flushed to disk; a separate task sends it, so the next message is handled meanwhile.
  A handler that raises is logged (topic and error type, never the payload), counted and the
  message is acknowledged anyway: an unacknowledged message would hold one of the broker's
  in-flight slots (Mosquitto ``max_inflight_messages``, 20 by default) until the next
  reconnect, so a few poison messages would stall all inbound traffic. A handler that cannot
  store *now* raises :class:`InboundDeferred` instead: the bridge then drops the connection
  without acknowledging, and the broker redelivers after the reconnect back-off.
* **Session.** The client id is stable and the session persistent (``clean_session=False``
  for 3.1.1; ``clean_start=False`` plus a Session Expiry Interval for MQTT 5), so QoS 1
  messages published while the gateway restarts are queued by the broker. Mosquitto drops
  messages beyond ``max_queued_messages`` (1000 by default) for an offline client.
* **Outbound.** The outbox pump (:mod:`gateway.mqtt_outbox`) publishes the pending
  publications in ``seq`` order, up to ``publish_window`` awaiting their PUBACKs at once
  (MQTT keeps one session's QoS 1 messages in order), and confirms each to the outbox only
  after its own PUBACK. A batch is sent
  only after ``durable`` returns: nothing is announced that a power loss could take back.
  After a reconnect it starts again from ``pending()``, so a
  publication whose PUBACK was lost is sent twice rather than never. A publication the broker
  refuses (MQTT 5 PUBACK reason code, e.g. Mosquitto's ACL) is logged, counted in
  ``refused`` and confirmed: retrying a configuration error would block every later event.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import socket
import ssl
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any, Final, Self, cast

import aiomqtt
from paho.mqtt.client import CallbackOnPublish_v2
from paho.mqtt.client import Client as PahoClient
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.logging import get_logger
from gateway.mqtt_interfaces import (
    BridgeCounters,
    InboundDeferred,
    InboundHandler,
    OutboxSource,
    Publication,
)
from gateway.mqtt_outbox import OutboxPump
from gateway.mqtt_settings import MqttSettings
from gateway.mqtt_tls import tls_context

__all__ = [
    "OFFLINE_PAYLOAD",
    "BridgeCounters",
    "InboundDeferred",
    "InboundHandler",
    "MqttBridge",
    "OutboxSource",
    "Publication",
    "no_delay",
]

_log = get_logger(__name__)

#: The will and clean-shutdown health payload (dispatch-api.md, ``gateway/<id>/health``).
OFFLINE_PAYLOAD: Final[bytes] = b'{"state": "offline"}'
_DEFAULT_ONLINE: Final[bytes] = b'{"state": "online"}'
#: Outbox publications in flight at once (QoS 1, awaiting their PUBACKs). Mosquitto's
#: ``max_inflight_messages`` is 20 by default; paho queues what the broker's window refuses.
PUBLISH_WINDOW: Final = 20


class MqttBridge:
    """A persistent MQTT connection that carries the dispatch API in both directions.

    Use it as ``async with MqttBridge(...) as bridge:`` (runs in a background task, stops
    cleanly on exit) or run :meth:`run` in a task of your own and call :meth:`stop`.
    It never gives up on its own: connection failures are retried with a capped, doubling
    back-off that resets after each successful connection.
    """

    def __init__(
        self,
        settings: MqttSettings,
        *,
        on_message: InboundHandler,
        outbox: OutboxSource | None = None,
        health: Callable[[], bytes | str] | None = None,
        durable: Callable[[], Awaitable[None]] | None = None,
        publish_window: int = PUBLISH_WINDOW,
    ) -> None:
        self._settings = settings
        self._durable = durable
        self._window = max(1, publish_window)
        self._on_message = on_message
        self._health = health if health is not None else (lambda: _DEFAULT_ONLINE)
        #: The counters' current values; ``counters`` hands out frozen snapshots. A bump is
        #: a dict update: the outbox counts every PUBACK (~6 per callout).
        self._counts: dict[str, Any] = dataclasses.asdict(BridgeCounters())
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._connected = asyncio.Event()
        self._idle = asyncio.Event()  # set while run() is not running
        self._idle.set()
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._tls_context: ssl.SSLContext | None = None
        self._publish_lock = asyncio.Lock()
        self._refusals: list[str] = []
        self._pump: OutboxPump | None = None
        if outbox is not None:
            self._pump = OutboxPump(
                outbox,
                window=self._window,
                puback_timeout_s=settings.timeout_s,
                wake=self._wake,
                durable=durable,
                on_published=lambda: self._bump("published"),
                on_refused=lambda reason: self._bump(
                    "refused", last_error=f"publish refused: {reason}"
                ),
            )

    # -- state -------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while subscribed and able to publish."""
        return self._connected.is_set()

    @property
    def counters(self) -> BridgeCounters:
        """A snapshot of the counters."""
        return BridgeCounters(**self._counts)

    def _bump(self, *names: str, **values: Any) -> None:
        """Add one to each counter in ``names`` and set the fields in ``values``."""
        counts = self._counts
        for name in names:
            counts[name] += 1
        for name, value in values.items():
            if name not in counts:
                raise TypeError(f"BridgeCounters has no field {name!r}")
            counts[name] = value

    async def wait_connected(self) -> None:
        """Return once the bridge is connected and subscribed (immediately if it is)."""
        await self._connected.wait()

    def notify(self) -> None:
        """Wake the outbox pump: new publications have been stored."""
        self._wake.set()

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self.run(), name="mqtt-bridge")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Publish ``offline`` health, disconnect cleanly and return when :meth:`run` has."""
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self._idle.wait()

    async def publish_health(self) -> bool:
        """Publish the current ``online`` health now (retained, QoS 1); True once the broker
        has acknowledged it, False if not connected or refused."""
        client = self._client
        if client is None or not self.connected:
            return False
        return await self._publish(
            client, self._settings.health_topic, self._health(), 1, retain=True
        )

    async def run(self) -> None:
        """Connect, serve, and reconnect until :meth:`stop` is called."""
        settings = self._settings
        if settings.tls is not None and self._tls_context is None:
            self._tls_context = await asyncio.to_thread(tls_context, settings)
        self._idle.clear()
        try:
            await self._connect_loop()
        finally:
            self._idle.set()

    async def _connect_loop(self) -> None:
        settings = self._settings
        backoff = settings.reconnect_min_s
        while not self._stop.is_set():
            client = self._make_client()
            try:
                async with client:
                    self._client = client
                    backoff = settings.reconnect_min_s
                    await self._serve(client)
                return
            except (aiomqtt.MqttError, InboundDeferred) as exc:
                self._lost(exc)
            finally:
                self._client = None
                self._connected.clear()
                self._bump(connected=False)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), backoff)
            backoff = min(backoff * 2, settings.reconnect_max_s)

    # -- one connection ----------------------------------------------------------------------

    def _make_client(self) -> aiomqtt.Client:
        s = self._settings
        will = aiomqtt.Will(s.health_topic, OFFLINE_PAYLOAD, qos=1, retain=True)
        common: dict[str, Any] = {
            "identifier": s.effective_client_id,
            "username": s.username,
            "password": s.password,
            "will": will,
            "keepalive": s.keepalive_s,
            "timeout": s.timeout_s,
            "tls_context": self._tls_context,
            "tls_insecure": s.tls.insecure if s.tls is not None else None,
            "max_inflight_messages": self._window,
        }
        if s.version == "5":
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = s.session_expiry_s
            client = aiomqtt.Client(
                s.host,
                s.port,
                protocol=aiomqtt.ProtocolVersion.V5,
                clean_start=False,
                properties=properties,
                **common,
            )
        else:
            client = aiomqtt.Client(
                s.host,
                s.port,
                protocol=aiomqtt.ProtocolVersion.V311,
                clean_session=False,
                **common,
            )
        # aiomqtt exposes no manual-ack switch; paho's is what makes ack-after-store possible.
        self._watch_pubacks(client)
        client._client.manual_ack_set(True)  # a private attribute, see module docstring
        return client

    async def _serve(self, client: aiomqtt.Client) -> None:
        settings = self._settings
        # Receive first: a broker may push the session's queued messages before it answers
        # SUBSCRIBE (amqtt even waits for their PUBACKs), and with manual acks nothing is
        # acknowledged until the receive loop runs.
        no_delay(client)
        tasks = [asyncio.create_task(self._receive(client), name="mqtt-receive")]
        stop = asyncio.create_task(self._stop.wait(), name="mqtt-stop")
        try:
            await self._subscribe(client)
            online = self._health()
            await self._publish(client, settings.health_topic, online, 1, retain=True)
            self._connected.set()
            if self._health() != online:
                # A change while that publication awaited its PUBACK (a radio came up) found
                # the bridge not yet connected (publish_health() refuses then): publish it now.
                await self._publish(client, settings.health_topic, self._health(), 1, retain=True)
            self._bump("connects", connected=True)
            _log.info(
                "mqtt_connected",
                host=settings.host,
                port=settings.port,
                client_id=settings.effective_client_id,
                filters=list(settings.inbound_filters),
            )
            if self._pump is not None:
                tasks.append(asyncio.create_task(self._pump.run(client), name="mqtt-outbox"))
            done, _ = await asyncio.wait([*tasks, stop], return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            await _finish(tasks, stop)
            await self._announce_offline(client)
            raise
        except BaseException:
            await _finish(tasks, stop)
            raise
        await _finish(tasks, stop)
        for task in done:
            if task is not stop and (error := task.exception()) is not None:
                raise error
        await self._announce_offline(client)

    async def _subscribe(self, client: aiomqtt.Client) -> None:
        filters = self._settings.inbound_filters
        granted = await client.subscribe([(topic, 1) for topic in filters])
        refused = [topic for topic, code in zip(filters, granted, strict=True) if _is_failure(code)]
        if refused:
            # Usually the broker's ACL refusing this client the dispatch topics.
            raise aiomqtt.MqttError(f"subscription refused for {', '.join(refused)}")

    async def _announce_offline(self, client: aiomqtt.Client) -> None:
        # A clean DISCONNECT discards the will (MQTT 3.1.1 §3.14.4), so say it ourselves.
        self._connected.clear()
        with contextlib.suppress(aiomqtt.MqttError):
            await client.publish(
                self._settings.health_topic, OFFLINE_PAYLOAD, qos=1, retain=True, timeout=2
            )
        _log.info("mqtt_disconnected", reason="stop")

    def _lost(self, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        if self._connected.is_set():
            self._bump("connection_losses", last_error=reason)
            _log.warning("mqtt_connection_lost", error=reason)
        else:
            self._bump("connect_failures", last_error=reason)
            _log.warning("mqtt_connect_failed", error=reason)

    # -- inbound -----------------------------------------------------------------------------

    async def _receive(self, client: aiomqtt.Client) -> None:
        wanted = [_plain_filter(f) for f in self._settings.inbound_filters]
        unacked: collections.deque[tuple[int, int]] = collections.deque()
        handled = asyncio.Event()
        acker = asyncio.create_task(self._acknowledge(client, unacked, handled), name="mqtt-ack")
        try:
            await self._receive_into(client, wanted, unacked, handled)
        finally:
            acker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await acker
            if unacked:
                # Stopping: what was handled is acknowledged once flushed, so that a clean
                # stop does not make the broker redeliver it (a lost connection cannot ack).
                with contextlib.suppress(Exception):
                    if self._durable is not None:
                        await asyncio.wait_for(self._durable(), self._settings.timeout_s)
                    _ack(client, unacked, len(unacked))

    async def _acknowledge(
        self,
        client: aiomqtt.Client,
        unacked: collections.deque[tuple[int, int]],
        handled: asyncio.Event,
    ) -> None:
        """PUBACK handled messages in order, once what their handlers stored is durable.

        One flush of the store serves every message handled before it began (group commit),
        so the receive loop goes on to the next message while the disk is busy. A crash or
        lost connection before the PUBACK makes the broker redeliver: at-least-once.
        """
        while True:
            await handled.wait()
            handled.clear()
            covered = len(unacked)  # a message handled during the flush waits for the next
            if self._durable is not None:
                await self._durable()
            _ack(client, unacked, covered)

    async def _receive_into(
        self,
        client: aiomqtt.Client,
        wanted: Sequence[str],
        unacked: collections.deque[tuple[int, int]],
        handled: asyncio.Event,
    ) -> None:
        async for message in client.messages:
            topic = message.topic.value
            if not any(message.topic.matches(f) for f in wanted):
                # amqtt 0.12 sends a reconnecting session the retained messages of *every*
                # client's subscriptions (Broker._handle_client_session); not ours to handle.
                self._bump("ignored")
                client._client.ack(message.mid, message.qos)
                continue
            data = bytes(message.payload)
            self._bump("received")
            try:
                await _shielded(self._on_message(topic, data))
            except InboundDeferred:
                self._bump("deferred")
                _log.warning("mqtt_inbound_deferred", topic=topic, mid=message.mid)
                raise
            except Exception as exc:  # a handler bug must not stop the bridge
                self._bump("handler_errors")
                _log.error(
                    "mqtt_handler_failed",
                    topic=topic,
                    error=type(exc).__name__,
                    mid=message.mid,
                )
            # PUBACK only once the handler has stored the message (or failed for good) and
            # the store has flushed it (the acknowledging task waits for that).
            unacked.append((message.mid, message.qos))
            handled.set()

    # -- outbound ----------------------------------------------------------------------------

    async def _publish(
        self,
        client: aiomqtt.Client,
        topic: str,
        payload: bytes | str,
        qos: int,
        *,
        retain: bool,
        seq: int | None = None,
    ) -> bool:
        """Publish and wait for the PUBACK (QoS 1); False if the broker refused it.

        One publication at a time, so that a refusal reported in the PUBACK is attributed to
        the right publication (aiomqtt does not surface the PUBACK reason code). A refusal is
        the broker's configuration (ACL), not a transient fault: it is logged and counted, and
        not retried, since retrying would block every later event behind this one.
        """
        async with self._publish_lock:
            before = len(self._refusals)
            await client.publish(topic, payload, qos=qos, retain=retain)
            if len(self._refusals) == before:
                return True
            refusal = self._refusals[-1]
        self._bump("refused", last_error=f"publish refused: {refusal}")
        _log.error("mqtt_publication_refused", topic=topic, seq=seq, reason=refusal)
        return False

    def _watch_pubacks(self, client: aiomqtt.Client) -> None:
        # MQTT 5 brokers report a refused publication in the PUBACK reason code (§3.4.2.1;
        # Mosquitto: 0x87 "Not authorized" when the ACL denies the topic). MQTT 3.1.1 has no
        # such code: Mosquitto acknowledges and silently drops a denied publication.
        paho = client._client
        # aiomqtt registers its callback with paho's VERSION2 callback API.
        delegate = cast("CallbackOnPublish_v2", paho.on_publish)

        def on_publish(
            paho_client: PahoClient,
            userdata: Any,
            mid: int,
            reason_code: ReasonCode,
            properties: Properties,
        ) -> None:
            if self._pump is not None and self._pump.on_puback(mid, reason_code):
                return  # the outbox pump's: attributed by packet id
            if reason_code.is_failure:
                self._refusals.append(str(reason_code))
            delegate(paho_client, userdata, mid, reason_code, properties)

        paho.on_publish = on_publish


def no_delay(client: aiomqtt.Client) -> None:
    """Switch Nagle's algorithm off on a connected client's socket (paho leaves it on).

    A client that has sent small packets not yet acknowledged (PUBACKs, pipelined PUBLISHes)
    has its next packet held back by Nagle until the peer's ACK comes, and the peer delays its
    ACK (up to 40 ms on Linux): measured as a 40-90 ms tail on callouts, on the gateway's
    side and on a dispatch client's alike (docs/performance.md). Connected clients only.
    """
    sock = client._client.socket()
    if isinstance(sock, socket.socket):  # ssl.SSLSocket is one too
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _ack(client: aiomqtt.Client, unacked: collections.deque[tuple[int, int]], count: int) -> None:
    """PUBACK the first ``count`` handled messages (paho's manual ack)."""
    for _ in range(count):
        mid, qos = unacked.popleft()
        client._client.ack(mid, qos)


async def _shielded(handler: Awaitable[None]) -> None:
    """Await ``handler`` so that cancelling the caller lets it finish first: a handler
    half-way through its store transaction is not interrupted by a connection drop."""
    task = asyncio.ensure_future(handler)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        if not task.done():
            await asyncio.wait([task])
        raise


def _plain_filter(topic_filter: str) -> str:
    """``$share/<group>/<filter>`` → ``<filter>`` (MQTT 5 §4.8.2); others unchanged."""
    if topic_filter.startswith("$share/"):
        return topic_filter.split("/", 2)[2]
    return topic_filter


def _is_failure(code: object) -> bool:
    # SUBACK return code 0x80 (3.1.1 §3.9.3) or an MQTT 5 reason code >= 0x80 (§2.4).
    if isinstance(code, ReasonCode):
        return code.value >= 0x80
    return isinstance(code, int) and code >= 0x80


async def _finish(tasks: Sequence[asyncio.Task[None]], stop: asyncio.Task[bool]) -> None:
    for task in (*tasks, stop):
        task.cancel()
    await asyncio.gather(*tasks, stop, return_exceptions=True)
