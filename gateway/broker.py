"""An MQTT broker inside the gateway process, for when no broker is configured and for the demo.

It is amqtt 0.12, which speaks MQTT 3.1.1 only: a bridge connecting to it must use
``MqttSettings(version="3.1.1")`` (no shared subscriptions, no session expiry interval; the
session lives until the embedded broker stops). It keeps everything in memory, so a restart of
the gateway process loses queued messages and retained topics — production sites use Mosquitto
(or a clustered broker), see ``config/``.

amqtt behaviour worked around here:

* amqtt queues QoS 1 messages for an offline persistent session only when the client did not
  authenticate *anonymously* (``broker.py``, "if a client used anonymous authentication, there
  is no expectation that messages should be retained"), and its ``AnonymousAuthPlugin`` marks
  every client anonymous when anonymous access is allowed. :class:`LocalClientsAuth` lets
  every client in without that mark, so the gateway's persistent session works.
* Messages queued for an offline session are delivered with the retain flag set.
* A listener on port 0 binds a free port; :attr:`EmbeddedBroker.port` reads the real one back.
"""

from __future__ import annotations

import dataclasses
import logging
from types import TracebackType
from typing import Any, Self

from amqtt.broker import Broker
from amqtt.plugins.base import BaseAuthPlugin

__all__ = ["EmbeddedBroker", "LocalClientsAuth"]


class LocalClientsAuth(BaseAuthPlugin):  # type: ignore[misc] # amqtt is untyped
    """amqtt auth plugin: accept every client, as an authenticated (non-anonymous) one.

    Only for a broker bound to a loopback or otherwise trusted interface.
    """

    @dataclasses.dataclass
    class Config:
        """No options."""

    async def authenticate(self, *, session: Any) -> bool:
        session.is_anonymous = False
        return True


class EmbeddedBroker:
    """An in-process MQTT 3.1.1 broker listening on ``host:port`` (``port=0``: any free port).

    ``async with EmbeddedBroker() as broker:`` starts it and stops it; :attr:`url` is what
    to put in the ``[broker]`` section or hand to :meth:`MqttSettings.from_url`.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 1883) -> None:
        self._host = host
        self._requested_port = port
        self._broker: Any = None
        self._port: int | None = None

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        """The port actually listened on; only known once started."""
        if self._port is None:
            raise RuntimeError("the embedded broker is not running")
        return self._port

    @property
    def url(self) -> str:
        """``mqtt://host:port`` of the running broker."""
        return f"mqtt://{self._host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._broker is not None

    async def start(self) -> None:
        """Bind the listener and start serving; raises ``OSError`` when the port is taken."""
        if self._broker is not None:
            return
        # amqtt logs every packet and broadcast (payloads included) at DEBUG/INFO.
        logging.getLogger("amqtt").setLevel(logging.WARNING)
        logging.getLogger("transitions").setLevel(logging.WARNING)
        config = {
            "listeners": {
                "default": {"type": "tcp", "bind": f"{self._host}:{self._requested_port}"},
            },
            "plugins": {f"{__name__}.LocalClientsAuth": {}},
        }
        broker = Broker(config)
        try:
            await broker.start()
        except Exception as exc:
            cause = exc.__cause__
            if isinstance(cause, OSError):
                raise cause from exc
            raise
        server = broker._servers["default"].instance
        self._port = int(server.sockets[0].getsockname()[1])
        self._broker = broker

    async def stop(self) -> None:
        """Close every connection and the listener. Idempotent."""
        broker, self._broker = self._broker, None
        if broker is not None:
            await broker.shutdown()
        self._port = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
