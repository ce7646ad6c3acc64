"""The gateway's TOML configuration, validated at start with errors that name the key.

``load_config(path, overrides)`` reads the file (``None``: built-in defaults), applies the
command line's overrides (dotted keys such as ``"broker.url"``; see :func:`cli_overrides`)
and validates the result. Any problem raises :class:`ConfigError` whose ``key`` is the
dotted path of the offending setting (``radios[0].baud``) and whose message never repeats a
secret. Unknown keys are errors: a misspelt setting must not silently fall back to a default.

Relative paths are taken relative to the current directory (as ``--data-dir``), so run the
daemon from a fixed working directory (the systemd unit sets one).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Final, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from protocols.dispatch import (
    DEADLINE_MAX_S,
    DEADLINE_MIN_S,
    ISSI_MAX,
    MAX_UNITS,
    Topics,
    describe_error,
)
from protocols.dispatch.inbound import Label
from protocols.errors import ProtocolError

SHIPPED_STATUS_TABLE: Final = "config/status/amk-default.toml"
BAUD_RATES: Final = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)

_NAME_RE: Final = re.compile(r"[A-Za-z0-9._-]{1,32}")
_POOL_RE: Final = re.compile(r"pool:(\d{1,8})-(\d{1,8})")
_SPAN_RE: Final = re.compile(r"\s*(\d{1,8})\s*-\s*(\d{1,8})\s*")


class ConfigError(Exception):
    """A configuration that cannot run: ``key`` names the setting, ``message`` says why."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


def _fail(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,32}$")]


class GatewaySection(_Section):
    """``[gateway]``: this instance."""

    id: Name = "tetragw"
    data_dir: Path = Path("./var")
    topic_root: str = "tetragw"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("topic_root")
    @classmethod
    def _valid_root(cls, root: str) -> str:
        try:
            Topics(root)
        except ProtocolError:
            raise _fail(
                "topic_root", "must be MQTT topic levels without '+', '#' or a leading '$'"
            ) from None
        return root


class BrokerSection(_Section):
    """``[broker]``: the MQTT broker; no ``url`` means the embedded broker on 127.0.0.1:1883."""

    url: str | None = None
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    password_file: Path | None = None
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_insecure: bool = False
    protocol_version: Literal["5", "3.1.1"] = "5"
    client_id: str | None = Field(default=None, min_length=1, max_length=64)
    keepalive: int = Field(default=60, ge=5, le=3600)
    shared_subscription_group: Name | None = None

    @field_validator("url")
    @classmethod
    def _valid_url(cls, url: str | None) -> str | None:
        if url is not None:
            broker_address(url)
        return url

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.password is not None and self.password_file is not None:
            raise _fail("password_file", "password_file: give password or password_file, not both")
        if self.shared_subscription_group is not None and self.protocol_version != "5":
            raise _fail("shared_group", 'shared_subscription_group: needs protocol_version = "5"')
        if (self.tls_cert is None) != (self.tls_key is None):
            raise _fail("tls_key", "tls_key: tls_cert and tls_key go together")
        for key in ("password_file", "tls_ca", "tls_cert", "tls_key"):
            path = getattr(self, key)
            if path is not None and not path.is_file():
                raise _fail("file_missing", f"{key}: file not found")
        return self

    @property
    def embedded(self) -> bool:
        """True when no broker is configured (the gateway starts its own)."""
        return self.url is None

    @property
    def host_port_tls(self) -> tuple[str, int, bool]:
        """``(host, port, tls)`` of :attr:`url`, or the embedded broker's address."""
        return broker_address(self.url or "mqtt://127.0.0.1:1883")

    def read_password(self) -> str | None:
        """The broker password: ``password``, or the first line of ``password_file``."""
        if self.password_file is not None:
            return self.password_file.read_text(encoding="utf-8").splitlines()[0].strip()
        return self.password


class RadioConfig(_Section):
    """``[[radios]]``: one PEI terminal."""

    name: Name
    url: str
    vendor: Literal["motorola", "sepura", "generic"] = "generic"
    baud: int = 38400
    rtscts: bool = False
    parity: Literal["none", "even", "odd"] = "none"

    @field_validator("url")
    @classmethod
    def _valid_url(cls, url: str) -> str:
        radio_link_kind(url)
        return url

    @field_validator("baud")
    @classmethod
    def _known_baud(cls, baud: int) -> int:
        if baud not in BAUD_RATES:
            raise _fail("baud", "must be one of " + ", ".join(map(str, BAUD_RATES)))
        return baud


class TalkgroupsSection(_Section):
    """``[talkgroups]``: where incident talk groups come from, and when they go back."""

    backend: str = "pool:9001-9099"
    idle_release_minutes: int = Field(default=60, ge=1, le=10080)
    lifetime_hours: int = Field(default=24, ge=1, le=720)

    @field_validator("backend")
    @classmethod
    def _valid_backend(cls, backend: str) -> str:
        talkgroup_pool(backend)
        return backend

    @property
    def pool(self) -> tuple[int, int] | None:
        """``(first, last)`` GSSI of a ``pool:A-B`` backend, ``None`` for the emulator's DGNA."""
        return talkgroup_pool(self.backend)


class StatusSection(_Section):
    """``[status]``: the status table; default the shipped ``amk-default.toml``."""

    table: Path | None = None

    def table_path(self) -> Path:
        """The table file to load."""
        return self.table if self.table is not None else resolve_shipped(SHIPPED_STATUS_TABLE)


class PolicySection(_Section):
    """``[policy]``: dispatch rules the engine warns about."""

    require_ambulance_with_first_responder: bool = True


class CalloutsSection(_Section):
    """``[callouts]``: defaults and limits of callouts."""

    default_deadline_s: int = Field(default=60, ge=DEADLINE_MIN_S, le=DEADLINE_MAX_S)
    retry_initial_s: float = Field(default=2.0, gt=0, le=600)
    retry_max_s: float = Field(default=30.0, gt=0, le=3600)
    #: How long one try waits for the unit's delivery report before it is tried again.
    attempt_timeout_s: float = Field(default=20.0, ge=1, le=3600)
    max_text_length: int = Field(default=1000, ge=1, le=10000)
    max_units: int = Field(default=MAX_UNITS, ge=1, le=MAX_UNITS)
    #: ``priority`` labels (matched in any case) whose callouts go to the radio before every
    #: other waiting for it: behind a backlog, an acute callout is not queued behind routine
    #: ones. ``[]`` keeps strict arrival order.
    urgent_priorities: list[Label] = Field(default_factory=lambda: ["1A"], max_length=32)

    @field_validator("urgent_priorities")
    @classmethod
    def _labels_not_blank(cls, labels: list[str]) -> list[str]:
        if any(not label.strip() for label in labels):
            raise _fail("blank_label", "labels must not be blank")
        return labels

    @model_validator(mode="after")
    def _backoff_ordered(self) -> Self:
        if self.retry_max_s < self.retry_initial_s:
            raise _fail("retry_max_s", "retry_max_s: must be >= retry_initial_s")
        return self


class LimitsSection(_Section):
    """``[limits]``: protection against a misbehaving client."""

    max_payload_bytes: int = Field(default=65536, ge=1024, le=16 * 1024 * 1024)
    callouts_per_minute_per_client: int = Field(default=120, ge=1, le=100000)


def _issi_span(value: object) -> object:
    """An allow-list entry: an ISSI, or ``"A-B"`` (inclusive) → ``(A, B)``."""
    if isinstance(value, int) and not isinstance(value, bool):
        first = last = value
    elif isinstance(value, str) and (match := _SPAN_RE.fullmatch(value)):
        first, last = int(match.group(1)), int(match.group(2))
    else:
        raise _fail("issi_span", 'must be an ISSI or a range "A-B"')
    if not (0 <= first <= last <= ISSI_MAX):
        raise _fail("issi_span", f"must lie in 0..{ISSI_MAX} with A <= B")
    return (first, last)


IssiSpan = Annotated[tuple[int, int], BeforeValidator(_issi_span)]


class GatewayConfig(_Section):
    """The whole configuration; every section has defaults."""

    allowed_issis: tuple[IssiSpan, ...] | None = Field(
        default=None, description="Units the gateway may alert; absent: any."
    )
    gateway: GatewaySection = GatewaySection()
    broker: BrokerSection = BrokerSection()
    radios: tuple[RadioConfig, ...] = ()
    talkgroups: TalkgroupsSection = TalkgroupsSection()
    status: StatusSection = StatusSection()
    policy: PolicySection = PolicySection()
    callouts: CalloutsSection = CalloutsSection()
    limits: LimitsSection = LimitsSection()

    @field_validator("radios")
    @classmethod
    def _distinct_names(cls, radios: tuple[RadioConfig, ...]) -> tuple[RadioConfig, ...]:
        seen: set[str] = set()
        for index, radio in enumerate(radios):
            if radio.name in seen:
                raise _fail("radio_name", f"[{index}].name: must be distinct")
            seen.add(radio.name)
        return radios

    def issi_allowed(self, issi: int) -> bool:
        """True when ``issi`` may be alerted (always, without an allow-list)."""
        if self.allowed_issis is None:
            return True
        return any(first <= issi <= last for first, last in self.allowed_issis)

    def summary(self) -> str:
        """One line describing this configuration, without secrets."""
        broker = "embedded broker" if self.broker.embedded else redact_url(self.broker.url or "")
        radios = ", ".join(f"{r.name}={r.url}" for r in self.radios) or "none"
        allowed = (
            "any ISSI"
            if self.allowed_issis is None
            else f"{len(self.allowed_issis)} allowed ISSI range(s)"
        )
        return (
            f"gateway {self.gateway.id}: broker {broker}, topic root {self.gateway.topic_root}, "
            f"{len(self.radios)} radio(s) ({radios}), talkgroups {self.talkgroups.backend}, "
            f"status table {self.status.table_path().name}, {allowed}"
        )


# -- URL forms shared with the command line --------------------------------------------


def broker_address(url: str) -> tuple[str, int, bool]:
    """``mqtt://[user[:password]@]host[:port]`` / ``mqtts://...`` → ``(host, port, tls)``.

    Credentials in the URL are allowed (``--broker``) but never shown (:func:`redact_url`).

    Raises ``PydanticCustomError`` (reported against the key by :func:`load_config`).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise _fail("broker_url", "must be mqtt://host[:port] or mqtts://host[:port]")
    try:
        port = parts.port
    except ValueError:
        raise _fail("broker_url", "has an invalid port") from None
    if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise _fail("broker_url", "must be mqtt://host[:port] or mqtts://host[:port]")
    tls = parts.scheme == "mqtts"
    return parts.hostname, port or (8883 if tls else 1883), tls


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{parts.username}:***@{netloc}").geturl()


def radio_link_kind(url: str) -> Literal["device", "socket", "emulator"]:
    """Which link a radio URL names: a device path, ``socket://host:port`` or
    ``emulator://READY_FILE[#name]``; raises ``PydanticCustomError`` for anything else."""
    if url.startswith("socket://"):
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = None
        if not parts.hostname or port is None or port == 0 or parts.path not in ("", "/"):
            raise _fail("radio_url", "socket URL must be socket://host:port")
        return "socket"
    if url.startswith("emulator://"):
        ready_file, _, name = url.removeprefix("emulator://").partition("#")
        if not ready_file or (name and not _NAME_RE.fullmatch(name)):
            raise _fail("radio_url", "emulator URL must be emulator://READY_FILE[#name]")
        return "emulator"
    if url.startswith("/") or re.fullmatch(r"COM\d+", url):
        return "device"
    raise _fail(
        "radio_url", "must be a device path, socket://host:port or emulator://READY_FILE[#name]"
    )


def talkgroup_pool(backend: str) -> tuple[int, int] | None:
    """``pool:A-B`` → ``(A, B)``; ``emulator://READY_FILE`` → ``None``; else an error."""
    if backend.startswith("emulator://") and len(backend) > len("emulator://"):
        return None
    match = _POOL_RE.fullmatch(backend)
    if match is None:
        raise _fail("talkgroups", "must be pool:FIRST-LAST or emulator://READY_FILE")
    first, last = int(match.group(1)), int(match.group(2))
    if not (1 <= first <= last <= ISSI_MAX):
        raise _fail("talkgroups", f"pool GSSIs must lie in 1..{ISSI_MAX} with FIRST <= LAST")
    return first, last


# -- loading -----------------------------------------------------------------------------


def resolve_shipped(path: str | Path) -> Path:
    """A file shipped in the repository's ``config/`` directory, in the source tree or in an
    installed wheel (where ``config/`` is packaged as ``gateway/_config/``).

    ``path`` may start with ``config/`` or not. Raises ``FileNotFoundError`` if neither exists.
    """
    relative = Path(path)
    if relative.parts and relative.parts[0] == "config":
        relative = Path(*relative.parts[1:])
    here = Path(__file__).resolve().parent
    candidates = (here.parent / "config" / relative, here / "_config" / relative)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"shipped config file not found: config/{relative}")


def cli_overrides(
    *,
    broker: str | None = None,
    radios: Sequence[str] = (),
    talkgroups: str | None = None,
    data_dir: str | Path | None = None,
) -> dict[str, object]:
    """The overrides of ``tetragw run --broker/--radio/--talkgroups/--data-dir`` for
    :func:`load_config`. ``--radio`` replaces the configured radios; each is named by its
    ``#name`` fragment (emulator URLs) or ``radio1``, ``radio2``, ..."""
    out: dict[str, object] = {}
    if broker is not None:
        out["broker.url"] = broker
    if radios:
        entries = []
        for index, url in enumerate(radios, start=1):
            _, _, fragment = url.partition("#") if url.startswith("emulator://") else ("", "", "")
            entries.append({"name": fragment or f"radio{index}", "url": url})
        out["radios"] = entries
    if talkgroups is not None:
        out["talkgroups.backend"] = talkgroups
    if data_dir is not None:
        out["gateway.data_dir"] = str(data_dir)
    return out


def load_config(
    path: str | Path | None = None, overrides: Mapping[str, object] | None = None
) -> GatewayConfig:
    """Read, override and validate the configuration; :class:`ConfigError` names the key."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError("--config", f"file not found: {path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError("--config", f"cannot read {path}: {type(exc).__name__}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("--config", f"not valid TOML: {exc}") from None
    for dotted, value in (overrides or {}).items():
        _set_dotted(raw, dotted, value)
    try:
        config = GatewayConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        line = describe_error(first, root="config")
        key, _, message = line.partition(": ")
        raise ConfigError(key, message) from None
    try:
        table = config.status.table_path()
    except FileNotFoundError:
        raise ConfigError("status.table", f"shipped {SHIPPED_STATUS_TABLE} is missing") from None
    if not table.is_file():
        raise ConfigError("status.table", "file not found")
    return config


def _set_dotted(raw: dict[str, Any], dotted: str, value: object) -> None:
    *sections, leaf = dotted.split(".")
    node = raw
    for section in sections:
        child = node.setdefault(section, {})
        if not isinstance(child, dict):
            raise ConfigError(section, "must be a table")
        node = child
    node[leaf] = value
