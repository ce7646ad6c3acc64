"""The security controls through the running gateway, end to end.

Real processes: Mosquitto with the SHIPPED configuration and ACL (``config/mosquitto/``,
templated into a temp dir as ``test_broker_security.py`` does) and throwaway client
certificates; the emulator and ``tetragw run`` over real ptys, the gateway connecting over TLS
with its ``gateway`` certificate from a config file.

Proof that a refused message triggered *nothing* never waits for silence: after it, the
``dispatch`` identity publishes a callout, and the gateway handles inbound messages one at a
time in the order the broker routed them (the refused publish was acknowledged, so routed or
dropped, first). Once the later callout is delivered, anything the broker had passed on
before it would have been handled, and would show in the events, the radios, the store or
the log.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import signal
import socket
import sqlite3
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from gateway.store import Store, store_path
from tests.integration.mosquitto import HOST, MosquittoBroker, find_mosquitto, free_port
from tests.integration.system import (
    ROOT,
    Dispatch,
    EmulatorProcess,
    GatewayProcess,
    running_system,
)
from tests.integration.test_broker_security import (
    SecureBroker,
    install_acl,
    make_certs,
    templated_config,
)

pytestmark = pytest.mark.integration

WAIT_S = 20.0  # a guard against hanging, never a measured bound
#: What an intruder tries to make the units read; must reach no radio, event, store or log.
FORGED_TEXT = "FORGED evacuate now"
FORGED_ID = "INTRUDER-1"


@pytest.fixture
def secure_broker(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[SecureBroker]:
    """Mosquitto running the shipped ``mosquitto.conf`` and ``acl`` (plus the lines of an
    indirect parameter, when a test gives one)."""
    extra = str(getattr(request, "param", ""))
    binary = find_mosquitto()
    certs = make_certs(tmp_path / "certs")
    install_acl(certs)
    port = free_port()
    log = tmp_path / "mosquitto.log"
    config = tmp_path / "mosquitto.conf"
    config.write_text(templated_config(certs, port, log) + extra)
    process = subprocess.Popen([binary, "-c", str(config)], stderr=subprocess.DEVNULL)
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


def _wait_listening(broker: SecureBroker) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if broker.process.poll() is not None:
            pytest.fail(f"mosquitto refused the shipped config\n{broker.log_text()}")
        try:
            with socket.create_connection((HOST, broker.port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    pytest.fail(f"mosquitto did not listen on {broker.port}\n{broker.log_text()}")


def _gateway_tls_config(broker: SecureBroker) -> str:
    certs = broker.certs
    return f"""\
[broker]
url = "mqtts://{HOST}:{broker.port}"
tls_ca = "{certs / "ca.crt"}"
tls_cert = "{certs / "gateway.crt"}"
tls_key = "{certs / "gateway.key"}"

[callouts]
retry_initial_s = 0.5
retry_max_s = 2.0
"""


def _dispatch(broker: SecureBroker, identity: str = "dispatch") -> Dispatch:
    certs = broker.certs
    return Dispatch(
        HOST,
        broker.port,
        tls_ca=certs / "ca.crt",
        tls_cert=certs / f"{identity}.crt",
        tls_key=certs / f"{identity}.key",
        identifier=f"{identity}-{time.monotonic_ns()}",
    )


def _callout(callout_id: str, issi: int, text: str) -> bytes:
    body = {
        "callout_id": callout_id,
        "incident_id": f"INC-{callout_id}",
        "units": [{"issi": issi, "role": "ambulance"}],
        "text": text,
        "deadline_s": 30,
    }
    return json.dumps(body).encode()


def _texts(emulator: EmulatorProcess, issi: int) -> list[str]:
    return [str(m["text"]) for m in emulator.inbox(issi) if m.get("kind") == "text"]


def _has_events(dispatch: Dispatch, callout_id: str) -> bool:
    return bool(dispatch.events(callout_id))


def _audit_rows(data_dir: Path) -> list[tuple[str, str, str]]:
    """(kind, subject, data) of every audit entry, read-only."""
    uri = f"file:{store_path(data_dir)}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
        rows = conn.execute("SELECT kind, subject, data FROM audit ORDER BY seq").fetchall()
    return [(str(k), str(s), str(d)) for k, s, d in rows]


@contextlib.asynccontextmanager
async def tls_system(
    workdir: Path, broker: SecureBroker
) -> AsyncIterator[tuple[Dispatch, EmulatorProcess, GatewayProcess]]:
    """The emulator, the gateway on TLS with its ``gateway`` certificate (broker and TLS
    files from its config file), and dispatch with the ``dispatch`` certificate, online."""
    emulator = EmulatorProcess(
        workdir, "--radios", "1", "--time-scale", "0.25", "--units", "2040101-2040102"
    )
    emulator.start()
    config = workdir / "gateway-tls.toml"
    config.write_text(_gateway_tls_config(broker))
    gateway = GatewayProcess(
        workdir,
        broker_url=None,  # from the config file, with its TLS files
        radios=[emulator.radio_url("gw1")],
        talkgroups=f"emulator://{emulator.ready_file}",
        config=config,
    )
    try:
        async with _dispatch(broker) as dispatch:
            gateway.start()
            await dispatch.wait_online(gateway.gateway_id, timeout=WAIT_S)
            yield dispatch, emulator, gateway
    finally:
        gateway.stop()
        emulator.stop()


async def test_only_the_dispatch_certificate_makes_the_gateway_page_units(
    tmp_path: Path, secure_broker: SecureBroker
) -> None:
    broker = secure_broker
    async with tls_system(tmp_path, broker) as (dispatch, emulator, gateway):
        # dispatch → gateway (TLS, gateway certificate) → radio → unit.
        await dispatch.publish("callouts", _callout("SEC-1", 2040101, "Hjertestans SEC-1"))
        await dispatch.wait_final("SEC-1", [2040101], timeout=WAIT_S)
        assert dispatch.finals("SEC-1") == {2040101: ["delivered"]}

        # An intruder (a certificate from the same CA, CN "intruder") publishes a callout,
        # a unit send and an incident close; the broker acknowledges and drops them.
        async with broker.client("intruder") as intruder:
            await intruder.publish(
                ROOT + "callouts", _callout(FORGED_ID, 2040102, FORGED_TEXT), qos=1
            )
            await intruder.publish(
                ROOT + "units/2040102/send",
                json.dumps({"request_id": "REQ-INTRUDER", "text": FORGED_TEXT}).encode(),
                qos=1,
            )
            await intruder.publish(ROOT + "incidents/INC-SEC-1/close", b"{}", qos=1)
        # A client without a certificate does not get as far as a publish.
        with pytest.raises(aiomqtt.MqttError):
            async with broker.client(None) as anonymous:
                await anonymous.publish(
                    ROOT + "callouts", _callout(FORGED_ID, 2040102, FORGED_TEXT), qos=1
                )

        # A later dispatch callout still works (and orders the proof, module docstring).
        await dispatch.publish("callouts", _callout("SEC-2", 2040102, "Hjertestans SEC-2"))
        await dispatch.wait_final("SEC-2", [2040102], timeout=WAIT_S)
        assert dispatch.finals("SEC-2") == {2040102: ["delivered"]}

        # Nothing was triggered by the intruder: no event of any kind ...
        assert dispatch.events(FORGED_ID) == []
        assert dispatch.on("requests/REQ-INTRUDER/events") == []
        assert dispatch.on("errors") == []
        # ... nothing on any unit's radio ...
        assert _texts(emulator, 2040101) == ["Hjertestans SEC-1"]
        assert _texts(emulator, 2040102) == ["Hjertestans SEC-2"]
        gateway_status = gateway.stop()
    assert gateway_status == 0
    # ... and nothing in the audit trail or the log: the two dispatch callouts are the only
    # inbound requests the gateway ever saw.
    rows = _audit_rows(gateway.data_dir)
    inbound = [subject for kind, subject, _ in rows if kind == "inbound_request"]
    assert inbound == ["SEC-1", "SEC-2"]
    for _, subject, data in rows:
        assert "INTRUDER" not in subject + data
        assert "FORGED" not in data
    log = gateway.log_path.read_text()
    assert "INTRUDER" not in log
    assert "FORGED" not in log
    # The broker knew the gateway by its certificate, and denied the intruder's publishes
    # (they were refused, not lost on the way).
    broker_log = broker.log_text()
    assert re.search(r"as gateway \(p5, .*u'gateway'\)", broker_log), broker_log
    for topic in ("callouts", "units/2040102/send", "incidents/INC-SEC-1/close"):
        denied = rf"Denied PUBLISH from intruder \(.*'{ROOT}{topic}'"
        assert re.search(denied, broker_log), topic
    store = Store(store_path(gateway.data_dir))
    try:
        assert store.callout(FORGED_ID) is None
        incident = store.incident("INC-SEC-1")
        assert incident is not None
        assert incident.is_open  # the intruder's close was not acted on
    finally:
        store.close()


# ---- the gateway's MQTT session --------------------------------------------------------------


async def test_another_certificate_cannot_take_over_the_gateway_session(
    tmp_path: Path, secure_broker: SecureBroker
) -> None:
    broker = secure_broker
    async with tls_system(tmp_path, broker) as (dispatch, emulator, _gateway):
        session = _broker_client_id(broker.log_text(), "gateway")
        context = ssl.create_default_context(cafile=str(broker.certs / "ca.crt"))
        context.load_cert_chain(broker.certs / "intruder.crt", broker.certs / "intruder.key")
        intruder = aiomqtt.Client(
            HOST, broker.port, identifier=session, tls_context=context, clean_session=False
        )
        async with intruder:
            # The broker decided on the takeover before it acknowledged the CONNECT.
            log = broker.log_text()
        assert not re.search(rf"as {re.escape(session)} \(.*u'intruder'\)", log), log
        await dispatch.publish("callouts", _callout("SESSION-1", 2040101, "Hjertestans S-1"))
        await dispatch.wait_final("SESSION-1", [2040101], timeout=WAIT_S)
        assert _texts(emulator, 2040101) == ["Hjertestans S-1"]


def _broker_client_id(log: str, identity: str) -> str:
    """The client id under which ``identity`` (certificate CN) is connected, from the log."""
    found = re.findall(rf"New client connected from \S+ as (\S+) \(.*u'{identity}'\)", log)
    assert found, log
    return str(found[-1])


# ---- the gateway's own limits, end to end ----------------------------------------------------

LIMITS_CONFIG = """\
allowed_issis = ["2040101-2040103"]

[callouts]
retry_initial_s = 0.5
retry_max_s = 2.0
max_units = 2
max_text_length = 100

[limits]
max_payload_bytes = 2048
callouts_per_minute_per_client = 1
"""


async def test_configured_limits_refuse_callouts_without_paging_anyone(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    """Payload size, unit count, text length, ISSI allow-list and the callout rate, each
    answered on ``errors`` (and ``rejected`` where the callout id is readable)."""
    async with running_system(
        tmp_path,
        mosquitto,
        emulator_args=("--units", "2040101-2040104"),
        config_text=LIMITS_CONFIG,
    ) as system:
        dispatch, emulator = system.dispatch, system.emulator

        async def refused(body: dict[str, Any] | bytes, error: str) -> dict[str, Any]:
            count = len(dispatch.on("errors"))
            await dispatch.publish("callouts", body)
            await dispatch.wait_for(
                lambda: len(dispatch.on("errors")) > count, WAIT_S, f"the {error} answer"
            )
            answer = dispatch.on("errors")[count]
            assert answer["topic"] == ROOT + "callouts"
            assert answer["error"] == error, answer
            return answer

        unit = {"issi": 2040101, "role": "ambulance"}
        base: dict[str, Any] = {"units": [unit], "text": "Hjertestans", "deadline_s": 20}

        oversized = json.dumps(
            {**base, "callout_id": "L-SIZE", "incident_id": "I-L", "padding": "x" * 3000}
        ).encode()
        answer = await refused(oversized, "payload_too_large")
        assert "x" * 10 not in answer["detail"]

        cases: list[tuple[str, dict[str, Any], str, str]] = [
            (
                "L-UNITS",
                {"units": [unit, {"issi": 2040102}, {"issi": 2040103}]},
                "too_many_units",
                "units: must have at most 2 entries",
            ),
            (
                "L-TEXT",
                {"text": "Storgata " * 12},
                "text_too_long",
                "text: must be at most 100 characters",
            ),
            (
                "L-ISSI",
                {"units": [unit, {"issi": 2040104}]},
                "issi_not_allowed",
                "units[1].issi: not in the allowed ISSIs",
            ),
        ]
        for callout_id, fields, reason, detail in cases:
            body = {**base, "callout_id": callout_id, "incident_id": "I-L", **fields}
            answer = await refused(body, "invalid_payload")
            assert answer["detail"] == detail
            await dispatch.wait_for(
                functools.partial(_has_events, dispatch, callout_id),
                WAIT_S,
                f"{callout_id} rejected",
            )
            assert [(e["event"], e.get("reason")) for e in dispatch.events(callout_id)] == [
                ("rejected", reason)
            ]

        # The one token a minute: the first good callout takes it, the next new one is refused.
        await dispatch.publish("callouts", {**base, "callout_id": "L-OK", "incident_id": "I-L"})
        await dispatch.wait_final("L-OK", [2040101], timeout=WAIT_S)
        second = {
            **base,
            "callout_id": "L-RATE",
            "incident_id": "I-L2",
            "units": [{"issi": 2040102, "role": "ambulance"}],
        }
        answer = await refused(second, "rate_limited")
        assert answer["detail"].startswith("callouts:")
        await dispatch.wait_for(lambda: bool(dispatch.events("L-RATE")), WAIT_S, "L-RATE rejected")
        assert [(e["event"], e.get("reason")) for e in dispatch.events("L-RATE")] == [
            ("rejected", "rate_limited")
        ]
        # A republished callout id is not a new callout: answered with its state, never refused.
        errors_before = len(dispatch.on("errors"))
        accepted_before = len(dispatch.events("L-OK"))
        await dispatch.publish("callouts", {**base, "callout_id": "L-OK", "incident_id": "I-L"})
        await dispatch.wait_for(
            lambda: len(dispatch.events("L-OK")) > accepted_before, WAIT_S, "the duplicate answer"
        )
        duplicate = dispatch.events("L-OK")[accepted_before]
        assert (duplicate["event"], duplicate.get("duplicate")) == ("accepted", True)
        assert len(dispatch.on("errors")) == errors_before
        assert "rejected" not in [e["event"] for e in dispatch.events("L-OK")]

        # Only the one admitted callout reached a radio, once.
        assert _texts(emulator, 2040101) == ["Hjertestans"]
        for issi in (2040102, 2040103, 2040104):
            assert _texts(emulator, issi) == [], issi
    assert "Storgata" not in system.gateway.log_path.read_text()
