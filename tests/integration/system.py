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
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import aiomqtt

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
        broker_url: str,
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
        args = ["run", "--broker", broker_url, "--data-dir", str(self.data_dir)]
        args += ["--gateway-id", gateway_id]
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
    messages: list[Received] = field(default_factory=list)
    _client: aiomqtt.Client | None = None
    _task: asyncio.Task[None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> Dispatch:
        self._client = aiomqtt.Client(self.host, self.port, identifier=f"cad-{os.getpid()}")
        await self._client.__aenter__()
        await self._client.subscribe(ROOT + "#", qos=1)
        self._task = asyncio.create_task(self._collect())
        return self

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
            except ValueError:
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
