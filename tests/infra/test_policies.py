"""Policy documents built from handlers.contract.routes: least privilege, as pure functions."""

from __future__ import annotations

import dataclasses
import json

import pytest

from components.policies import (
    DYNAMODB_WRITE_ACTIONS,
    AccountContext,
    FunctionAccess,
    alerts_key_policy,
    api_gateway_logging_policy,
    function_policy,
    logs_key_policy,
    table_key_policy,
)
from handlers.contract import routes
from tests.infra.helpers import actions, as_list, service_principals, statement, statements

CTX = AccountContext(partition="aws", dns_suffix="amazonaws.com", account_id="111122223333", region="eu-west-1")
TABLE_ARN = "arn:aws:dynamodb:eu-west-1:111122223333:table/payment-gateway"
TABLE_KEY = "arn:aws:kms:eu-west-1:111122223333:key/table"
ENV_KEY = "arn:aws:kms:eu-west-1:111122223333:key/env"
LOG_GROUP = "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/payment-gateway-x"
FUNCTIONS = [*dict.fromkeys(r.function for r in routes.ROUTES), routes.AUTHORIZER, routes.BANK_SIMULATOR]


def policy_for(fn: routes.Function) -> dict[str, object]:
    access = FunctionAccess(fn.table_actions, fn.leading_keys, fn.indexes, TABLE_ARN, TABLE_KEY, ENV_KEY, LOG_GROUP)
    return function_policy(access, CTX)


@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.name)
def test_table_statement_is_exactly_the_functions_actions_on_this_table(fn: routes.Function) -> None:
    table = statement(policy_for(fn), "TableItems")
    if not fn.table_actions:
        assert table is None
        return
    assert table is not None
    assert sorted(as_list(table["Action"])) == sorted(fn.table_actions)
    assert table["Resource"] == [TABLE_ARN]
    if fn.leading_keys:
        assert table["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(fn.leading_keys)}}


@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.name)
def test_table_key_use_is_through_dynamodb_and_encrypt_only_for_writers(fn: routes.Function) -> None:
    kms = statement(policy_for(fn), "TableKeyThroughDynamoDb")
    if not fn.table_actions:
        assert kms is None
        return
    assert kms is not None
    assert kms["Resource"] == [TABLE_KEY]
    assert kms["Condition"] == {"StringEquals": {"kms:ViaService": "dynamodb.eu-west-1.amazonaws.com"}}
    writes = bool(set(fn.table_actions) & DYNAMODB_WRITE_ACTIONS)
    expected = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"} if writes else {"kms:Decrypt"}
    assert set(as_list(kms["Action"])) == expected


@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.name)
def test_no_wildcard_actions_and_star_resource_only_for_xray(fn: routes.Function) -> None:
    document = policy_for(fn)
    assert not [a for a in actions(document) if "*" in a]
    star = [s for s in statements(document) if "*" in as_list(s["Resource"])]
    assert [s["Sid"] for s in star] == ["XRayTraces"]
    assert set(as_list(star[0]["Action"])) == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.name)
def test_logs_only_to_its_own_log_group(fn: routes.Function) -> None:
    logs = statement(policy_for(fn), "OwnLogGroup")
    assert logs is not None
    assert logs["Resource"] == [f"{LOG_GROUP}:*"]
    assert set(as_list(logs["Action"])) == {"logs:CreateLogStream", "logs:PutLogEvents"}
    assert not [a for a in actions(policy_for(fn)) if a == "logs:CreateLogGroup"]


def test_environment_key_is_decrypt_only() -> None:
    env = statement(policy_for(routes.CREATE_PAYMENT), "EnvironmentKey")
    assert env == {"Sid": "EnvironmentKey", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [ENV_KEY]}


def test_logs_key_policy_lets_only_this_regions_logs_service_use_it_for_this_account() -> None:
    document = logs_key_policy(CTX)
    assert service_principals(document) == {"logs.eu-west-1.amazonaws.com"}
    logs = statement(document, "CloudWatchLogsEncryptsThisAccountsLogGroups")
    assert logs is not None
    assert logs["Condition"] == {
        "ArnLike": {"kms:EncryptionContext:aws:logs:arn": "arn:aws:logs:eu-west-1:111122223333:log-group:*"}
    }
    assert "kms:*" not in as_list(logs["Action"])


def test_alerts_key_policy_lets_cloudwatch_and_eventbridge_publish_to_the_encrypted_topic() -> None:
    document = alerts_key_policy(CTX)
    assert service_principals(document) == {"cloudwatch.amazonaws.com", "events.amazonaws.com"}
    for sid in ("CloudWatchAlarmsPublishToEncryptedTopic", "EventBridgeRulesPublishToEncryptedTopic"):
        publisher = statement(document, sid)
        assert publisher is not None
        assert set(as_list(publisher["Action"])) == {"kms:Decrypt", "kms:GenerateDataKey"}
    rules = statement(document, "EventBridgeRulesPublishToEncryptedTopic")
    assert rules is not None and rules["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "111122223333"},
        "ArnLike": {"aws:SourceArn": "arn:aws:events:eu-west-1:111122223333:rule/*"},
    }


def test_alerts_key_serves_only_this_accounts_alarms_in_its_region() -> None:
    """aws:SourceAccount / aws:SourceArn: CloudWatch acting for another account's alarm gets nothing."""
    alarms = statement(json.loads(json.dumps(alerts_key_policy(CTX))), "CloudWatchAlarmsPublishToEncryptedTopic")
    assert alarms is not None
    assert alarms["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "111122223333"},
        "ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:*"},
    }
    us = statement(alerts_key_policy(dataclasses.replace(CTX, region="us-east-1")), alarms["Sid"])
    assert us is not None and us["Condition"]["ArnLike"]["aws:SourceArn"].startswith("arn:aws:cloudwatch:us-east-1:")


def test_table_key_policy_is_administered_by_the_account_only() -> None:
    document = table_key_policy(CTX)
    assert service_principals(document) == set()
    assert [s["Principal"] for s in statements(document)] == [{"AWS": "arn:aws:iam::111122223333:root"}]


def test_api_gateway_logging_role_is_limited_to_this_regions_log_groups() -> None:
    document = api_gateway_logging_policy(CTX)
    assert not [a for a in actions(document) if "*" in a]
    assert [s["Resource"] for s in statements(document)] == [["arn:aws:logs:eu-west-1:111122223333:log-group:*"]]
