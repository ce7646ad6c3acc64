"""What the MQTT bridge needs to know about its broker, as plain values.

The composition root builds :class:`MqttSettings` from the ``[broker]`` section of the
configuration (``gateway/config.py``); tests build it directly. Nothing here does IO.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

#: The protocol versions the bridge speaks. MQTT 5 is needed for shared subscriptions and the
#: session expiry interval; "3.1.1" is for brokers that lack it (amqtt, the embedded broker).
MqttVersion = Literal["5", "3.1.1"]

_DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Files for a TLS connection. ``ca_file=None`` uses the system trust store; ``cert_file``
    and ``key_file`` together give a client certificate."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    #: Skip the server hostname check (a broker reached by IP with a named certificate).
    insecure: bool = False


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """Everything :class:`gateway.mqtt.MqttBridge` needs to reach its broker.

    ``client_id`` must be stable across restarts: the broker keys the persistent session (the
    subscriptions and the QoS 1 messages queued while the gateway is away) on it.
    """

    host: str
    gateway_id: str
    port: int = 1883
    root: str = "tetragw"
    client_id: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: TlsFiles | None = None
    keepalive_s: int = 30
    version: MqttVersion = "5"
    #: MQTT 5 Session Expiry Interval (3.1.2.11.2): how long the broker keeps the session, and
    #: the messages queued for it, after the gateway goes away.
    session_expiry_s: int = 86_400
    #: MQTT 5 shared subscription group (4.8.2): instances in the same group share the inbound
    #: load, each message going to one of them. ``None``: an ordinary subscription.
    shared_group: str | None = None
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    #: How long to wait for a CONNACK, SUBACK or PUBACK before giving the connection up.
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.shared_group is not None and self.version != "5":
            raise ValueError("shared subscriptions need MQTT 5 (version = '5')")
        if self.shared_group is not None and any(c in self.shared_group for c in "/+#"):
            raise ValueError("a shared subscription group name may not contain '/', '+' or '#'")
        if not 0 < self.reconnect_min_s <= self.reconnect_max_s:
            raise ValueError("need 0 < reconnect_min_s <= reconnect_max_s")

    @property
    def effective_client_id(self) -> str:
        """The MQTT client identifier: ``client_id``, else ``tetragw-<gateway_id>``."""
        return self.client_id or f"tetragw-{self.gateway_id}"

    @property
    def health_topic(self) -> str:
        """``<root>/v1/gateway/<gateway_id>/health`` (dispatch-api.md, retained)."""
        return f"{self.root}/v1/gateway/{self.gateway_id}/health"

    @property
    def inbound_filters(self) -> tuple[str, ...]:
        """The dispatch → gateway topic filters, through ``$share/<group>/`` when configured."""
        base = (
            f"{self.root}/v1/callouts",
            f"{self.root}/v1/incidents/+/close",
            f"{self.root}/v1/units/+/send",
        )
        if self.shared_group is None:
            return base
        return tuple(f"$share/{self.shared_group}/{topic}" for topic in base)

    @classmethod
    def from_url(cls, url: str, *, gateway_id: str, **options: object) -> MqttSettings:
        """Settings from ``mqtt://[user[:password]@]host[:port]`` or ``mqtts://...``.

        ``mqtts`` turns TLS on with the system trust store unless ``tls`` is given in
        ``options``; credentials in ``options`` win over those in the URL.
        """
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS:
            raise ValueError(
                f"broker url must start with mqtt:// or mqtts://, not {parts.scheme!r}"
            )
        if not parts.hostname:
            raise ValueError("broker url has no host")
        values: dict[str, object] = {
            "host": parts.hostname,
            "port": parts.port or _DEFAULT_PORTS[parts.scheme],
            "gateway_id": gateway_id,
        }
        if parts.username is not None:
            values["username"] = unquote(parts.username)
        if parts.password is not None:
            values["password"] = unquote(parts.password)
        if parts.scheme == "mqtts":
            values["tls"] = TlsFiles()
        values.update({key: value for key, value in options.items() if value is not None})
        return cls(**values)  # type: ignore[arg-type]
