"""Fixtures: an in-process emulator with short timings, and a gateway-like client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import pytest

from hardware.emulator.app import Emulator
from hardware.emulator.scenario import (
    NetworkSettings,
    Position,
    RadioSpec,
    Scenario,
    UnitSpec,
)
from tests.hardware.emulator.peiclient import PeiClient

FAST = NetworkSettings(
    seed=7,
    time_scale=0.02,  # the 20 s callout sequence takes about 0.4 s
    sds_delay_ms=5,
    unreachable_report_delay_s=1.0,
    dgna_delay_ms=20,
    dgna_timeout_s=0.5,
    status_retry_s=0.3,
    max_dynamic_groups=2,
)
INCIDENT = Position(59.91, 10.75)
RESPONSIVE = 2040101
SHORT_REPORTER = 2040102
UNREACHABLE = 2040103
SILENT = 2040104
SLOW = 2040105


def make_scenario(vendor: str = "generic", radios: int = 1, **network: Any) -> Scenario:
    units = (
        UnitSpec(RESPONSIVE, "A-11", position=Position(59.95, 10.70)),
        UnitSpec(SHORT_REPORTER, "A-12", report_form="short"),
        UnitSpec(UNREACHABLE, "FR-1", behaviour="unreachable", in_coverage=False),
        UnitSpec(SILENT, "FR-2", behaviour="silent"),
        UnitSpec(SLOW, "A-13", behaviour="slow"),
    )
    gateways = tuple(
        RadioSpec(f"gw{i + 1}", 2049999 - i, vendor, reboot_s=0.3, attach_s=0.2)
        for i in range(radios)
    )
    return Scenario(replace(FAST, **network), INCIDENT, gateways, units)


EmulatorFactory = Callable[..., Any]


@pytest.fixture
async def start_emulator() -> AsyncIterator[EmulatorFactory]:
    """``await start_emulator(vendor=..., radios=..., **network)`` → a running Emulator."""
    started: list[Emulator] = []

    async def start(**kwargs: Any) -> Emulator:
        emulator = Emulator(make_scenario(**kwargs))
        await emulator.start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        await emulator.stop()


@pytest.fixture
async def emulator(start_emulator: EmulatorFactory) -> Emulator:
    """A generic-vendor emulator with one gateway terminal."""
    result: Emulator = await start_emulator()
    return result


@pytest.fixture
async def clients() -> AsyncIterator[list[PeiClient]]:
    """Clients to close at the end of a test."""
    opened: list[PeiClient] = []
    yield opened
    for client in opened:
        client.close()
