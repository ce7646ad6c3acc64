"""``python -m tests.chaos``: run the chaos suite, print the table, write the JSON figures.

Exit status 0 when every check passed, 1 when one failed, 2 on bad options.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tests.chaos.plan import DEFAULT_RATES, KINDS, ChaosOptions
from tests.chaos.report import table, write_json
from tests.chaos.runner import run_chaos

DEFAULT_OUTPUT = Path("benchmarks/results/chaos.json")


def _rate(text: str) -> tuple[str, float]:
    kind, sep, value = text.partition("=")
    if not sep or kind not in KINDS:
        raise argparse.ArgumentTypeError(
            f"--rate wants KIND=PER_MIN with KIND in {', '.join(KINDS)}"
        )
    try:
        return kind, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--rate {text}: not a number") from None


def _fault_list(text: str) -> tuple[str, ...]:
    kinds = tuple(k for k in text.split(",") if k)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown fault kinds {unknown} (known: {', '.join(KINDS)})"
        )
    return kinds


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    p.add_argument("--callouts", type=int, default=500)
    p.add_argument("--radios", type=int, default=4)
    p.add_argument("--units", type=int, default=50)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--callout-rate", type=float, default=1.2, help="callouts per second")
    p.add_argument("--deadline", type=int, default=45, help="deadline_s of every callout")
    p.add_argument("--slack", type=float, default=15.0, help="retry slack of the coverage check")
    p.add_argument(
        "--rate",
        type=_rate,
        action="append",
        default=[],
        metavar="KIND=PER_MIN",
        help=f"fault rate per minute (repeat); defaults: {DEFAULT_RATES}",
    )
    p.add_argument(
        "--faults",
        type=_fault_list,
        default=(),
        metavar="KIND,KIND,...",
        help="exactly these faults, evenly spread (instead of the rates)",
    )
    p.add_argument("--probe-rate", type=float, default=1.0, help="unit statuses per second")
    p.add_argument(
        "--coverage-out", type=float, nargs=2, default=(5.0, 50.0), metavar=("MIN", "MAX")
    )
    p.add_argument(
        "--time-limit", type=float, default=900.0, help="seconds; the run gives up after"
    )
    p.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help="JSON figures (default %(default)s)"
    )
    p.add_argument("--workdir", type=Path, help="keep logs and data here (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir even when the run passes")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.callouts < 1 or args.radios < 1 or args.units < 1 or args.callout_rate <= 0:
        print("--callouts, --radios, --units and --callout-rate must be positive", file=sys.stderr)
        return 2
    rates = dict(DEFAULT_RATES)
    rates.update(dict(args.rate))
    options = ChaosOptions(
        callouts=args.callouts,
        radios=args.radios,
        units=args.units,
        seed=args.seed,
        callout_rate=args.callout_rate,
        deadline_s=args.deadline,
        slack_s=args.slack,
        rates=rates,
        fault_list=args.faults,
        probe_rate=args.probe_rate,
        coverage_out_s=tuple(args.coverage_out),
        time_limit_s=args.time_limit,
    )
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="tetragw-chaos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    run = asyncio.run(run_chaos(options, workdir))
    print(table(run))
    write_json(run, args.output)
    print(f"figures written to {args.output}; logs in {workdir}")
    if run.findings.ok and not args.keep and args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if run.findings.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
