"""`python -m bench` (`make bench`): run the benchmarks and rewrite their sections of docs/performance.md.

python -m bench                      everything (about 15 minutes on 2 cores)
python -m bench --quick              shorter runs, fewer rounds (about 5 minutes)
python -m bench --only cold,warm     some of: cold, warm, baseline, load, dynalite, compute
python -m bench --no-write           print the sections instead of writing the file
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

BENCHMARKS = ("cold", "warm", "baseline", "load", "dynalite", "compute")
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "performance.md"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs and fewer rounds")
    parser.add_argument("--only", default=",".join(BENCHMARKS), help=f"comma-separated subset of {BENCHMARKS}")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--no-write", action="store_true", help="print the sections, leave the file alone")
    args = parser.parse_args(argv)
    selected = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(selected) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {BENCHMARKS}")
    args.selected = selected
    return args


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python -m bench " + shlex.join(list(argv) if argv is not None else sys.argv[1:])
    plan = suite.Plan.quick(command.strip()) if args.quick else suite.Plan(command.strip())
    runners: dict[str, tuple[str, Callable[[], str]]] = {
        "cold": ("cold-start", lambda: suite.cold(plan, log)),
        "warm": ("warm", lambda: suite.warm_section(plan, log)),
        "baseline": ("load-baseline", lambda: suite.baseline_section(plan, log)),
        "load": ("load-moto", lambda: suite.load_section(plan, log, None)),
        "dynalite": ("load-dynalite", lambda: suite.load_section(plan, log, "dynalite")),
        "compute": ("load-compute", lambda: suite.compute_section(plan, log)),
    }
    sections: dict[str, str] = {}
    for name in BENCHMARKS:
        if name not in args.selected:
            continue
        section_name, run = runners[name]
        started = time.perf_counter()
        sections[section_name] = _dynalite(plan, run) if name in ("dynalite", "compute") else run()
        log(f"{name} done in {time.perf_counter() - started:.0f} s")
        if not args.no_write:  # write as we go: a long run that fails late keeps what it measured
            report.write_sections(args.output, {section_name: sections[section_name]})
    if args.no_write:
        for name, text in sections.items():
            print(f"\n## {name}\n\n{text}")
    else:
        log(f"wrote {args.output}")
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
