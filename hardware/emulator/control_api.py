"""The emulator's HTTP control API (aiohttp, JSON), documented in ``docs/emulator.md``.

Bad input is answered with 400 (or 404 for an unknown unit, radio or group) and a JSON body
``{"error": "..."}``; nothing a client sends can stop the emulator.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hardware.emulator.dgna import CLASSES, DgnaError
from hardware.emulator.faults import FaultError, FaultRequest

if TYPE_CHECKING:
    from hardware.emulator.app import Emulator
    from hardware.emulator.units import FieldUnit

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RequestError(Exception):
    """Answered with ``status`` and ``{"error": message}``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except RequestError as exc:
        return web.json_response({"error": exc.message}, status=exc.status)
    except DgnaError as exc:
        return web.json_response({"error": str(exc)}, status=exc.status)
    except FaultError as exc:
        return web.json_response({"error": str(exc)}, status=400)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RequestError("the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise RequestError("the body must be a JSON object")
    return data


def _int(data: dict[str, Any], key: str, low: int, high: int, default: int | None = None) -> int:
    value = data.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise RequestError(f"{key} must be an integer within {low}..{high}")
    return value


def _float(data: dict[str, Any], key: str, low: float, high: float) -> float:
    value = data.get(key)
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise RequestError(f"{key} must be a number within {low}..{high}")
    return float(value)


def _issis(data: dict[str, Any], key: str) -> list[int]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**24 for v in value
    ):
        raise RequestError(f"{key} must be a list of ISSIs")
    return list(dict.fromkeys(value))


def _path_int(request: web.Request, key: str) -> int:
    try:
        return int(request.match_info[key])
    except ValueError:
        raise RequestError(f"{key} must be a number", 404) from None


class ControlApi:
    """Routes of the control API over one `Emulator`."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.swmi = emulator.swmi
        self.app = web.Application(middlewares=[_errors])
        self.app.add_routes(
            [
                web.get("/units", self.units),
                web.post("/units/traffic", self.unit_traffic),
                web.get("/units/{issi}", self.unit),
                web.get("/units/{issi}/inbox", self.inbox),
                web.post("/units/{issi}/status", self.unit_status),
                web.post("/units/{issi}/text", self.unit_text),
                web.post("/units/{issi}/position", self.unit_position),
                web.post("/units/{issi}/coverage", self.unit_coverage),
                web.get("/radios", self.radios),
                web.post("/radios/{name}/fault", self.fault),
                web.get("/radios/{name}/rx-log", self.rx_log),
                web.get("/groups", self.groups),
                web.get("/timing", self.timing),
                web.get("/dgna/groups", self.dgna_list),
                web.post("/dgna/groups", self.dgna_create),
                web.get("/dgna/groups/{gssi}", self.dgna_get),
                web.patch("/dgna/groups/{gssi}", self.dgna_modify),
                web.delete("/dgna/groups/{gssi}", self.dgna_delete),
            ]
        )

    def _unit(self, request: web.Request) -> FieldUnit:
        issi = _path_int(request, "issi")
        unit = self.swmi.units.get(issi)
        if unit is None:
            raise RequestError(f"no unit {issi}", 404)
        return unit

    # -- units ---------------------------------------------------------------------------
    async def units(self, _: web.Request) -> web.Response:
        return web.json_response([u.as_dict() for u in self.swmi.units.values()])

    async def unit(self, request: web.Request) -> web.Response:
        return web.json_response(self._unit(request).as_dict())

    async def inbox(self, request: web.Request) -> web.Response:
        return web.json_response(self._unit(request).inbox)

    async def unit_status(self, request: web.Request) -> web.Response:
        unit = self._unit(request)
        value = _int(await _body(request), "value", 0, 0xFFFF)
        unit.send_status(value)
        return web.json_response({"issi": unit.issi, "value": value, "held": not unit.in_coverage})

    async def unit_text(self, request: web.Request) -> web.Response:
        unit = self._unit(request)
        text = (await _body(request)).get("text")
        if not isinstance(text, str) or not text:
            raise RequestError("text must be a non-empty string")
        try:
            parts = unit.send_text(text)
        except ValueError as exc:  # ProtocolError: too long, not encodable
            raise RequestError(f"text cannot be sent: {exc}") from None
        return web.json_response({"issi": unit.issi, "parts": parts})

    async def unit_position(self, request: web.Request) -> web.Response:
        unit = self._unit(request)
        data = await _body(request)
        lat, lon = _float(data, "lat", -90, 90), _float(data, "lon", -180, 180)
        unit.send_position(lat, lon)
        return web.json_response({"issi": unit.issi, "lat": lat, "lon": lon})

    async def unit_traffic(self, request: web.Request) -> web.Response:
        """Many units send at once: ``{"messages": [{"issi": N, "status": V} or
        {"issi": N, "lat": .., "lon": ..}, ...]}``, sent in order, as one
        ``POST /units/<issi>/status|position`` each would. All are checked first: one bad
        message (its index is named) and none is sent. For load tests: one request instead
        of one per message (``benchmarks/scale.py``)."""
        messages = (await _body(request)).get("messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise RequestError("messages must be a list of JSON objects")
        checked: list[tuple[FieldUnit, int | tuple[float, float]]] = []
        for index, message in enumerate(messages):
            try:
                checked.append(self._traffic_item(message))
            except RequestError as exc:
                raise RequestError(f"messages[{index}]: {exc.message}", exc.status) from None
        for unit, what in checked:
            if isinstance(what, int):
                unit.send_status(what)
            else:
                unit.send_position(*what)
        return web.json_response({"sent": len(checked)})

    def _traffic_item(self, message: dict[str, Any]) -> tuple[FieldUnit, int | tuple[float, float]]:
        issi = _int(message, "issi", 1, 2**24 - 1)
        unit = self.swmi.units.get(issi)
        if unit is None:
            raise RequestError(f"no unit {issi}", 404)
        if "status" in message:
            return unit, _int(message, "status", 0, 0xFFFF)
        lat = _float(message, "lat", -90, 90)
        return unit, (lat, _float(message, "lon", -180, 180))

    async def unit_coverage(self, request: web.Request) -> web.Response:
        unit = self._unit(request)
        value = (await _body(request)).get("in_coverage")
        if not isinstance(value, bool):
            raise RequestError("in_coverage must be true or false")
        unit.set_coverage(value)
        return web.json_response({"issi": unit.issi, "in_coverage": value})

    # -- radios ----------------------------------------------------------------------------
    async def radios(self, _: web.Request) -> web.Response:
        return web.json_response([t.as_dict() for t in self.emulator.terminals])

    async def rx_log(self, request: web.Request) -> web.Response:
        """Each read from a gateway: ``{"at": epoch s, "head": first bytes}``, oldest first."""
        name = request.match_info["name"]
        terminal = self.emulator.terminal(name)
        if terminal is None:
            raise RequestError(f"no radio {name!r}", 404)
        reads = sorted(entry for link in terminal.links() for entry in link.rx_log)
        return web.json_response([{"at": at, "head": head.decode("latin-1")} for at, head in reads])

    async def fault(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        terminal = self.emulator.terminal(name)
        if terminal is None:
            raise RequestError(f"no radio {name!r}", 404)
        data = await _body(request)
        kind = data.get("kind")
        if not isinstance(kind, str):
            raise RequestError("kind must be a string")
        duration = None if data.get("duration_s") is None else _float(data, "duration_s", 0, 3600)
        count = _int(data, "count", 1, 10000, default=1)
        request_ = FaultRequest(kind, duration, count)
        terminal.apply_fault(request_)
        return web.json_response(
            {"radio": name, "kind": kind, "duration_s": request_.duration, "count": count}
        )

    # -- groups ----------------------------------------------------------------------------
    async def groups(self, _: web.Request) -> web.Response:
        default = self.swmi.settings.default_group
        listing: list[dict[str, Any]] = [
            {
                "gssi": default,
                "dynamic": False,
                "attached": sorted(self.swmi.units),
            }
        ]
        for gssi, group in self.emulator.dgna.groups.items():
            attached = sorted(u.issi for u in self.swmi.units.values() if gssi in u.groups)
            listing.append(
                {
                    "gssi": gssi,
                    "dynamic": True,
                    "attached": attached,
                    **group.as_dict(self.swmi.now()),
                }
            )
        return web.json_response(listing)

    async def timing(self, _: web.Request) -> web.Response:
        return web.json_response(self.swmi.lag.as_dict())

    async def dgna_list(self, _: web.Request) -> web.Response:
        now = self.swmi.now()
        return web.json_response([g.as_dict(now) for g in self.emulator.dgna.groups.values()])

    async def dgna_create(self, request: web.Request) -> web.Response:
        data = await _body(request)
        gssi = _int(data, "gssi", 1, 2**24 - 1)
        targets = _issis(data, "targets")
        lifetime = _float({"lifetime_s": data.get("lifetime_s", 3600)}, "lifetime_s", 1, 7 * 86400)
        class_of_usage = data.get("class_of_usage", "selected")
        if class_of_usage not in CLASSES:
            raise RequestError("class_of_usage must be selected or scanned")
        ack = data.get("ack_requested", True)
        if not isinstance(ack, bool):
            raise RequestError("ack_requested must be true or false")
        group = self.emulator.dgna.create(gssi, targets, lifetime, class_of_usage, ack)
        return web.json_response(group.as_dict(self.swmi.now()), status=201)

    async def dgna_get(self, request: web.Request) -> web.Response:
        group = self.emulator.dgna.get(_path_int(request, "gssi"))
        return web.json_response(group.as_dict(self.swmi.now()))

    async def dgna_modify(self, request: web.Request) -> web.Response:
        gssi = _path_int(request, "gssi")
        data = await _body(request)
        group = self.emulator.dgna.modify(gssi, _issis(data, "add"), _issis(data, "remove"))
        return web.json_response(group.as_dict(self.swmi.now()))

    async def dgna_delete(self, request: web.Request) -> web.Response:
        group = self.emulator.dgna.delete(_path_int(request, "gssi"))
        return web.json_response({"gssi": group.gssi, "deleted": True})
