"""Fuzz every target for a fixed time budget: ``python -m tests.fuzz.run --budget-s 300``.

The budget is shared equally by the selected targets. Each target runs hypothesis in
batches (fresh random seeds each batch) until its share of the budget is spent; a failing
example is shrunk and printed with the traceback (the example itself, and a
``@reproduce_failure`` blob). Pin every failure found as a test with that example in
``tests/fuzz/test_regressions.py``: the quick pytest run does not replay the runner's finds.

Prints, per target, the examples tried, the rate, and anything found; exits 1 if anything
was found, 0 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings

from tests.fuzz.targets import TARGETS, TARGETS_BY_NAME, FuzzTarget

_FIRST_BATCH = 200
_BATCH_SECONDS = 10.0
_MAX_LINES = 40
_MAX_LINE = 240


@dataclass
class TargetReport:
    """What one target's run did."""

    name: str
    examples: int = 0
    seconds: float = 0.0
    batches: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.examples / self.seconds if self.seconds > 0 else 0.0


def _batch(target: FuzzTarget, max_examples: int, report: TargetReport) -> None:
    def body(example: Any) -> None:
        report.examples += 1
        target.check(example)

    run = settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
        print_blob=True,
    )(given(target.inputs)(body))
    run()


def fuzz_target(target: FuzzTarget, seconds: float) -> TargetReport:
    """Run ``target`` for about ``seconds`` (a batch in progress is finished)."""
    report = TargetReport(target.name)
    start = time.monotonic()
    batch = _FIRST_BATCH
    while time.monotonic() - start < seconds:
        try:
            _batch(target, batch, report)
        except Exception as exc:  # anything escaping the check is a finding
            report.failures.append(_summarise(exc))
            report.batches += 1
            break
        report.batches += 1
        elapsed = time.monotonic() - start
        rate = report.examples / elapsed if elapsed > 0 else 0.0
        remaining = seconds - elapsed
        batch = max(50, int(rate * min(_BATCH_SECONDS, remaining)))
    report.seconds = time.monotonic() - start
    return report


def _summarise(exc: BaseException) -> str:
    """The traceback and hypothesis's notes (the failing example), long lines cut short."""
    lines = "".join(traceback.format_exception(exc)).splitlines()
    unique = list(dict.fromkeys(lines[-_MAX_LINES:]))  # hypothesis repeats its notes
    return "\n".join(
        line if len(line) <= _MAX_LINE else f"{line[:_MAX_LINE]}... ({len(line)} chars)"
        for line in unique
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.run", description=__doc__)
    parser.add_argument("--budget-s", type=float, default=300.0, help="total seconds (default 300)")
    parser.add_argument(
        "--target",
        action="append",
        choices=sorted(TARGETS_BY_NAME),
        help="fuzz only this target (repeatable); default: all",
    )
    args = parser.parse_args(argv)
    targets = [TARGETS_BY_NAME[name] for name in args.target] if args.target else list(TARGETS)
    share = args.budget_s / len(targets)
    print(f"fuzzing {len(targets)} targets for {args.budget_s:.0f} s ({share:.0f} s each)")
    reports = []
    for target in targets:
        report = fuzz_target(target, share)
        reports.append(report)
        verdict = f"FOUND {len(report.failures)}" if report.failures else "ok"
        print(
            f"  {report.name:<22} {report.examples:>9} examples  {report.seconds:6.1f} s  "
            f"{report.rate:8.0f}/s  {verdict}",
            flush=True,
        )
    found = [(r.name, f) for r in reports for f in r.failures]
    total = sum(r.examples for r in reports)
    print(f"total: {total} examples, {len(found)} finding(s)")
    for name, failure in found:
        print(f"\n===== {name} =====\n{failure}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
