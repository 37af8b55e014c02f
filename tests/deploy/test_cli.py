"""`python -m deploy`: pulumi up first, the stack's outputs next, the rollout last, and the exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from deploy import cli
from deploy.clients import CloudWatchAlarms, LambdaAliases
from deploy.rollout import Alarms, Aliases, Deployments
from tests.deploy.conftest import APPLICATION, CANARY, REGION, Aws, Engine, EngineDeployments, Target

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class FakeShell:
    """pulumi, as the tool calls it: `up`'s exit status and `stack output --json`'s text."""

    up_status: int = 0
    outputs: str = "{}"
    commands: list[list[str]] = field(default_factory=list)

    def run(self, command: Sequence[str]) -> int:
        self.commands.append(list(command))
        return self.up_status

    def output(self, command: Sequence[str]) -> str:
        self.commands.append(list(command))
        return self.outputs


def outputs_for(targets: Sequence[Target], config: str | None = CANARY) -> str:
    functions = {
        t.role: {
            "functionName": t.function_name,
            "alias": t.alias,
            "version": t.version,
            "deploymentGroup": t.deployment_group if config else None,
            "alarms": list(t.alarms),
        }
        for t in targets
    }
    deployment = {
        "strategy": "canary-10-percent-5-minutes" if config else "all-at-once",
        "deploymentConfig": config,
        "application": APPLICATION if config else None,
        "functions": functions,
    }
    return json.dumps({"region": REGION, "deployment": deployment, "tableName": "payment-gateway"})


def moto_clients(aws: Aws, engine: Engine) -> Any:
    def clients(region: str) -> tuple[Deployments, Aliases, Alarms]:
        assert region == REGION  # the stack's, from its outputs
        return EngineDeployments(aws.codedeploy, engine), LambdaAliases(aws.lambda_), CloudWatchAlarms(aws.cloudwatch)

    return clients


def main(shell: FakeShell, aws: Aws, engine: Engine, *args: str) -> int:
    return cli.main(
        ["--stack", "eu", *args], shell=shell, clients=moto_clients(aws, engine), sleep=engine.sleep, clock=engine.clock
    )


def test_pulumi_up_then_the_outputs_then_the_rollout(aws: Aws, engine: Engine) -> None:
    target = aws.function("health", 2)
    shell = FakeShell(outputs=outputs_for([target]))
    assert main(shell, aws, engine, "--bake-minutes", "0") == 0
    assert shell.commands == [
        ["pulumi", "up", "--stack", "eu"],
        ["pulumi", "stack", "output", "--json", "--stack", "eu"],
    ]
    assert aws.alias(target.function_name) == ("2", {})


def test_yes_and_skip_up_reach_pulumi(aws: Aws, engine: Engine) -> None:
    shell = FakeShell(outputs=outputs_for([aws.function("health", 1)]))
    assert main(shell, aws, engine, "--yes") == 0
    assert shell.commands[0] == ["pulumi", "up", "--stack", "eu", "--yes"]
    skipped = FakeShell(outputs=shell.outputs)
    assert main(skipped, aws, engine, "--skip-up") == 0
    assert [c[:2] for c in skipped.commands] == [["pulumi", "stack"]]


def test_a_failed_pulumi_up_rolls_nothing_out(aws: Aws, engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    target = aws.function("health", 2)
    shell = FakeShell(up_status=255, outputs=outputs_for([target]))
    assert main(shell, aws, engine) == 255
    assert len(shell.commands) == 1 and aws.deployments() == []
    assert "pulumi up failed" in capsys.readouterr().err


def test_a_failed_canary_exits_1_with_the_previous_version_serving(aws: Aws, engine: Engine) -> None:
    target = aws.function("create-payment", 2)
    engine.at[30.0] = aws.fire(target.alarms[-1])
    assert main(FakeShell(outputs=outputs_for([target])), aws, engine) == 1
    assert aws.alias(target.function_name) == ("1", {})


def test_ctrl_c_restores_and_exits_130(aws: Aws, engine: Engine) -> None:
    target = aws.function("health", 2)

    def interrupt() -> None:
        raise KeyboardInterrupt

    engine.at[30.0] = interrupt
    assert main(FakeShell(outputs=outputs_for([target])), aws, engine) == cli.INTERRUPTED
    assert aws.alias(target.function_name) == ("1", {})


def test_a_bake_watches_the_alarms_after_the_shift(aws: Aws, engine: Engine) -> None:
    target = aws.function("health", 2)
    engine.at[engine.canary_seconds + 120] = aws.fire(target.alarms[0])
    assert main(FakeShell(outputs=outputs_for([target])), aws, engine, "--bake-minutes", "5") == 1
    assert aws.alias(target.function_name) == ("1", {})


def test_an_alias_mid_shift_exits_1_without_starting(
    aws: Aws, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    target = aws.function("health", 2)
    aws.route({"Name": target.function_name, "CurrentVersion": "1"}, {"2": 0.5})
    assert main(FakeShell(outputs=outputs_for([target])), aws, engine) == 1
    assert "splits its traffic" in capsys.readouterr().err and aws.deployments() == []


@pytest.mark.parametrize("outputs", ["not json", "[]", json.dumps({"region": "eu-west-1"})])
def test_unreadable_outputs_are_a_usage_error(
    aws: Aws, engine: Engine, outputs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(FakeShell(outputs=outputs), aws, engine) == cli.USAGE_ERROR
    assert capsys.readouterr().err.startswith("deploy: ")


def test_a_missing_stack_is_a_usage_error() -> None:
    """Never roll out whichever stack happens to be selected."""
    with pytest.raises(SystemExit) as exited:
        cli.main([], shell=FakeShell())
    assert exited.value.code == cli.USAGE_ERROR


@pytest.mark.parametrize("args", [["--bake-minutes", "-1"], ["--poll-seconds", "0"]])
def test_bad_values_are_a_usage_error_before_pulumi_runs(args: list[str]) -> None:
    shell = FakeShell()
    assert cli.main(["--stack", "eu", *args], shell=shell) == cli.USAGE_ERROR
    assert shell.commands == []


def test_the_tool_needs_neither_pulumi_nor_the_handlers() -> None:
    script = (
        "import sys, deploy.cli; print(sorted(m for m in sys.modules if m.split('.')[0] in {'pulumi', 'handlers'}))"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_make_deploy_runs_the_tool_for_the_named_stack() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "$(PY) -m deploy --stack $(STACK)" in makefile


@pytest.mark.parametrize("skip_up", [False, True])
def test_without_the_pulumi_cli_one_line_says_what_is_missing_and_how_to_get_it(skip_up: bool, tmp_path: Path) -> None:
    """A real process on a PATH without pulumi: no traceback, one line, the shell's 127."""
    command = [sys.executable, "-m", "deploy", "--stack", "eu", *(["--skip-up"] if skip_up else [])]
    env = {"PATH": str(tmp_path), "HOME": str(tmp_path)}  # an empty directory: no pulumi on it
    ran = subprocess.run(command, capture_output=True, text=True, env=env, cwd=Path(__file__).parents[2], check=False)
    assert ran.returncode == cli.NOT_INSTALLED
    assert ran.stdout == "" and ran.stderr.count("\n") == 1, ran.stderr
    assert "Pulumi CLI is not installed" in ran.stderr and "get.pulumi.com" in ran.stderr
    assert "Traceback" not in ran.stderr
