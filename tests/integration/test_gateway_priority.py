"""An urgent callout behind a backlog: it goes to the radio before the routine ones waiting.

Real Mosquitto, the emulator (paced at 19200 baud, so a backlog forms on its one radio) and
the gateway as processes over a real pty (``system.py``). The order is read from the
emulator's record of what reached the radio (``GET /radios/gw1/rx-log``), not from timings.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.integration.mosquitto import MosquittoBroker
from tests.integration.system import running_system

pytestmark = pytest.mark.integration

FIRST = 2040101
ROUTINE = 16
URGENT_UNIT = FIRST + ROUTINE
TEXT = "Utalarmering: Hjertestans, Storgata 12, 0155 Oslo. Inngang bak."
_CMGS = re.compile(r"AT\+CMGS=(\d+),")


async def test_an_urgent_callout_overtakes_the_routine_ones_queued_for_the_radio(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    async with running_system(
        tmp_path,
        mosquitto,
        emulator_args=("--units", f"{FIRST}-{URGENT_UNIT}", "--baud", "19200"),
        talkgroups=None,
    ) as system:
        dispatch = system.dispatch
        # The first send selects the text service; the others queue behind it on the line.
        for n in range(ROUTINE):
            await dispatch.callout(
                callout_id=f"R-{n}",
                incident_id=f"INC-R-{n}",
                priority="3",
                units=[{"issi": FIRST + n, "role": "ambulance"}],
                text=TEXT,
                deadline_s=60,
            )
        await dispatch.callout(
            callout_id="U-1",
            incident_id="INC-U",
            priority="1A",  # urgent by the default [callouts] urgent_priorities
            units=[{"issi": URGENT_UNIT, "role": "ambulance"}],
            text=TEXT,
            deadline_s=60,
        )
        await dispatch.wait_final("U-1", [URGENT_UNIT], timeout=30)
        for n in range(ROUTINE):
            await dispatch.wait_final(f"R-{n}", [FIRST + n], timeout=60)

        order = [
            int(match.group(1))
            for read in system.emulator.get("/radios/gw1/rx-log")
            if (match := _CMGS.match(read["head"]))
        ]
        assert sorted(order) == list(range(FIRST, URGENT_UNIT + 1)), order  # each sent once
        # Each routine SDS holds the line for ~0.1 s: the urgent one, published last, came
        # within the first few; in arrival order it would have been the last.
        routine_before = order.index(URGENT_UNIT)
        assert routine_before <= ROUTINE // 4, order
        assert dispatch.finals("U-1") == {URGENT_UNIT: ["delivered"]}
