"""The real system as separate processes: the emulator, the gateway, and dispatch on MQTT.

Integration tests, the chaos suite and the benchmarks drive the gateway the way an AMK does:
the gateway and the emulator are their own processes (``tetragw run`` / ``tetragw emulator``)
talking over real ptys, the broker is a real Mosquitto (``mosquitto.py``), and "dispatch" is an
MQTT client that publishes callouts and records every event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import aiomqtt

from gateway.mqtt import no_delay
from tests.integration.mosquitto import MosquittoBroker

ROOT = "tetragw/v1/"


def _tetragw(*args: str) -> list[str]:
    return [sys.executable, "-m", "gateway.cli", *args]


class EmulatorProcess:
    """``tetragw emulator`` in a child process; ready once its ready file exists."""

    def __init__(self, workdir: Path, *args: str) -> None:
        self.workdir = workdir
        self.ready_file = workdir / "emulator-ready.json"
        self.log_path = workdir / "emulator.log"
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None
        self.ready: dict[str, Any] = {}

    def start(self, timeout: float = 20.0) -> None:
        self.ready_file.unlink(missing_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                _tetragw("emulator", "--ready-file", str(self.ready_file), *self.args),
                stdout=log,
                stderr=log,
                cwd=self.workdir,
            )
        deadline = time.monotonic() + timeout
        while not self.ready_file.exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"emulator exited: {self.log_path.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError("emulator wrote no ready file")
            time.sleep(0.05)
        self.ready = json.loads(self.ready_file.read_text())

    @property
    def control(self) -> str:
        return str(self.ready["control"])

    def radio_url(self, name: str) -> str:
        return f"emulator://{self.ready_file}#{name}"

    def get(self, path: str) -> Any:
        with urlopen(self.control + path, timeout=10) as reply:
            return json.loads(reply.read())

    def post(self, path: str, body: dict[str, Any]) -> Any:
        request = Request(
            self.control + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urlopen(request, timeout=10) as reply:
            return json.loads(reply.read() or b"null")

    def inbox(self, issi: int) -> list[dict[str, Any]]:
        result = self.get(f"/units/{issi}/inbox")
        return list(result["inbox"] if isinstance(result, dict) else result)

    def stop(self) -> None:
        _terminate(self.process)


class GatewayProcess:
    """``tetragw run`` in a child process, logs (JSON lines) in ``log_path``."""

    def __init__(
        self,
        workdir: Path,
        *,
        broker_url: str | None,
        radios: Sequence[str],
        talkgroups: str | None = None,
        gateway_id: str = "gw-test",
        data_dir: Path | None = None,
        config: Path | None = None,
        extra: Sequence[str] = (),
    ) -> None:
        self.workdir = workdir
        self.gateway_id = gateway_id
        self.data_dir = data_dir or workdir / f"data-{gateway_id}"
        self.log_path = workdir / f"gateway-{gateway_id}.log"
        # broker_url None: the broker (and its TLS files) come from the config file.
        args = ["run", "--data-dir", str(self.data_dir), "--gateway-id", gateway_id]
        if broker_url is not None:
            args += ["--broker", broker_url]
        for radio in radios:
            args += ["--radio", radio]
        if talkgroups:
            args += ["--talkgroups", talkgroups]
        if config is not None:
            args += ["--config", str(config)]
        self.args = [*args, *extra]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                _tetragw(*self.args), stdout=log, stderr=log, cwd=self.workdir
            )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM and wait: a clean stop."""
        return _terminate(self.process, timeout)

    def kill(self) -> None:
        """SIGKILL: the crash a power cut or the OOM killer causes."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                lines.append(json.loads(line))
        return lines


def _terminate(process: subprocess.Popen[bytes] | None, timeout: float = 15.0) -> int | None:
    if process is None:
        return None
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    return process.returncode


@dataclass(frozen=True, slots=True)
class Received:
    topic: str
    payload: dict[str, Any]
    retain: bool
    at: float


@dataclass
class Dispatch:
    """An MQTT client in the role of the AMK's CAD: publishes, and records every event."""

    host: str
    port: int
    #: A persistent session (clean_session=False) that reconnects when the broker goes away:
    #: the broker queues QoS 1 events for it meanwhile (a CAD that must not miss any).
    persistent: bool = False
    #: TLS: the broker's CA, and the client certificate and key that name this client
    #: (the CN is its identity under config/mosquitto/). All None: plain TCP.
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: MQTT client id; default ``cad-<pid>`` (two clients of one process need their own).
    identifier: str | None = None
    messages: list[Received] = field(default_factory=list)
    reconnects: int = 0
    _client: aiomqtt.Client | None = None
    _task: asyncio.Task[None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> Dispatch:
        await self._connect()
        await self._client_or_fail().subscribe(ROOT + "#", qos=1)
        self._task = asyncio.create_task(self._run())
        return self

    def _client_or_fail(self) -> aiomqtt.Client:
        assert self._client is not None
        return self._client

    async def _connect(self) -> None:
        self._client = aiomqtt.Client(
            self.host,
            self.port,
            identifier=self.identifier or f"cad-{os.getpid()}",
            clean_session=False if self.persistent else None,
            tls_context=self._tls_context(),
        )
        await self._client.__aenter__()
        # As a CAD should: without it, this client's callout can wait behind its own
        # unacknowledged PUBACKs for the broker's delayed ACK (gateway.mqtt.no_delay).
        no_delay(self._client)

    def _tls_context(self) -> ssl.SSLContext | None:
        if self.tls_ca is None and self.tls_cert is None:
            return None
        context = ssl.create_default_context(
            cafile=str(self.tls_ca) if self.tls_ca is not None else None
        )
        if self.tls_cert is not None:
            context.load_cert_chain(self.tls_cert, self.tls_key)
        return context

    async def _run(self) -> None:
        while True:
            try:
                await self._collect()
            except aiomqtt.MqttError:
                if not self.persistent:
                    raise
            # The broker went away: come back to the same session (its queue waits for us).
            with contextlib.suppress(Exception):
                await self._client_or_fail().__aexit__(None, None, None)
            while True:
                await asyncio.sleep(0.2)
                try:
                    await self._connect()
                except aiomqtt.MqttError:
                    continue
                self.reconnects += 1
                break

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.__aexit__(None, None, None)

    async def _collect(self) -> None:
        assert self._client is not None
        async for message in self._client.messages:
            raw = message.payload
            data = raw if isinstance(raw, bytes | bytearray) else str(raw).encode()
            try:
                payload = json.loads(data)
            except (ValueError, RecursionError):  # what hostile-input tests publish
                payload = {"_raw": data.decode(errors="replace")}
            if not isinstance(payload, dict):
                payload = {"_value": payload}
            self.messages.append(
                Received(str(message.topic), payload, bool(message.retain), time.monotonic())
            )
            self._changed.set()

    async def publish(self, topic: str, payload: dict[str, Any] | bytes) -> None:
        assert self._client is not None
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        await self._client.publish(ROOT + topic, body, qos=1)

    async def callout(self, **fields: Any) -> dict[str, Any]:
        body = {"deadline_s": 30, "text": "Hjertestans. Storgata 1, Oslo. Mann 67 år.", **fields}
        await self.publish("callouts", body)
        return body

    def on(self, topic: str) -> list[dict[str, Any]]:
        return [m.payload for m in self.messages if m.topic == ROOT + topic]

    def events(self, callout_id: str) -> list[dict[str, Any]]:
        return self.on(f"callouts/{callout_id}/events")

    def finals(self, callout_id: str) -> dict[int, list[str]]:
        """Per unit, the final events (delivered/read count as one 'delivered')."""
        out: dict[int, list[str]] = {}
        for event in self.events(callout_id):
            if event["event"] in ("delivered", "unreached"):
                out.setdefault(event["issi"], []).append(event["event"])
        return out

    def distinct_finals(self, callout_id: str) -> dict[int, list[str]]:
        """Like :meth:`finals`, counting a byte-identical redelivery once.

        Outbound events are at-least-once (QoS 1, and the outbox publishes again what it could
        not confirm before a crash): the same event may arrive twice, but a second *distinct*
        final event for a unit would be a second outcome.
        """
        out: dict[int, list[str]] = {}
        seen: set[str] = set()
        for event in self.events(callout_id):
            key = json.dumps(event, sort_keys=True)
            if event["event"] in ("delivered", "unreached") and key not in seen:
                seen.add(key)
                out.setdefault(event["issi"], []).append(event["event"])
        return out

    async def wait_for(
        self, condition: Callable[[], bool], timeout: float, what: str = "condition"
    ) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))

    async def wait_online(self, gateway_id: str, timeout: float = 20.0) -> None:
        def online() -> bool:
            health = self.on(f"gateway/{gateway_id}/health")
            return (
                bool(health)
                and health[-1].get("state") == "online"
                and all(r.get("state") == "up" for r in health[-1].get("radios", []))
            )

        await self.wait_for(online, timeout, f"{gateway_id} online with radios up")

    async def wait_final(self, callout_id: str, issis: Sequence[int], timeout: float) -> None:
        await self.wait_for(
            lambda: set(self.finals(callout_id)) >= set(issis),
            timeout,
            f"final events of {callout_id} for {list(issis)}",
        )


#: Gateway config for the integration tests: short retries so that deadlines of 5–10 s
#: leave room for several tries.
FAST_RETRY_CONFIG = """\
[callouts]
retry_initial_s = 0.5
retry_max_s = 2.0
"""


@dataclass
class System:
    """One running emulator + gateway, and dispatch connected to the broker."""

    dispatch: Dispatch
    emulator: EmulatorProcess
    gateway: GatewayProcess


@contextlib.asynccontextmanager
async def running_system(
    workdir: Path,
    broker: MosquittoBroker,
    *,
    emulator_args: Sequence[str] = (),
    radios: Sequence[str] = ("gw1",),
    talkgroups: str | None = "emulator",
    config_text: str | None = FAST_RETRY_CONFIG,
    persistent_dispatch: bool = False,
) -> AsyncIterator[System]:
    """Start the emulator and the gateway (``talkgroups="emulator"``: the emulator's DGNA
    service), connect dispatch, and wait until the gateway is online with its radios up."""
    emulator = EmulatorProcess(
        workdir, "--radios", str(len(radios)), "--time-scale", "0.25", *emulator_args
    )
    emulator.start()
    config = None
    if config_text is not None:
        config = workdir / "gateway.toml"
        config.write_text(config_text)
    gateway = GatewayProcess(
        workdir,
        broker_url=broker.url,
        radios=[emulator.radio_url(name) for name in radios],
        talkgroups=f"emulator://{emulator.ready_file}" if talkgroups == "emulator" else talkgroups,
        config=config,
        # Unique: the MQTT client id derives from it, and other suites run on this machine.
        gateway_id=f"gw-{uuid.uuid4().hex[:8]}",
    )
    try:
        async with Dispatch(broker.host, broker.port, persistent=persistent_dispatch) as dispatch:
            gateway.start()
            await dispatch.wait_online(gateway.gateway_id)
            yield System(dispatch, emulator, gateway)
    finally:
        gateway.stop()
        emulator.stop()


async def read_retained(host: str, port: int, topic: str, timeout: float = 5.0) -> Received:
    """What a client subscribing now gets on ``topic`` (under ``ROOT``): the retained message."""
    async with aiomqtt.Client(host, port, identifier=f"retained-{os.getpid()}") as client:
        await client.subscribe(ROOT + topic, qos=1)
        async with asyncio.timeout(timeout):
            async for message in client.messages:
                raw = message.payload
                data = raw if isinstance(raw, bytes | bytearray) else str(raw).encode()
                return Received(
                    str(message.topic), json.loads(data), bool(message.retain), time.monotonic()
                )
    raise TimeoutError(f"nothing retained on {topic}")
