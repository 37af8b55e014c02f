"""The boto3 adapters: on moto where it implements the call, on botocore's Stubber (requests checked
against the service model) for StopDeployment and the error details moto leaves empty."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.stub import Stubber

from deploy.clients import CloudWatchAlarms, CodeDeployDeployments, LambdaAliases, boto3_clients
from deploy.rollout import AliasState, Status
from tests.deploy.conftest import API_ALARMS, APPLICATION, CANARY, REGION, Aws, alarm_of


def test_a_deployment_is_started_with_the_appspec_inline_and_its_status_read(aws: Aws) -> None:
    aws.function("health", 2)
    deployments = CodeDeployDeployments(aws.codedeploy)
    appspec = json.dumps({"version": 0.0, "Resources": []})
    deployment_id = deployments.start(APPLICATION, "health", appspec, "health: version 1 -> 2")
    info = aws.codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    assert info["revision"] == {
        "revisionType": "AppSpecContent",
        "appSpecContent": {"content": appspec, "sha256": hashlib.sha256(appspec.encode()).hexdigest()},
    }
    assert info["deploymentConfigName"] == CANARY  # the group's own
    assert info["description"] == "health: version 1 -> 2"
    assert deployments.status(deployment_id) == Status("Created")


def test_a_deployment_for_an_unknown_group_is_an_error(aws: Aws) -> None:
    with pytest.raises(aws.codedeploy.exceptions.DeploymentGroupDoesNotExistException):
        CodeDeployDeployments(aws.codedeploy).start(APPLICATION, "nope", "{}", "x")


@pytest.fixture
def stubbed() -> Iterator[tuple[CodeDeployDeployments, Stubber]]:
    client = boto3.client("codedeploy", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield CodeDeployDeployments(client), stubber
        stubber.assert_no_pending_responses()


def test_stop_asks_codedeploy_to_shift_back(stubbed: tuple[CodeDeployDeployments, Stubber]) -> None:
    deployments, stubber = stubbed
    stubber.add_response("stop_deployment", {"status": "Pending"}, {"deploymentId": "d-1", "autoRollbackEnabled": True})
    assert deployments.stop("d-1") is True


def test_stopping_a_finished_deployment_says_so(stubbed: tuple[CodeDeployDeployments, Stubber]) -> None:
    deployments, stubber = stubbed
    stubber.add_client_error("stop_deployment", "DeploymentAlreadyCompletedException")
    assert deployments.stop("d-1") is False
    stubber.add_client_error("stop_deployment", "InvalidDeploymentIdException")
    with pytest.raises(deployments.client.exceptions.InvalidDeploymentIdException):
        deployments.stop("d-2")


def test_a_failed_deployment_reports_why(stubbed: tuple[CodeDeployDeployments, Stubber]) -> None:
    deployments, stubber = stubbed
    info = {
        "deploymentId": "d-1",
        "status": "Stopped",
        "errorInformation": {"code": "ALARM_ACTIVE", "message": "One or more alarms have been activated"},
        "rollbackInfo": {"rollbackDeploymentId": "d-2", "rollbackMessage": "Rolled back by d-2"},
    }
    stubber.add_response("get_deployment", {"deploymentInfo": info}, {"deploymentId": "d-1"})
    assert deployments.status("d-1") == Status(
        "Stopped", "ALARM_ACTIVE; One or more alarms have been activated; Rolled back by d-2"
    )


def test_aliases_are_read_with_their_weights_and_pointed_whole(aws: Aws) -> None:
    target = aws.function("health", 3)
    aliases = LambdaAliases(aws.lambda_)
    assert aliases.get(target.function_name, "live") == AliasState("1")
    aws.route({"Name": target.function_name, "CurrentVersion": "1"}, {"3": 0.1})
    assert aliases.get(target.function_name, "live") == AliasState("1", {"3": 0.1})
    aliases.point(target.function_name, "live", "2")
    assert aliases.get(target.function_name, "live") == AliasState("2")


def test_firing_alarms_and_missing_ones_are_reported(aws: Aws) -> None:
    aws.function("health", 2)
    alarms = CloudWatchAlarms(aws.cloudwatch)
    names = [*API_ALARMS, alarm_of("health")]
    assert alarms.firing(names) == []
    aws.fire(alarm_of("health"))()
    assert alarms.firing([*names, "not-there"]) == [alarm_of("health"), "not-there (missing)"]


def test_the_clients_are_made_for_the_stacks_region(aws: Aws) -> None:
    deployments, aliases, alarms = boto3_clients("us-east-1")
    assert isinstance(deployments, CodeDeployDeployments) and isinstance(aliases, LambdaAliases)
    assert isinstance(alarms, CloudWatchAlarms)
    regions = {c.client.meta.region_name for c in (deployments, aliases, alarms)}
    assert regions == {"us-east-1"}
