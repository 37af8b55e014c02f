"""Monitoring on its own: alarms wired to the encrypted topic, the us-east-1 health alarm, the dashboard."""

from __future__ import annotations

import dataclasses
import fnmatch
import json
from typing import Any

import pytest

from components.monitoring import AlarmThresholds, LambdaMetrics, Monitoring, MonitoringArgs
from tests.infra.conftest import run_once
from tests.infra.helpers import ALARM, DASHBOARD, KEY, SUBSCRIPTION, TOPIC, key_policy, service_principals, statement
from tests.infra.mocks import ACCOUNT, RecordingMocks

FUNCTIONS = {"create-payment": "pg-create-payment", "health": "pg-health"}


def monitoring_args(**overrides: Any) -> MonitoringArgs:
    base = MonitoringArgs(
        region="eu-west-1",
        source=LambdaMetrics(api_name="payment-gateway", stage_name="live"),
        functions=FUNCTIONS,
        function_timeout_seconds=5,
        table_name="payment-gateway",
        table_operations=["GetItem", "PutItem", "Query"],
        replica_regions=["us-east-1"],
    )
    return dataclasses.replace(base, **overrides)


def deploy(mocks: RecordingMocks, **overrides: Any) -> dict[str, Any]:
    def program() -> dict[str, Any]:
        monitoring = Monitoring("monitoring", monitoring_args(**overrides))
        return {"topic": monitoring.topic_arn, "url": monitoring.dashboard_url, "health": monitoring.health_topic_arn}

    result: dict[str, Any] = run_once(f"monitoring {sorted(overrides.items())!r}", mocks, program)
    return result


def alarms(mocks: RecordingMocks) -> dict[str, dict[str, Any]]:
    return {a.name.removeprefix("monitoring-"): a.plain for a in mocks.of_type(ALARM)}


def test_expected_alarms_exist(mocks: RecordingMocks) -> None:
    deploy(mocks, health_check_id="hc-123")
    expected = {
        "api-5xx-rate",
        "api-4xx-rate",
        "api-p99-latency",
        "table-throttled-requests",
        "table-system-errors",
        "replication-latency-us-east-1",
        "health-check",
        "oldest-pending",
        "payment-not-stored",
        "operation-not-stored",
        "resolver-failures",
        "reversals",
        "heartbeat-us-east-1",
        "oldest-undelivered",
    } | {f"{role}-{kind}" for role in FUNCTIONS for kind in ("errors", "throttles", "duration-p99")}
    assert set(alarms(mocks)) == expected
    names = [a["name"] for a in alarms(mocks).values()]
    assert len(set(names)) == len(names)
    assert all(name.startswith("payment-gateway-eu-west-1-") for name in names)


def test_every_alarm_notifies_a_topic_of_its_own_region_on_alarm_and_ok(mocks: RecordingMocks) -> None:
    deploy(mocks, health_check_id="hc-123")
    topics = {t.region: t.outputs["arn"] for t in mocks.of_type(TOPIC)}
    assert set(topics) == {"eu-west-1", "us-east-1"}
    for key, alarm in alarms(mocks).items():
        assert alarm["alarmActions"] == alarm["okActions"] == [topics[alarm["region"]]], key


def test_only_the_health_check_alarm_takes_missing_data_for_a_failure(mocks: RecordingMocks) -> None:
    """API Gateway, Lambda and DynamoDB publish these metrics only while there is traffic (or, for
    ReplicationLatency, replication): no data is a quiet period, not a fault. Route 53 measures its
    health check all the time, the resolver publishes the oldest pending payment's age and each
    peer's heartbeat age every run and the webhook sender the oldest undelivered event's: no data
    there means the check, the resolver or the sender stopped."""
    deploy(mocks, health_check_id="hc-123")
    treatment = {key: alarm["treatMissingData"] for key, alarm in alarms(mocks).items()}
    always_measured = {"health-check", "oldest-pending", "heartbeat-us-east-1", "oldest-undelivered"}
    assert treatment == dict.fromkeys(treatment, "notBreaching") | dict.fromkeys(always_measured, "breaching")


def test_topics_are_kms_encrypted_with_keys_cloudwatch_may_use(mocks: RecordingMocks) -> None:
    deploy(mocks, health_check_id="hc-123")
    keys = {k.region: k for k in mocks.of_type(KEY)}
    for topic in mocks.of_type(TOPIC):
        key = keys[topic.region]
        assert topic.plain["kmsMasterKeyId"] == key.outputs["arn"]
        assert key.plain["enableKeyRotation"] is True
        assert service_principals(key_policy(key)) == {"cloudwatch.amazonaws.com", "events.amazonaws.com"}
    # The us-east-1 topic is this stack's, named after it: no clash with the us-east-1 stack's own topic.
    assert {t.plain["name"] for t in mocks.of_type(TOPIC)} == {"payment-gateway-alerts-eu-west-1"}


def test_each_topic_key_admits_cloudwatch_for_exactly_the_alarms_that_notify_it(mocks: RecordingMocks) -> None:
    """aws:SourceArn in the key policy matches every alarm's ARN (as AWS forms it) in the key's region."""
    deploy(mocks, health_check_id="hc-123")
    keys = {k.region: k for k in mocks.of_type(KEY)}
    for region, key in keys.items():
        publish = statement(key_policy(key), "CloudWatchAlarmsPublishToEncryptedTopic")
        assert publish is not None
        assert publish["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
        pattern = publish["Condition"]["ArnLike"]["aws:SourceArn"]
        notifying = [a for a in alarms(mocks).values() if a["region"] == region]
        assert notifying
        for alarm in notifying:
            assert fnmatch.fnmatchcase(f"arn:aws:cloudwatch:{region}:{ACCOUNT}:alarm:{alarm['name']}", pattern)
        other = "us-east-1" if region != "us-east-1" else "eu-west-1"
        assert not fnmatch.fnmatchcase(f"arn:aws:cloudwatch:{other}:{ACCOUNT}:alarm:x", pattern)
        assert not fnmatch.fnmatchcase(f"arn:aws:cloudwatch:{region}:999999999999:alarm:x", pattern)


def test_health_check_alarm_lives_in_us_east_1(mocks: RecordingMocks) -> None:
    result = deploy(mocks, health_check_id="hc-123")
    alarm = alarms(mocks)["health-check"]
    assert alarm["region"] == "us-east-1"
    assert (alarm["namespace"], alarm["metricName"], alarm["dimensions"]) == (
        "AWS/Route53",
        "HealthCheckStatus",
        {"HealthCheckId": "hc-123"},
    )
    assert (alarm["statistic"], alarm["comparisonOperator"], alarm["threshold"]) == ("Minimum", "LessThanThreshold", 1)
    assert alarm["treatMissingData"] == "breaching"
    assert result["health"] == alarm["alarmActions"][0]


def test_a_us_east_1_stack_uses_its_own_topic_for_the_health_alarm(mocks: RecordingMocks) -> None:
    deploy(mocks, region="us-east-1", replica_regions=["eu-west-1"], health_check_id="hc-9")
    assert len(mocks.of_type(TOPIC)) == 1
    assert {a.region for a in mocks.of_type(ALARM)} == {"us-east-1"}


def test_without_health_check_nothing_leaves_the_region(mocks: RecordingMocks) -> None:
    deploy(mocks, region="ap-southeast-2", replica_regions=["eu-west-1", "us-east-1"])
    assert {r.region for r in mocks.custom()} == {"ap-southeast-2"}
    assert "health-check" not in alarms(mocks)
    receiving = {
        a["dimensions"]["ReceivingRegion"] for k, a in alarms(mocks).items() if k.startswith("replication-latency")
    }
    assert receiving == {"eu-west-1", "us-east-1"}


def test_api_alarms_use_rates_and_p99_against_the_design_target(mocks: RecordingMocks) -> None:
    deploy(mocks)
    by_key = alarms(mocks)
    latency = by_key["api-p99-latency"]
    assert (latency["extendedStatistic"], latency["threshold"]) == ("p99", 1000)
    assert latency["comparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert latency["dimensions"] == {"ApiName": "payment-gateway", "Stage": "live"}
    for family, threshold in (("5xx", 1.0), ("4xx", 10.0)):
        alarm = by_key[f"api-{family}-rate"]
        queries = {q["id"]: q for q in alarm["metricQueries"]}
        assert queries["errors"]["metric"]["metricName"] == f"{family.upper()}Error"
        assert queries["requests"]["metric"]["metricName"] == "Count"
        assert "errors / requests" in queries["rate"]["expression"]
        assert [q["id"] for q in alarm["metricQueries"] if q.get("returnData")] == ["rate"]
        assert alarm["threshold"] == threshold


def test_function_alarms_and_duration_near_timeout(mocks: RecordingMocks) -> None:
    deploy(mocks, function_timeout_seconds=6, thresholds=AlarmThresholds(lambda_duration_percent_of_timeout=75))
    by_key = alarms(mocks)
    for role, function_name in FUNCTIONS.items():
        for kind, metric in (("errors", "Errors"), ("throttles", "Throttles"), ("duration-p99", "Duration")):
            alarm = by_key[f"{role}-{kind}"]
            assert (alarm["namespace"], alarm["metricName"]) == ("AWS/Lambda", metric)
            assert alarm["dimensions"] == {"FunctionName": function_name}
        assert by_key[f"{role}-duration-p99"]["threshold"] == pytest.approx(4500)
        assert by_key[f"{role}-duration-p99"]["extendedStatistic"] == "p99"


def test_an_authorizer_rejecting_bad_keys_pages_no_one(mocks: RecordingMocks) -> None:
    """Every 401 is a Lambda error of the authorizer; its other alarms stay."""
    deploy(mocks, functions={**FUNCTIONS, "authorizer": "pg-authorizer"}, rejecting_functions=["authorizer"])
    by_key = alarms(mocks)
    assert "authorizer-errors" not in by_key and "create-payment-errors" in by_key
    assert {"authorizer-throttles", "authorizer-duration-p99"} <= set(by_key)


def test_table_alarms_sum_every_operation_used(mocks: RecordingMocks) -> None:
    deploy(mocks)
    for key, metric in (("table-throttled-requests", "ThrottledRequests"), ("table-system-errors", "SystemErrors")):
        queries = alarms(mocks)[key]["metricQueries"]
        operations = {q["metric"]["dimensions"]["Operation"] for q in queries if "metric" in q}
        assert operations == {"GetItem", "PutItem", "Query"}
        assert {q["metric"]["metricName"] for q in queries if "metric" in q} == {metric}
        assert [q["expression"] for q in queries if "expression" in q] == ["SUM([m0, m1, m2])"]


def test_thresholds_come_from_args(mocks: RecordingMocks) -> None:
    deploy(
        mocks, thresholds=AlarmThresholds(api_5xx_rate_percent=2.5, api_p99_latency_ms=800, replication_latency_ms=5000)
    )
    by_key = alarms(mocks)
    assert by_key["api-5xx-rate"]["threshold"] == 2.5
    assert by_key["api-p99-latency"]["threshold"] == 800
    assert by_key["replication-latency-us-east-1"]["threshold"] == 5000


def test_email_subscription_is_optional(mocks: RecordingMocks) -> None:
    deploy(mocks, alarm_email="oncall@example.com", health_check_id="hc")
    subscriptions = {(s.region, s.plain["protocol"], s.plain["endpoint"]) for s in mocks.of_type(SUBSCRIPTION)}
    assert subscriptions == {
        ("eu-west-1", "email", "oncall@example.com"),
        ("us-east-1", "email", "oncall@example.com"),
    }


def test_no_subscription_without_email(mocks: RecordingMocks) -> None:
    deploy(mocks)
    assert mocks.of_type(SUBSCRIPTION) == []


def test_dashboard_shows_traffic_latency_errors_payments_and_bank_latency(mocks: RecordingMocks) -> None:
    result = deploy(mocks, metrics_namespace="PaymentGatewayTest")
    dashboard = mocks.one(DASHBOARD).plain
    assert dashboard["dashboardName"] == "payment-gateway-eu-west-1"
    assert result["url"].endswith("#dashboards:name=payment-gateway-eu-west-1")
    assert "region=eu-west-1" in result["url"]
    widgets = json.loads(dashboard["dashboardBody"])["widgets"]
    metrics = [m for w in widgets for m in w["properties"]["metrics"]]
    flat = [json.dumps(m) for m in metrics]

    def has(*parts: str) -> bool:
        return any(all(json.dumps(p) in line for p in parts) for line in flat)

    assert has("AWS/ApiGateway", "Count", "payment-gateway", "live")
    assert all(has("Latency", stat) for stat in ("p50", "p90", "p99"))
    assert has("4XXError") and has("5XXError")
    assert all(has("PaymentGatewayTest", "Payments", "Status", s) for s in ("authorized", "declined", "failed"))
    bank = [m for m in metrics if m[:2] == ["PaymentGatewayTest", "BankLatency"]]
    assert bank and all(isinstance(m[2], dict) for m in bank)  # no dimensions
    assert {w["properties"]["region"] for w in widgets} == {"eu-west-1"}


def test_pending_payments_and_silent_regions_alarm_with_missing_data_breaching(mocks: RecordingMocks) -> None:
    deploy(mocks)
    found = alarms(mocks)
    oldest = found["oldest-pending"]
    assert (oldest["metricName"], oldest["statistic"], oldest["threshold"]) == ("OldestPendingAge", "Maximum", 900)
    assert oldest["treatMissingData"] == "breaching"  # a resolver that stopped publishing is the failure
    heartbeat = found["heartbeat-us-east-1"]
    assert heartbeat["dimensions"] == {"PeerRegion": "us-east-1"} and heartbeat["treatMissingData"] == "breaching"
    for key, metric in (
        ("payment-not-stored", "PaymentNotStored"),
        ("operation-not-stored", "OperationNotStored"),
        ("resolver-failures", "ResolverFailures"),
        ("reversals", "Reversals"),
    ):
        assert (found[key]["metricName"], found[key]["namespace"], found[key]["threshold"]) == (
            metric,
            "PaymentGateway",
            1,
        )
        assert found[key]["evaluationPeriods"] == 1


TABLE_KEY = "arn:aws:kms:eu-west-1:123456789012:key/table-key"


def test_a_table_key_made_unusable_pages_through_eventbridge_to_the_encrypted_topic(mocks: RecordingMocks) -> None:
    result = deploy(mocks, watched_keys=[TABLE_KEY])
    rules = {r.name.removeprefix("monitoring-"): r for r in mocks.of_type("aws:cloudwatch/eventRule:EventRule")}
    calls = json.loads(rules["key-api-calls"].plain["eventPattern"])
    assert calls["detail"]["eventName"] == ["DisableKey", "ScheduleKeyDeletion", "PutKeyPolicy"]
    assert calls["detail"]["resources"] == {"ARN": [TABLE_KEY]} and calls["source"] == ["aws.kms"]
    deleted = json.loads(rules["key-deleted"].plain["eventPattern"])
    assert (deleted["detail-type"], deleted["resources"]) == (["KMS CMK Deletion"], [TABLE_KEY])
    targets = mocks.of_type("aws:cloudwatch/eventTarget:EventTarget")
    assert {t.plain["arn"] for t in targets} == {result["topic"]} and len(targets) == 2
    events = topic_statements(mocks, result["topic"], "events.amazonaws.com")
    # EventBridge's documented grant carries no Condition block: with one, its deliveries fail.
    assert events == [
        {
            "Sid": "EventBridgeRulesPublish",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": result["topic"],
        }
    ]
    [key] = [k for k in mocks.of_type(KEY) if k.region == "eu-west-1"]
    [events] = [
        s for s in json.loads(key.plain["policy"])["Statement"] if s["Principal"] == {"Service": "events.amazonaws.com"}
    ]
    assert events["Condition"]["ArnLike"]["aws:SourceArn"] == "arn:aws:events:eu-west-1:123456789012:rule/*"
    assert set(events["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey"}


def test_no_key_watch_without_keys(mocks: RecordingMocks) -> None:
    result = deploy(mocks)
    assert mocks.of_type("aws:cloudwatch/eventRule:EventRule") == []
    assert topic_statements(mocks, result["topic"], "events.amazonaws.com") == []


TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"


def topic_statements(mocks: RecordingMocks, topic_arn: str, service: str) -> list[dict[str, Any]]:
    """The statements of `topic_arn`'s policy that grant `service`."""
    [policy] = [json.loads(p.plain["policy"]) for p in mocks.of_type(TOPIC_POLICY) if p.plain["arn"] == topic_arn]
    return [s for s in policy["Statement"] if s["Principal"] == {"Service": service}]


def test_every_alarm_may_publish_to_the_topic_it_notifies_and_no_other_accounts_alarm_may(
    mocks: RecordingMocks,
) -> None:
    """A topic policy replaces SNS's default one, whose account-wide grant is what lets alarms publish."""
    deploy(mocks, health_check_id="hc-123", watched_keys=[TABLE_KEY])
    found = mocks.of_type(ALARM)
    assert {a.region for a in found} == {"eu-west-1", "us-east-1"}  # both topics are exercised
    for alarm in found:
        [topic] = alarm.plain["alarmActions"]
        [grant] = topic_statements(mocks, topic, "cloudwatch.amazonaws.com")
        assert (grant["Effect"], grant["Action"], grant["Resource"]) == ("Allow", "sns:Publish", topic)
        assert grant["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
        source = grant["Condition"]["ArnLike"]["aws:SourceArn"]
        assert fnmatch.fnmatchcase(f"arn:aws:cloudwatch:{alarm.region}:{ACCOUNT}:alarm:{alarm.plain['name']}", source)
        for other in (
            f"arn:aws:cloudwatch:{alarm.region}:210987654321:alarm:x",
            f"arn:aws:events:{alarm.region}:{ACCOUNT}:rule/x",
        ):
            assert not fnmatch.fnmatchcase(other, source)
