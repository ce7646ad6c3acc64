"""An urgent callout behind a backlog: how long it waits for the radio, and how many go first.

``python -m benchmarks.urgent [--backlog 100] [--baud 38400]``

The system of ``benchmarks/rig.py`` with one radio paced at ``--baud``. After a warm-up
callout, dispatch publishes ``--backlog`` routine callouts (``priority`` "3") at once, each to
a unit of its own, then one urgent callout (``priority`` "1A", urgent by the default
``[callouts] urgent_priorities``). Read from the emulator's record of what reached the radio
(``GET /radios/gw1/rx-log``, as in ``benchmarks.latency``): the urgent callout's publish →
first AT byte, how many routine SDS were written before it, and the last routine callout's
publish → first AT byte (what the urgent one would have waited in arrival order). The line,
not the gateway, sets the pace: one SDS holds it for ``line_ms_per_sds``.

Not one of issue 7's figures, and no target of its own: ``make bench`` prints it beside them
(docs/performance.md, "Fifth round", fix 28).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import re
import time
from typing import Any

from benchmarks.rig import percentile, system

FIRST_UNIT = 2041000
TEXT = "Utalarmering: Hjertestans, Storgata 12, 0155 Oslo. Inngang bak. Prio 1."
_CMGS = re.compile(r"AT\+CMGS=(\d+),")


async def measure(backlog: int = 100, baud: int = 38400) -> dict[str, Any]:
    warm_unit, urgent_unit = FIRST_UNIT + backlog, FIRST_UNIT + backlog + 1
    async with system(radios=1, units=f"{FIRST_UNIT}-{urgent_unit}", baud=baud) as sys_:
        dispatch = sys_.dispatch
        await dispatch.callout(
            callout_id="warm",
            incident_id="I-warm",
            units=[{"issi": warm_unit, "role": "ambulance"}],
            text=TEXT,
        )
        await dispatch.wait_for(lambda: bool(dispatch.finals("warm")), 30, "warm")
        published: dict[int, float] = {}
        for n in range(backlog):
            published[FIRST_UNIT + n] = time.time()
            await dispatch.callout(
                callout_id=f"R-{n}",
                incident_id=f"I-R-{n}",
                priority="3",
                units=[{"issi": FIRST_UNIT + n, "role": "ambulance"}],
                text=TEXT,
                deadline_s=600,
            )
        published[urgent_unit] = time.time()
        await dispatch.callout(
            callout_id="U",
            incident_id="I-U",
            priority="1A",
            units=[{"issi": urgent_unit, "role": "ambulance"}],
            text=TEXT,
            deadline_s=600,
        )
        ids = ["U", *(f"R-{n}" for n in range(backlog))]
        with contextlib.suppress(TimeoutError):
            await dispatch.wait_for(
                lambda: all(dispatch.finals(c) for c in ids), 60 + backlog, "every callout final"
            )
        await asyncio.sleep(0.2)
        first_byte: dict[int, float] = {}
        for read in sys_.emulator.get("/radios/gw1/rx-log"):
            match = _CMGS.match(read["head"])
            if match and int(match.group(1)) in published:
                first_byte.setdefault(int(match.group(1)), read["at"])
    order = sorted(first_byte, key=first_byte.__getitem__)
    routine = [u for u in order if u != urgent_unit]
    times = [first_byte[u] for u in routine]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    waits = {u: (first_byte[u] - published[u]) * 1e3 for u in first_byte}
    return {
        "baud": baud,
        "backlog": backlog,
        "written": len(first_byte),
        "urgent_wait_ms": round(waits[urgent_unit], 1) if urgent_unit in waits else None,
        "routine_written_before_urgent": (
            order.index(urgent_unit) if urgent_unit in first_byte else None
        ),
        "last_routine_wait_ms": round(waits[routine[-1]], 1) if routine else None,
        "line_ms_per_sds": round(percentile(gaps, 0.5) * 1e3, 1) if gaps else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=100)
    parser.add_argument("--baud", type=int, default=38400)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.backlog, args.baud))))


if __name__ == "__main__":
    main()
