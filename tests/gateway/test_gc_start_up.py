"""`tetragw run` keeps the cyclic garbage collector off while it starts, then freezes what
start-up made and turns it back on (gateway/cli.py, gateway/daemon.py; docs/performance.md)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway import cli, daemon


@pytest.fixture
def collector() -> Iterator[None]:
    """Whatever a test does to the collector is undone after it."""
    frozen = gc.get_freeze_count()
    try:
        yield
    finally:
        if gc.get_freeze_count() > frozen:
            gc.unfreeze()
        gc.enable()


def test_run_turns_the_collector_off_before_importing_the_daemon(
    collector: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A missing config ends the command before the daemon would turn it on again.
    assert cli.main(["run", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "config error" in capsys.readouterr().err
    assert not gc.isenabled()


def test_other_commands_leave_the_collector_alone(
    collector: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["decode", "8002"]) == 0
    capsys.readouterr()
    assert gc.isenabled()


def test_end_of_start_up_freezes_what_it_made_and_turns_the_collector_on(
    collector: None,
) -> None:
    gc.disable()
    before = gc.get_freeze_count()

    daemon._freeze_start_up()

    assert gc.isenabled()
    assert gc.get_freeze_count() > before


def test_a_daemon_run_inside_another_program_freezes_nothing(collector: None) -> None:
    before = gc.get_freeze_count()
    daemon._freeze_start_up()
    assert gc.isenabled()
    assert gc.get_freeze_count() == before
