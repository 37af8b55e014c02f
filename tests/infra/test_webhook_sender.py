"""The webhook sender (issue 18) in every variant, both compute options: a Lambda function per region from
`routes.WEBHOOK_SENDER`, scheduled every minute like the resolver, outside any VPC, with its own log group,
exactly the Function row's IAM, the per-function alarms, the oldest-undelivered alarm (a validated stack
setting) and its graphs on the dashboard."""

from __future__ import annotations

from typing import Any

import pytest

from components.monitoring import AlarmThresholds
from handlers.contract import routes, schema
from tests.infra.helpers import (
    ALARM,
    DASHBOARD,
    DEPLOYMENT_GROUP,
    LOG_GROUP,
    PERMISSION,
    function_by_name,
    function_policy,
    live_alias,
    statement,
)
from tests.infra.program import ProgramRun, run_program

SENDER = routes.WEBHOOK_SENDER
NAME = f"payment-gateway-{SENDER.name}"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
VARIANTS = ["eu", "us", "eu_domain", "us_domain", "eu_fargate", "us_fargate"]


@pytest.fixture(params=VARIANTS)
def stack(request: pytest.FixtureRequest) -> ProgramRun:
    run: ProgramRun = request.getfixturevalue(request.param)
    return run


def _prefix(run: ProgramRun) -> str:
    names = {r.name for r in run.of_type(RULE)}
    return "functions" if "functions-resolver-schedule" in names else "gateway"


def _alarms(run: ProgramRun) -> dict[str, dict[str, Any]]:
    return {a.plain["name"].removeprefix(f"payment-gateway-{run.region}-"): a.plain for a in run.of_type(ALARM)}


def test_the_function_runs_the_sender_handler_outside_any_vpc_with_the_resolvers_timeout(stack: ProgramRun) -> None:
    function = function_by_name(stack, NAME).plain
    resolver = function_by_name(stack, "payment-gateway-resolver").plain
    assert function["handler"] == SENDER.handler == "handlers.entrypoints.webhook_job.deliver"
    assert not function.get("vpcConfig")  # Lambda's own egress reaches merchants' URLs on the internet
    assert function["timeout"] == resolver["timeout"] == 60
    assert function["loggingConfig"]["logGroup"] == f"/aws/lambda/{NAME}"
    [log_group] = [g for g in stack.of_type(LOG_GROUP) if g.plain["name"] == f"/aws/lambda/{NAME}"]
    assert log_group.plain["kmsKeyId"] and log_group.plain["retentionInDays"] == 365


def test_it_has_the_heartbeat_rule_but_no_bank_and_no_secret(stack: ProgramRun) -> None:
    variables = function_by_name(stack, NAME).plain["environment"]["variables"]
    resolver = function_by_name(stack, "payment-gateway-resolver").plain["environment"]["variables"]
    assert variables["PEER_REGIONS"] == resolver["PEER_REGIONS"] == "eu-west-1,us-east-1"
    assert variables["RESOLVER_TAKEOVER_SECONDS"] == resolver["RESOLVER_TAKEOVER_SECONDS"]
    assert not {"BANK_URL", "FINGERPRINT_KEY"} & set(variables)


def test_it_is_scheduled_every_minute_on_its_live_alias_without_retries(stack: ProgramRun) -> None:
    prefix = _prefix(stack)
    rule = stack.one(RULE, f"{prefix}-{SENDER.name}-schedule").plain
    assert rule["scheduleExpression"] == "rate(1 minute)" and rule["name"] == NAME
    target = stack.one(TARGET, f"{prefix}-{SENDER.name}-target").plain
    assert target["arn"] == live_alias(stack, NAME).outputs["arn"]
    assert target["retryPolicy"]["maximumRetryAttempts"] == 0
    permission = stack.one(PERMISSION, f"{prefix}-{SENDER.name}-schedule-permission").plain
    assert permission["principal"] == "events.amazonaws.com" and permission["qualifier"] == "live"


def test_its_iam_is_exactly_the_function_row(stack: ProgramRun) -> None:
    policy = function_policy(stack, function_by_name(stack, NAME))
    table = statement(policy, "TableItems")
    assert table is not None
    assert sorted(table["Action"]) == sorted(SENDER.table_actions)
    assert table["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(SENDER.leading_keys)}}
    assert {"MERCHANT#*", "WEBHOOK#*", "HEARTBEAT"} == set(SENDER.leading_keys)
    assert [r.rsplit("/", 1)[-1] for r in table["Resource"][1:]] == [schema.WEBHOOK_INDEX]  # its own index only
    assert not {"dynamodb:Scan", "dynamodb:DeleteItem", "dynamodb:UpdateItem"} & set(table["Action"])
    log = statement(policy, "OwnLogGroup")
    assert log is not None and [r.rsplit(":", 2)[-2] for r in log["Resource"]] == [f"/aws/lambda/{NAME}"]


def test_it_has_the_resolvers_alarms_and_a_deployment_group(stack: ProgramRun) -> None:
    alarms = _alarms(stack)
    for kind in ("errors", "throttles", "duration-p99"):
        assert alarms[f"{SENDER.name}-{kind}"]["dimensions"] == {"FunctionName": NAME}
    assert alarms[f"{SENDER.name}-duration-p99"]["threshold"] == 60 * 1000 * 0.8
    groups = {g.plain["deploymentGroupName"] for g in stack.of_type(DEPLOYMENT_GROUP)}
    assert any(name.endswith(SENDER.name) for name in groups)


def test_oldest_undelivered_pages_after_15_minutes_by_default_and_when_the_sender_is_silent(
    stack: ProgramRun,
) -> None:
    alarm = _alarms(stack)["oldest-undelivered"]
    assert AlarmThresholds().oldest_undelivered_seconds == 900
    assert (alarm["metricName"], alarm["namespace"], alarm["statistic"]) == (
        "OldestUndeliveredAge",
        "PaymentGateway",
        "Maximum",
    )
    assert alarm["threshold"] == 900 and alarm["comparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["treatMissingData"] == "breaching"
    assert alarm["alarmActions"] and alarm["okActions"]


def test_the_threshold_is_a_stack_setting() -> None:
    run = run_program("us", {"payment-gateway:alarmOldestUndeliveredSeconds": "3600"})
    assert _alarms(run)["oldest-undelivered"]["threshold"] == 3600
    [dashboard] = run.of_type(DASHBOARD)
    [graph] = [
        w for w in dashboard.json("dashboardBody")["widgets"] if "oldest undelivered" in w["properties"]["title"]
    ]
    assert graph["properties"]["annotations"]["horizontal"][0]["value"] == 3600


def test_the_dashboard_graphs_deliveries_by_outcome_the_oldest_and_endpoints_disabled(stack: ProgramRun) -> None:
    widgets = {w["properties"]["title"]: w["properties"] for w in stack.one(DASHBOARD).json("dashboardBody")["widgets"]}
    [search] = widgets["Webhook deliveries by outcome"]["metrics"]
    assert 'MetricName="WebhookDeliveries"' in search[0]["expression"] and "Outcome" in search[0]["expression"]
    graphed = {m[1] for m in widgets["Webhooks: oldest undelivered (s), endpoints disabled"]["metrics"]}
    assert graphed == {"OldestUndeliveredAge", "EndpointsDisabled"}
    errors = {m[3] for m in widgets["Lambda errors and throttles"]["metrics"]}
    assert NAME in errors
