"""Dispatch (the AMK's CAD) that survives broker restarts: a persistent session that records.

`tests.integration.system.Dispatch` ends with its first broker disconnect. Here the client id
is fixed and the session persistent (``clean_session=False``), so QoS 1 events published while
dispatch is reconnecting are queued by Mosquitto and arrive afterwards; the client reconnects
until closed, and `publish` retries until the broker acknowledged (PUBACK). A retried
``callouts`` publish is harmless: ``callout_id`` is the idempotency key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiomqtt

ROOT = "tetragw/v1/"
_RECONNECT_S = 0.3
_PUBLISH_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class Event:
    """One message dispatch received: its topic, payload, retain flag, wall-clock arrival."""

    topic: str
    payload: dict[str, Any]
    raw: bytes
    retain: bool
    at: float


@dataclass
class ResilientDispatch:
    host: str
    port: int
    identifier: str = "chaos-cad"
    messages: list[Event] = field(default_factory=list)
    reconnects: int = 0
    _client: aiomqtt.Client | None = None
    _connected: asyncio.Event = field(default_factory=asyncio.Event)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ResilientDispatch:
        self._task = asyncio.create_task(self._run(), name="chaos-dispatch")
        await asyncio.wait_for(self._connected.wait(), 20)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        first = True
        while True:
            client = aiomqtt.Client(
                self.host, self.port, identifier=self.identifier, clean_session=False
            )
            try:
                async with client:
                    # Subscribing again is harmless (the session keeps it) and covers a broker
                    # that lost the session; retained replays carry retain=1 and are ignored.
                    await client.subscribe(ROOT + "#", qos=1)
                    self._client = client
                    self._connected.set()
                    if not first:
                        self.reconnects += 1
                    first = False
                    async for message in client.messages:
                        self._record(message)
            except aiomqtt.MqttError:
                pass
            finally:
                self._client = None
                self._connected.clear()
            await asyncio.sleep(_RECONNECT_S)

    def _record(self, message: aiomqtt.Message) -> None:
        raw = message.payload
        data = bytes(raw) if isinstance(raw, bytes | bytearray) else str(raw).encode()
        try:
            payload = json.loads(data)
        except ValueError:
            payload = {"_raw": data.decode(errors="replace")}
        if not isinstance(payload, dict):
            payload = {"_value": payload}
        self.messages.append(
            Event(str(message.topic), payload, data, bool(message.retain), time.time())
        )
        self._changed.set()

    async def publish(self, topic: str, payload: dict[str, Any]) -> int:
        """Publish at QoS 1 until the broker acknowledged it; the number of tries."""
        body = json.dumps(payload).encode()
        tries = 0
        while True:
            tries += 1
            await self._connected.wait()
            client = self._client
            if client is None:
                continue
            try:
                await asyncio.wait_for(
                    client.publish(ROOT + topic, body, qos=1), _PUBLISH_TIMEOUT_S
                )
                return tries
            except (aiomqtt.MqttError, TimeoutError):
                await asyncio.sleep(_RECONNECT_S)

    @property
    def connected(self) -> bool:
        """True while the client holds a connection to the broker."""
        return self._client is not None

    def on(self, topic: str) -> list[dict[str, Any]]:
        """Payloads of live (not retained) messages on ``ROOT + topic``."""
        return [m.payload for m in self.messages if m.topic == ROOT + topic and not m.retain]

    async def wait_for(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``condition()``; False when ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))
        return True

    def online_since(self, gateway_id: str, since: float) -> bool:
        """The gateway said ``online`` with every radio up after ``since`` (wall clock)."""
        topic = f"{ROOT}gateway/{gateway_id}/health"
        for message in reversed(self.messages):
            if message.topic != topic or message.at < since:
                continue
            radios = message.payload.get("radios", [])
            return message.payload.get("state") == "online" and all(
                r.get("state") == "up" for r in radios
            )
        return False
