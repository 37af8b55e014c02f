"""`python -m deploy --stack eu`: `pulumi up --stack eu`, then the stack's gradual rollout.

Exit status: 0 rolled out (or nothing to roll out); 1 a deployment failed, was stopped by an alarm,
timed out or was refused, and every function serves its previous version; 2 a usage error or
unreadable stack outputs; 130 interrupted (Ctrl-C: deployments stopped, previous versions restored);
`pulumi up`'s own status when it fails (nothing is rolled out then).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from deploy.clients import boto3_clients
from deploy.rollout import Alarms, Aliases, Deployments, Plan, Rollout, RolloutError, plan_from_outputs

USAGE_ERROR = 2
INTERRUPTED = 130
NOT_INSTALLED = 127  # the shell's status for a command it cannot find
PULUMI_MISSING = (
    "the Pulumi CLI is not installed (no `pulumi` on PATH): install it with "
    "`curl -fsSL https://get.pulumi.com | sh` (https://www.pulumi.com/docs/install/), open a new shell, run again"
)


class ToolMissing(Exception):
    """A command the deploy runs is not installed."""


DEFAULT_BAKE_MINUTES = 10


class Shell(Protocol):
    def run(self, command: Sequence[str]) -> int:
        """Run with the terminal attached (pulumi up asks before changing anything)."""

    def output(self, command: Sequence[str]) -> str: ...


class Subprocess:
    def run(self, command: Sequence[str]) -> int:
        try:
            return subprocess.run(list(command), check=False).returncode  # noqa: S603 - our own fixed pulumi command
        except FileNotFoundError:
            raise ToolMissing(command[0]) from None

    def output(self, command: Sequence[str]) -> str:
        try:
            return subprocess.run(list(command), check=True, capture_output=True, text=True).stdout  # noqa: S603
        except FileNotFoundError:
            raise ToolMissing(command[0]) from None


Clients = Callable[[str], tuple[Deployments, Aliases, Alarms]]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m deploy", description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument(
        "--stack", required=True, help="the Pulumi stack, e.g. eu or us (always named: never the selected one)"
    )
    p.add_argument("--yes", action="store_true", help="pass --yes to pulumi up (no interactive confirmation)")
    p.add_argument("--skip-up", action="store_true", help="roll out what the last pulumi up published")
    p.add_argument(
        "--bake-minutes",
        type=float,
        default=DEFAULT_BAKE_MINUTES,
        help=f"then watch the alarms this long, shifting back if one fires (default {DEFAULT_BAKE_MINUTES})",
    )
    p.add_argument("--poll-seconds", type=float, default=15.0, help="how often to check deployments and alarms")
    return p


def main(
    argv: Sequence[str] | None = None,
    *,
    shell: Shell | None = None,
    clients: Clients = boto3_clients,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    args = parser().parse_args(argv)
    if args.bake_minutes < 0 or args.poll_seconds <= 0:
        return _fail("--bake-minutes must be 0 or more and --poll-seconds more than 0")
    try:
        return _deploy(args, shell or Subprocess(), clients, sleep, clock)
    except ToolMissing:
        print(f"deploy: {PULUMI_MISSING}", file=sys.stderr)
        return NOT_INSTALLED


def _deploy(
    args: argparse.Namespace,
    shell: Shell,
    clients: Clients,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> int:
    if not args.skip_up:
        status = shell.run(["pulumi", "up", "--stack", args.stack, *(["--yes"] if args.yes else [])])
        if status != 0:
            print(f"deploy: pulumi up failed ({status}); nothing was rolled out", file=sys.stderr)
            return status
    try:
        plan = _plan(shell, args.stack)
    except (RolloutError, subprocess.CalledProcessError, ValueError) as e:
        return _fail(str(e))
    deployments, aliases, alarms = clients(plan.region)
    rollout = Rollout(
        deployments, aliases, alarms, report=_report, sleep=sleep, clock=clock, poll_seconds=args.poll_seconds
    )
    try:
        return rollout.run(plan, bake_seconds=60 * args.bake_minutes)
    except RolloutError as e:
        print(f"deploy: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # the rollout has stopped its deployments and restored the previous versions
        print("deploy: interrupted", file=sys.stderr)
        return INTERRUPTED


def _plan(shell: Shell, stack: str) -> Plan:
    outputs = json.loads(shell.output(["pulumi", "stack", "output", "--json", "--stack", stack]))
    if not isinstance(outputs, dict):
        raise RolloutError("pulumi stack output --json did not give an object")
    plan = plan_from_outputs(outputs)
    _report(f"stack {stack} ({plan.region}): {plan.strategy}, {len(plan.targets)} published functions")
    return plan


def _report(line: str) -> None:
    print(f"deploy: {line}", flush=True)


def _fail(message: str) -> int:
    print(f"deploy: {message}", file=sys.stderr)
    return USAGE_ERROR
