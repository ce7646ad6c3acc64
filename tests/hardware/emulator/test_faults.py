"""Faults on demand: reboot, disconnect, garbage, stall, dropped/duplicated reports, congestion."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hardware.emulator.faults import FaultRequest, RandomFaults
from protocols.pei.events import CmeError, CommandEcho, Ok
from protocols.sds.message import decode_sds
from protocols.sds.tl import SdsReport
from tests.hardware.emulator.conftest import RESPONSIVE
from tests.hardware.emulator.peiclient import PeiClient
from tests.hardware.emulator.test_sds_flows import REGISTRATIONS, connect, from_unit, text_sds


async def reconnect_tcp(url: str, attempts: int = 100) -> PeiClient:
    for _ in range(attempts):
        try:
            return await PeiClient.over_tcp(url)
        except OSError:
            await asyncio.sleep(0.05)
    raise AssertionError("the port did not come back")


async def back_on(terminal, attempts: int = 200) -> None:
    """Wait until the rebooted radio is on again.

    A client must not just poll the old path: on a shared machine another process may get
    that pty index first (then the radio takes a new path and rewrites the ready file).
    """
    for _ in range(attempts):
        if terminal.state == "on":
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the radio did not come back")


async def test_reboot_closes_the_pty_and_brings_it_back_at_the_same_path_with_nothing_registered(
    start_emulator, clients
):
    emulator = await start_emulator(vendor="motorola")
    terminal = emulator.terminals[0]
    path = terminal.pty.path
    client = await connect(emulator, clients, tcp=False, registrations=(b"AT+CTSP=2,2,20\r",))
    terminal.apply_fault(FaultRequest("reboot", 0.2))
    await client.wait_eof()
    assert not Path(path).exists()
    client.close()  # what a gateway must do on EOF/EIO: close, then reopen the path
    clients.remove(client)
    await back_on(terminal)
    # The same path, unless another process on this machine took the freed index first.
    assert terminal.pty.path == path or Path(path).exists()
    again = await PeiClient.over_pty(terminal.pty.path)
    clients.append(again)
    # (The stale error is checked over TCP below: on a shared machine another process that
    # polls its own old pty path may open ours first and use up the stale answer.)
    await again.until_ok()
    await again.ok(b"ATE0\r")
    identity, _ = await again.ok(b"AT+CNUMF?\r")
    assert identity.issi == terminal.issi  # what a gateway should check after reopening
    assert terminal.as_dict()["registrations"] == []
    assert terminal.counters["reboots"] == 1


async def test_reboot_drops_tcp_and_the_port_comes_back_with_echo_on_and_a_stale_error(
    start_emulator, clients
):
    emulator = await start_emulator(vendor="motorola")
    terminal = emulator.terminals[0]
    port = terminal.tcp.port
    client = await connect(emulator, clients)
    terminal.apply_fault(FaultRequest("reboot", 0.2))
    await client.wait_eof()
    again = await reconnect_tcp(terminal.tcp.url)
    clients.append(again)
    assert (await again.command(b"AT\r")) == [CommandEcho("AT"), CmeError(35)]
    await again.ok(b"AT\r")
    assert terminal.as_dict()["registrations"] == []
    assert terminal.tcp.port == port


async def test_sds_right_after_reboot_is_refused_while_the_radio_registers_with_the_network(
    emulator, clients
):
    terminal = emulator.terminals[0]
    client = await connect(emulator, clients)
    terminal.apply_fault(FaultRequest("reboot", 0.1))
    await client.wait_eof()
    again = await reconnect_tcp(terminal.tcp.url)
    clients.append(again)
    await again.until_ok()
    await again.ok(b"AT+CTSDS=12,0\r")
    assert (await again.command(text_sds(RESPONSIVE, "Hei", 1)))[-1] == CmeError(30)


async def test_status_after_radio_reboot_is_not_lost(emulator, clients):
    terminal = emulator.terminals[0]
    client = await connect(emulator, clients)
    terminal.apply_fault(FaultRequest("reboot", 0.2))
    await client.wait_eof()
    emulator.swmi.units[RESPONSIVE].send_status(0x8004)  # while the radio is off
    again = await reconnect_tcp(terminal.tcp.url)
    clients.append(again)
    await again.until_ok()
    for command in REGISTRATIONS:
        await again.ok(command)
    event = await again.wait_for(from_unit(RESPONSIVE, 13), timeout=5)
    assert event.hex == "8004"


async def test_sepura_reboots_on_atz(start_emulator, clients):
    emulator = await start_emulator(vendor="sepura")
    terminal = emulator.terminals[0]
    client = await connect(emulator, clients)
    before = len(client.received)
    client.send(b"ATZ\r")
    await client.wait_eof()
    assert not any(isinstance(e, Ok) for e in client.received[before:])  # no answer: it reboots
    again = await reconnect_tcp(terminal.tcp.url)
    clients.append(again)
    assert (await again.command(b"AT\r"))[-1] == CmeError(35)
    assert terminal.counters["reboots"] == 1


async def test_atz_on_generic_radio_only_resets_echo(emulator, clients):
    client = await connect(emulator, clients)
    await client.ok(b"ATZ\r")
    assert await client.command(b"AT\r") == [CommandEcho("AT"), Ok()]
    assert emulator.terminals[0].counters["reboots"] == 0


async def test_disconnect_drops_tcp_but_keeps_registrations(emulator, clients):
    terminal = emulator.terminals[0]
    client = await connect(emulator, clients)
    terminal.apply_fault(FaultRequest("disconnect", 0.2))
    await client.wait_eof()
    again = await reconnect_tcp(terminal.tcp.url)
    clients.append(again)
    await again.ok(b"AT\r")
    assert "1,3,130" in terminal.as_dict()["registrations"]


async def test_disconnect_hangs_the_pty_line_for_its_duration(emulator, clients):
    terminal = emulator.terminals[0]
    client = await connect(emulator, clients, tcp=False)
    terminal.apply_fault(FaultRequest("disconnect", 0.3))
    client.send(b"AT+CTSP=1,3,131\r")  # lost on the dead line
    await asyncio.sleep(0.4)
    await client.ok(b"AT\r")
    assert "1,3,131" not in terminal.as_dict()["registrations"]


async def test_garbage_on_the_line_does_not_stop_the_radio(emulator, clients):
    terminal = emulator.terminals[0]
    client = await connect(emulator, clients)
    before = len(client.raw)
    terminal.apply_fault(FaultRequest("garbage", count=3))
    await client.command(b"AT\r")  # may be answered after noise; the parser resyncs at CR LF
    await client.ok(b"AT\r")
    assert len(client.raw) - before > 3 * 8
    assert terminal.counters["fault_garbage"] == 1


async def test_stall_holds_answers_until_it_ends(emulator, clients):
    terminal = emulator.terminals[0]
    client = await connect(emulator, clients)
    terminal.apply_fault(FaultRequest("stall", 0.4))
    client.send(b"AT+CSQ?\r")
    await asyncio.sleep(0.1)
    assert terminal.as_dict()["stalled"] is True
    assert not any(e.__class__.__name__ == "SignalQuality" for e in client.received)
    await client.wait_for(lambda e: e.__class__.__name__ == "SignalQuality", timeout=3)
    assert terminal.stalled() is False


async def test_dropped_delivery_report_never_reaches_the_gateway(emulator, clients):
    terminal = emulator.terminals[0]
    client = await connect(emulator, clients)
    terminal.apply_fault(FaultRequest("drop_reports", count=1))
    await client.ok(text_sds(RESPONSIVE, "Hei", 1))
    await client.wait_for(from_unit(RESPONSIVE, 13))  # the unit answers: its report was lost
    assert not any(from_unit(RESPONSIVE, 12)(e) for e in client.received)
    assert terminal.counters["reports_dropped"] == 1


async def test_duplicated_indication_arrives_twice(emulator, clients):
    terminal = emulator.terminals[0]
    client = await connect(emulator, clients)
    terminal.apply_fault(FaultRequest("duplicate", count=1))
    emulator.swmi.units[RESPONSIVE].send_status(0x8009)
    first = await client.wait_for(from_unit(RESPONSIVE, 13))
    second = await client.wait_for(from_unit(RESPONSIVE, 13))
    assert first == second
    assert first.hex == "8009"


async def test_congestion_answers_a_temporary_failure_and_does_not_deliver(emulator, clients):
    terminal = emulator.terminals[0]
    client = await connect(emulator, clients)
    terminal.apply_fault(FaultRequest("congestion", count=1))
    await client.ok(text_sds(RESPONSIVE, "Hei", 4))
    report = await client.wait_for(from_unit(RESPONSIVE, 12))
    assert decode_sds(12, report.payload) == SdsReport(0x82, False, False, 0x20, 4)
    await client.ok(text_sds(RESPONSIVE, "Hei", 5))  # the retry goes through
    report = await client.wait_for(from_unit(RESPONSIVE, 12))
    assert decode_sds(12, report.payload) == SdsReport(0x82, False, False, 0x00, 5)
    assert [e["text"] for e in emulator.swmi.units[RESPONSIVE].inbox if e["kind"] == "text"] == [
        "Hei"
    ]


async def test_radio_out_of_coverage_refuses_sds_with_30(emulator, clients):
    terminal = emulator.terminals[0]
    client = await connect(emulator, clients)
    terminal.apply_fault(FaultRequest("coverage", 0.5))
    assert (await client.command(text_sds(RESPONSIVE, "Hei", 1)))[-1] == CmeError(30)
    signal, _ = await client.ok(b"AT+CSQ?\r")
    assert signal.rssi == 99


async def test_transmitting_fault_makes_motorola_refuse_sds(start_emulator, clients):
    emulator = await start_emulator(vendor="motorola")
    client = await connect(emulator, clients)
    emulator.terminals[0].apply_fault(FaultRequest("transmitting", 0.5))
    assert (await client.command(text_sds(RESPONSIVE, "Hei", 1)))[-1] == CmeError(41)


async def test_unit_leaving_coverage_makes_delivery_fail_and_holds_its_statuses(emulator, clients):
    client = await connect(emulator, clients)
    unit = emulator.swmi.units[RESPONSIVE]
    unit.set_coverage(False)
    await client.ok(text_sds(RESPONSIVE, "Hei", 8))
    report = await client.wait_for(from_unit(RESPONSIVE, 12), timeout=5)
    assert decode_sds(12, report.payload).delivery_status == 0x5A
    unit.send_status(0x8006)
    await asyncio.sleep(0.1)
    assert not any(from_unit(RESPONSIVE, 13)(e) for e in client.received)
    unit.set_coverage(True)
    event = await client.wait_for(from_unit(RESPONSIVE, 13))
    assert event.hex == "8006"


def test_random_faults_follow_the_seed():
    names, units = ["gw1", "gw2"], [2040101, 2040102]
    first, second = RandomFaults(60.0, seed=3), RandomFaults(60.0, seed=3)
    draws = [(first.next_delay(), first.draw(names, units)) for _ in range(20)]
    assert draws == [(second.next_delay(), second.draw(names, units)) for _ in range(20)]
    assert len({draw[1][2].kind for draw in draws}) > 3


async def test_random_faults_are_injected_while_running(start_emulator):
    emulator = await start_emulator(random_faults_per_min=1200.0)
    for _ in range(100):
        if len(emulator.fault_log) >= 3:
            break
        await asyncio.sleep(0.05)
    assert len(emulator.fault_log) >= 3
    applied = sum(
        count
        for terminal in emulator.terminals
        for name, count in terminal.counters.items()
        if name.startswith("fault_")
    )
    radio_faults = [f for f in emulator.fault_log if f["target"] == "gw1"]
    assert applied == len(radio_faults)


async def test_pty_comes_back_on_a_new_path_and_rewrites_the_ready_file_if_the_old_one_is_held(
    monkeypatch, tmp_path, clients
):
    import json

    from hardware.emulator import endpoints
    from hardware.emulator.app import Emulator
    from tests.hardware.emulator.conftest import make_scenario

    monkeypatch.setattr(endpoints, "PTY_REUSE_WAIT_S", 0.2)
    ready = tmp_path / "ready.json"
    async with Emulator(make_scenario(), ready_file=ready) as emulator:
        terminal = emulator.terminals[0]
        old = terminal.pty.path
        client = await PeiClient.over_pty(old)
        clients.append(client)  # never closed during the reboot: the index stays taken
        terminal.apply_fault(FaultRequest("reboot", 0.1))
        await client.wait_eof()
        for _ in range(100):
            if terminal.state == "on":
                break
            await asyncio.sleep(0.05)
        assert terminal.pty.path != old
        assert json.loads(ready.read_text())["radios"][0]["device"] == terminal.pty.path
        again = await PeiClient.over_pty(terminal.pty.path)
        clients.append(again)
        await again.ok(b"AT\r")
