"""The embedded amqtt broker: what the gateway and the demo rely on."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable

import aiomqtt
import pytest

from gateway.broker import EmbeddedBroker
from gateway.mqtt import MqttBridge
from gateway.mqtt_settings import MqttSettings

WAIT_S = 15.0  # a guard against hanging, never a measured bound


@pytest.fixture
async def broker() -> AsyncIterator[EmbeddedBroker]:
    async with EmbeddedBroker(port=0) as running:
        yield running


async def wait_until(predicate: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), WAIT_S)


async def first_message(broker: EmbeddedBroker, topic: str) -> aiomqtt.Message:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(topic, qos=1)
        async for message in client.messages:
            return message
    raise AssertionError("unreachable")


async def test_port_zero_listens_on_a_free_port_reported_back(broker: EmbeddedBroker) -> None:
    assert broker.port > 0
    assert broker.url == f"mqtt://127.0.0.1:{broker.port}"
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.publish("tetragw/v1/ping", b"", qos=1)


async def test_port_is_unknown_when_stopped() -> None:
    broker = EmbeddedBroker(port=0)
    with pytest.raises(RuntimeError, match="not running"):
        _ = broker.port


async def test_taken_port_raises_oserror(broker: EmbeddedBroker) -> None:
    with pytest.raises(OSError, match="in use"):
        await EmbeddedBroker(port=broker.port).start()


async def test_qos1_message_and_retained_message_pass_through(broker: EmbeddedBroker) -> None:
    async with aiomqtt.Client(broker.host, broker.port) as subscriber:
        await subscriber.subscribe("tetragw/v1/callouts", qos=1)
        async with aiomqtt.Client(broker.host, broker.port) as publisher:
            await publisher.publish("tetragw/v1/callouts", b"c1", qos=1)
            await publisher.publish("tetragw/v1/units/1/status", b"s", qos=1, retain=True)
        async for message in subscriber.messages:
            assert (message.payload, message.qos) == (b"c1", 1)
            break
    late = await first_message(broker, "tetragw/v1/units/1/status")
    assert (late.payload, late.retain) == (b"s", True)


_CHILD = """
import asyncio, sys, aiomqtt
async def main():
    will = aiomqtt.Will(
        "tetragw/v1/gateway/gw1/health", b'{"state": "offline"}', qos=1, retain=True
    )
    async with aiomqtt.Client("127.0.0.1", int(sys.argv[1]), will=will) as client:
        print("connected", flush=True)
        await asyncio.Event().wait()
asyncio.run(main())
"""


async def test_will_is_published_when_a_client_dies(broker: EmbeddedBroker) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _CHILD, str(broker.port), stdout=asyncio.subprocess.PIPE
    )
    assert child.stdout is not None
    assert await asyncio.wait_for(child.stdout.readline(), WAIT_S) == b"connected\n"
    child.kill()
    await child.wait()
    message = await asyncio.wait_for(first_message(broker, "tetragw/v1/gateway/gw1/health"), WAIT_S)
    assert message.payload == b'{"state": "offline"}'


async def test_bridge_keeps_its_session_on_the_embedded_broker(broker: EmbeddedBroker) -> None:
    settings = MqttSettings.from_url(
        broker.url, gateway_id="gw1", version="3.1.1", reconnect_min_s=0.05
    )
    received: list[bytes] = []

    async def handler(topic: str, payload: bytes) -> None:
        received.append(payload)

    async with MqttBridge(settings, on_message=handler) as bridge:
        await asyncio.wait_for(bridge.wait_connected(), WAIT_S)
    async with aiomqtt.Client(broker.host, broker.port) as cad:
        await cad.publish("tetragw/v1/callouts", b"while-down", qos=1)
        # Makes amqtt resend this retained topic to every reconnecting session (its bug).
        await cad.subscribe("tetragw/v1/gateway/+/health", qos=1)
    async with MqttBridge(settings, on_message=handler) as bridge:
        await wait_until(lambda: received == [b"while-down"])
    # The health message amqtt pushed though the bridge never subscribed to it is dropped.
    assert received == [b"while-down"]


async def test_stopped_broker_can_be_stopped_again() -> None:
    broker = EmbeddedBroker(port=0)
    await broker.start()
    await broker.stop()
    await broker.stop()
    assert not broker.running
