"""MqttSettings: what the bridge derives from the broker configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.mqtt_settings import MqttSettings, TlsFiles


def test_url_gives_host_port_and_credentials() -> None:
    settings = MqttSettings.from_url("mqtt://gw:s%40cret@broker.amk.local:1884", gateway_id="gw1")
    assert (settings.host, settings.port) == ("broker.amk.local", 1884)
    assert (settings.username, settings.password) == ("gw", "s@cret")
    assert settings.tls is None


def test_mqtts_url_turns_tls_on_with_default_port() -> None:
    settings = MqttSettings.from_url("mqtts://broker.amk.local", gateway_id="gw1")
    assert settings.port == 8883
    assert settings.tls == TlsFiles()


def test_options_override_url_and_none_options_are_ignored() -> None:
    tls = TlsFiles(ca_file=Path("/etc/tetragw/ca.pem"))
    settings = MqttSettings.from_url(
        "mqtts://u:p@host", gateway_id="gw1", password="from-file", tls=tls, username=None
    )
    assert (settings.username, settings.password, settings.tls) == ("u", "from-file", tls)


@pytest.mark.parametrize("url", ["http://host", "mqtt://", "host:1883"])
def test_url_that_is_not_mqtt_is_rejected(url: str) -> None:
    with pytest.raises(ValueError, match="broker url"):
        MqttSettings.from_url(url, gateway_id="gw1")


def test_password_is_not_in_repr() -> None:
    assert "hunter2" not in repr(MqttSettings(host="h", gateway_id="g", password="hunter2"))


def test_client_id_is_stable_and_derived_from_gateway_id() -> None:
    assert MqttSettings(host="h", gateway_id="gw1").effective_client_id == "tetragw-gw1"
    assert MqttSettings(host="h", gateway_id="gw1", client_id="x").effective_client_id == "x"


def test_topics_follow_the_configured_root() -> None:
    settings = MqttSettings(host="h", gateway_id="gw7", root="amk")
    assert settings.health_topic == "amk/v1/gateway/gw7/health"
    assert settings.inbound_filters == (
        "amk/v1/callouts",
        "amk/v1/incidents/+/close",
        "amk/v1/units/+/send",
    )


def test_shared_group_prefixes_every_inbound_filter() -> None:
    settings = MqttSettings(host="h", gateway_id="gw1", shared_group="oslo")
    assert settings.inbound_filters == (
        "$share/oslo/tetragw/v1/callouts",
        "$share/oslo/tetragw/v1/incidents/+/close",
        "$share/oslo/tetragw/v1/units/+/send",
    )


def test_shared_subscription_needs_mqtt5() -> None:
    with pytest.raises(ValueError, match="MQTT 5"):
        MqttSettings(host="h", gateway_id="gw1", shared_group="g", version="3.1.1")


@pytest.mark.parametrize("group", ["a/b", "a+", "#"])
def test_shared_group_with_topic_syntax_is_rejected(group: str) -> None:
    with pytest.raises(ValueError, match="group"):
        MqttSettings(host="h", gateway_id="gw1", shared_group=group)


def test_backoff_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="reconnect"):
        MqttSettings(host="h", gateway_id="gw1", reconnect_min_s=5, reconnect_max_s=1)
