"""`python -m bench` (`make bench`): run the benchmarks and print their sections of docs/performance.md.

python -m bench                      everything, printed; docs/performance.md is left alone
python -m bench --write              the same, and rewrite the figures in docs/performance.md
python -m bench --quick              shorter runs, fewer rounds
python -m bench --only cold,warm     some of: cold, process, warm, baseline, load, design, dynalite, compute
python -m bench --only design --baseline REF   the design load on this tree's stack and on commit REF's

Without --write the sections are also kept, as each benchmark ends, in bench/results/performance.md
(not committed), so a long run that fails late keeps what it measured.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import emulators, report, suite

BENCHMARKS = ("cold", "process", "warm", "baseline", "load", "design", "dynalite", "compute")
REPO = Path(__file__).resolve().parent.parent
DOCS_OUTPUT = REPO / "docs" / "performance.md"
RESULTS_OUTPUT = REPO / "bench" / "results" / "performance.md"  # .gitignore
# Rough wall-clock time of each part on 2 cores, full and --quick (the stack's start included).
DURATIONS = {
    "cold": ("2 min", "1 min"),
    "process": ("1 min", "30 s"),
    "warm": ("1 min", "15 s"),
    "baseline": ("1.5 min", "30 s"),
    "load": ("5 min", "2.5 min"),
    "design": ("9 min", "3 min"),
    "dynalite": ("7 min, + a first npm install", "3 min"),
    "compute": ("9 min, + a first npm install", "3.5 min"),
}
Runner = tuple[str, Callable[[], str]]  # (section of docs/performance.md, the benchmark)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__.splitlines()[0],
        epilog=durations_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="shorter runs and fewer rounds")
    parser.add_argument("--only", default=",".join(BENCHMARKS), help=f"comma-separated subset of {BENCHMARKS}")
    parser.add_argument("--write", action="store_true", help="rewrite the figures in docs/performance.md (tracked)")
    parser.add_argument(
        "--baseline",
        metavar="REF",
        help="design: compare this tree's stack with commit REF's (before/after), not the index with plain moto",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="write the sections into this file instead (default: bench/results/performance.md, "
        "or docs/performance.md with --write)",
    )
    args = parser.parse_args(argv)
    selected = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(selected) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {BENCHMARKS}")
    args.selected = selected
    args.target = args.output or (DOCS_OUTPUT if args.write else RESULTS_OUTPUT)
    return args


def durations_help() -> str:
    rows = [
        ("", "full", "--quick"),
        *((name, *times) for name, times in DURATIONS.items()),
        ("all", "35 min", "14.5 min"),
    ]
    return "\n".join(["rough duration on 2 cores:", *(f"  {a:<10}{b:<30}{c}" for a, b, c in rows)])


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def runners(plan: suite.Plan) -> dict[str, Runner]:
    return {
        "cold": ("cold-start", lambda: suite.cold(plan, log)),
        "process": ("cold-start-process", lambda: suite.process_cold_section(plan, log)),
        "warm": ("warm", lambda: suite.warm_section(plan, log)),
        "baseline": ("load-baseline", lambda: suite.baseline_section(plan, log)),
        "load": ("load-moto", lambda: suite.load_section(plan, log, None)),
        "design": ("load-design", lambda: suite.design_section(plan, log)),
        "dynalite": ("load-dynalite", lambda: _dynalite(plan, lambda: suite.load_section(plan, log, "dynalite"))),
        "compute": ("load-compute", lambda: _dynalite(plan, lambda: suite.compute_section(plan, log))),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python -m bench " + shlex.join(list(argv) if argv is not None else sys.argv[1:])
    options = {"design_baseline": args.baseline}
    plan = suite.Plan.quick(command.strip(), **options) if args.quick else suite.Plan(command.strip(), **options)
    available = runners(plan)
    sections: dict[str, str] = {}
    for name in BENCHMARKS:
        if name not in args.selected:
            continue
        section_name, run = available[name]
        log(f"{name}: about {DURATIONS[name][1 if args.quick else 0]}")
        started = time.perf_counter()
        sections[section_name] = run()
        log(f"{name} done in {time.perf_counter() - started:.0f} s")
        # As we go: a long run that fails late keeps what it measured.
        report.write_sections(args.target, {section_name: sections[section_name]})
    for name, text in sections.items():
        print(f"\n## {name}\n\n{text}")
    log(f"wrote {args.target}" + ("" if args.write else f"; {DOCS_OUTPUT.name} is rewritten only with --write"))
    return 0


def _dynalite(plan: suite.Plan, run: Callable[[], str]) -> str:
    """An optional extra that needs node, npm and the registry: without them the rest still runs."""
    why = emulators.dynalite_available()
    if why is None:
        try:
            return run()
        except (subprocess.SubprocessError, OSError, RuntimeError) as error:
            why = f"it could not start ({error})"
    log(f"dynalite skipped: {why}")
    return f"{report.stamp(plan.command)}\n\n_Skipped: {why}._"


if __name__ == "__main__":
    raise SystemExit(main())
