"""The terminal driver against an in-memory radio built from the production codec."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from hardware.delivery import ReportLevel
from hardware.link import pushed
from hardware.radio_events import (
    DeliveryReported,
    EmergencyReceived,
    LinkDown,
    LinkUp,
    LocationReceived,
    RadioEvent,
    StatusReceived,
    TextReceived,
)
from hardware.terminal import Terminal, TerminalConfig
from hardware.vendors import GENERIC, MOTOROLA, SEPURA, VendorProfile
from protocols.pei.events import PeiEvent
from protocols.sds.lip import LipShortReport
from protocols.sds.text import build_text_transfers
from tests.hardware.fake_radio import FakeRadio

UNIT = 2040101


def fast_config(vendor: VendorProfile = GENERIC, **overrides: float) -> TerminalConfig:
    values: dict[str, float] = {
        "command_timeout": 0.5,
        "sync_timeout": 0.2,
        "keepalive_interval": 0.2,
        "send_deadline": 3.0,
        "busy_retry_delay": 0.05,
        "reconnect_initial": 0.01,
        "reconnect_max": 0.05,
    }
    values.update(overrides)
    return TerminalConfig(name="gw1", url="fake://", vendor=vendor, **values)  # type: ignore[arg-type]


@pytest.fixture
async def radio() -> AsyncIterator[FakeRadio]:
    fake = FakeRadio()
    yield fake
    await fake.close()


async def started(radio: FakeRadio, config: TerminalConfig | None = None) -> Terminal:
    terminal = Terminal(config or fast_config(), connect=radio.connect)
    await terminal.start()
    assert await terminal.wait_ready(5)
    return terminal


async def queued(terminal: Terminal, count: int) -> None:
    """Wait (up to ~0.5 s) until ``count`` commands are in flight or queued at ``terminal``."""
    for _ in range(500):
        if len(terminal._commands) == count:
            return
        await asyncio.sleep(0.001)
    assert len(terminal._commands) == count


async def next_event(stream: AsyncIterator[RadioEvent], kind: type[RadioEvent]) -> RadioEvent:
    async with asyncio.timeout(5):
        async for event in stream:
            if isinstance(event, kind):
                return event
    raise AssertionError("stream ended")


@pytest.mark.parametrize(
    ("vendor", "status_registration"),
    [(MOTOROLA, ("2", "2", "20")), (SEPURA, ("1", "2", "20")), (GENERIC, ("1", "2", "20"))],
)
async def test_init_registers_every_service_of_the_vendor_profile(
    radio: FakeRadio, vendor: VendorProfile, status_registration: tuple[str, ...]
) -> None:
    terminal = await started(radio, fast_config(vendor))
    try:
        assert status_registration in radio.registrations
        assert {("3", "3", "130"), ("3", "3", "10"), ("1", "1", "11")} <= radio.registrations
        assert "Z" not in radio.commands  # ATZ reboots Sepura radios
        assert radio.commands[:3] == ["", "E0", "+CTOM"]
        assert "+CNUMF?" in radio.commands
        assert "+CSQ?" in radio.commands
        assert terminal.issi == radio.issi
    finally:
        await terminal.stop()


async def test_stale_syntax_errors_at_start_are_cleared_by_repeating_at(radio: FakeRadio) -> None:
    radio.stale_errors = 3
    terminal = await started(radio)
    try:
        assert radio.commands[:4] == ["", "", "", ""]
        assert terminal.healthy
    finally:
        await terminal.stop()


async def test_text_resolves_delivered_on_full_sds_report(radio: FakeRadio) -> None:
    terminal = await started(radio)
    try:
        outcome = await terminal.send_text(UNIT, "Hei")
        assert outcome.kind == "delivered"
        assert outcome.radio == "gw1"
        assert radio.sent[0].called_issi == UNIT
    finally:
        await terminal.stop()


async def test_text_resolves_delivered_on_short_report(radio: FakeRadio) -> None:
    radio.unit_answer = "short"
    terminal = await started(radio)
    try:
        assert (await terminal.send_text(UNIT, "Hei")).kind == "delivered"
    finally:
        await terminal.stop()


async def test_read_after_delivered_is_announced_as_a_later_event(radio: FakeRadio) -> None:
    radio.unit_answer = "both"
    terminal = await started(radio)
    stream = terminal.events()
    try:
        outcome = await terminal.send_text(UNIT, "Hei", reports=ReportLevel.READ, send_id="s-1")
        assert outcome.kind == "delivered"
        # The network's "sent" (+CMGS outcome) came first, while send_text still waited.
        sent = await next_event(stream, DeliveryReported)
        assert isinstance(sent, DeliveryReported)
        assert (sent.stage, sent.send_id, sent.message_references) == ("sent", "s-1", (1,))
        event = await next_event(stream, DeliveryReported)
        assert isinstance(event, DeliveryReported)
        assert (event.stage, event.send_id, event.destination_issi) == ("read", "s-1", UNIT)
        assert terminal.outstanding == 0
    finally:
        await terminal.stop()


async def test_send_can_wait_for_read(radio: FakeRadio) -> None:
    radio.unit_answer = "both"
    terminal = await started(radio)
    try:
        outcome = await terminal.send_text(
            UNIT, "Hei", reports=ReportLevel.READ, wait_for=ReportLevel.READ
        )
        assert outcome.kind == "read"
    finally:
        await terminal.stop()


async def test_failure_report_fails_the_send_permanently(radio: FakeRadio) -> None:
    radio.unit_answer = "fail"
    terminal = await started(radio)
    try:
        outcome = await terminal.send_text(UNIT, "Hei")
        assert (outcome.kind, outcome.reason, outcome.temporary) == (
            "failed",
            "delivery_status_0x4A",
            False,
        )
    finally:
        await terminal.stop()


async def test_congestion_report_fails_the_send_as_temporary(radio: FakeRadio) -> None:
    radio.unit_answer = "congestion"
    terminal = await started(radio)
    try:
        outcome = await terminal.send_text(UNIT, "Hei")
        assert (outcome.kind, outcome.temporary, outcome.radio_fault) == ("failed", True, False)
    finally:
        await terminal.stop()


async def test_network_send_failure_status_5_fails_the_send(radio: FakeRadio) -> None:
    radio.send_outcome_status = 5
    terminal = await started(radio)
    try:
        outcome = await terminal.send_text(UNIT, "Hei")
        assert outcome.kind == "failed"
        assert outcome.reason == "network_failed_to_send"
    finally:
        await terminal.stop()


async def test_dropped_report_times_out_and_frees_its_reference(radio: FakeRadio) -> None:
    radio.unit_answer = "none"
    terminal = await started(radio)
    try:
        loop = asyncio.get_running_loop()
        outcome = await terminal.send_text(UNIT, "Hei", loop.time() + 0.3)
        assert outcome.kind == "timeout"
        assert terminal.outstanding == 0
        assert len(terminal._commands) == 0
        assert not terminal._allocator.in_flight
    finally:
        await terminal.stop()


async def test_concatenated_text_resolves_when_every_part_is_confirmed(radio: FakeRadio) -> None:
    text = "Hjertestans, Storgata 12, 3. etasje. " * 8
    assert len(build_text_transfers(text, range(1, 50))) > 1
    terminal = await started(radio)
    try:
        outcome = await terminal.send_text(UNIT, text)
        assert outcome.kind == "delivered"
        assert len(outcome.message_references) == len(radio.sent) > 1
        assert len(set(outcome.message_references)) == len(outcome.message_references)
    finally:
        await terminal.stop()


async def test_status_send_resolves_sent_when_the_network_reports_it(radio: FakeRadio) -> None:
    terminal = await started(radio)
    try:
        outcome = await terminal.send_status(UNIT, 0x8004)
        assert outcome.kind == "sent"
        assert radio.sent[-1].payload == b"\x80\x04"
        assert "+CTSDS" in radio.commands
    finally:
        await terminal.stop()


async def test_busy_radio_refusal_is_retried_until_it_takes_the_sds(radio: FakeRadio) -> None:
    radio.busy_errors = 2  # Motorola: +CME ERROR: 41 while transmitting voice
    terminal = await started(radio)
    try:
        assert (await terminal.send_text(UNIT, "Hei")).kind == "delivered"
        assert len(radio.sent) == 3
    finally:
        await terminal.stop()


async def test_out_of_service_fails_as_a_radio_fault(radio: FakeRadio) -> None:
    radio.sds_error = 30
    terminal = await started(radio)
    try:
        outcome = await terminal.send_text(UNIT, "Hei")
        assert (outcome.kind, outcome.reason, outcome.radio_fault) == ("failed", "cme_30", True)
    finally:
        await terminal.stop()


async def test_unit_messages_become_typed_events(radio: FakeRadio) -> None:
    terminal = await started(radio)
    stream = terminal.events()
    try:
        radio.unit_sends(13, UNIT, b"\x80\x04")
        status = await next_event(stream, StatusReceived)
        assert isinstance(status, StatusReceived)
        assert (status.source_issi, status.value) == (UNIT, 0x8004)

        radio.unit_sends(13, UNIT, b"\x00\x00")
        assert isinstance(await next_event(stream, EmergencyReceived), EmergencyReceived)

        for transfer in build_text_transfers("Framme om 5 min. " * 10, range(1, 20)):
            radio.unit_sends(12, UNIT, transfer.encode())
        text = await next_event(stream, TextReceived)
        assert isinstance(text, TextReceived)
        assert text.text == "Framme om 5 min. " * 10
        assert "Framme" not in repr(text)

        radio.unit_sends(12, UNIT, LipShortReport.from_position(59.91, 10.75).encode())
        location = await next_event(stream, LocationReceived)
        assert isinstance(location, LocationReceived)
        assert location.lat == pytest.approx(59.91, abs=1e-4)
        assert location.lon == pytest.approx(10.75, abs=1e-4)
    finally:
        await terminal.stop()


async def test_status_arriving_while_a_command_waits_is_not_lost(radio: FakeRadio) -> None:
    radio.report_delay = 0.1
    terminal = await started(radio)
    stream = terminal.events()
    try:
        send = asyncio.create_task(terminal.send_text(UNIT, "Hei"))
        radio.unit_sends(13, UNIT, b"\x80\x05")
        status = await next_event(stream, StatusReceived)
        assert isinstance(status, StatusReceived)
        assert status.value == 0x8005
        assert (await send).kind == "delivered"
    finally:
        await terminal.stop()


async def test_reboot_mid_send_reinitialises_and_fails_the_send_as_radio_fault(
    radio: FakeRadio,
) -> None:
    radio.unit_answer = "none"
    terminal = await started(radio)
    stream = terminal.events()
    try:
        send = asyncio.create_task(terminal.send_text(UNIT, "Hei"))
        await asyncio.sleep(0.1)
        radio.reboot()
        outcome = await send
        assert (outcome.kind, outcome.radio_fault) == ("failed", True)
        down = await next_event(stream, LinkDown)
        assert isinstance(down, LinkDown)
        assert down.reason == "radio_reboot"
        await next_event(stream, LinkUp)
        assert ("1", "2", "20") in radio.registrations  # registered again after the reboot
        radio.unit_answer = "received"
        assert (await terminal.send_text(UNIT, "Hei")).kind == "delivered"
    finally:
        await terminal.stop()


async def test_dropped_line_is_reopened_and_the_radio_reinitialised(radio: FakeRadio) -> None:
    terminal = await started(radio)
    stream = terminal.events()
    try:
        radio.drop_line()
        down = await next_event(stream, LinkDown)
        assert isinstance(down, LinkDown)
        assert down.reason == "link_closed"
        await next_event(stream, LinkUp)
        assert radio.connects == 2
        assert (await terminal.send_text(UNIT, "Hei")).kind == "delivered"
    finally:
        await terminal.stop()


async def test_stalled_radio_is_declared_down_and_reopened(radio: FakeRadio) -> None:
    terminal = await started(radio)
    stream = terminal.events()
    try:
        radio.stalled = True
        down = await next_event(stream, LinkDown)
        assert isinstance(down, LinkDown)
        assert down.reason == "not_answering"
        assert not terminal.healthy
        radio.stalled = False
        await next_event(stream, LinkUp)
        assert radio.connects >= 2
    finally:
        await terminal.stop()


async def test_garbage_on_the_line_is_survived(radio: FakeRadio) -> None:
    terminal = await started(radio)
    stream = terminal.events()
    try:
        radio.write(b"\x00\xff\xfe+CTSDSR: zz\r\nnot hex\r\n\x1b\x07+++\r\n")
        radio.unit_sends(13, UNIT, b"\x80\x06")
        status = await next_event(stream, StatusReceived)
        assert isinstance(status, StatusReceived)
        assert status.value == 0x8006
        assert (await terminal.send_text(UNIT, "Hei")).kind == "delivered"
    finally:
        await terminal.stop()


async def test_an_answer_is_handled_and_the_next_command_written_in_the_read_callback(
    radio: FakeRadio,
) -> None:
    terminal = await started(radio, fast_config(command_timeout=5.0))
    try:
        radio.hold = asyncio.Event()  # the radio reads the commands and answers none (yet)
        first = asyncio.create_task(terminal._command(b"AT\r"))
        second = asyncio.create_task(terminal._command(b"AT+CNUM?\r"))
        await queued(terminal, 2)
        assert terminal._writer is not None
        stream = pushed(terminal._writer)
        assert stream is not None
        answered = terminal._commands.in_flight
        assert answered is not None
        assert answered.line == b"AT\r"
        # As the transport's read callback would: within this call, with no other callback of
        # the event loop run in between, the answer is taken and the next command written.
        stream.data_received(b"\r\nOK\r\n")
        assert answered.done.done()
        in_flight = terminal._commands.in_flight
        assert in_flight is not None
        assert in_flight.line == b"AT+CNUM?\r"
        assert (await first).ok
        # The radio, still held, never answers: its late answers would be out of step.
        second.cancel()
    finally:
        await terminal.stop()


async def test_a_plain_stream_is_read_by_the_terminal_s_task(radio: FakeRadio) -> None:
    radio.plain_stream = True
    terminal = await started(radio)
    try:
        assert terminal._writer is not None
        assert pushed(terminal._writer) is None
        assert (await terminal.send_text(UNIT, "Hei")).kind == "delivered"
    finally:
        await terminal.stop()


@pytest.mark.parametrize("plain", [False, True], ids=["pushed", "plain"])
async def test_a_failure_handling_the_radio_s_bytes_costs_the_link_not_the_gateway(
    radio: FakeRadio, plain: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    radio.plain_stream = plain
    terminal = await started(radio)
    stream = terminal.events()
    failures = [RuntimeError("a bug in the handling of one line")]
    dispatch = terminal._dispatch

    def failing_once(event: PeiEvent) -> None:
        if failures:
            raise failures.pop()
        dispatch(event)

    try:
        monkeypatch.setattr(terminal, "_dispatch", failing_once)
        radio.unit_sends(13, UNIT, b"\x80\x06")
        down = await next_event(stream, LinkDown)
        assert isinstance(down, LinkDown)
        assert down.reason == "reader_failed"
        await next_event(stream, LinkUp)
        assert radio.connects == 2
        assert (await terminal.send_text(UNIT, "Hei")).kind == "delivered"
    finally:
        await terminal.stop()


async def test_send_before_the_radio_is_up_waits_for_it(radio: FakeRadio) -> None:
    terminal = Terminal(fast_config(), connect=radio.connect)
    send = asyncio.create_task(terminal.send_text(UNIT, "Hei"))
    await asyncio.sleep(0.05)
    await terminal.start()
    try:
        assert (await send).kind == "delivered"
    finally:
        await terminal.stop()


async def test_concurrent_texts_and_statuses_keep_each_sds_with_its_service(
    radio: FakeRadio,
) -> None:
    """Texts for the selected service queue without the lock; a status switches the service
    in between. A text sent under the status service would be decoded as a status and never
    be reported delivered."""
    terminal = await started(radio)
    try:
        sends = [
            terminal.send_text(UNIT + n, f"Melding {n}") if n % 3 else terminal.send_status(UNIT, n)
            for n in range(9)
        ]
        outcomes = await asyncio.gather(*sends)
        kinds = [o.kind for o in outcomes]
        assert kinds == ["sent" if n % 3 == 0 else "delivered" for n in range(9)]
        assert len(radio.sent) == 9
        assert radio.commands.count("+CTSDS") >= 3
    finally:
        await terminal.stop()


async def test_a_send_given_up_while_its_command_waits_is_never_written(
    radio: FakeRadio,
) -> None:
    terminal = await started(radio, fast_config(command_timeout=5.0))
    try:
        assert (await terminal.send_status(UNIT, 0x8002)).kind == "sent"  # service selected
        radio.hold = asyncio.Event()
        first = asyncio.create_task(terminal.send_status(UNIT, 0x8003))
        given_up = asyncio.create_task(terminal.send_status(UNIT, 0x8004))
        await queued(terminal, 2)  # both behind the held answer, without a lock
        given_up.cancel()
        radio.hold.set()
        assert (await first).kind == "sent"
        with pytest.raises(asyncio.CancelledError):
            await given_up
        await terminal.send_status(UNIT, 0x8005)  # the line moved on past the dropped one
        assert [c.payload for c in radio.sent] == [b"\x80\x02", b"\x80\x03", b"\x80\x05"]
    finally:
        await terminal.stop()


async def test_an_urgent_text_is_written_before_the_routine_ones_waiting_for_the_radio(
    radio: FakeRadio,
) -> None:
    terminal = await started(radio, fast_config(command_timeout=5.0))
    try:
        assert (await terminal.send_text(UNIT, "Klar")).kind == "delivered"  # service selected
        radio.hold = asyncio.Event()
        routine = [
            asyncio.create_task(terminal.send_text(UNIT + n, f"Rutine {n}")) for n in range(1, 4)
        ]
        await queued(terminal, 3)  # one in flight (held), two waiting
        urgent = asyncio.create_task(terminal.send_text(UNIT + 9, "Hjertestans", urgent=True))
        await queued(terminal, 4)
        radio.hold.set()
        outcomes = await asyncio.gather(urgent, *routine)
        assert [o.kind for o in outcomes] == ["delivered"] * 4
        # The first routine send was on the line already; the urgent one came next.
        assert [c.called_issi for c in radio.sent[1:]] == [UNIT + 1, UNIT + 9, UNIT + 2, UNIT + 3]
    finally:
        await terminal.stop()


async def test_senders_waiting_for_the_service_to_be_selected_keep_their_order_and_urgency(
    radio: FakeRadio,
) -> None:
    terminal = await started(radio, fast_config(command_timeout=5.0))
    try:
        assert (await terminal.send_status(UNIT, 0x8002)).kind == "sent"  # status selected
        radio.hold = asyncio.Event()
        texts = [
            asyncio.create_task(terminal.send_text(UNIT + n, f"Rutine {n}")) for n in (1, 2, 3)
        ]
        texts.append(asyncio.create_task(terminal.send_text(UNIT + 9, "Akutt", urgent=True)))
        await asyncio.sleep(0.05)  # the first selects the text service; the others wait for it
        # Let the selection through, but hold the first text's answer.
        selection, radio.hold = radio.hold, asyncio.Event()
        selection.set()
        await queued(terminal, 4)  # the first text in flight, the three others behind it
        radio.hold.set()
        assert [o.kind for o in await asyncio.gather(*texts)] == ["delivered"] * 4
        assert [c.called_issi for c in radio.sent[1:]] == [UNIT + 1, UNIT + 9, UNIT + 2, UNIT + 3]
    finally:
        await terminal.stop()
