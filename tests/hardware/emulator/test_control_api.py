"""The HTTP control API and the DGNA service, as a test harness and the gateway use them."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from protocols.pei.events import SdsReceived
from protocols.sds.lip import decode_lip
from protocols.sds.text import decode_text
from protocols.sds.tl import decode_tl
from tests.hardware.emulator.conftest import RESPONSIVE, SHORT_REPORTER, SILENT, UNREACHABLE
from tests.hardware.emulator.test_sds_flows import connect, from_unit


@pytest.fixture
async def http(emulator):
    async with aiohttp.ClientSession(emulator.control_url) as session:
        yield session


async def eventually(check, attempts: int = 100):
    for _ in range(attempts):
        if result := await check():
            return result
        await asyncio.sleep(0.02)
    raise AssertionError("condition never held")


async def test_units_lists_every_unit_with_state_position_and_groups(http):
    async with http.get("/units") as response:
        assert response.status == 200
        units = await response.json()
    by_issi = {u["issi"]: u for u in units}
    assert by_issi[RESPONSIVE]["state"] == "idle"
    assert by_issi[RESPONSIVE]["position"] == {"lat": 59.95, "lon": 10.70}
    assert by_issi[RESPONSIVE]["groups"] == [1001]
    assert by_issi[UNREACHABLE]["in_coverage"] is False


async def test_unit_status_text_and_position_reach_the_gateway(emulator, http, clients):
    client = await connect(emulator, clients)
    async with http.post(f"/units/{RESPONSIVE}/status", json={"value": 32771}) as response:
        assert response.status == 200
    status = await client.wait_for(from_unit(RESPONSIVE, 13))
    assert status.hex == "8003"
    async with http.post(f"/units/{RESPONSIVE}/text", json={"text": "Trenger politi"}) as r:
        assert (await r.json())["parts"] == 1
    text = await client.wait_for(from_unit(RESPONSIVE, 12))
    assert decode_text(decode_tl(text.payload)).text == "Trenger politi"
    async with http.post(f"/units/{RESPONSIVE}/position", json={"lat": 59.9, "lon": 10.7}) as r:
        assert r.status == 200
    position = await client.wait_for(from_unit(RESPONSIVE, 12))
    report = decode_lip(position.payload, position.length_bits)
    assert abs(report.latitude - 59.9) < 1e-4
    assert abs(report.longitude - 10.7) < 1e-4


async def traffic(http, *messages):
    """``POST /units/traffic`` of ``messages``: (HTTP status, JSON answer)."""
    async with http.post("/units/traffic", json={"messages": list(messages)}) as response:
        return response.status, await response.json()


async def test_traffic_sends_many_units_messages_in_one_request(emulator, http, clients):
    client = await connect(emulator, clients)
    answer = await traffic(
        http, {"issi": RESPONSIVE, "status": 32771}, {"issi": SILENT, "lat": 59.91, "lon": 10.75}
    )
    assert answer == (200, {"sent": 2})
    status = await client.wait_for(from_unit(RESPONSIVE, 13))
    assert status.hex == "8003"
    position = await client.wait_for(from_unit(SILENT, 12))
    report = decode_lip(position.payload, position.length_bits)
    assert abs(report.latitude - 59.91) < 1e-4


async def test_traffic_with_one_bad_message_sends_none_and_names_it(emulator, http, clients):
    client = await connect(emulator, clients)
    status, answer = await traffic(
        http, {"issi": RESPONSIVE, "status": 32771}, {"issi": SILENT, "lat": 91, "lon": 0}
    )
    assert status == 400
    assert answer["error"].startswith("messages[1]: lat")
    status, answer = await traffic(http, {"issi": 999, "status": 1})
    assert status == 404
    assert "messages[0]" in answer["error"]
    # Nothing of the refused requests went out: the next message the gateway sees is this.
    async with http.post(f"/units/{SILENT}/status", json={"value": 32772}) as response:
        assert response.status == 200
    first = await client.wait_for(
        lambda e: isinstance(e, SdsReceived) and e.calling_issi in (RESPONSIVE, SILENT)
    )
    assert (first.calling_issi, first.hex) == (SILENT, "8004")


async def test_inbox_shows_what_the_unit_received_in_order(emulator, http, clients):
    client = await connect(emulator, clients)
    from tests.hardware.emulator.test_sds_flows import text_sds

    await client.ok(text_sds(SILENT, "Først", 1))
    await client.ok(text_sds(SILENT, "Så", 2))

    async def two():
        async with http.get(f"/units/{SILENT}/inbox") as response:
            inbox = await response.json()
        return inbox if len(inbox) == 2 else None

    inbox = await eventually(two)
    assert [e["text"] for e in inbox] == ["Først", "Så"]
    assert inbox[0]["time"] <= inbox[1]["time"]
    assert inbox[0]["from"] == emulator.terminals[0].issi


async def test_coverage_switch_is_shown_on_the_unit(http):
    async with http.post(f"/units/{RESPONSIVE}/coverage", json={"in_coverage": False}) as r:
        assert r.status == 200
    async with http.get(f"/units/{RESPONSIVE}") as r:
        assert (await r.json())["in_coverage"] is False


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("post", f"/units/{RESPONSIVE}/status", {"value": 70000}, 400),
        ("post", f"/units/{RESPONSIVE}/status", {"value": "8003"}, 400),
        ("post", f"/units/{RESPONSIVE}/status", [1, 2], 400),
        ("post", f"/units/{RESPONSIVE}/text", {"text": ""}, 400),
        ("post", f"/units/{RESPONSIVE}/position", {"lat": 91, "lon": 0}, 400),
        ("post", f"/units/{RESPONSIVE}/coverage", {"in_coverage": "no"}, 400),
        ("post", "/units/999/status", {"value": 1}, 404),
        ("post", "/units/traffic", {"messages": {"issi": RESPONSIVE}}, 400),
        ("post", "/units/traffic", {"messages": [[RESPONSIVE, 1]]}, 400),
        ("get", "/units/abc/inbox", None, 404),
        ("post", "/radios/nope/fault", {"kind": "reboot"}, 404),
        ("post", "/radios/gw1/fault", {"kind": "meteor"}, 400),
        ("post", "/radios/gw1/fault", {"kind": "stall", "duration_s": -1}, 400),
        ("post", "/dgna/groups", {"gssi": "x"}, 400),
        ("post", "/dgna/groups", {"gssi": 9001, "targets": ["a"]}, 400),
        ("post", "/dgna/groups", {"gssi": 9001, "class_of_usage": "loud"}, 400),
        ("get", "/dgna/groups/9999", None, 404),
        ("patch", "/dgna/groups/9999", {"add": []}, 404),
        ("delete", "/dgna/groups/9999", None, 404),
    ],
)
async def test_bad_input_is_answered_with_a_json_error(http, method, path, body, status):
    async with http.request(method, path, json=body) as response:
        assert response.status == status
        assert "error" in await response.json()
    async with http.get("/radios") as response:  # and the emulator is still there
        assert response.status == 200


async def test_invalid_json_body_is_a_400(http):
    async with http.post(f"/units/{RESPONSIVE}/status", data=b"{nope") as response:
        assert response.status == 400


async def test_radios_shows_state_registrations_and_counters(emulator, http, clients):
    await connect(emulator, clients)
    async with http.post("/radios/gw1/fault", json={"kind": "duplicate", "count": 2}) as r:
        assert (await r.json()) == {
            "radio": "gw1",
            "kind": "duplicate",
            "duration_s": 0.0,
            "count": 2,
        }
    async with http.get("/radios") as response:
        (radio,) = await response.json()
    assert radio["state"] == "on"
    assert radio["device"] == emulator.terminals[0].pty.path
    assert "1,3,130" in radio["registrations"]
    assert radio["counters"]["commands"] >= 5
    assert radio["counters"]["fault_duplicate"] == 1


async def test_dgna_group_is_queued_then_acknowledged_and_units_attach(emulator, http):
    body = {
        "gssi": 9001,
        "targets": [RESPONSIVE, SHORT_REPORTER],
        "lifetime_s": 3600,
        "class_of_usage": "selected",
        "ack_requested": True,
    }
    async with http.post("/dgna/groups", json=body) as response:
        assert response.status == 201
        created = await response.json()
    assert created["gssi"] == 9001
    assert created["targets"] == {str(RESPONSIVE): "queued", str(SHORT_REPORTER): "queued"}

    async def acknowledged():
        async with http.get("/dgna/groups/9001") as response:
            group = await response.json()
        return group if set(group["targets"].values()) == {"acknowledged"} else None

    await eventually(acknowledged)
    assert emulator.swmi.units[RESPONSIVE].selected_group == 9001
    async with http.get("/groups") as response:
        groups = {g["gssi"]: g for g in await response.json()}
    assert groups[9001]["attached"] == [RESPONSIVE, SHORT_REPORTER]
    async with http.post("/dgna/groups", json=body) as response:
        assert response.status == 409


async def test_dgna_target_out_of_coverage_times_out(http):
    body = {"gssi": 9002, "targets": [UNREACHABLE], "ack_requested": True}
    async with http.post("/dgna/groups", json=body) as response:
        assert response.status == 201

    async def timed_out():
        async with http.get("/dgna/groups/9002") as response:
            group = await response.json()
        return group["targets"][str(UNREACHABLE)] == "timeout"

    await eventually(timed_out, attempts=200)


async def test_dgna_rejects_a_unit_whose_group_list_is_full(http):
    for gssi in (9101, 9102, 9103):  # the test network allows 2 dynamic groups per unit
        async with http.post("/dgna/groups", json={"gssi": gssi, "targets": [RESPONSIVE]}) as r:
            assert r.status == 201

        async def settled(gssi=gssi):
            async with http.get(f"/dgna/groups/{gssi}") as response:
                state = (await response.json())["targets"][str(RESPONSIVE)]
            return state if state != "queued" else None

        last = await eventually(settled)
    assert last == "rejected"


async def test_dgna_patch_and_delete_detach_units_back_to_the_default_group(emulator, http):
    async with http.post("/dgna/groups", json={"gssi": 9003, "targets": [RESPONSIVE]}) as r:
        assert r.status == 201
    unit = emulator.swmi.units[RESPONSIVE]

    async def attached():
        return 9003 in unit.groups

    await eventually(attached)
    async with http.patch("/dgna/groups/9003", json={"add": [SILENT], "remove": [RESPONSIVE]}) as r:
        assert (await r.json())["targets"] == {str(SILENT): "queued"}
    assert unit.selected_group == 1001
    silent = emulator.swmi.units[SILENT]

    async def silent_attached():
        return 9003 in silent.groups

    await eventually(silent_attached)
    async with http.delete("/dgna/groups/9003") as r:
        assert r.status == 200
    assert 9003 not in silent.groups
    assert silent.selected_group == 1001
    async with http.get("/dgna/groups/9003") as r:
        assert r.status == 404


async def test_group_sds_reaches_the_units_attached_to_the_dgna_group(emulator, http, clients):
    client = await connect(emulator, clients)
    async with http.post("/dgna/groups", json={"gssi": 9004, "targets": [SILENT]}) as r:
        assert r.status == 201

    async def attached():
        return 9004 in emulator.swmi.units[SILENT].groups

    await eventually(attached)
    from tests.hardware.emulator.test_sds_flows import text_sds

    await client.ok(text_sds(9004, "Til gruppen", 3))

    async def delivered():
        return [e for e in emulator.swmi.units[SILENT].inbox if e["kind"] == "text"]

    (entry,) = await eventually(delivered)
    assert entry["group"] == 9004
    assert all(e["kind"] != "text" for e in emulator.swmi.units[RESPONSIVE].inbox)


async def test_dgna_group_ends_with_its_lifetime(emulator, http):
    async with http.post(
        "/dgna/groups", json={"gssi": 9005, "targets": [RESPONSIVE], "lifetime_s": 1}
    ) as r:
        assert r.status == 201

    async def gone():
        async with http.get("/dgna/groups/9005") as response:
            return response.status == 404

    await eventually(gone, attempts=150)
    assert 9005 not in emulator.swmi.units[RESPONSIVE].groups


async def test_rx_log_times_each_read_from_the_gateway_between_its_write_and_now(
    emulator, http, clients
):
    # What benchmarks/latency.py reads to see when a callout's first AT byte reached the radio.
    client = await connect(emulator, clients, tcp=False)
    written = time.time()
    await client.ok(b"AT+CSQ?\r")
    answered = time.time()
    async with http.get("/radios/gw1/rx-log") as response:
        reads = await response.json()
    (read,) = [r for r in reads if r["head"].startswith("AT+CSQ?")]
    assert written <= read["at"] <= answered
    assert [r["at"] for r in reads] == sorted(r["at"] for r in reads)
