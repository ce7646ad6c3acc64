"""MqttBridge behaviour that needs no broker: failures to connect, stopping."""

from __future__ import annotations

import asyncio
import socket

from gateway.mqtt import MqttBridge
from gateway.mqtt_settings import MqttSettings

WAIT_S = 15.0


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def ignore(topic: str, payload: bytes) -> None:
    del topic, payload


async def test_unreachable_broker_is_retried_and_reported_not_connected() -> None:
    settings = MqttSettings(
        host="127.0.0.1",
        port=closed_port(),
        gateway_id="gw1",
        reconnect_min_s=0.01,
        reconnect_max_s=0.02,
    )
    async with MqttBridge(settings, on_message=ignore) as bridge:

        async def two_failures() -> None:
            while bridge.counters.connect_failures < 2:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(two_failures(), WAIT_S)
        assert not bridge.connected
        assert not await bridge.publish_health()
    assert bridge.counters.connects == 0
    assert bridge.counters.last_error is not None


async def test_stop_during_backoff_returns_promptly_without_waiting_the_backoff() -> None:
    settings = MqttSettings(
        host="127.0.0.1",
        port=closed_port(),
        gateway_id="gw1",
        reconnect_min_s=3600,
        reconnect_max_s=3600,
    )
    bridge = MqttBridge(settings, on_message=ignore)
    task = asyncio.create_task(bridge.run())

    async def first_failure() -> None:
        while bridge.counters.connect_failures < 1:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(first_failure(), WAIT_S)
    await asyncio.wait_for(bridge.stop(), WAIT_S)  # a one-hour back-off would time out here
    await asyncio.wait_for(task, WAIT_S)
    assert task.done()
