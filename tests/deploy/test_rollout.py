"""The rollout on moto (Lambda aliases, CloudWatch alarms, CodeDeploy deployments), with
tests/deploy/conftest.py's engine playing CodeDeploy: what serves traffic at the end, and the exit code."""

from __future__ import annotations

import json

import pytest

from deploy.rollout import (
    RESTORE_SECONDS,
    AliasState,
    Plan,
    RolloutError,
    Step,
    Target,
    changed,
    plan_from_outputs,
    shift_seconds,
)
from tests.deploy.conftest import API_ALARMS, APPLICATION, POLL, Aws, Engine, alarm_of


def test_every_changed_function_is_shifted_at_once_and_unchanged_ones_are_left_alone(aws: Aws, engine: Engine) -> None:
    payments, reads = aws.function("create-payment", 2), aws.function("get-payment", 3)
    health = aws.function("health", 1)  # its alias already serves its only version
    assert aws.rollout(engine).run(aws.plan([payments, reads, health])) == 0
    assert [aws.alias(t.function_name) for t in (payments, reads, health)] == [("2", {}), ("3", {}), ("1", {})]
    deployments = {d.deployment_group_name: d for d in aws.deployments()}
    assert set(deployments) == {"create-payment", "get-payment"}
    assert {d.status for d in deployments.values()} == {"Succeeded"}
    assert {d.application_name for d in deployments.values()} == {APPLICATION}
    # Both started together: the region's rollout lasts one canary, not one per function.
    assert engine.now < 2 * engine.canary_seconds
    content = deployments["get-payment"].revision["appSpecContent"]["content"]
    assert json.loads(content) == {
        "version": 0.0,
        "Resources": [
            {
                "GetPayment": {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {
                        "Name": "payment-gateway-get-payment",
                        "Alias": "live",
                        "CurrentVersion": "1",
                        "TargetVersion": "3",
                    },
                }
            }
        ],
    }


def test_an_alarm_during_the_canary_stops_every_deployment_and_the_previous_versions_serve(
    aws: Aws, engine: Engine
) -> None:
    targets = [aws.function(role, 2) for role in ("create-payment", "get-payment", "health")]
    engine.at[2 * POLL] = aws.fire(alarm_of("create-payment"))  # mid-canary: 10% on version 2
    assert aws.rollout(engine).run(aws.plan(targets)) == 1
    assert [aws.alias(t.function_name) for t in targets] == [("1", {})] * 3  # nobody on the failed version
    statuses = {d.deployment_group_name: d.status for d in aws.deployments()}
    assert statuses == {"create-payment": "Stopped", "get-payment": "Stopped", "health": "Stopped"}
    assert len(engine.stopped) == 2  # the failed one CodeDeploy stopped; the rest the tool did
    assert any("create-payment" in line and "stopped" in line for line in aws.reports)
    assert "create-payment: serving version 1 again" in aws.reports


def test_a_function_already_shifted_when_another_fails_is_put_back_too(aws: Aws, engine: Engine) -> None:
    """All the functions run one archive: none stays on a release that failed elsewhere."""
    quick, slow = aws.function("health", 2), aws.function("create-payment", 2)
    original = engine._advance

    def slower_for_payments(deployment: object) -> None:
        if getattr(deployment, "deployment_group_name", "") != "create-payment" or engine.now > 400:
            original(deployment)

    engine._advance = slower_for_payments  # type: ignore[method-assign]
    engine.at[engine.canary_seconds + 3 * POLL] = aws.fire(alarm_of("create-payment"))
    assert aws.rollout(engine).run(aws.plan([quick, slow])) == 1
    statuses = {d.deployment_group_name: d.status for d in aws.deployments()}
    assert statuses["health"] == "Succeeded"  # it had finished...
    assert aws.alias(quick.function_name) == ("1", {})  # ...and was pointed back by the tool
    assert aws.alias(slow.function_name) == ("1", {})


def test_nothing_changed_starts_nothing(aws: Aws, engine: Engine) -> None:
    assert aws.rollout(engine).run(aws.plan([aws.function("health", 1)])) == 0
    assert aws.deployments() == []
    assert aws.reports == ["nothing to roll out: every alias serves its function's latest version"]


def test_an_alarm_already_firing_refuses_before_starting(aws: Aws, engine: Engine) -> None:
    """CodeDeploy would stop the canary at once: say why instead (a fix during an incident: all-at-once)."""
    target = aws.function("health", 2)
    aws.fire(API_ALARMS[0])()
    assert aws.rollout(engine).run(aws.plan([target])) == 1
    assert aws.deployments() == [] and aws.alias(target.function_name) == ("1", {})
    assert API_ALARMS[0] in aws.reports[-1]


def test_a_missing_alarm_refuses_too(aws: Aws, engine: Engine) -> None:
    target = aws.function("health", 2)
    aws.cloudwatch.delete_alarms(AlarmNames=[alarm_of("health")])
    assert aws.rollout(engine).run(aws.plan([target])) == 1
    assert f"{alarm_of('health')} (missing)" in aws.reports[-1]


def test_an_alias_left_mid_shift_is_refused(aws: Aws, engine: Engine) -> None:
    target = aws.function("health", 2)
    aws.route({"Name": target.function_name, "CurrentVersion": "1"}, {"2": 0.1})
    with pytest.raises(RolloutError, match="splits its traffic"):
        aws.rollout(engine).run(aws.plan([target]))
    assert aws.deployments() == []


def test_a_deployment_that_never_finishes_is_stopped_at_the_timeout(aws: Aws, engine: Engine) -> None:
    target = aws.function("health", 2)
    engine.frozen = True
    assert aws.rollout(engine).run(aws.plan([target])) == 1
    assert engine.now >= shift_seconds(aws.plan([target]).deployment_config or "")
    assert engine.stopped and aws.alias(target.function_name) == ("1", {})
    assert any("not finished in time" in line for line in aws.reports)


def test_an_alarm_while_baking_shifts_every_function_back(aws: Aws, engine: Engine) -> None:
    targets = [aws.function("health", 2), aws.function("get-payment", 2)]
    engine.at[engine.canary_seconds + 4 * 60] = aws.fire(API_ALARMS[1])  # after the shift, within the bake
    assert aws.rollout(engine).run(aws.plan(targets), bake_seconds=600) == 1
    assert {d.status for d in aws.deployments()} == {"Succeeded"}
    assert [aws.alias(t.function_name) for t in targets] == [("1", {})] * 2
    assert any("fired while baking" in line for line in aws.reports)


def test_a_quiet_bake_keeps_the_new_versions(aws: Aws, engine: Engine) -> None:
    target = aws.function("health", 2)
    assert aws.rollout(engine).run(aws.plan([target]), bake_seconds=600) == 0
    assert aws.alias(target.function_name) == ("2", {})
    assert engine.now >= engine.canary_seconds + 600


def test_a_failure_starting_a_deployment_stops_those_already_started(aws: Aws, engine: Engine) -> None:
    started = aws.function("health", 2)
    unknown_group = Target("ghost", started.function_name, "live", "2", "no-such-group", started.alarms)
    assert aws.rollout(engine).run(aws.plan([started, unknown_group])) == 1
    assert [d.status for d in aws.deployments()] == ["Stopped"]
    assert aws.alias(started.function_name) == ("1", {})
    assert any("rollout failed" in line for line in aws.reports)


def test_an_interrupted_rollout_stops_its_deployments(aws: Aws, engine: Engine) -> None:
    target = aws.function("health", 2)

    def interrupt() -> None:
        raise KeyboardInterrupt

    engine.at[2 * POLL] = interrupt
    with pytest.raises(KeyboardInterrupt):
        aws.rollout(engine).run(aws.plan([target]))
    assert engine.stopped and aws.alias(target.function_name) == ("1", {})


def test_when_codedeploy_does_not_shift_back_the_tool_does(aws: Aws, engine: Engine) -> None:
    target = aws.function("health", 2)
    engine.at[2 * POLL] = aws.fire(alarm_of("health"))
    original = engine._shift_back
    engine._shift_back = lambda deployment, status: setattr(deployment, "status", status)  # type: ignore[method-assign]
    assert aws.rollout(engine).run(aws.plan([target])) == 1
    assert aws.alias(target.function_name) == ("1", {})
    assert engine.now >= 2 * POLL + RESTORE_SECONDS  # it gave CodeDeploy its time first
    engine._shift_back = original  # type: ignore[method-assign]


def test_all_at_once_only_checks_that_pulumi_moved_the_aliases(aws: Aws, engine: Engine) -> None:
    target = aws.function("health", 2)
    aws.point(target.function_name, "2")
    assert aws.rollout(engine).run(aws.plan([target], config=None)) == 0
    assert aws.deployments() == []
    aws.point(target.function_name, "1")
    assert aws.rollout(engine).run(aws.plan([target], config=None)) == 1


# --- pure parts ---------------------------------------------------------------------------------


OUTPUTS = {
    "region": "us-east-1",
    "deployment": {
        "strategy": "canary-10-percent-5-minutes",
        "deploymentConfig": "CodeDeployDefault.LambdaCanary10Percent5Minutes",
        "application": "payment-gateway",
        "functions": {
            "health": {
                "functionName": "payment-gateway-health",
                "alias": "live",
                "version": "4",
                "deploymentGroup": "health",
                "alarms": ["a", "b"],
            }
        },
    },
}


def test_the_plan_is_read_from_the_stack_outputs() -> None:
    plan = plan_from_outputs(OUTPUTS)
    assert plan == Plan(
        region="us-east-1",
        strategy="canary-10-percent-5-minutes",
        deployment_config="CodeDeployDefault.LambdaCanary10Percent5Minutes",
        application="payment-gateway",
        targets=(Target("health", "payment-gateway-health", "live", "4", "health", ("a", "b")),),
    )


def with_health(**changes: object) -> dict[str, object]:
    """OUTPUTS with the health function's entry changed."""
    deployment = OUTPUTS["deployment"]
    assert isinstance(deployment, dict)
    health = {**deployment["functions"]["health"], **changes}
    return {**OUTPUTS, "deployment": {**deployment, "functions": {"health": health}}}


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        ({"region": "eu-west-1"}, "exports no `deployment`"),
        ({**OUTPUTS, "region": None}, "region"),
        (with_health(functionName=7), "functionName"),
        (with_health(version=""), "version"),
        (with_health(deploymentGroup=None), "deploymentGroup"),  # a gradual strategy needs its group
        (with_health(alarms=[None]), "alarms"),
    ],
)
def test_outputs_this_program_did_not_write_are_refused(outputs: dict[str, object], message: str) -> None:
    with pytest.raises(RolloutError, match=message):
        plan_from_outputs(outputs)


@pytest.mark.parametrize(
    ("config", "minutes"),
    [
        ("CodeDeployDefault.LambdaCanary10Percent5Minutes", 5),
        ("CodeDeployDefault.LambdaCanary10Percent30Minutes", 30),
        ("CodeDeployDefault.LambdaLinear10PercentEvery1Minute", 10),
        ("CodeDeployDefault.LambdaLinear10PercentEvery10Minutes", 100),
        ("CodeDeployDefault.LambdaAllAtOnce", 0),
    ],
)
def test_the_wait_fits_the_deployment_config(config: str, minutes: int) -> None:
    assert shift_seconds(config) == 60 * minutes


def test_an_unknown_config_is_refused() -> None:
    with pytest.raises(RolloutError, match="predefined"):
        shift_seconds("CodeDeployDefault.OneAtATime")


def test_changed_compares_the_alias_with_the_published_version() -> None:
    class Aliases:
        def get(self, function_name: str, alias: str) -> AliasState:
            return AliasState("3")

        def point(self, function_name: str, alias: str, version: str) -> None:
            raise AssertionError

    target = Target("health", "fn", "live", "4", "health", ("a",))
    same = Target("get-payment", "fn2", "live", "3", "get-payment", ("a",))
    plan = Plan("eu-west-1", "canary-10-percent-5-minutes", "x", "app", (target, same))
    assert changed(plan, Aliases()) == [Step(target, "3")]
