"""The example broker configuration (config/mosquitto/) enforces TLS, client certificates and
the topic ACL, on a real Mosquitto with a throwaway CA (scripts/make-test-certs.sh).

The shipped ``mosquitto.conf`` is copied with only its port and file paths rewritten, and
started with the shipped ``acl``. Proof that a message was *not* delivered never waits for
silence: after the refused publish, an authorised client publishes a marker on the same
topic, and the subscriber's first message must be that marker (the broker handles one
connection's messages in order and the refused publish was acknowledged first).
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import pytest

from tests.integration.mosquitto import HOST, find_mosquitto, free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_CONF = ROOT / "config" / "mosquitto" / "mosquitto.conf"
SHIPPED_ACL = ROOT / "config" / "mosquitto" / "acl"
MAKE_CERTS = ROOT / "scripts" / "make-test-certs.sh"
SHIPPED_DIR = "/etc/mosquitto/tetragw/"
SHIPPED_LISTENER = "listener 8883"
WAIT_S = 15.0  # a guard against hanging, never a measured bound

CALLOUTS = "tetragw/v1/callouts"
INBOUND = (CALLOUTS, "tetragw/v1/incidents/OSL-1/close", "tetragw/v1/units/2040101/send")


#: Second connections of a role: with ``use_username_as_clientid`` every connection needs its
#: own certificate name (a second one with the same name closes the first), and its own ACL
#: block, which :func:`install_acl` copies from the role's.
ALIASES = {"dispatch-2": "dispatch", "gateway-2": "gateway"}
CLIENT_NAMES = ("dispatch", "gateway", "intruder", *ALIASES)


def install_acl(directory: Path) -> None:
    """The shipped ACL in ``directory``, plus a copy of a role's block for each alias."""
    text = SHIPPED_ACL.read_text()
    blocks = {}
    for block in text.split("\nuser ")[1:]:
        name, _, rules = block.partition("\n")
        blocks[name.strip()] = rules
    extra = "".join(f"\nuser {alias}\n{blocks[role]}" for alias, role in ALIASES.items())
    (directory / "acl").write_text(text + extra)


def make_certs(directory: Path) -> Path:
    """CA, broker and client certificates (:data:`CLIENT_NAMES`) in ``directory``."""
    if shutil.which("openssl") is None:
        pytest.fail(
            "openssl not found: the broker security tests need it to make a throwaway CA "
            "(apt-get install openssl)",
            pytrace=False,
        )
    subprocess.run(
        ["sh", str(MAKE_CERTS), str(directory), *CLIENT_NAMES], check=True, capture_output=True
    )
    return directory


def templated_config(certs: Path, port: int, log: Path) -> str:
    """The shipped config with the test's port and paths; fails if they are not there."""
    text = SHIPPED_CONF.read_text()
    assert SHIPPED_LISTENER in text.splitlines(), "the shipped listener line moved"
    assert SHIPPED_DIR in text, "the shipped certificate directory moved"
    text = text.replace(SHIPPED_LISTENER, f"listener {port} {HOST}")
    text = text.replace(SHIPPED_DIR, f"{certs}/")
    # Debian's main mosquitto.conf carries these; the shipped file is a conf.d snippet.
    # "user root": the tests run as root, and Mosquitto would otherwise switch to the
    # mosquitto user and could not read the temp directory.
    header = f"user root\npersistence false\nlog_dest file {log}\nlog_type all\n"
    return header + text


@dataclass
class SecureBroker:
    """Mosquitto running the shipped configuration."""

    certs: Path
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, identity: str | None) -> aiomqtt.Client:
        """A TLS client presenting ``<identity>.crt`` (``None``: no client certificate)."""
        context = ssl.create_default_context(cafile=str(self.certs / "ca.crt"))
        if identity is not None:
            context.load_cert_chain(self.certs / f"{identity}.crt", self.certs / f"{identity}.key")
        return aiomqtt.Client(
            HOST,
            self.port,
            identifier=f"test-{identity}-{time.monotonic_ns()}",
            tls_context=context,
            timeout=5,
        )

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else "(no log)"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[SecureBroker]:
    binary = find_mosquitto()
    certs = make_certs(tmp_path / "certs")
    install_acl(certs)
    port = free_port()
    log = tmp_path / "mosquitto.log"
    config = tmp_path / "mosquitto.conf"
    config.write_text(templated_config(certs, port, log))
    process = subprocess.Popen([binary, "-c", str(config)], stderr=subprocess.PIPE)
    running = SecureBroker(certs, port, process, log)
    try:
        _wait_listening(running)
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def _wait_listening(broker: SecureBroker) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if broker.process.poll() is not None:
            _, err = broker.process.communicate()
            pytest.fail(f"mosquitto refused the config: {err.decode()}\n{broker.log_text()}")
        try:
            with socket.create_connection((HOST, broker.port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    pytest.fail(f"mosquitto did not listen on {broker.port}\n{broker.log_text()}")


@asynccontextmanager
async def subscribed(
    broker: SecureBroker, identity: str, *filters: str
) -> AsyncIterator[aiomqtt.Client]:
    async with broker.client(identity) as client:
        for topic_filter in filters:
            await client.subscribe(topic_filter, qos=1)
        yield client


async def first_message(client: aiomqtt.Client) -> aiomqtt.Message:
    async def first() -> aiomqtt.Message:
        async for message in client.messages:
            return message
        raise AssertionError("message stream ended")

    return await asyncio.wait_for(first(), WAIT_S)


async def publish(broker: SecureBroker, identity: str, topic: str, payload: bytes) -> None:
    """Publish at QoS 1 and return once the broker acknowledged it (MQTT 3.1.1: a refused
    publish is acknowledged too, and dropped)."""
    async with broker.client(identity) as client:
        await client.publish(topic, payload, qos=1)


# ---- connecting ---------------------------------------------------------------------------------


async def test_client_without_certificate_cannot_connect(broker: SecureBroker) -> None:
    with pytest.raises(aiomqtt.MqttError):
        async with broker.client(None) as client:
            # With TLS 1.3 the server checks the client certificate after the client's
            # handshake finished: the refusal may only show on the first round trip.
            await client.subscribe(CALLOUTS)
    # The refusal is the missing certificate (OpenSSL's words in Mosquitto's log).
    assert "did not return a certificate" in broker.log_text()


async def test_plain_tcp_client_cannot_connect(broker: SecureBroker) -> None:
    client = aiomqtt.Client(HOST, broker.port, identifier="plain", timeout=3)
    with pytest.raises(aiomqtt.MqttError):
        async with client:
            await client.subscribe(CALLOUTS)


async def test_certificate_from_another_ca_cannot_connect(
    broker: SecureBroker, tmp_path: Path
) -> None:
    other = make_certs(tmp_path / "other-ca")
    context = ssl.create_default_context(cafile=str(broker.certs / "ca.crt"))
    context.load_cert_chain(other / "dispatch.crt", other / "dispatch.key")
    client = aiomqtt.Client(HOST, broker.port, identifier="forged", tls_context=context, timeout=3)
    with pytest.raises(aiomqtt.MqttError):
        async with client:
            await client.publish(CALLOUTS, b"{}", qos=1)


# ---- who may publish what -----------------------------------------------------------------------


@pytest.mark.parametrize("topic", INBOUND)
async def test_other_identity_cannot_publish_to_the_gateway(
    broker: SecureBroker, topic: str
) -> None:
    async with subscribed(broker, "gateway", *INBOUND) as gateway:
        await publish(broker, "intruder", topic, b'{"forged": true}')
        await publish(broker, "dispatch", topic, b'{"marker": true}')
        message = await first_message(gateway)
    assert (str(message.topic), message.payload) == (topic, b'{"marker": true}')


async def test_gateway_identity_cannot_publish_a_callout(broker: SecureBroker) -> None:
    async with subscribed(broker, "gateway", CALLOUTS) as gateway:
        await publish(broker, "gateway-2", CALLOUTS, b'{"forged": true}')
        await publish(broker, "dispatch", CALLOUTS, b'{"marker": true}')
        message = await first_message(gateway)
    assert message.payload == b'{"marker": true}'


async def test_dispatch_can_publish_a_callout_that_the_gateway_receives(
    broker: SecureBroker,
) -> None:
    async with subscribed(broker, "gateway", CALLOUTS) as gateway:
        await publish(broker, "dispatch", CALLOUTS, b'{"callout_id": "OSL-1"}')
        message = await first_message(gateway)
    assert (str(message.topic), message.payload) == (CALLOUTS, b'{"callout_id": "OSL-1"}')


async def test_gateway_receives_inbound_through_a_shared_subscription(
    broker: SecureBroker,
) -> None:
    """Scale-out (architecture.md): gateways subscribe with ``$share/<group>/...``."""
    async with subscribed(broker, "gateway", f"$share/tetragw/{CALLOUTS}") as gateway:
        await publish(broker, "dispatch", CALLOUTS, b'{"callout_id": "OSL-2"}')
        message = await first_message(gateway)
    assert message.payload == b'{"callout_id": "OSL-2"}'


async def test_dispatch_cannot_publish_a_unit_status(broker: SecureBroker) -> None:
    status = "tetragw/v1/units/1/status"
    async with subscribed(broker, "dispatch", "tetragw/v1/#") as dispatch:
        await publish(broker, "dispatch-2", status, b'{"status": 32771}')
        await publish(broker, "gateway", status, b'{"marker": true}')
        message = await first_message(dispatch)
    assert (str(message.topic), message.payload) == (status, b'{"marker": true}')
