"""Talk groups for incidents: one group per incident, from DGNA or a pre-provisioned pool.

PEI reference §8: DGNA is done by the network on a dispatcher's request, not over the PEI.
Where the network offers a DGNA API, ``DgnaBackend`` asks it to attach an incident group to
the units (each target acknowledges, rejects or times out). Where it does not,
``PoolBackend`` hands out one of a range of pre-provisioned groups; the units are told by SDS
which group to select (``instruction_text``, sent by the engine) and the gateway's radios
scan the group.

Both allocate from a GSSI range and never give one GSSI to two incidents. Their allocation
state is restorable after a restart: ``restore({incident_id: gssi})`` from the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import structlog

from hardware.link import read_ready_file

if TYPE_CHECKING:
    # Imported when the first request is made: aiohttp costs ~0.13 s of the gateway's start,
    # and a gateway without a DGNA service never needs it (docs/performance.md).
    import aiohttp

__all__ = [
    "DgnaBackend",
    "GroupScans",
    "GssiRange",
    "PoolBackend",
    "Reserve",
    "TalkgroupAssignment",
    "TalkgroupBackend",
    "TalkgroupError",
    "TalkgroupPoolExhausted",
    "TalkgroupUnavailable",
    "TargetState",
    "backend_from_url",
]

log = structlog.get_logger("tetragw.talkgroups")

TargetState = Literal[
    "queued", "acknowledged", "attached", "rejected", "timeout", "instructed", "removed"
]


class TalkgroupError(Exception):
    """The backend cannot do what was asked; the message says why."""


class TalkgroupUnavailable(TalkgroupError):  # noqa: N818 - a state, named as the domain says
    """The backend's service could not be asked (unreachable, timed out, an answer that is
    not one): nothing was refused. ``cause`` names the underlying error's type."""

    def __init__(self, message: str, cause: BaseException) -> None:
        super().__init__(message)
        self.cause = type(cause).__name__


class TalkgroupPoolExhausted(TalkgroupError):  # noqa: N818 - a state, named as the domain says
    """Every GSSI of the range is held by an incident."""


@dataclass(frozen=True, slots=True)
class TalkgroupAssignment:
    """An incident's group and the state of each unit in it.

    ``instruction_text`` is set by ``PoolBackend``: the text the engine sends (by SDS) to
    each unit so that its user selects the group. ``DgnaBackend`` leaves it ``None``.
    """

    incident_id: str
    gssi: int
    targets: Mapping[int, TargetState]
    instruction_text: str | None = None


#: Called with a GSSI before a backend asks the network for it, so that a crash between the
#: network's yes and the caller's record of it leaves a record of what may exist; False: do
#: not use this GSSI (another is tried).
Reserve = Callable[[int], Awaitable[bool]]


class TalkgroupBackend(Protocol):
    """What the engine needs from a talk-group provider. A service that refuses or cannot be
    asked raises ``TalkgroupError`` (``TalkgroupUnavailable`` for the latter), or a
    ``TimeoutError`` or ``OSError`` of the backend's own."""

    async def create(
        self, incident_id: str, targets: Sequence[int], *, reserve: Reserve | None = None
    ) -> TalkgroupAssignment:
        """A group for ``incident_id`` with ``targets`` in it (the same one if it has one).
        A backend that creates groups on the network calls ``reserve`` first."""
        ...

    async def modify(
        self, incident_id: str, *, add: Sequence[int] = (), remove: Sequence[int] = ()
    ) -> TalkgroupAssignment:
        """Add or remove units of the incident's group."""
        ...

    async def release(self, incident_id: str) -> None:
        """Give the incident's group back (idempotent)."""
        ...

    def restore(self, in_use: Mapping[str, int]) -> None:
        """After a restart: the groups the store says incidents hold."""
        ...


@dataclass(slots=True)
class GssiRange:
    """A range of incident GSSIs and who holds which; ``allocate`` never hands out a held one."""

    first: int
    last: int
    held: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 < self.first <= self.last < 2**24:
            raise ValueError(f"GSSI range {self.first}-{self.last} is not within 1..2^24-1")

    @classmethod
    def parse(cls, text: str) -> GssiRange:
        """``9001-9099`` → the range 9001..9099."""
        first, sep, last = text.partition("-")
        try:
            return cls(int(first), int(last if sep else first))
        except ValueError as exc:
            raise ValueError(f"bad GSSI range {text!r}: {exc}") from None

    def of(self, incident_id: str) -> int | None:
        return self.held.get(incident_id)

    def free(self, skip: Iterable[int] = ()) -> list[int]:
        taken = set(self.held.values()) | set(skip)
        return [g for g in range(self.first, self.last + 1) if g not in taken]

    def allocate(self, incident_id: str, skip: Iterable[int] = ()) -> int:
        """The incident's GSSI (a new one if it has none); ``TalkgroupPoolExhausted`` if none."""
        if incident_id in self.held:
            return self.held[incident_id]
        free = self.free(skip)
        if not free:
            raise TalkgroupPoolExhausted(
                f"all {self.last - self.first + 1} groups {self.first}-{self.last} are in use"
            )
        self.held[incident_id] = free[0]
        return free[0]

    def release(self, incident_id: str) -> int | None:
        return self.held.pop(incident_id, None)

    def restore(self, in_use: Mapping[str, int]) -> None:
        """Replace the held set; GSSIs outside the range are kept too (never reused)."""
        seen: dict[int, str] = {}
        for incident, gssi in in_use.items():
            if gssi in seen:
                raise ValueError(f"GSSI {gssi} held by {seen[gssi]} and {incident}")
            seen[gssi] = incident
        self.held = dict(in_use)


class GroupScans(Protocol):
    """The gateway's radios scanning incident groups (``RadioPool``)."""

    async def scan_group(self, gssi: int) -> object:
        """Scan ``gssi`` on every radio: now where it is up, and whenever it initialises."""
        ...

    def forget_group(self, gssi: int) -> None:
        """Stop scanning ``gssi`` from the radios' next initialisation on."""
        ...

    def keep_scanning(self, gssis: Iterable[int]) -> None:
        """After a restart: scan these (still held) whenever a radio initialises."""
        ...


class PoolBackend:
    """Pre-provisioned incident groups (``pool:9001-9099``).

    The network knows the groups already; units are told by SDS to select one, and the
    gateway's radios scan it (``scanner``, e.g. the ``RadioPool``) so that the gateway hears
    the incident's traffic: also after a radio reboots, which forgets its scans, and after the
    gateway restarts (``restore``).

    The scan runs in the background: ``create`` returns once the group is allocated. A
    callout's first SDS waits for ``create`` (its text names the group), and the scan is an
    ``AT+CTGS`` on every radio, each queued behind whatever that radio is sending; what the
    units need, the group's number, is known at once. A scan that fails is logged.
    """

    def __init__(
        self,
        gssis: GssiRange,
        *,
        scanner: GroupScans | None = None,
        instruction: str = "Velg talegruppe {gssi} / select talk group {gssi}",
    ) -> None:
        self.gssis = gssis
        self._scanner = scanner
        self._instruction = instruction
        self._members: dict[str, set[int]] = {}
        self._scans: set[asyncio.Task[None]] = set()

    async def create(
        self, incident_id: str, targets: Sequence[int], *, reserve: Reserve | None = None
    ) -> TalkgroupAssignment:
        # No ``reserve``: the pool's groups are provisioned; nothing is asked of the network.
        return self.create_now(incident_id, targets)

    def create_now(self, incident_id: str, targets: Sequence[int]) -> TalkgroupAssignment:
        """``create`` without a wait: the pool is bookkeeping (the scan runs in a task)."""
        gssi = self.gssis.allocate(incident_id)
        self._members.setdefault(incident_id, set()).update(targets)
        if self._scanner is not None:
            scan = asyncio.get_running_loop().create_task(self._scan(gssi), name=f"scan-{gssi}")
            self._scans.add(scan)
            scan.add_done_callback(self._scans.discard)
        return self._assignment(incident_id, gssi)

    async def _scan(self, gssi: int) -> None:
        assert self._scanner is not None
        try:
            await self._scanner.scan_group(gssi)
        except Exception as exc:  # a background task: logged here or nowhere
            # The group still works for the units; the gateway just does not hear it.
            log.warning("group_scan_failed", gssi=gssi, error=repr(exc))

    async def close(self) -> None:
        """Cancel the scans still running (the daemon calls this as it stops)."""
        scans = list(self._scans)
        for scan in scans:
            scan.cancel()
        await asyncio.gather(*scans, return_exceptions=True)

    async def modify(
        self, incident_id: str, *, add: Sequence[int] = (), remove: Sequence[int] = ()
    ) -> TalkgroupAssignment:
        return self.modify_now(incident_id, add=add, remove=remove)

    def modify_now(
        self, incident_id: str, *, add: Sequence[int] = (), remove: Sequence[int] = ()
    ) -> TalkgroupAssignment:
        """``modify`` without a wait."""
        gssi = self.gssis.of(incident_id)
        if gssi is None:
            raise TalkgroupError(f"incident {incident_id} holds no group")
        members = self._members.setdefault(incident_id, set())
        members.update(add)
        members.difference_update(remove)
        return self._assignment(incident_id, gssi)

    async def release(self, incident_id: str) -> None:
        gssi = self.gssis.release(incident_id)
        self._members.pop(incident_id, None)
        if gssi is not None and self._scanner is not None:
            self._scanner.forget_group(gssi)

    def restore(self, in_use: Mapping[str, int]) -> None:
        self.gssis.restore(in_use)
        if self._scanner is not None:
            self._scanner.keep_scanning(in_use.values())

    def instruction_text(self, gssi: int) -> str:
        """The text that tells a unit's user which group to select."""
        return self._instruction.format(gssi=gssi)

    def _assignment(self, incident_id: str, gssi: int) -> TalkgroupAssignment:
        members = self._members.get(incident_id, set())
        return TalkgroupAssignment(
            incident_id,
            gssi,
            dict.fromkeys(sorted(members), "instructed"),
            instruction_text=self.instruction_text(gssi),
        )


class DgnaBackend:
    """The network's DGNA service over HTTP (the emulator's ``/dgna/groups`` API).

    ``control_url`` is ``http(s)://...`` or ``emulator://READY_FILE``; the latter is read
    when the first request is made (the emulator may not have written it yet).

    ``create`` waits up to ``settle_timeout`` seconds for the targets to leave ``queued``
    (acknowledged, rejected or timeout) and returns the states it has by then.
    """

    def __init__(
        self,
        control_url: str,
        gssis: GssiRange,
        *,
        lifetime_s: float = 12 * 3600,
        settle_timeout: float = 15.0,
        poll_interval: float = 0.2,
        request_timeout: float = 10.0,
    ) -> None:
        self.control_url = control_url
        self.gssis = gssis
        self.lifetime_s = lifetime_s
        self.settle_timeout = settle_timeout
        self.poll_interval = poll_interval
        self.request_timeout = request_timeout
        self._session: aiohttp.ClientSession | None = None

    def _base_url(self) -> str:
        url = self.control_url
        if url.startswith("emulator://"):
            path = url.removeprefix("emulator://").partition("#")[0]
            try:
                url = str(read_ready_file(path)["control"])
            except (OSError, KeyError) as exc:
                raise TalkgroupUnavailable(
                    f"no DGNA service in emulator ready file {path}", exc
                ) from exc
        return url.rstrip("/")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def create(
        self, incident_id: str, targets: Sequence[int], *, reserve: Reserve | None = None
    ) -> TalkgroupAssignment:
        existing = self.gssis.of(incident_id)
        if existing is not None:
            status, data = await self._patch(existing, add=targets)
            if status != 404:
                return await self._patched(incident_id, existing, status, data)
            # Gone from the network (expired, or the create that reserved it after a restart
            # never reached the service): a group of its own again.
            self.gssis.release(incident_id)
        refused: set[int] = set()
        while True:
            gssi = self.gssis.allocate(incident_id, skip=refused)
            if reserve is not None and not await reserve(gssi):
                self.gssis.release(incident_id)
                refused.add(gssi)
                continue
            body = {
                "gssi": gssi,
                "targets": list(targets),
                "lifetime_s": self.lifetime_s,
                "class_of_usage": "selected",
                "ack_requested": True,
            }
            status, data = await self._request("POST", "/dgna/groups", body)
            if status == 201:
                break
            self.gssis.release(incident_id)
            if status == 409:  # taken on the network (by someone else, or before a restart)
                refused.add(gssi)
                continue
            raise TalkgroupError(f"DGNA create {gssi} answered {status}: {data.get('error')}")
        log.info("dgna_group_created", incident=incident_id, gssi=gssi, targets=len(targets))
        return await self._settled(incident_id, gssi, data)

    async def modify(
        self, incident_id: str, *, add: Sequence[int] = (), remove: Sequence[int] = ()
    ) -> TalkgroupAssignment:
        gssi = self.gssis.of(incident_id)
        if gssi is None:
            raise TalkgroupError(f"incident {incident_id} holds no group")
        status, data = await self._patch(gssi, add=add, remove=remove)
        return await self._patched(incident_id, gssi, status, data)

    async def _patch(
        self, gssi: int, *, add: Sequence[int] = (), remove: Sequence[int] = ()
    ) -> tuple[int, dict[str, Any]]:
        body = {"add": list(add), "remove": list(remove)}
        return await self._request("PATCH", f"/dgna/groups/{gssi}", body)

    async def _patched(
        self, incident_id: str, gssi: int, status: int, data: dict[str, Any]
    ) -> TalkgroupAssignment:
        """The group after a PATCH answered ``status``; ``TalkgroupError`` unless 200."""
        if status != 200:
            raise TalkgroupError(f"DGNA modify {gssi} answered {status}: {data.get('error')}")
        return await self._settled(incident_id, gssi, data)

    async def status(self, incident_id: str) -> TalkgroupAssignment:
        """The group's current target states as the network reports them."""
        gssi = self.gssis.of(incident_id)
        if gssi is None:
            raise TalkgroupError(f"incident {incident_id} holds no group")
        status, data = await self._request("GET", f"/dgna/groups/{gssi}")
        if status != 200:
            raise TalkgroupError(f"DGNA get {gssi} answered {status}: {data.get('error')}")
        return _assignment(incident_id, data)

    async def release(self, incident_id: str) -> None:
        gssi = self.gssis.of(incident_id)
        if gssi is None:
            return
        status, data = await self._request("DELETE", f"/dgna/groups/{gssi}")
        if status not in (200, 204, 404):  # 404: expired or already withdrawn
            raise TalkgroupError(f"DGNA delete {gssi} answered {status}: {data.get('error')}")
        self.gssis.release(incident_id)
        log.info("dgna_group_released", incident=incident_id, gssi=gssi)

    def restore(self, in_use: Mapping[str, int]) -> None:
        self.gssis.restore(in_use)

    async def _settled(
        self, incident_id: str, gssi: int, data: dict[str, Any]
    ) -> TalkgroupAssignment:
        loop = asyncio.get_running_loop()
        until = loop.time() + self.settle_timeout
        while "queued" in data.get("targets", {}).values() and loop.time() < until:
            await asyncio.sleep(self.poll_interval)
            status, fresh = await self._request("GET", f"/dgna/groups/{gssi}")
            if status != 200:
                break
            data = fresh
        return _assignment(incident_id, data)

    async def _request(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        import aiohttp  # here, not at the top: see the TYPE_CHECKING import above

        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=self.request_timeout)
            self._session = aiohttp.ClientSession(timeout=timeout)
        try:
            async with self._session.request(
                method, self._base_url() + path, json=body
            ) as response:
                data = await response.json(content_type=None)
                return response.status, data if isinstance(data, dict) else {}
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise TalkgroupUnavailable(f"DGNA service unreachable: {exc}", exc) from exc


def _assignment(incident_id: str, data: Mapping[str, Any]) -> TalkgroupAssignment:
    targets: dict[int, TargetState] = {
        int(issi): state for issi, state in dict(data.get("targets", {})).items()
    }
    return TalkgroupAssignment(incident_id, int(data["gssi"]), targets)


def backend_from_url(
    url: str,
    *,
    gssis: str = "9001-9099",
    scanner: GroupScans | None = None,
) -> TalkgroupBackend:
    """``pool:9001-9099`` → ``PoolBackend``; ``emulator://READY_FILE`` or ``http(s)://...`` →
    ``DgnaBackend`` allocating from ``gssis``."""
    if url.startswith("pool:"):
        return PoolBackend(GssiRange.parse(url.removeprefix("pool:")), scanner=scanner)
    if url.startswith(("emulator://", "http://", "https://")):
        return DgnaBackend(url, GssiRange.parse(gssis))
    raise ValueError(f"unknown talk-group backend URL {url!r} (pool:A-B or emulator://FILE)")
