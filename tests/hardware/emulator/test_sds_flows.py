"""Callouts, reports, statuses and positions across the virtual network."""

from __future__ import annotations

import asyncio

from hardware.emulator.status_table import callout_status_values, load_status_table
from protocols.pei.commands import send_sds
from protocols.pei.events import SdsOutcome, SdsReceived
from protocols.sds.lip import LipShortReport, decode_lip
from protocols.sds.message import StatusMessage, decode_sds
from protocols.sds.text import build_text_transfers
from protocols.sds.tl import DeliveryReportRequest, SdsReport, ShortReport, ShortReportType
from tests.hardware.emulator.conftest import (
    RESPONSIVE,
    SHORT_REPORTER,
    SILENT,
    SLOW,
    UNREACHABLE,
)
from tests.hardware.emulator.peiclient import PeiClient

SEQUENCE = callout_status_values(load_status_table())
REGISTRATIONS = (
    b"AT+CTSP=2,2,20\r",
    b"AT+CTSP=1,3,130\r",
    b"AT+CTSP=1,3,10\r",
    b"AT+CTSP=1,3,138\r",
)


async def connect(emulator, clients, *, tcp: bool = True, registrations=REGISTRATIONS, index=0):
    terminal = emulator.terminals[index]
    if tcp:
        client = await PeiClient.over_tcp(terminal.tcp.url)
    else:
        client = await PeiClient.over_pty(terminal.pty.path)
    clients.append(client)
    await client.until_ok()
    await client.ok(b"ATE0\r")
    for command in registrations:
        await client.ok(command)
    await client.ok(b"AT+CTSDS=12,0\r")
    return client


def text_sds(issi: int, text: str, reference: int, **kwargs) -> bytes:
    (transfer,) = build_text_transfers(text, [reference], **kwargs)
    return send_sds(issi, transfer.encode())


def from_unit(issi: int, ai_service: int | None = None):
    def match(event) -> bool:
        return (
            isinstance(event, SdsReceived)
            and event.calling_issi == issi
            and (ai_service is None or event.ai_service == ai_service)
        )

    return match


async def statuses(client, issi, count, timeout=5.0) -> list[int]:
    values = []
    for _ in range(count):
        event = await client.wait_for(from_unit(issi, 13), timeout)
        message = decode_sds(13, event.payload, event.length_bits)
        if isinstance(message, StatusMessage):
            values.append(message.value)
    return values


async def test_callout_to_responsive_unit_is_reported_then_answered_with_the_status_sequence(
    emulator, clients
):
    client = await connect(emulator, clients, tcp=False)
    instance, _ = await client.ok(text_sds(RESPONSIVE, "Hjertestans, Storgata 1", 17))
    outcome = await client.wait_for(lambda e: isinstance(e, SdsOutcome))
    assert outcome == SdsOutcome(instance.instance, 4, 17)
    report = await client.wait_for(from_unit(RESPONSIVE, 12))
    assert decode_sds(12, report.payload, report.length_bits) == SdsReport(
        0x82, False, False, 0, 17
    )
    assert await statuses(client, RESPONSIVE, 4) == list(SEQUENCE)
    positions = [
        decode_lip(e.payload, e.length_bits)
        for e in client.received
        if isinstance(e, SdsReceived) and e.payload[:1] == b"\x0a"
    ]
    assert len(positions) >= 2
    last = positions[-1]
    assert isinstance(last, LipShortReport)
    assert abs(last.latitude - 59.91) < 0.001
    assert abs(last.longitude - 10.75) < 0.001
    unit = emulator.swmi.units[RESPONSIVE]
    assert unit.state == "mission_ended"
    assert unit.inbox[0]["text"] == "Hjertestans, Storgata 1"


async def test_unit_answers_with_short_report_when_the_transfer_allows_it(emulator, clients):
    client = await connect(emulator, clients)
    await client.ok(
        text_sds(SHORT_REPORTER, "Trafikkulykke", 5, delivery_report=DeliveryReportRequest.BOTH)
    )
    received = await client.wait_for(from_unit(SHORT_REPORTER, 13))
    assert received.hex == "7E05"
    consumed = await client.wait_for(from_unit(SHORT_REPORTER, 13))
    assert ShortReport.from_status(int(consumed.hex, 16)) == ShortReport(
        ShortReportType.CONSUMED, 5
    )


async def test_short_reporting_unit_sends_a_full_report_when_short_form_is_not_allowed(
    emulator, clients
):
    client = await connect(emulator, clients)
    await client.ok(text_sds(SHORT_REPORTER, "Fall", 6, short_form_report=False))
    report = await client.wait_for(from_unit(SHORT_REPORTER, 12))
    assert report.hex == "82100006"


async def test_unreachable_unit_gets_a_failure_report_destination_not_reachable(emulator, clients):
    client = await connect(emulator, clients)
    await client.ok(text_sds(UNREACHABLE, "Brann", 9))
    outcome = await client.wait_for(lambda e: isinstance(e, SdsOutcome))
    assert outcome.sds_status == 4  # the radio did send it; the network cannot deliver
    report = await client.wait_for(from_unit(UNREACHABLE, 12))
    assert decode_sds(12, report.payload) == SdsReport(0x82, False, False, 0x5A, 9)
    assert emulator.swmi.units[UNREACHABLE].inbox == []


async def test_unreachable_unit_gets_no_report_at_all_when_the_network_is_set_to_none(
    start_emulator, clients
):
    emulator = await start_emulator(unreachable_report="none", unreachable_report_delay_s=0.05)
    client = await connect(emulator, clients)
    await client.ok(text_sds(UNREACHABLE, "Brann", 9))
    await client.ok(text_sds(RESPONSIVE, "Brann", 10))
    await client.wait_for(from_unit(RESPONSIVE, 12))  # a later message has been reported
    await asyncio.sleep(0.2)
    assert not any(from_unit(UNREACHABLE)(e) for e in client.received)


async def test_silent_unit_reports_delivery_but_never_sends_a_status(emulator, clients):
    client = await connect(emulator, clients)
    await client.ok(text_sds(SILENT, "Bevisstløs", 3))
    await client.ok(text_sds(RESPONSIVE, "Bevisstløs", 4))
    await client.wait_for(from_unit(SILENT, 12))
    await statuses(client, RESPONSIVE, 4)  # the responsive unit has finished its sequence
    assert not any(from_unit(SILENT, 13)(e) for e in client.received)
    assert emulator.swmi.units[SILENT].inbox[0]["text"] == "Bevisstløs"


async def test_slow_unit_answers_later_than_a_responsive_one(emulator, clients):
    client = await connect(emulator, clients)
    await client.ok(text_sds(SLOW, "Pustebesvær", 1))
    await client.ok(text_sds(RESPONSIVE, "Pustebesvær", 2))
    assert await statuses(client, SLOW, 4, timeout=10) == list(SEQUENCE)
    order = [
        e.calling_issi for e in client.received if isinstance(e, SdsReceived) and e.ai_service == 13
    ]
    assert order.index(RESPONSIVE) < order.index(SLOW)
    last_responsive = len(order) - 1 - order[::-1].index(RESPONSIVE)
    assert last_responsive < len(order) - 1  # the slow unit's mission_ended came after


async def test_statuses_are_not_routed_to_the_pei_without_registration(emulator, clients):
    client = await connect(emulator, clients, registrations=(b"AT+CTSP=1,3,130\r",))
    await client.ok(text_sds(RESPONSIVE, "Hei", 1))
    await client.wait_for(from_unit(RESPONSIVE, 12))  # reports go with the text registration
    for _ in range(100):
        if emulator.swmi.units[RESPONSIVE].state == "mission_ended":
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.1)
    assert not any(from_unit(RESPONSIVE, 13)(e) for e in client.received)
    assert emulator.terminals[0].counters["not_routed"] >= 4


async def test_concatenated_text_is_reassembled_and_every_part_reported(emulator, clients):
    client = await connect(emulator, clients)
    text = "Ulykke på E18 ved Sandvika, " * 8
    transfers = build_text_transfers(text, range(40, 60), concat_reference=7, max_payload_bits=400)
    assert len(transfers) > 1
    for transfer in transfers:
        await client.ok(send_sds(RESPONSIVE, transfer.encode()))
    for transfer in transfers:
        report = await client.wait_for(from_unit(RESPONSIVE, 12))
        assert decode_sds(12, report.payload) == SdsReport(
            0x8A, False, False, 0, transfer.message_reference
        )
    texts = [e for e in emulator.swmi.units[RESPONSIVE].inbox if e["kind"] == "text"]
    assert [e["text"] for e in texts] == [text]
    assert await statuses(client, RESPONSIVE, 1) == [SEQUENCE[0]]


async def test_sds_to_an_unknown_identity_fails(emulator, clients):
    client = await connect(emulator, clients)
    instance, _ = await client.ok(text_sds(1234567, "Hei", 2))
    outcome = await client.wait_for(lambda e: isinstance(e, SdsOutcome))
    assert outcome == SdsOutcome(instance.instance, 5, 2)


async def test_status_sent_to_a_unit_lands_in_its_inbox(emulator, clients):
    client = await connect(emulator, clients)
    await client.ok(b"AT+CTSDS=13,0\r")
    await client.ok(send_sds(RESPONSIVE, bytes.fromhex("8004")))
    await client.wait_for(lambda e: isinstance(e, SdsOutcome))
    for _ in range(50):
        inbox = emulator.swmi.units[RESPONSIVE].inbox
        if inbox:
            break
        await asyncio.sleep(0.01)
    assert inbox[0]["kind"] == "status"
    assert inbox[0]["value"] == 0x8004
    assert inbox[0]["from"] == emulator.terminals[0].issi


async def test_statuses_go_to_the_terminal_that_sent_the_callout(start_emulator, clients):
    emulator = await start_emulator(radios=2)
    first = await connect(emulator, clients, index=0)
    second = await connect(emulator, clients, index=1)
    await second.ok(text_sds(RESPONSIVE, "Til gw2", 1))
    assert await statuses(second, RESPONSIVE, 4) == list(SEQUENCE)
    assert not any(from_unit(RESPONSIVE)(e) for e in first.received)


async def test_lip_hex_digits_follow_the_vendor(start_emulator, clients):
    for vendor, digits in (("motorola", 22), ("sepura", 21), ("generic", 21)):
        emulator = await start_emulator(vendor=vendor)
        client = await connect(emulator, clients)
        emulator.swmi.units[RESPONSIVE].send_position(59.9, 10.7)
        event = await client.wait_for(from_unit(RESPONSIVE, 12))
        assert event.length_bits == 84
        assert len(event.hex) == digits, vendor
        report = decode_lip(event.payload, event.length_bits)
        assert abs(report.latitude - 59.9) < 0.0001
