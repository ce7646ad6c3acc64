"""Fixtures that run real processes: Mosquitto (see ``mosquitto.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.mosquitto import MosquittoBroker, find_mosquitto, make_test_pki

#: Users of the authenticated broker (user → password).
BROKER_USERS = {"gateway": "gw-secret", "cad": "cad-secret", "reader": "reader-secret"}

#: The gateway may use the dispatch API; "reader" may only read events (no inbound topics).
BROKER_ACL = """\
user gateway
topic readwrite tetragw/#

user cad
topic readwrite tetragw/#

user reader
topic read tetragw/v1/gateway/#
"""


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A running Mosquitto with anonymous access and persistence in a temp directory."""
    find_mosquitto()
    broker = MosquittoBroker(workdir=tmp_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def mosquitto_auth(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A running Mosquitto requiring a password (``BROKER_USERS``), applying ``BROKER_ACL``."""
    find_mosquitto()
    broker = MosquittoBroker(workdir=tmp_path, users=BROKER_USERS, acl=BROKER_ACL)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def mosquitto_tls(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A running Mosquitto with a TLS listener; its CA is ``mosquitto_tls.tls[0]``."""
    find_mosquitto()
    pki = tmp_path / "pki"
    pki.mkdir()
    broker = MosquittoBroker(workdir=tmp_path, tls=make_test_pki(pki))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
