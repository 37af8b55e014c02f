"""Capacity and monthly cost of the payment gateway from parameters: `python -m bench.cost`.

python -m bench.cost                       the design at 10,000 requests/minute, to stdout
python -m bench.cost --write               also rewrite the figures in docs/cost.md
python -m bench.cost --rpm 20000 --memory-mb 256 --bank-ms 300
python -m bench.cost --measured bench/results/warm.json   CPU and log bytes from the last `make bench`
python -m bench.cost --manual-share 0.5 --refund-share 0.2  the payment lifecycle's what if
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from bench import report
from bench.cost.model import Model
from bench.cost.parameters import Parameters
from bench.cost.render import render

DEFAULT_DOC = Path(__file__).resolve().parents[2] / "docs" / "cost.md"


def load_measured(path: Path, parameters: Parameters) -> Parameters:
    """CPU per call and log bytes from `bench/results/warm.json` (the boto3 phase)."""
    measured = json.loads(path.read_text())["boto3"]
    cpu = dict(parameters.cpu_ms)
    logs = dict(parameters.handler_log_bytes)
    for name, values in measured.items():
        key = "post" if name == "post" else name
        if key in cpu:
            cpu[key] = float(values["cpu_ms_median"])
            logs[key] = float(values["log_bytes_median"])
    cpu["health"] = cpu["get"]
    return dataclasses.replace(parameters, cpu_ms=cpu, handler_log_bytes=logs)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cost", description=__doc__.splitlines()[0])
    parser.add_argument("--rpm", type=float, default=10_000, help="requests per minute (default 10,000)")
    parser.add_argument("--regions", type=int, default=2)
    parser.add_argument("--memory-mb", type=int, default=512)
    parser.add_argument("--architecture", choices=("arm64", "x86_64"), default="arm64")
    parser.add_argument("--bank-ms", type=float, default=150.0)
    parser.add_argument("--dynamodb-ms", type=float, default=5.0)
    parser.add_argument("--active-keys", type=int, default=500)
    parser.add_argument(
        "--manual-share",
        type=float,
        default=Parameters().manual_capture_share,
        help="payments with capture_method manual",
    )
    parser.add_argument("--refund-share", type=float, default=Parameters().refund_share, help="payments refunded once")
    parser.add_argument("--measured", type=Path, help="bench/results/warm.json from `python -m bench --only warm`")
    parser.add_argument("--write", action="store_true", help="rewrite the figures in docs/cost.md")
    parser.add_argument("--output", type=Path, default=DEFAULT_DOC)
    args = parser.parse_args(argv)
    parameters = Parameters(
        requests_per_minute=args.rpm,
        regions=args.regions,
        memory_mb=args.memory_mb,
        architecture=args.architecture,
        bank_ms=args.bank_ms,
        dynamodb_call_ms=args.dynamodb_ms,
        active_api_keys=args.active_keys,
        manual_capture_share=args.manual_share,
        refund_share=args.refund_share,
    )
    if args.measured:
        parameters = load_measured(args.measured, parameters)
    command = "python -m bench.cost " + shlex.join(list(argv) if argv is not None else sys.argv[1:])
    text = render(Model(parameters), command.strip())
    if args.write:
        report.write_sections(args.output, {"cost-model": text}, title="# Capacity and cost")
    print(text)
    return 0
