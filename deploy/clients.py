"""deploy.rollout's interfaces on boto3: CodeDeploy deployments, Lambda aliases, CloudWatch alarms."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError

from deploy.rollout import AliasState, Status

# StopDeployment on a deployment that has just finished (succeeded, failed or stopped).
_ALREADY_FINISHED = "DeploymentAlreadyCompletedException"


@dataclass(frozen=True)
class CodeDeployDeployments:
    client: Any  # boto3 "codedeploy" client

    def start(self, application: str, group: str, appspec: str, description: str) -> str:
        """A deployment of the group's own config, from the AppSpec given inline (nothing in S3)."""
        response = self.client.create_deployment(
            applicationName=application,
            deploymentGroupName=group,
            description=description,
            revision={
                "revisionType": "AppSpecContent",
                "appSpecContent": {"content": appspec, "sha256": hashlib.sha256(appspec.encode()).hexdigest()},
            },
        )
        return str(response["deploymentId"])

    def status(self, deployment_id: str) -> Status:
        info = self.client.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
        error = info.get("errorInformation") or {}
        rollback = (info.get("rollbackInfo") or {}).get("rollbackMessage")
        message = "; ".join(str(part) for part in (error.get("code"), error.get("message"), rollback) if part)
        return Status(str(info["status"]), message)

    def stop(self, deployment_id: str) -> bool:
        try:
            self.client.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == _ALREADY_FINISHED:
                return False
            raise
        return True


@dataclass(frozen=True)
class LambdaAliases:
    client: Any  # boto3 "lambda" client

    def get(self, function_name: str, alias: str) -> AliasState:
        response = self.client.get_alias(FunctionName=function_name, Name=alias)
        weights = (response.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        return AliasState(str(response["FunctionVersion"]), {str(k): float(v) for k, v in weights.items()})

    def point(self, function_name: str, alias: str, version: str) -> None:
        self.client.update_alias(
            FunctionName=function_name,
            Name=alias,
            FunctionVersion=version,
            RoutingConfig={"AdditionalVersionWeights": {}},
        )


@dataclass(frozen=True)
class CloudWatchAlarms:
    client: Any  # boto3 "cloudwatch" client

    def firing(self, names: Sequence[str]) -> list[str]:
        states: dict[str, str] = {}
        pages = self.client.get_paginator("describe_alarms").paginate(
            AlarmNames=list(names), AlarmTypes=["MetricAlarm"]
        )
        for page in pages:
            states |= {alarm["AlarmName"]: alarm["StateValue"] for alarm in page["MetricAlarms"]}
        missing = [f"{name} (missing)" for name in names if name not in states]
        return sorted(name for name, state in states.items() if state == "ALARM") + missing


def boto3_clients(region: str) -> tuple[CodeDeployDeployments, LambdaAliases, CloudWatchAlarms]:
    """The three adapters for `region`, with credentials from boto3's usual chain."""
    return (
        CodeDeployDeployments(boto3.client("codedeploy", region_name=region)),
        LambdaAliases(boto3.client("lambda", region_name=region)),
        CloudWatchAlarms(boto3.client("cloudwatch", region_name=region)),
    )
