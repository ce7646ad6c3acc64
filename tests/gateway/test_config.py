"""The TOML configuration: defaults, the shipped example, and errors that name the key."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from gateway import cmd_check_config
from gateway.config import (
    ConfigError,
    GatewayConfig,
    cli_overrides,
    load_config,
    resolve_shipped,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "tetragw.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tetragw.toml"
    path.write_text(text, encoding="utf-8")
    return path


def config_error(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return info.value


def test_no_file_gives_the_built_in_defaults() -> None:
    config = load_config(None)
    assert config.broker.embedded
    assert config.broker.host_port_tls == ("127.0.0.1", 1883, False)
    assert config.gateway.data_dir == Path("./var")
    assert config.gateway.topic_root == "tetragw"
    assert config.radios == ()
    assert config.talkgroups.pool == (9001, 9099)
    assert config.status.table_path() == resolve_shipped("config/status/amk-default.toml")
    assert config.policy.require_ambulance_with_first_responder is True
    assert config.callouts.default_deadline_s == 60
    assert config.issi_allowed(123)


def test_shipped_example_loads_with_two_radios_pool_and_allow_list() -> None:
    config = load_config(EXAMPLE)
    assert [radio.name for radio in config.radios] == ["gw1", "gw2"]
    assert config.radios[0].vendor == "motorola"
    assert config.radios[1].url.startswith("socket://")
    assert config.talkgroups.pool == (9001, 9099)
    assert config.broker.host_port_tls == ("mqtt.amk.example", 1883, False)
    assert config.allowed_issis is not None
    assert config.issi_allowed(2040101)
    assert config.issi_allowed(2049001)
    assert not config.issi_allowed(2041000)


def test_resolve_shipped_finds_status_tables_with_or_without_the_config_prefix() -> None:
    assert resolve_shipped("status/amk-default.toml") == resolve_shipped(
        "config/status/amk-default.toml"
    )
    assert resolve_shipped("status/amk-default.toml").is_file()
    with pytest.raises(FileNotFoundError):
        resolve_shipped("config/status/no-such-table.toml")


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        (
            "[[radios]]\nname='gw1'\nurl='/dev/ttyUSB0'\nbaud=12345\n",
            "radios[0].baud",
            "must be one of 1200, 2400",
        ),
        (
            "[[radios]]\nname='gw1'\nurl='/dev/ttyUSB0'\nvendor='nokia'\n",
            "radios[0].vendor",
            "must be one of 'motorola', 'sepura' or 'generic'",
        ),
        ("[[radios]]\nname='gw1'\nurl='ttyUSB0'\n", "radios[0].url", "must be a device path"),
        (
            "[[radios]]\nname='gw1'\nurl='socket://host'\n",
            "radios[0].url",
            "socket URL must be socket://host:port",
        ),
        ("[[radios]]\nname='gw1'\nurl='emulator://'\n", "radios[0].url", "emulator URL must be"),
        ("[[radios]]\nurl='/dev/ttyUSB0'\n", "radios[0].name", "is required"),
        (
            "[[radios]]\nname='a'\nurl='/dev/a'\n[[radios]]\nname='a'\nurl='/dev/b'\n",
            "radios[1].name",
            "must be distinct",
        ),
        (
            "[[radios]]\nname='gw1'\nurl='/dev/ttyUSB0'\nbuad=9600\n",
            "radios[0].buad",
            "is not a known key",
        ),
        (
            "[broker]\nurl='http://x'\n",
            "broker.url",
            "must be mqtt://host[:port] or mqtts://host[:port]",
        ),
        ("[broker]\nurl='mqtt://x:99999'\n", "broker.url", "has an invalid port"),
        (
            "[broker]\npassword='a'\npassword_file='b'\n",
            "broker.password_file",
            "give password or password_file, not both",
        ),
        (
            "[broker]\ntls_cert='/etc/hostname'\n",
            "broker.tls_key",
            "tls_cert and tls_key go together",
        ),
        ("[broker]\ntls_ca='/nonexistent/ca.pem'\n", "broker.tls_ca", "file not found"),
        ("[broker]\nkeepalive=1\n", "broker.keepalive", "must be >= 5"),
        (
            "[broker]\nshared_subscription_group='g'\nprotocol_version='3.1.1'\n",
            "broker.shared_subscription_group",
            "needs protocol_version",
        ),
        ("[gateway]\ntopic_root='a/+'\n", "gateway.topic_root", "must be MQTT topic levels"),
        ("[gateway]\nlog_level='loud'\n", "gateway.log_level", "must be one of"),
        ("[gateway]\nid='a b'\n", "gateway.id", "must match"),
        ("[talkgroups]\nbackend='pool:9099-9001'\n", "talkgroups.backend", "FIRST <= LAST"),
        (
            "[talkgroups]\nbackend='dgna://x'\n",
            "talkgroups.backend",
            "must be pool:FIRST-LAST or emulator://READY_FILE",
        ),
        ("[status]\ntable='/nonexistent/table.toml'\n", "status.table", "file not found"),
        (
            "[callouts]\nretry_initial_s=10\nretry_max_s=5\n",
            "callouts.retry_max_s",
            "must be >= retry_initial_s",
        ),
        ("[callouts]\ndefault_deadline_s=4000\n", "callouts.default_deadline_s", "must be <= 3600"),
        ("[callouts]\nmax_units=101\n", "callouts.max_units", "must be <= 100"),
        ("[callouts]\nattempt_timeout_s=0.5\n", "callouts.attempt_timeout_s", "must be >= 1"),
        (
            "[callouts]\nurgent_priorities=['1A', ' ']\n",
            "callouts.urgent_priorities",
            "labels must not be blank",
        ),
        ("[callouts]\nurgent_priorities='1A'\n", "callouts.urgent_priorities", "list"),
        ("[limits]\nmax_payload_bytes='big'\n", "limits.max_payload_bytes", "must be an integer"),
        ("allowed_issis = [1, '5-3']\n", "allowed_issis[1]", "must lie in 0..16777215 with A <= B"),
        ("allowed_issis = [1, 'abc']\n", "allowed_issis[1]", 'must be an ISSI or a range "A-B"'),
        ("allowed_issis = [16777216]\n", "allowed_issis[0]", "must lie in 0..16777215"),
        ("[gateways]\nid='x'\n", "gateways", "is not a known key"),
        ("radios = 'x'\n", "radios", "must be a list"),
    ],
)
def test_invalid_setting_is_reported_against_its_key(
    tmp_path: Path, text: str, key: str, message: str
) -> None:
    error = config_error(tmp_path, text)
    assert error.key == key
    assert message in error.message
    assert str(error).startswith(f"{key}: ")


def test_secret_values_are_not_repeated_in_errors(tmp_path: Path) -> None:
    error = config_error(tmp_path, "[broker]\npassword=42\n")
    assert error.key == "broker.password"
    assert "42" not in str(error)


def test_unreadable_or_malformed_file_names_the_config_option(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    assert info.value.key == "--config"
    error = config_error(tmp_path, "[gateway\nid='x'\n")
    assert error.key == "--config"
    assert "not valid TOML" in error.message


def test_password_file_is_read_and_never_shown(tmp_path: Path) -> None:
    secret = tmp_path / "broker-password"
    secret.write_text("s3cret\n", encoding="utf-8")
    config = load_config(
        write(
            tmp_path,
            f"[broker]\nurl='mqtts://broker:8883'\nusername='gw'\npassword_file='{secret}'\n",
        )
    )
    assert config.broker.read_password() == "s3cret"
    assert config.broker.host_port_tls == ("broker", 8883, True)
    assert "s3cret" not in repr(config)
    assert "s3cret" not in config.summary()


def test_command_line_overrides_replace_file_settings(tmp_path: Path) -> None:
    overrides = cli_overrides(
        broker="mqtt://user:pw@127.0.0.1:1884",
        radios=["/dev/pts/7", "emulator:///tmp/ready.json#gw2"],
        talkgroups="emulator:///tmp/ready.json",
        data_dir=tmp_path / "data",
    )
    config = load_config(EXAMPLE, overrides)
    assert config.broker.host_port_tls == ("127.0.0.1", 1884, False)
    assert [(r.name, r.url) for r in config.radios] == [
        ("radio1", "/dev/pts/7"),
        ("gw2", "emulator:///tmp/ready.json#gw2"),
    ]
    assert config.talkgroups.pool is None
    assert config.gateway.data_dir == tmp_path / "data"
    assert config.gateway.id == "amk-oslo-1"  # untouched settings stay
    assert "pw" not in config.summary().replace("tetragw", "")


def test_override_errors_name_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, cli_overrides(broker="tcp://x"))
    assert info.value.key == "broker.url"
    with pytest.raises(ConfigError) as info:
        load_config(None, cli_overrides(radios=["COM-bad"]))
    assert info.value.key == "radios[0].url"


def test_config_is_frozen() -> None:
    config = GatewayConfig()
    with pytest.raises(ValueError, match="frozen"):
        config.gateway = config.gateway  # type: ignore[misc]


def _check_config(path: Path) -> int:
    parser = argparse.ArgumentParser()
    cmd_check_config.register(parser.add_subparsers())
    args = parser.parse_args(["check-config", str(path)])
    status: int = args.func(args)
    return status


def test_check_config_prints_ok_and_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert _check_config(EXAMPLE) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "ok"
    assert len(out) == 2
    assert "amk-oslo-1" in out[1]
    assert "2 radio(s)" in out[1]


def test_check_config_error_is_one_line_naming_the_key_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "[[radios]]\nname='gw1'\nurl='/dev/ttyUSB0'\nbaud=1\n")
    assert _check_config(path) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert "radios[0].baud: must be one of" in lines[0]


def test_check_config_is_registered_on_the_tetragw_command() -> None:
    from gateway import cli

    assert cli._COMMANDS["check-config"] == "gateway.cmd_check_config"
    choices = cli.build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert set(choices) == set(cli._COMMANDS)  # each module registers the name it is filed under
