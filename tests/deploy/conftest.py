"""moto's Lambda, CloudWatch and CodeDeploy for the deploy tool, and a stand-in for CodeDeploy's engine.

moto's CodeDeploy creates applications, groups and deployments and answers GetDeployment, but never
runs a deployment (its status stays `Created`) and has no StopDeployment. `CodeDeployEngine` plays
that part on moto's own state: every tick of the rollout's clock it moves each running deployment
along its AppSpec on moto's Lambda alias (the canary's 10%, then all the traffic) and, when one of its
group's alarms is in ALARM in moto's CloudWatch, stops it and shifts the alias back, as CodeDeploy's
automatic rollback does.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.codedeploy.models import codedeploy_backends

from deploy.clients import CloudWatchAlarms, CodeDeployDeployments, LambdaAliases
from deploy.rollout import Plan, Rollout, Status, Target

REGION = "eu-west-1"
ACCOUNT = "123456789012"
APPLICATION = "payment-gateway"
CANARY = "CodeDeployDefault.LambdaCanary10Percent5Minutes"
POLL = 15.0
API_ALARMS = ("payment-gateway-eu-west-1-api-5xx-rate", "payment-gateway-eu-west-1-api-p99-latency")
ROLES = ("create-payment", "get-payment", "health")


def alarm_of(role: str) -> str:
    return f"payment-gateway-eu-west-1-{role}-5xx-rate"


@dataclass
class Engine:
    """CodeDeploy's part (see the module doc). Time is simulated: `sleep` advances it."""

    aws: Aws
    canary_seconds: float = 300.0
    now: float = 0.0
    frozen: bool = False
    """Deployments never progress (a stuck CodeDeploy)."""
    at: dict[float, Callable[[], None]] = field(default_factory=dict)
    """Things that happen at a simulated time (an alarm firing)."""
    stopped: list[str] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        for when in sorted(t for t in self.at if t <= self.now):
            self.at.pop(when)()
        if not self.frozen:
            for deployment in list(self._backend().deployments.values()):
                self._advance(deployment)

    def clock(self) -> float:
        return self.now

    def stop(self, deployment_id: str) -> bool:
        deployment = self._backend().deployments[deployment_id]
        if deployment.status in {"Succeeded", "Failed", "Stopped"}:
            return False
        self._shift_back(deployment, "Stopped")
        self.stopped.append(deployment_id)
        return True

    def _backend(self) -> Any:
        return codedeploy_backends[ACCOUNT][REGION]

    def _advance(self, deployment: Any) -> None:
        if deployment.status in {"Succeeded", "Failed", "Stopped"}:
            return
        if self._alarm_firing(deployment):
            self._shift_back(deployment, "Stopped")
            return
        properties = self._properties(deployment)
        if deployment.status == "Created":
            deployment.status, deployment.started = "InProgress", self.now
            self.aws.route(properties, {properties["TargetVersion"]: 0.1})
        elif self.now - deployment.started >= self.canary_seconds:
            deployment.status = "Succeeded"
            self.aws.point(properties["Name"], properties["TargetVersion"])

    def _alarm_firing(self, deployment: Any) -> bool:
        names = deployment.deployment_group.alarm_configuration["alarms"]
        alarms = self.aws.cloudwatch.describe_alarms(AlarmNames=[a["name"] for a in names])["MetricAlarms"]
        return any(alarm["StateValue"] == "ALARM" for alarm in alarms)

    def _shift_back(self, deployment: Any, status: str) -> None:
        properties = self._properties(deployment)
        deployment.status = status
        self.aws.point(properties["Name"], properties["CurrentVersion"])

    @staticmethod
    def _properties(deployment: Any) -> dict[str, str]:
        appspec = json.loads(deployment.revision["appSpecContent"]["content"])
        [resource] = appspec["Resources"]
        [(_, function)] = resource.items()
        properties: dict[str, str] = function["Properties"]
        return properties


class EngineDeployments:
    """The real adapter on moto, but for StopDeployment, which moto lacks: the engine does it."""

    def __init__(self, client: Any, engine: Engine) -> None:
        self.real = CodeDeployDeployments(client)
        self.engine = engine

    def start(self, application: str, group: str, appspec: str, description: str) -> str:
        return self.real.start(application, group, appspec, description)

    def status(self, deployment_id: str) -> Status:
        return self.real.status(deployment_id)

    def stop(self, deployment_id: str) -> bool:
        return self.engine.stop(deployment_id)


@dataclass
class Aws:
    """moto's clients, and the stack's functions, aliases, alarms and deployment groups."""

    lambda_: Any
    cloudwatch: Any
    codedeploy: Any
    role_arn: str
    reports: list[str] = field(default_factory=list)

    def function(self, role: str, versions: int) -> Target:
        """A function with `versions` published versions and its live alias on version 1."""
        name = f"payment-gateway-{role}"
        code = _zip(f"VERSION = {versions}")
        self.lambda_.create_function(
            FunctionName=name,
            Runtime="python3.13",
            Role=self.role_arn,
            Handler="h.h",
            Code={"ZipFile": code},
            Publish=True,
        )
        for version in range(2, versions + 1):
            self.lambda_.update_function_code(FunctionName=name, ZipFile=_zip(f"VERSION = {version}"), Publish=True)
        self.lambda_.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
        alarms = (*API_ALARMS, alarm_of(role))
        for alarm in alarms:
            self.cloudwatch.put_metric_alarm(
                AlarmName=alarm,
                Namespace="PaymentGateway",
                MetricName="Responses",
                Statistic="Sum",
                Period=60,
                EvaluationPeriods=5,
                Threshold=1,
                ComparisonOperator="GreaterThanOrEqualToThreshold",
            )
        self.codedeploy.create_deployment_group(
            applicationName=APPLICATION,
            deploymentGroupName=role,
            serviceRoleArn=self.role_arn,
            deploymentConfigName=CANARY,
            deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
            alarmConfiguration={"enabled": True, "alarms": [{"name": a} for a in alarms]},
            autoRollbackConfiguration={"enabled": True, "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]},
        )
        return Target(role, name, "live", str(versions), role, alarms)

    def alias(self, function_name: str) -> tuple[str, dict[str, float]]:
        alias = self.lambda_.get_alias(FunctionName=function_name, Name="live")
        return alias["FunctionVersion"], alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})

    def point(self, function_name: str, version: str) -> None:
        LambdaAliases(self.lambda_).point(function_name, "live", version)

    def route(self, properties: dict[str, str], weights: dict[str, float]) -> None:
        self.lambda_.update_alias(
            FunctionName=properties["Name"],
            Name="live",
            FunctionVersion=properties["CurrentVersion"],
            RoutingConfig={"AdditionalVersionWeights": weights},
        )

    def fire(self, alarm: str) -> Callable[[], None]:
        return lambda: self.cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="test")

    def deployments(self) -> list[Any]:
        return list(codedeploy_backends[ACCOUNT][REGION].deployments.values())

    def plan(self, targets: list[Target], config: str | None = CANARY) -> Plan:
        strategy = "canary-10-percent-5-minutes" if config else "all-at-once"
        return Plan(REGION, strategy, config, APPLICATION if config else None, tuple(targets))

    def rollout(self, engine: Engine) -> Rollout:
        return Rollout(
            deployments=EngineDeployments(self.codedeploy, engine),
            aliases=LambdaAliases(self.lambda_),
            alarms=CloudWatchAlarms(self.cloudwatch),
            report=self.reports.append,
            sleep=engine.sleep,
            clock=engine.clock,
            poll_seconds=POLL,
        )


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("h.py", f"{source}\ndef h(event, context):\n    return VERSION\n")
    return buffer.getvalue()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        iam = boto3.client("iam", region_name=REGION)
        trust = {
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ]
        }
        role = iam.create_role(RoleName="fn", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        codedeploy = boto3.client("codedeploy", region_name=REGION)
        codedeploy.create_application(applicationName=APPLICATION, computePlatform="Lambda")
        yield Aws(
            boto3.client("lambda", region_name=REGION), boto3.client("cloudwatch", region_name=REGION), codedeploy, role
        )


@pytest.fixture
def engine(aws: Aws) -> Engine:
    return Engine(aws)
