"""The figures of a chaos run: a table for the terminal and a JSON document for the record."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

from tests.chaos.runner import ChaosRun


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def summary(run: ChaosRun) -> dict[str, Any]:
    """The run as a JSON-ready dict (what ``benchmarks/results/chaos.json`` holds)."""
    findings, options = run.findings, run.options
    return {
        "ok": findings.ok,
        "options": {
            "callouts": options.callouts,
            "radios": options.radios,
            "units": options.units,
            "seed": options.seed,
            "callout_rate_per_s": options.callout_rate,
            "deadline_s": options.deadline_s,
            "slack_s": options.slack_s,
            "fault_rates_per_min": options.rates if not options.fault_list else None,
            "fault_list": list(options.fault_list) or None,
            "probe_rate_per_s": options.probe_rate,
        },
        "elapsed_s": round(run.elapsed_s, 1),
        "callouts": findings.callouts,
        "accepted": findings.accepted,
        "unit_sends": findings.unit_sends,
        "faults": run.fault_counts,
        "lost": findings.lost,
        "double_finals": findings.double_finals,
        "delivered": findings.delivered,
        "unreached": findings.unreached,
        "unreached_out_of_coverage": findings.unreached_excused,
        "mqtt_redeliveries_merged": findings.mqtt_redeliveries,
        "unit_duplicates": findings.unit_duplicates,
        "unit_duplicates_unexplained": findings.unit_duplicates_unexplained,
        "statuses_sent": findings.statuses_sent,
        "statuses_received": findings.statuses_received,
        "statuses_lost": findings.statuses_lost,
        "statuses_lost_while_line_dead": findings.statuses_exposed_lost,
        "statuses_out_of_order": findings.statuses_out_of_order,
        "talkgroups": findings.talkgroups,
        "talkgroups_of_closed_incidents": findings.talkgroups_closed,
        "talkgroups_left_unreleased": findings.talkgroups_left,
        "talkgroups_stray_on_network": findings.talkgroups_stray,
        "delivered_p50_s": _round(findings.percentile(50)),
        "delivered_p99_s": _round(findings.percentile(99)),
        "publish_retries": run.publish_retries,
        "audit_verify": run.audit,
        "radio_counters": run.radio_counters,
        "failures": findings.failures,
        "fault_log": [
            {"kind": f.kind, "target": f.target, "start": round(f.start, 1), "end": round(f.end, 1)}
            for f in sorted(run.faults, key=lambda f: f.start)
        ],
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def table(run: ChaosRun) -> str:
    """A plain-text table of the figures, and the failures when there are any."""
    data = summary(run)
    rows = [
        ("callouts (accepted / published)", f"{data['accepted']} / {data['callouts']}"),
        ("unit sends", data["unit_sends"]),
        *((f"fault: {kind}", count) for kind, count in data["faults"].items()),
        ("LOST (no final event)", data["lost"]),
        ("more than one final", data["double_finals"]),
        ("delivered", data["delivered"]),
        (
            "unreached (all out of coverage)",
            f"{data['unreached']} ({data['unreached_out_of_coverage']})",
        ),
        ("MQTT redeliveries merged", data["mqtt_redeliveries_merged"]),
        (
            "duplicates at units (unexplained)",
            f"{data['unit_duplicates']} ({data['unit_duplicates_unexplained']})",
        ),
        ("statuses sent / received", f"{data['statuses_sent']} / {data['statuses_received']}"),
        (
            "statuses lost (line dead / else)",
            f"{data['statuses_lost_while_line_dead']} / {data['statuses_lost']}",
        ),
        ("statuses out of order (units)", data["statuses_out_of_order"]),
        (
            "talk groups (of closed incidents / left / stray)",
            f"{data['talkgroups']} ({data['talkgroups_of_closed_incidents']} / "
            f"{data['talkgroups_left_unreleased']} / {data['talkgroups_stray_on_network']})",
        ),
        ("time to delivered p50", _seconds(data["delivered_p50_s"])),
        ("time to delivered p99", _seconds(data["delivered_p99_s"])),
        ("audit verify", data["audit_verify"] or "-"),
        ("elapsed", f"{data['elapsed_s']} s"),
        ("RESULT", "PASS" if data["ok"] else "FAIL"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name.ljust(width)}  {value}" for name, value in rows]
    if data["failures"]:
        lines += ["", "failures:", *(f"  - {failure}" for failure in data["failures"])]
    return "\n".join(lines)


def write_json(run: ChaosRun, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary(run), indent=2, sort_keys=False) + "\n")
