"""Message references and delivery tracking for the SDS one terminal sends.

A message reference (SDS-TL, PEI reference §5) is 8 bits; the unit's SDS-REPORT or short
report names it, so a reference must never be reused while a send that carries it is still
waiting for its report. ``ReferenceAllocator`` hands out 1–255 round-robin, skipping the ones
in flight, and makes a sender wait when all 255 are taken.

``DeliveryTracker`` maps what the radio and the units report back (``+CMGS`` outcomes, SDS-REPORT,
short reports) onto the pending sends and resolves each to a ``SendOutcome``. A send of several
parts (a concatenated text) resolves only when every part is confirmed, and fails as soon as
one part fails. A send that asked for both reports resolves at ``delivered``; the later
``read`` is announced through the ``on_stage`` callback so that the caller can publish
``delivered`` at once and ``read`` when it comes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal

from protocols.sds.tl import delivery_class

__all__ = [
    "DeliveryTracker",
    "PendingSend",
    "ReferenceAllocator",
    "ReportLevel",
    "SendOutcome",
]

OutcomeKind = Literal["sent", "delivered", "read", "failed", "timeout"]


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """How a send ended, as far as this gateway can know.

    ``sent``: the network took it and no end-to-end report exists (status messages, or a text
    sent without a report request). ``delivered``: the unit received it. ``read``: the unit's
    user consumed it. ``failed``: ``reason`` says why; ``temporary`` marks a retryable failure
    (congestion, stored, radio busy); ``radio_fault`` marks a failure of our own radio or link,
    which another radio may not have. ``timeout``: no answer before the deadline.
    """

    kind: OutcomeKind
    reason: str | None = None
    temporary: bool = False
    radio_fault: bool = False
    radio: str | None = None
    message_references: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        """True for ``sent``, ``delivered`` and ``read``."""
        return self.kind in ("sent", "delivered", "read")

    @classmethod
    def failed(
        cls, reason: str, *, temporary: bool = False, radio_fault: bool = False
    ) -> SendOutcome:
        return cls("failed", reason, temporary=temporary, radio_fault=radio_fault)


class ReportLevel(IntEnum):
    """What a send waits for; ordered so that a later stage satisfies an earlier one."""

    SENT = 0
    DELIVERED = 1
    READ = 2


class ReferenceAllocator:
    """SDS-TL message references 1–255, never two in flight with the same value.

    Allocation is round-robin from the last one handed out, so a reference freed early is
    not reused at once (a late report for it would otherwise hit the new send). While an
    urgent sender waits for references, no other sender takes one: the next freed go to it.
    """

    def __init__(self, first: int = 1, last: int = 255) -> None:
        self._first = first
        self._last = last
        self._next = first
        self._in_flight: set[int] = set()
        self._changed = asyncio.Condition()
        self._wakers: set[asyncio.Task[None]] = set()
        self._urgent_waiting = 0

    @property
    def capacity(self) -> int:
        return self._last - self._first + 1

    @property
    def in_flight(self) -> frozenset[int]:
        return frozenset(self._in_flight)

    def try_acquire(self, count: int = 1, *, urgent: bool = False) -> tuple[int, ...] | None:
        """``count`` free references, or ``None`` when fewer are free now (or, unless
        ``urgent``, while an urgent sender waits for references)."""
        if count > self.capacity:
            raise ValueError(f"{count} references requested, only {self.capacity} exist")
        if self.capacity - len(self._in_flight) < count or (self._urgent_waiting and not urgent):
            return None
        refs: list[int] = []
        while len(refs) < count:
            ref = self._next
            self._next = self._first if ref >= self._last else ref + 1
            if ref not in self._in_flight:
                self._in_flight.add(ref)
                refs.append(ref)
        return tuple(refs)

    async def acquire(self, count: int = 1, *, urgent: bool = False) -> tuple[int, ...]:
        """``count`` references, waiting while too many are in flight; an ``urgent`` sender
        is served before every other that waits."""
        async with self._changed:
            self._urgent_waiting += urgent
            try:
                while (refs := self.try_acquire(count, urgent=urgent)) is None:
                    await self._changed.wait()
            finally:
                if urgent:
                    self._urgent_waiting -= 1
                    if not self._urgent_waiting:
                        self._changed.notify_all()  # the others may take what is left
            return refs

    def release(self, refs: Iterable[int]) -> None:
        """Give references back (unknown ones are ignored) and wake waiting senders."""
        self._in_flight.difference_update(refs)
        # Waking must not block the caller (it runs in finally blocks and callbacks).
        if self._wakers:
            return  # a wake-up is already on its way
        task = asyncio.get_running_loop().create_task(self._notify())
        self._wakers.add(task)
        task.add_done_callback(self._wakers.discard)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()


PartStage = Literal["pending", "sent", "delivered", "read", "failed"]
_STAGE_RANK: dict[str, int] = {"pending": 0, "sent": 1, "delivered": 2, "read": 3}


@dataclass(slots=True, eq=False)
class PendingSend:
    """One send waiting for its reports; lives in the tracker until ``finish``."""

    destination: int
    references: tuple[int, ...]
    wanted: ReportLevel
    reports_requested: ReportLevel
    send_id: str | None
    outcome: asyncio.Future[SendOutcome]
    stages: dict[int, PartStage] = field(default_factory=dict)
    lingering: asyncio.TimerHandle | None = None
    sent_announced: bool = False
    #: The radio's SDS instances of its parts (``+CMGS: <n>``), as bound so far.
    instances: list[int] = field(default_factory=list)

    def lowest_stage(self) -> int:
        return min(_STAGE_RANK[s] for s in self.stages.values() if s != "failed")


class DeliveryTracker:
    """Pending sends of one terminal, matched to reports by message reference.

    ``on_stage(pending, stage)`` is called when every part of a send has been taken by the
    network (``sent``, before any report: dispatch learns at once that the radio has it), and
    when a send that has already resolved reaches a later stage (``read`` after ``delivered``).
    """

    def __init__(
        self,
        allocator: ReferenceAllocator,
        *,
        on_stage: Callable[[PendingSend, Literal["sent", "delivered", "read", "failed"]], None],
        read_window: float = 600.0,
    ) -> None:
        self._allocator = allocator
        self._on_stage = on_stage
        self._read_window = read_window
        self._by_reference: dict[int, PendingSend] = {}
        # Every send in ``_by_reference``, once (a send of several parts has several refs).
        self._pending: dict[int, PendingSend] = {}
        # Delivered sends waiting for their read report, oldest first.
        self._lingering: dict[int, PendingSend] = {}
        self._by_instance: dict[int, tuple[PendingSend, int]] = {}

    @property
    def outstanding(self) -> int:
        """Sends registered and not finished (including ones lingering for ``read``)."""
        return len(self._pending)

    def register(
        self,
        destination: int,
        references: tuple[int, ...],
        *,
        wanted: ReportLevel,
        reports_requested: ReportLevel,
        send_id: str | None = None,
    ) -> PendingSend:
        """Start tracking a send; call this BEFORE the first byte of it is written."""
        pending = PendingSend(
            destination=destination,
            references=references,
            wanted=min(wanted, reports_requested),
            reports_requested=reports_requested,
            send_id=send_id,
            outcome=asyncio.get_running_loop().create_future(),
            stages=dict.fromkeys(references, "pending"),
        )
        for ref in references:
            self._by_reference[ref] = pending
        self._pending[id(pending)] = pending
        return pending

    def bind_instance(self, pending: PendingSend, reference: int, instance: int) -> None:
        """Remember the radio's SDS instance (``+CMGS: <n>``) of one part."""
        self._by_instance[instance] = (pending, reference)
        pending.instances.append(instance)

    def on_outcome(self, instance: int, sds_status: int, reference: int | None) -> None:
        """The radio's unsolicited ``+CMGS: <instance>,<status>[,<ref>]`` (PEI reference §3)."""
        found = self._by_instance.pop(instance, None)
        if found is None and reference is not None and reference in self._by_reference:
            found = (self._by_reference[reference], reference)
        if found is None:
            return
        pending, ref = found
        if sds_status == 5:
            self._fail(pending, "network_failed_to_send", temporary=True, radio_fault=False)
        elif sds_status == 4:
            self._advance(pending, ref, "sent")

    def on_report(self, source_issi: int, reference: int, delivery_status: int) -> None:
        """An SDS-REPORT from a unit (long form, PEI reference §5)."""
        pending = self._match(source_issi, reference)
        if pending is None:
            return
        klass = delivery_class(delivery_status)
        if klass == "success":
            # 0x02/0x03 consumed; 0x00/0x01 received, 0x04 forwarded, 0x05 sent to group.
            stage: PartStage = "read" if delivery_status in (0x02, 0x03) else "delivered"
            self._advance(pending, reference, stage)
        else:
            self._fail(
                pending,
                f"delivery_status_0x{delivery_status:02X}",
                temporary=klass == "temporary",
                radio_fault=False,
            )

    def on_short_report(self, source_issi: int, reference: int, report_type: int) -> None:
        """A short report (status 0x7C00–0x7FFF): 0 not supported, 1 memory full, 2, 3."""
        pending = self._match(source_issi, reference)
        if pending is None:
            return
        if report_type == 3:
            self._advance(pending, reference, "read")
        elif report_type == 2:
            self._advance(pending, reference, "delivered")
        elif report_type == 1:
            self._fail(pending, "unit_memory_full", temporary=True, radio_fault=False)
        else:
            self._fail(
                pending, "unit_does_not_support_protocol", temporary=False, radio_fault=False
            )

    def fail_part(
        self, pending: PendingSend, reason: str, *, temporary: bool, radio_fault: bool
    ) -> None:
        """The terminal could not hand a part to the radio (``+CME ERROR``, timeout)."""
        self._fail(pending, reason, temporary=temporary, radio_fault=radio_fault)

    def fail_all(self, reason: str) -> None:
        """The link is lost: every send not resolved yet fails, marked as a radio fault."""
        for pending in list(self._pending.values()):
            self._fail(pending, reason, temporary=True, radio_fault=True)

    def mark_sent(self, pending: PendingSend, reference: int) -> None:
        """The network took one part (for radios that never send the ``+CMGS`` outcome)."""
        self._advance(pending, reference, "sent")

    def finish(self, pending: PendingSend) -> None:
        """Stop tracking ``pending`` and free its references, unless it lingers for ``read``.

        Always called from the sender's ``finally``: no entry outlives its send, except a
        delivered send that asked for a read report, which stays (holding its references)
        until the read report or ``read_window`` seconds, whichever comes first.
        """
        outcome = pending.outcome
        waiting_for_read = (
            outcome.done()
            and not outcome.cancelled()
            and outcome.result().kind == "delivered"
            and pending.reports_requested == ReportLevel.READ
        )
        if waiting_for_read:
            stages = pending.stages.values()
            # The read (or a failure) may have been decoded before the sender woke up.
            if any(s == "failed" for s in stages):
                self._on_stage(pending, "failed")
            elif pending.lowest_stage() >= _STAGE_RANK["read"]:
                self._on_stage(pending, "read")
            elif pending.lingering is None:
                loop = asyncio.get_running_loop()
                pending.lingering = loop.call_later(self._read_window, self._drop, pending)
                self._lingering[id(pending)] = pending
                return
            else:
                return
        self._drop(pending)

    def evict_lingering(self, count: int) -> int:
        """Stop waiting for the read report of up to ``count`` delivered sends, oldest first.

        A new callout matters more than a read receipt: when every reference is taken, the
        ones held only for ``read`` are given back. Returns how many sends were evicted.
        """
        evicted = 0
        for pending in list(self._lingering.values())[:count]:
            self._drop(pending)
            evicted += 1
        return evicted

    def _drop(self, pending: PendingSend) -> None:
        self._lingering.pop(id(pending), None)
        if pending.lingering is not None:
            pending.lingering.cancel()
            pending.lingering = None
        for ref in pending.references:
            if self._by_reference.get(ref) is pending:
                del self._by_reference[ref]
        self._pending.pop(id(pending), None)
        for instance in pending.instances:
            bound = self._by_instance.get(instance)
            if bound is not None and bound[0] is pending:
                del self._by_instance[instance]
        if not pending.outcome.done():
            pending.outcome.cancel()
        self._allocator.release(pending.references)

    def _match(self, source_issi: int, reference: int) -> PendingSend | None:
        pending = self._by_reference.get(reference)
        # A report from another unit with a reference we also use is not ours.
        if pending is None or pending.destination != source_issi:
            return None
        return pending

    def _advance(self, pending: PendingSend, reference: int, stage: PartStage) -> None:
        current = pending.stages.get(reference)
        if current is None or current == "failed" or _STAGE_RANK[stage] <= _STAGE_RANK[current]:
            return
        pending.stages[reference] = stage
        if any(s == "failed" for s in pending.stages.values()):
            return
        reached = pending.lowest_stage()
        # Announced only where the network's "sent" comes before any report; a report that
        # comes first resolves the send, and the sender records both at once.
        if reached == _STAGE_RANK["sent"] and not pending.sent_announced:
            pending.sent_announced = True
            if pending.wanted > ReportLevel.SENT:
                self._on_stage(pending, "sent")
        if not pending.outcome.done():
            if reached >= pending.wanted + 1:  # ReportLevel n is stage rank n + 1
                kind: OutcomeKind = ("sent", "delivered", "read")[min(reached, 3) - 1]
                pending.outcome.set_result(self._outcome(pending, kind))
        elif reached >= _STAGE_RANK["read"] and pending.lingering is not None:
            # Resolved ``delivered`` earlier; now every part is read.
            self._on_stage(pending, "read")
            self._drop(pending)

    @staticmethod
    def _outcome(pending: PendingSend, kind: OutcomeKind) -> SendOutcome:
        return SendOutcome(kind, message_references=pending.references)

    def _fail(
        self, pending: PendingSend, reason: str, *, temporary: bool, radio_fault: bool
    ) -> None:
        for ref, stage in pending.stages.items():
            if stage != "read":
                pending.stages[ref] = "failed"
        if not pending.outcome.done():
            pending.outcome.set_result(
                SendOutcome(
                    "failed",
                    reason,
                    temporary=temporary,
                    radio_fault=radio_fault,
                    message_references=pending.references,
                )
            )
        elif pending.lingering is not None:
            self._on_stage(pending, "failed")
            self._drop(pending)
