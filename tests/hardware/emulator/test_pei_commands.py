"""The AT interface of a gateway terminal, driven over the real pty and over TCP."""

from __future__ import annotations

import asyncio

import pytest

from protocols.pei.events import (
    CmeError,
    CommandEcho,
    Error,
    InformationResponse,
    Ok,
    OperatingMode,
    OwnIdentity,
    SignalQuality,
)
from tests.hardware.emulator.conftest import RESPONSIVE
from tests.hardware.emulator.peiclient import PeiClient


async def test_typical_initialisation_over_the_pty_answers_like_a_radio(emulator, clients):
    terminal = emulator.terminals[0]
    client = await PeiClient.over_pty(terminal.pty.path)
    clients.append(client)
    assert await client.command(b"AT\r") == [CommandEcho("AT"), Ok()]  # echo on at power-up
    assert await client.command(b"ATE0\r") == [CommandEcho("ATE0"), Ok()]
    assert await client.command(b"AT\r") == [Ok()]
    await client.ok(b"AT+CSCS=8859-1\r")
    await client.ok(b"AT+CTOM=0\r")
    assert await client.command(b"AT+CTOM?\r") == [OperatingMode(0), Ok()]
    await client.ok(b"AT+CTSP=1,2,20\r")
    await client.ok(b"AT+CTSP=1,3,130\r")
    identity, _ = await client.ok(b"AT+CNUMF?\r")
    assert isinstance(identity, OwnIdentity)
    assert identity.issi == terminal.issi
    assert identity.tsi.startswith("242")
    signal, _ = await client.ok(b"AT+CSQ?\r")
    assert signal == SignalQuality(25, 99)
    assert signal.dbm == -63
    radio = terminal.as_dict()
    assert radio["registrations"] == ["1,2,20", "1,3,130"]
    assert radio["echo"] is False


async def test_commands_over_tcp_accept_lf_and_lowercase(emulator, clients):
    client = await PeiClient.over_tcp(emulator.terminals[0].tcp.url)
    clients.append(client)
    await client.ok(b"ate0\n")
    await client.ok(b"at+ctsds=12,0\r\n")
    selection, _ = await client.ok(b"AT+CTSDS?\r")
    assert selection == InformationResponse("+CTSDS", ("12", "0"))


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (b"AT+CFOO\r", 4),  # unknown command
        (b"ATX9\r", 4),
        (b"AT+CTSP=1,9,20\r", 34),  # layer 1 out of range
        (b"AT+CTSP=1,2,21\r", 34),  # status is 2,20 only
        (b"AT+CTSP=x,3\r", 35),  # not a number
        (b"AT+CTSDS=12\r", 35),  # missing identity type
        (b"AT+CTSDS=14,0\r", 34),  # no such AI service
        (b"AT+CTOM=9\r", 34),
        (b"AT+CSCS=KLINGON\r", 34),
        (b"AT+CTGS=1,4242\r", 34),  # a group the network does not know
        (b"AT+CMGS=2040101,16\r\n8001\x1a", 3),  # no AT+CTSDS selection yet
    ],
)
async def test_a_radio_refuses_what_it_cannot_do_with_cme_error(emulator, clients, command, code):
    client = await PeiClient.over_tcp(emulator.terminals[0].tcp.url)
    clients.append(client)
    await client.ok(b"ATE0\r")
    assert (await client.command(command))[-1] == CmeError(code)
    await client.ok(b"AT\r")  # and it goes on answering


async def test_a_line_that_is_not_a_command_gets_error(emulator, clients):
    client = await PeiClient.over_tcp(emulator.terminals[0].tcp.url)
    clients.append(client)
    await client.ok(b"ATE0\r")
    assert (await client.command(b"HELLO\r"))[-1] == Error()


@pytest.mark.parametrize(
    ("selection", "command", "code"),
    [
        (b"AT+CTSDS=13,0\r", b"AT+CMGS=2040101,24\r\n800100\x1a", 34),  # status is 16 bits
        (b"AT+CTSDS=12,0\r", b"AT+CMGS=2040101,64\r\n8204\x1a", 32),  # hex shorter than declared
        (b"AT+CTSDS=12,0\r", b"AT+CMGS=2040101,1192\r\n" + b"82" * 149 + b"\x1a", 34),  # too long
    ],
)
async def test_badly_sized_sds_is_refused(emulator, clients, selection, command, code):
    client = await PeiClient.over_tcp(emulator.terminals[0].tcp.url)
    clients.append(client)
    await client.ok(b"ATE0\r")
    await client.ok(selection)
    assert (await client.command(command))[-1] == CmeError(code)


async def test_motorola_answers_a_stale_syntax_error_to_the_first_command(start_emulator, clients):
    emulator = await start_emulator(vendor="motorola")
    client = await PeiClient.over_pty(emulator.terminals[0].pty.path)
    clients.append(client)
    assert (await client.command(b"AT\r"))[-1] == CmeError(35)
    assert (await client.command(b"AT\r"))[-1] == Ok()


async def test_motorola_takes_status_registration_in_profile_2_only(start_emulator, clients):
    emulator = await start_emulator(vendor="motorola")
    client = await PeiClient.over_tcp(emulator.terminals[0].tcp.url)
    clients.append(client)
    await client.until_ok()
    assert (await client.command(b"AT+CTSP=1,2,20\r"))[-1] == CmeError(34)
    await client.ok(b"AT+CTSP=2,2,20\r")
    await client.ok(b"AT+CTSP=1,3,130\r")
    await client.ok(b"AT+CTSP=1,3,130\r")  # a repeated registration is fine on Motorola


async def test_sepura_refuses_a_repeated_registration_with_38(start_emulator, clients):
    emulator = await start_emulator(vendor="sepura")
    client = await PeiClient.over_tcp(emulator.terminals[0].tcp.url)
    clients.append(client)
    await client.until_ok()
    await client.ok(b"AT+CTSP=1,2,20\r")  # any profile for status
    await client.ok(b"AT+CTSP=1,3,130\r")
    assert (await client.command(b"AT+CTSP=1,3,130\r"))[-1] == CmeError(38)


async def test_registration_table_full_is_refused_with_39(emulator, clients):
    client = await PeiClient.over_tcp(emulator.terminals[0].tcp.url)
    clients.append(client)
    limit = emulator.terminals[0].vendor.max_registrations
    for pid in range(limit):
        await client.ok(f"AT+CTSP=1,3,{200 + pid}\r".encode())
    assert (await client.command(b"AT+CTSP=1,3,130\r"))[-1] == CmeError(39)


async def test_motorola_refuses_sds_while_transmitting_in_a_group_call(start_emulator, clients):
    emulator = await start_emulator(vendor="motorola")
    client = await PeiClient.over_tcp(emulator.terminals[0].tcp.url)
    clients.append(client)
    await client.until_ok()
    await client.ok(b"AT+CTSDS=13,0\r")
    await client.ok(b"AT+CTSDC=0,0,0,1,1,0,1,1,0,0\r")
    await client.ok(b"ATD1001\r")
    assert (await client.command(b"AT+CMGS=2040101,16\r\n8001\x1a"))[-1] == CmeError(41)
    await client.ok(b"ATH\r")
    await client.ok(b"AT+CMGS=2040101,16\r\n8001\x1a")
    unit = emulator.swmi.units[RESPONSIVE]
    assert any(e["kind"] == "group_call" and e["group"] == 1001 for e in unit.inbox)


async def test_generic_radio_sends_sds_during_a_call(emulator, clients):
    client = await PeiClient.over_tcp(emulator.terminals[0].tcp.url)
    clients.append(client)
    await client.ok(b"AT+CTSDS=13,0\r")
    await client.ok(b"ATD1001\r")
    await client.ok(b"AT+CMGS=2040101,16\r\n8001\x1a")


async def test_group_selection_is_read_back(emulator, clients):
    client = await PeiClient.over_tcp(emulator.terminals[0].tcp.url)
    clients.append(client)
    await client.ok(b"ATE0\r")
    await client.ok(b"AT+CTGS=1,1001\r")
    events = await client.ok(b"AT+CTGS?\r")
    assert events[0].fields == ("1", "1001")


async def test_pty_and_tcp_reach_the_same_radio(emulator, clients):
    terminal = emulator.terminals[0]
    over_pty = await PeiClient.over_pty(terminal.pty.path)
    over_tcp = await PeiClient.over_tcp(terminal.tcp.url)
    clients.extend([over_pty, over_tcp])
    await over_pty.ok(b"AT+CTSP=1,3,130\r")
    await over_tcp.ok(b"ATE0\r")
    events = await over_tcp.ok(b"AT+CTSP?\r")
    assert InformationResponse("+CTSP", ("1", "3", "130")) in events


async def test_abort_with_esc_sends_nothing(emulator, clients):
    client = await PeiClient.over_tcp(emulator.terminals[0].tcp.url)
    clients.append(client)
    await client.ok(b"ATE0\r")
    await client.ok(b"AT+CTSDS=12,0\r")
    await client.command(b"AT+CMGS=2040101,56\r\n8204\x1b")
    await client.ok(b"AT\r")
    await asyncio.sleep(0.05)
    assert emulator.terminals[0].counters["sds_sent"] == 0


async def test_random_bytes_from_the_gateway_never_stop_the_radio(emulator, clients):
    import random

    rng = random.Random(5)
    client = await PeiClient.over_tcp(emulator.terminals[0].tcp.url)
    clients.append(client)
    for _ in range(20):
        client.send(bytes(rng.randrange(256) for _ in range(100)))
    client.send(b"\x1b\r\n")  # leave any half-typed AT+CMGS data block
    await client.until_ok(b"AT\r", attempts=10)
    assert emulator.terminals[0].powered
