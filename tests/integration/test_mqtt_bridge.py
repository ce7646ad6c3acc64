"""MqttBridge against a real Mosquitto: delivery, persistence, will, outbox, reconnection."""

from __future__ import annotations

import asyncio
import io
import json
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
import pytest

from gateway.logging import configure_logging, reset_logging
from gateway.mqtt import InboundDeferred, MqttBridge
from gateway.mqtt_settings import MqttSettings, MqttVersion, TlsFiles
from tests.integration.mosquitto import MosquittoBroker

pytestmark = pytest.mark.integration

CALLOUTS = "tetragw/v1/callouts"
HEALTH = "tetragw/v1/gateway/gw1/health"
WAIT_S = 15.0  # a guard against hanging, never a measured bound


async def wait_until(predicate: Callable[[], bool], what: str) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(poll(), WAIT_S)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


def settings_for(broker: MosquittoBroker, **options: Any) -> MqttSettings:
    values: dict[str, Any] = {
        "host": broker.host,
        "port": broker.port,
        "gateway_id": "gw1",
        "reconnect_min_s": 0.05,
        "reconnect_max_s": 0.5,
        "timeout_s": 5.0,
    }
    values.update(options)
    return MqttSettings(**values)


@dataclass
class Inbox:
    """An inbound handler that records what it was given."""

    messages: list[tuple[str, bytes]] = field(default_factory=list)

    async def __call__(self, topic: str, payload: bytes) -> None:
        self.messages.append((topic, payload))

    @property
    def payloads(self) -> list[bytes]:
        return [payload for _, payload in self.messages]


@dataclass(frozen=True)
class Row:
    seq: int
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


@dataclass
class MemoryOutbox:
    """An OutboxSource in memory: ``pending()`` is sync, ``confirm()`` async (both allowed)."""

    rows: list[Row] = field(default_factory=list)
    confirmed: list[int] = field(default_factory=list)

    def add(self, topic: str, payload: bytes, *, retain: bool = False) -> Row:
        row = Row(len(self.rows) + 1, topic, payload, retain=retain)
        self.rows.append(row)
        return row

    def pending(self) -> list[Row]:
        done = set(self.confirmed)
        return [row for row in self.rows if row.seq not in done]

    async def confirm(self, seq: int) -> None:
        self.confirmed.append(seq)


@dataclass
class Observer:
    """A dispatch-side client with a persistent session that reconnects on its own."""

    broker: MosquittoBroker
    topic_filter: str
    client_id: str = "cad-observer"
    received: list[aiomqtt.Message] = field(default_factory=list)
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        while True:
            client = aiomqtt.Client(
                self.broker.host, self.broker.port, identifier=self.client_id, clean_session=False
            )
            try:
                async with client:
                    await client.subscribe(self.topic_filter, qos=1)
                    self.subscribed.set()
                    async for message in client.messages:
                        self.received.append(message)
            except aiomqtt.MqttError:
                await asyncio.sleep(0.05)

    def payloads(self) -> list[bytes]:
        return [bytes(m.payload) for m in self.received]


@pytest.fixture
def observe() -> Iterator[Callable[[Observer], Awaitable[Observer]]]:
    tasks: list[asyncio.Task[None]] = []

    async def start(observer: Observer) -> Observer:
        tasks.append(asyncio.create_task(observer.run()))
        await asyncio.wait_for(observer.subscribed.wait(), WAIT_S)
        return observer

    yield start
    for task in tasks:
        task.cancel()


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("debug", stream=stream)
    yield stream
    reset_logging()


async def publish(broker: MosquittoBroker, topic: str, *payloads: bytes) -> None:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        for payload in payloads:
            await client.publish(topic, payload, qos=1)


async def retained(broker: MosquittoBroker, topic: str) -> aiomqtt.Message:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(topic, qos=1)
        async for message in client.messages:
            return message
    raise AssertionError("unreachable")


# -- inbound ---------------------------------------------------------------------------------


async def test_inbound_qos1_callout_reaches_handler(mosquitto: MosquittoBroker) -> None:
    inbox = Inbox()
    async with MqttBridge(settings_for(mosquitto), on_message=inbox) as bridge:
        await asyncio.wait_for(bridge.wait_connected(), WAIT_S)
        await publish(mosquitto, CALLOUTS, b'{"callout_id": "c1"}')
        await publish(mosquitto, "tetragw/v1/incidents/OSL-1/close", b"{}")
        await publish(mosquitto, "tetragw/v1/units/2040101/send", b'{"request_id": "r1"}')
        await wait_until(lambda: len(inbox.messages) == 3, "three inbound messages")
    assert inbox.messages == [
        (CALLOUTS, b'{"callout_id": "c1"}'),
        ("tetragw/v1/incidents/OSL-1/close", b"{}"),
        ("tetragw/v1/units/2040101/send", b'{"request_id": "r1"}'),
    ]
    assert bridge.counters.received == 3


@pytest.mark.parametrize("version", ["5", "3.1.1"])
async def test_callout_published_while_gateway_is_down_is_delivered_after_restart(
    mosquitto: MosquittoBroker, version: MqttVersion
) -> None:
    settings = settings_for(mosquitto, version=version)
    async with MqttBridge(settings, on_message=Inbox()) as first:
        await asyncio.wait_for(first.wait_connected(), WAIT_S)
    await publish(mosquitto, CALLOUTS, b"while-down-1", b"while-down-2")
    inbox = Inbox()
    async with MqttBridge(settings, on_message=inbox) as second:
        await wait_until(lambda: len(inbox.messages) == 2, "queued messages")
        assert second.counters.received == 2
    assert inbox.payloads == [b"while-down-1", b"while-down-2"]


async def test_session_and_queue_survive_a_broker_restart(mosquitto: MosquittoBroker) -> None:
    settings = settings_for(mosquitto)
    async with MqttBridge(settings, on_message=Inbox()) as first:
        await asyncio.wait_for(first.wait_connected(), WAIT_S)
    await publish(mosquitto, CALLOUTS, b"queued-before-restart")
    await asyncio.to_thread(mosquitto.restart)
    inbox = Inbox()
    async with MqttBridge(settings, on_message=inbox):
        await wait_until(lambda: len(inbox.messages) == 1, "queued message after restart")
    assert inbox.payloads == [b"queued-before-restart"]


async def test_handler_exception_does_not_stop_the_bridge_and_logs_no_payload(
    mosquitto: MosquittoBroker, log_output: io.StringIO
) -> None:
    inbox = Inbox()

    async def handler(topic: str, payload: bytes) -> None:
        if b"Hjertestans" in payload:
            raise ValueError(payload.decode())  # an error that carries the payload
        await inbox(topic, payload)

    async with MqttBridge(settings_for(mosquitto), on_message=handler) as bridge:
        await asyncio.wait_for(bridge.wait_connected(), WAIT_S)
        await publish(mosquitto, CALLOUTS, b"Hjertestans. Storgata 1", b"next")
        await wait_until(lambda: len(inbox.messages) == 1, "the message after the failing one")
        assert bridge.connected
    assert inbox.payloads == [b"next"]
    assert bridge.counters.handler_errors == 1
    assert bridge.counters.connection_losses == 0
    logs = log_output.getvalue()
    assert "mqtt_handler_failed" in logs
    assert "Hjertestans" not in logs


async def test_deferred_message_is_redelivered_after_reconnect(mosquitto: MosquittoBroker) -> None:
    inbox = Inbox()
    attempts: list[bytes] = []

    async def handler(topic: str, payload: bytes) -> None:
        attempts.append(payload)
        if len(attempts) == 1:
            raise InboundDeferred("store busy")
        await inbox(topic, payload)

    async with MqttBridge(settings_for(mosquitto), on_message=handler) as bridge:
        await asyncio.wait_for(bridge.wait_connected(), WAIT_S)
        await publish(mosquitto, CALLOUTS, b"retry-me")
        await wait_until(lambda: len(inbox.messages) == 1, "the redelivered message")
    assert attempts == [b"retry-me", b"retry-me"]
    assert bridge.counters.deferred == 1
    assert bridge.counters.connects == 2


# A gateway process whose store write never finishes; the test kills it with SIGKILL.
_CHILD = """
import asyncio, sys
from gateway.logging import configure_logging
from gateway.mqtt import MqttBridge
from gateway.mqtt_settings import MqttSettings

async def main() -> None:
    configure_logging("warning")
    settings = MqttSettings(host="127.0.0.1", port=int(sys.argv[1]), gateway_id="gw1")

    async def handler(topic: str, payload: bytes) -> None:
        print("handling", flush=True)
        await asyncio.Event().wait()

    async with MqttBridge(settings, on_message=handler) as bridge:
        await bridge.wait_connected()
        print("connected", flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


async def _start_child(broker: MosquittoBroker) -> asyncio.subprocess.Process:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _CHILD, str(broker.port), stdout=asyncio.subprocess.PIPE
    )
    assert child.stdout is not None
    line = await asyncio.wait_for(child.stdout.readline(), WAIT_S)
    assert line == b"connected\n"
    return child


async def _kill(child: asyncio.subprocess.Process) -> None:
    child.send_signal(signal.SIGKILL)
    await child.wait()


async def test_will_sets_health_offline_when_the_gateway_dies(
    mosquitto: MosquittoBroker, observe: Callable[[Observer], Awaitable[Observer]]
) -> None:
    child = await _start_child(mosquitto)
    try:
        observer = await observe(Observer(mosquitto, HEALTH))
        await wait_until(lambda: len(observer.received) >= 1, "retained online health")
        assert json.loads(observer.received[0].payload)["state"] == "online"
    finally:
        await _kill(child)
    await wait_until(lambda: len(observer.received) >= 2, "the will")
    assert json.loads(observer.received[-1].payload) == {"state": "offline"}
    last = await retained(mosquitto, HEALTH)
    assert last.retain
    assert json.loads(last.payload) == {"state": "offline"}


async def test_gateway_killed_before_storing_gets_the_message_again(
    mosquitto: MosquittoBroker,
) -> None:
    child = await _start_child(mosquitto)
    try:
        await publish(mosquitto, CALLOUTS, b"not-yet-stored")
        assert child.stdout is not None
        assert await asyncio.wait_for(child.stdout.readline(), WAIT_S) == b"handling\n"
    finally:
        await _kill(child)
    inbox = Inbox()
    async with MqttBridge(settings_for(mosquitto), on_message=inbox):
        await wait_until(lambda: len(inbox.messages) == 1, "redelivery of the unacked message")
    assert inbox.payloads == [b"not-yet-stored"]


async def test_online_health_is_retained_with_the_callback_payload(
    mosquitto: MosquittoBroker,
) -> None:
    health = {"state": "online", "version": "0.1.0", "radios": [], "outbox": 0}
    bridge = MqttBridge(
        settings_for(mosquitto), on_message=Inbox(), health=lambda: json.dumps(health)
    )
    async with bridge:
        await asyncio.wait_for(bridge.wait_connected(), WAIT_S)
        message = await retained(mosquitto, HEALTH)
        assert message.retain
        assert json.loads(message.payload) == health
        health["outbox"] = 3
        assert await bridge.publish_health()
        assert json.loads((await retained(mosquitto, HEALTH)).payload)["outbox"] == 3


async def test_clean_stop_leaves_health_offline(mosquitto: MosquittoBroker) -> None:
    async with MqttBridge(settings_for(mosquitto), on_message=Inbox()) as bridge:
        await asyncio.wait_for(bridge.wait_connected(), WAIT_S)
    assert not bridge.connected
    message = await retained(mosquitto, HEALTH)
    assert json.loads(message.payload) == {"state": "offline"}


async def test_health_that_changes_while_the_bridge_connects_is_published_again(
    mosquitto: MosquittoBroker,
) -> None:
    # The daemon's radios come up while the connect-time health awaits its PUBACK; the
    # bridge is not yet connected then and refuses publish_health(). The retained health
    # must still end up saying what is true now.
    payloads = iter([b'{"state": "online", "radios": "starting"}'])

    def health() -> bytes:
        return next(payloads, b'{"state": "online", "radios": "up"}')

    async with MqttBridge(settings_for(mosquitto), on_message=Inbox(), health=health) as bridge:
        await asyncio.wait_for(bridge.wait_connected(), WAIT_S)
        message = await retained(mosquitto, HEALTH)
    assert json.loads(message.payload) == {"state": "online", "radios": "up"}


# -- outbound --------------------------------------------------------------------------------


async def test_outbox_is_published_in_order_and_confirmed_after_puback(
    mosquitto: MosquittoBroker, observe: Callable[[Observer], Awaitable[Observer]]
) -> None:
    observer = await observe(Observer(mosquitto, "tetragw/v1/callouts/+/events"))
    outbox = MemoryOutbox()
    for n in range(60):
        outbox.add("tetragw/v1/callouts/c1/events", b"%d" % n)
    status = outbox.add("tetragw/v1/units/2040101/status", b'{"status": 32771}', retain=True)
    async with MqttBridge(settings_for(mosquitto), on_message=Inbox(), outbox=outbox) as bridge:
        await wait_until(lambda: len(outbox.confirmed) == 61, "all publications confirmed")
        await wait_until(lambda: len(observer.received) == 60, "all events at the observer")
    assert outbox.confirmed == list(range(1, 62))
    assert observer.payloads() == [b"%d" % n for n in range(60)]
    assert bridge.counters.published == 61
    late = await retained(mosquitto, status.topic)
    assert late.retain
    assert late.payload == status.payload


async def test_outbox_delivers_everything_across_a_broker_restart(
    mosquitto: MosquittoBroker, observe: Callable[[Observer], Awaitable[Observer]]
) -> None:
    observer = await observe(Observer(mosquitto, "tetragw/v1/callouts/+/events"))
    outbox = MemoryOutbox()
    total = 300
    bridge = MqttBridge(settings_for(mosquitto), on_message=Inbox(), outbox=outbox)

    async def produce() -> None:
        for n in range(total):
            outbox.add("tetragw/v1/callouts/c1/events", b"%d" % n)
            bridge.notify()
            await asyncio.sleep(0.002)

    async with bridge:
        await asyncio.wait_for(bridge.wait_connected(), WAIT_S)
        producer = asyncio.create_task(produce())
        await wait_until(lambda: len(outbox.confirmed) >= total // 3, "a third confirmed")
        await asyncio.to_thread(mosquitto.restart)
        await producer
        await wait_until(lambda: len(outbox.confirmed) == total, "every publication confirmed")
        await wait_until(
            lambda: set(observer.payloads()) == {b"%d" % n for n in range(total)},
            "every publication at the observer",
        )
    assert bridge.counters.connection_losses >= 1
    assert sorted(outbox.confirmed) == list(range(1, total + 1))
    # At-least-once: a publication whose PUBACK was lost in the restart may come twice, but
    # the first arrivals keep the outbox order.
    first_seen = list(dict.fromkeys(int(p) for p in observer.payloads()))
    assert first_seen == list(range(total))


async def test_outbox_publishes_nothing_before_the_store_flush(
    mosquitto: MosquittoBroker, observe: Callable[[Observer], Awaitable[Observer]]
) -> None:
    observer = await observe(Observer(mosquitto, "tetragw/v1/callouts/+/events"))
    outbox = MemoryOutbox()
    outbox.add("tetragw/v1/callouts/c1/events", b"accepted")
    flushed = asyncio.Event()
    bridge = MqttBridge(
        settings_for(mosquitto), on_message=Inbox(), outbox=outbox, durable=flushed.wait
    )
    async with bridge:
        await asyncio.wait_for(bridge.wait_connected(), WAIT_S)
        await asyncio.sleep(0.3)  # room for a wrong publication to arrive
        assert observer.received == []
        assert outbox.confirmed == []
        flushed.set()
        await wait_until(lambda: observer.payloads() == [b"accepted"], "the publication")
    assert outbox.confirmed == [1]


@pytest.mark.parametrize("flushed", [False, True], ids=["not_flushed", "flushed"])
async def test_inbound_is_acknowledged_only_after_the_store_flush(
    mosquitto: MosquittoBroker, *, flushed: bool
) -> None:
    # timeout_s bounds how long a stopping bridge waits for the flush before it gives up
    # acknowledging: the "not flushed" gateway goes away after that.
    settings = settings_for(mosquitto, timeout_s=1.0)
    gate = asyncio.Event()
    if flushed:
        gate.set()
    first_inbox = Inbox()
    async with MqttBridge(settings, on_message=first_inbox, durable=gate.wait) as first:
        await asyncio.wait_for(first.wait_connected(), WAIT_S)
        await publish(mosquitto, CALLOUTS, b"callout-1")
        await wait_until(lambda: len(first_inbox.messages) == 1, "the handler ran")
        await asyncio.sleep(0.2)  # room for a wrong PUBACK to be sent
    # The gateway went away after handling; a message that was not acknowledged is
    # redelivered to the next session, one that was is not. A marker shows the queue drained.
    await publish(mosquitto, CALLOUTS, b"marker")
    second_inbox = Inbox()
    async with MqttBridge(settings, on_message=second_inbox):
        await wait_until(lambda: b"marker" in second_inbox.payloads, "the marker")
    expected = [b"marker"] if flushed else [b"callout-1", b"marker"]
    assert second_inbox.payloads == expected


# -- authentication, ACL, scale-out ----------------------------------------------------------


async def test_wrong_password_is_refused_and_retried(mosquitto_auth: MosquittoBroker) -> None:
    bad = settings_for(mosquitto_auth, username="gateway", password="wrong")
    async with MqttBridge(bad, on_message=Inbox()) as bridge:
        await wait_until(lambda: bridge.counters.connect_failures >= 2, "two refused attempts")
        assert not bridge.connected
    assert bridge.counters.connects == 0
    assert bridge.counters.last_error is not None
    assert "authori" in bridge.counters.last_error.lower()

    good = settings_for(mosquitto_auth, username="gateway", password="gw-secret")
    async with MqttBridge(good, on_message=Inbox()) as bridge:
        await asyncio.wait_for(bridge.wait_connected(), WAIT_S)
        assert bridge.connected


async def test_publication_refused_by_acl_is_reported_and_does_not_block_the_outbox(
    mosquitto_auth: MosquittoBroker, log_output: io.StringIO
) -> None:
    # Mosquitto 2.0.11 grants the SUBACK whatever the ACL says, but an MQTT 5 PUBACK carries
    # 0x87 "Not authorized" for a denied topic: "reader" may not publish events.
    outbox = MemoryOutbox()
    outbox.add("tetragw/v1/callouts/c1/events", b'{"event": "accepted"}')
    outbox.add("tetragw/v1/callouts/c1/events", b'{"event": "sent"}')
    reader = settings_for(mosquitto_auth, username="reader", password="reader-secret")
    async with MqttBridge(reader, on_message=Inbox(), outbox=outbox) as bridge:
        await wait_until(lambda: len(outbox.confirmed) == 2, "both publications handled")
        assert bridge.connected
    # The two events, and the retained health (also denied to "reader").
    assert bridge.counters.refused == 3
    assert "Not authorized" in (bridge.counters.last_error or "")
    assert "mqtt_publication_refused" in log_output.getvalue()


async def test_shared_subscription_gives_each_callout_to_one_instance(
    mosquitto: MosquittoBroker,
) -> None:
    one, two = Inbox(), Inbox()
    first = MqttBridge(
        settings_for(mosquitto, gateway_id="gw1", shared_group="tetragw"), on_message=one
    )
    second = MqttBridge(
        settings_for(mosquitto, gateway_id="gw2", shared_group="tetragw"), on_message=two
    )
    async with first, second:
        await asyncio.wait_for(first.wait_connected(), WAIT_S)
        await asyncio.wait_for(second.wait_connected(), WAIT_S)
        sent = [b"callout-%d" % n for n in range(20)]
        await publish(mosquitto, CALLOUTS, *sent)
        await wait_until(lambda: len(one.messages) + len(two.messages) >= 20, "all callouts")
    assert sorted(one.payloads + two.payloads) == sorted(sent)
    assert one.messages
    assert two.messages


async def test_bridge_connects_over_tls_checking_the_broker_certificate(
    mosquitto_tls: MosquittoBroker,
) -> None:
    assert mosquitto_tls.tls is not None
    trusted = settings_for(mosquitto_tls, tls=TlsFiles(ca_file=mosquitto_tls.tls[0]))
    inbox = Inbox()
    async with MqttBridge(trusted, on_message=inbox) as bridge:
        await asyncio.wait_for(bridge.wait_connected(), WAIT_S)
    assert bridge.counters.connects == 1

    # The system trust store does not know the test CA: the handshake must fail.
    untrusted = settings_for(mosquitto_tls, tls=TlsFiles())
    async with MqttBridge(untrusted, on_message=inbox) as bridge:
        await wait_until(lambda: bridge.counters.connect_failures >= 1, "a refused handshake")
        assert not bridge.connected
    assert "certificate" in (bridge.counters.last_error or "").lower()
