"""Two gateway instances share one dispatch stream through an MQTT 5 shared subscription.

One emulator with four radios: instance A owns gw1+gw2, instance B owns gw3+gw4; each has
its own data directory (store) and gateway id (so its own MQTT client id and health topic);
both subscribe the inbound topics as ``$share/amk-test/...`` on a real Mosquitto.
See ``docs/scale-out.md`` for the production shape.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.mosquitto import MosquittoBroker
from tests.integration.system import Dispatch, EmulatorProcess, GatewayProcess

pytestmark = pytest.mark.integration

FIRST_UNIT = 2040101
UNITS = f"{FIRST_UNIT}-{FIRST_UNIT + 59}"
OWNED = {"gw-a": ("gw1", "gw2"), "gw-b": ("gw3", "gw4")}
CONFIG = '[broker]\nshared_subscription_group = "amk-test"\n'


@dataclass
class Cluster:
    dispatch: Dispatch
    emulator: EmulatorProcess
    gateways: dict[str, GatewayProcess]

    def texts_from(self, gateway_id: str, units: range) -> int:
        """Texts the units received from the instance's radios (the emulator's inboxes)."""
        owned = {r["issi"] for r in self.emulator.get("/radios") if r["name"] in OWNED[gateway_id]}
        return sum(
            1
            for issi in units
            for m in self.emulator.inbox(issi)
            if m.get("text") and m.get("from") in owned
        )

    def accepted_by(self, gateway_id: str) -> set[str]:
        """Callout ids the instance logged as accepted (its own log: which store holds them)."""
        return {
            line["callout_id"]
            for line in self.gateways[gateway_id].log_lines()
            if line.get("event") == "callout_accepted"
        }

    def texts_received(self, issi: int) -> int:
        return sum(1 for m in self.emulator.inbox(issi) if m.get("text"))

    async def callouts(self, prefix: str, units: range) -> list[str]:
        ids = []
        for n, issi in enumerate(units):
            callout_id = f"{prefix}-{n}"
            await self.dispatch.callout(
                callout_id=callout_id,
                incident_id=f"INC-{callout_id}",
                units=[{"issi": issi, "role": "ambulance"}],
                deadline_s=120,
            )
            ids.append(callout_id)
        return ids

    async def wait_all_final(self, ids: list[str], first: int, timeout: float) -> None:
        await self.dispatch.wait_for(
            lambda: all(self.dispatch.finals(c) for c in ids), timeout, f"{ids[0]}.. final"
        )
        for n, callout_id in enumerate(ids):
            assert self.dispatch.finals(callout_id) == {first + n: ["delivered"]}, callout_id


@pytest.fixture
async def cluster(tmp_path: Path, mosquitto: MosquittoBroker) -> AsyncIterator[Cluster]:
    emulator = EmulatorProcess(tmp_path, "--radios", "4", "--units", UNITS, "--behaviour", "silent")
    emulator.start()
    config = tmp_path / "shared.toml"
    config.write_text(CONFIG)
    gateways = {
        gateway_id: GatewayProcess(
            tmp_path,
            broker_url=mosquitto.url,
            radios=[emulator.radio_url(name) for name in radios],
            gateway_id=gateway_id,
            config=config,
        )
        for gateway_id, radios in OWNED.items()
    }
    try:
        async with Dispatch(mosquitto.host, mosquitto.port) as dispatch:
            for gateway in gateways.values():
                gateway.start()
            for gateway_id in gateways:
                await dispatch.wait_online(gateway_id)
            yield Cluster(dispatch, emulator, gateways)
    finally:
        for gateway in gateways.values():
            gateway.stop()
        emulator.stop()


async def test_each_callout_is_handled_once_and_the_load_is_split(cluster: Cluster) -> None:
    units = range(FIRST_UNIT, FIRST_UNIT + 20)
    ids = await cluster.callouts("C", units)
    await cluster.wait_all_final(ids, FIRST_UNIT, timeout=60)

    accepted = Counter(
        e["callout_id"] for c in ids for e in cluster.dispatch.events(c) if e["event"] == "accepted"
    )
    assert accepted == dict.fromkeys(ids, 1)
    by_a, by_b = cluster.accepted_by("gw-a"), cluster.accepted_by("gw-b")
    assert not by_a & by_b, "a callout was taken by both instances"
    assert by_a | by_b == set(ids)
    assert by_a, "instance A took no callout: the load was not split"
    assert by_b, "instance B took no callout: the load was not split"
    # No unit alerted twice, and each instance's texts went out on its own radios only.
    assert [cluster.texts_received(issi) for issi in units] == [1] * len(units)
    assert cluster.texts_from("gw-a", units) == len(by_a)
    assert cluster.texts_from("gw-b", units) == len(by_b)


async def test_survivor_takes_new_callouts_after_an_instance_is_killed(cluster: Cluster) -> None:
    warmup = await cluster.callouts("W", range(FIRST_UNIT, FIRST_UNIT + 4))
    await cluster.wait_all_final(warmup, FIRST_UNIT, timeout=60)
    cluster.gateways["gw-a"].kill()

    later = range(FIRST_UNIT + 10, FIRST_UNIT + 30)
    ids = await cluster.callouts("K", later)
    await cluster.wait_all_final(ids, later.start, timeout=60)

    assert cluster.accepted_by("gw-b") >= set(ids)
    assert cluster.texts_from("gw-a", later) == 0, "the dead instance's radios sent texts"
    assert [cluster.texts_received(issi) for issi in later] == [1] * len(later)


async def test_callouts_accepted_by_a_killed_instance_resume_when_it_restarts(
    cluster: Cluster,
) -> None:
    # Out of coverage: whichever instance accepts a callout keeps retrying it (deadline 120 s).
    units = range(FIRST_UNIT + 40, FIRST_UNIT + 50)
    for issi in units:
        cluster.emulator.post(f"/units/{issi}/coverage", {"in_coverage": False})
    ids = await cluster.callouts("R", units)
    # `accepted` at dispatch is the promise (dispatch-api.md: stored durably, cannot be lost);
    # the instance's log line comes before its store's flush, so it is not the sign to wait for.
    await cluster.dispatch.wait_for(
        lambda: all(any(e["event"] == "accepted" for e in cluster.dispatch.events(c)) for c in ids),
        30,
        "every callout accepted",
    )
    held_by_a = cluster.accepted_by("gw-a") & set(ids)
    assert held_by_a, "instance A accepted none of the callouts (the load was not split)"
    cluster.gateways["gw-a"].kill()
    for issi in units:
        cluster.emulator.post(f"/units/{issi}/coverage", {"in_coverage": True})

    # The survivor finishes its own callouts; A's stay in A's store, not taken over.
    held_by_b = set(ids) - held_by_a
    await cluster.dispatch.wait_for(
        lambda: all(cluster.dispatch.finals(c) for c in held_by_b), 60, "B's callouts final"
    )
    await asyncio.sleep(3)  # a retry period of B: it must not touch A's callouts
    assert not any(cluster.dispatch.finals(c) for c in held_by_a)

    # A restarts on the same data directory and resumes them from its store.
    cluster.gateways["gw-a"].start()
    await cluster.dispatch.wait_for(
        lambda: all(cluster.dispatch.finals(c) for c in held_by_a), 60, "A's callouts final"
    )
    for n, callout_id in enumerate(ids):
        assert cluster.dispatch.finals(callout_id) == {units.start + n: ["delivered"]}
    for n, issi in enumerate(units):
        one = range(issi, issi + 1)
        if f"R-{n}" in held_by_a:
            # At least once, never by the other instance. A command A wrote just before it
            # died may still be carried out by the radio (the bytes sit in the line), and A,
            # which never saw +CMGS, sends again after the restart: then the unit has it twice.
            assert cluster.texts_from("gw-b", one) == 0
            assert cluster.texts_from("gw-a", one) >= 1
        else:
            assert cluster.texts_received(issi) == 1
            assert cluster.texts_from("gw-b", one) == 1
