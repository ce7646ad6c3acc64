"""Run a real Mosquitto for the integration tests: temp config, free port, disk persistence.

``MosquittoBroker.start()`` returns once the broker accepts TCP connections; ``restart()``
stops it with SIGTERM (Mosquitto then writes its persistence file, so sessions, their
subscriptions and queued QoS 1 messages survive) and starts it again on the same port;
``kill()`` stops it with SIGKILL (nothing saved since the last autosave).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HOST = "127.0.0.1"
_CANDIDATES = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
_START_TIMEOUT_S = 10.0


def find_mosquitto() -> str:
    """Path of the mosquitto binary; fails the test (never skips) when it is missing."""
    found = shutil.which("mosquitto") or next(
        (path for path in _CANDIDATES if os.access(path, os.X_OK)), None
    )
    if found is None:
        pytest.fail(
            "mosquitto not found (looked in PATH and /usr/sbin): the integration tests must run "
            "against a real broker. Install it with `make mosquitto` "
            "(apt-get install mosquitto mosquitto-clients).",
            pytrace=False,
        )
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _write_password_file(path: Path, users: dict[str, str]) -> None:
    passwd = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    if not os.access(passwd, os.X_OK):
        pytest.fail("mosquitto_passwd not found (it ships in the mosquitto package)", pytrace=False)
    path.write_text("")
    for user, password in users.items():
        subprocess.run([passwd, "-b", str(path), user, password], check=True, capture_output=True)


def make_test_pki(directory: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for ``localhost``/127.0.0.1 (openssl CLI).

    Returns ``(ca_file, cert_file, key_file)``.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl not found: needed to make the TLS test certificates", pytrace=False)
    ca_key, ca, key, csr, cert = (
        directory / name for name in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem")
    )
    ext = directory / "san.ext"
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for args in (
        ["req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=test-ca"],
        ["req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=localhost"],
        [
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            ca,
            "-CAkey",
            ca_key,
            "-CAcreateserial",
            "-out",
            cert,
            "-days",
            "2",
            "-extfile",
            ext,
        ],
    ):
        subprocess.run([openssl, *map(str, args)], check=True, capture_output=True)
    return ca, cert, key


@dataclass
class MosquittoBroker:
    """One Mosquitto process with its own directory (config, persistence, log)."""

    workdir: Path
    port: int = field(default_factory=free_port)
    #: user → password; ``None``: anonymous access allowed.
    users: dict[str, str] | None = None
    #: Contents of an ACL file (Mosquitto ``acl_file`` syntax), or ``None`` for none.
    acl: str | None = None
    host: str = HOST
    #: ``(ca_file, cert_file, key_file)`` for a TLS listener (see :func:`make_test_pki`).
    tls: tuple[Path, Path, Path] | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def log_path(self) -> Path:
        return self.workdir / "mosquitto.log"

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _write_config(self) -> Path:
        persistence = self.workdir / "data"
        persistence.mkdir(exist_ok=True)
        lines = [
            f"listener {self.port} {self.host}",
            "persistence true",
            f"persistence_location {persistence}/",
            "autosave_interval 1",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "set_tcp_nodelay true",
            *(
                [f"cafile {self.tls[0]}", f"certfile {self.tls[1]}", f"keyfile {self.tls[2]}"]
                if self.tls is not None
                else []
            ),
            # The tests run as root; without this Mosquitto would switch to the "mosquitto"
            # user and could not write its persistence file in our temp directory.
            "user root",
        ]
        if self.users is None:
            lines.append("allow_anonymous true")
        else:
            password_file = self.workdir / "passwd"
            _write_password_file(password_file, self.users)
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        if self.acl is not None:
            acl_file = self.workdir / "acl"
            acl_file.write_text(self.acl)
            lines.append(f"acl_file {acl_file}")
        config = self.workdir / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n")
        return config

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        if self.running:
            return
        binary = find_mosquitto()
        config = self._write_config()
        self._process = subprocess.Popen(
            [binary, "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                _, err = self._process.communicate()
                self._process = None
                raise RuntimeError(
                    f"mosquitto exited at start: {err.decode(errors='replace')}\n{self.log()}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.port} in time\n{self.log()}")

    def stop(self) -> None:
        """SIGTERM and wait: Mosquitto saves its persistence database on the way out."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()

    def kill(self) -> None:
        """SIGKILL: the broker dies without saving."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        if process is not None and process.stderr is not None:
            process.stderr.close()

    def restart(self) -> None:
        """Stop (saving state) and start again on the same port."""
        self.stop()
        self.start()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no mosquitto log)"
