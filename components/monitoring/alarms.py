"""Every region's alarms, as plain specs: the metrics source's, then the functions', the answers', the
table's, the payment outcomes' and the Route 53 health check's. A new alarm is one more `AlarmSpec` in
the builder of its part (or in a source's `alarms`, when only one compute option has the metric)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from components.monitoring.model import AlarmSpec, Metric, MonitoringArgs, Query, expression, metric_query

# Route 53 publishes its health checks' metrics in us-east-1 only.
ROUTE53_METRICS_REGION = "us-east-1"
# The handlers' entry point (handlers/entrypoints/http_handler.py) publishes one per answer, by FunctionName and by
# FunctionName + StatusClass (2xx, 4xx, 5xx).
RESPONSES_METRIC = "Responses"
# KMS calls after which a key cannot encrypt or decrypt (or may soon not): a replica using it stops.
KEY_EVENTS = ("DisableKey", "ScheduleKeyDeletion", "PutKeyPolicy")


def alarm_specs(args: MonitoringArgs) -> list[AlarmSpec]:
    """All the region's alarms, each with its evaluation window; keys are unique."""
    specs = [
        *args.source.alarms(args.thresholds),
        *function_alarms(args),
        *response_alarms(args),
        *table_alarms(args),
        *outcome_alarms(args),
        *health_check_alarms(args),
    ]
    keys = [spec.key for spec in specs]
    duplicated = sorted({key for key in keys if keys.count(key) > 1})
    if duplicated:
        raise ValueError(f"alarm keys must be unique in a region: {duplicated}")
    return [spec.windowed(args.thresholds) for spec in specs]


def rollback_alarms(args: MonitoringArgs, role: str, existing: set[str]) -> list[str]:
    """Keys of the alarms that roll back `role`'s deployment: the API's, and the function's own errors and 5xx."""
    keys = [*args.source.rollback_alarms(), f"{role}-errors", f"{role}-5xx-rate"]
    return [key for key in keys if key in existing]


def function_alarms(args: MonitoringArgs) -> list[AlarmSpec]:
    """Per function: errors (unless its errors are answers), throttles, p99 duration near its timeout."""
    thresholds, specs = args.thresholds, []
    for role, function_name in args.functions.items():
        timeout = args.function_timeouts.get(role, args.function_timeout_seconds)
        duration_ms = timeout * 1000 * thresholds.lambda_duration_percent_of_timeout / 100
        dims = {"FunctionName": function_name}
        if role not in args.rejecting_functions:
            specs.append(
                AlarmSpec(
                    key=f"{role}-errors",
                    description=f"{role}: invocation errors",
                    threshold=thresholds.lambda_errors,
                    metric=Metric("AWS/Lambda", "Errors", dims),
                )
            )
        specs += [
            AlarmSpec(
                key=f"{role}-throttles",
                description=f"{role}: throttled invocations (concurrency exhausted)",
                threshold=thresholds.lambda_throttles,
                metric=Metric("AWS/Lambda", "Throttles", dims),
            ),
            AlarmSpec(
                key=f"{role}-duration-p99",
                description=f"{role}: p99 duration at or above {duration_ms:.0f} ms (near the timeout)",
                threshold=duration_ms,
                metric=Metric("AWS/Lambda", "Duration", dims),
                statistic=None,
                extended_statistic="p99",
            ),
        ]
    return specs


def response_alarms(args: MonitoringArgs) -> list[AlarmSpec]:
    """A route function answering 5xx: every exception becomes a 500 (handlers/wire/http.py), so the
    Errors alarm sees only crashes; this sees the answers, per function, beside the API-wide rate."""
    threshold, namespace = args.thresholds.api_5xx_rate_percent, args.metrics_namespace
    specs = []
    for role in args.responding_functions:
        function = {"FunctionName": args.functions[role]}
        specs.append(
            AlarmSpec(
                key=f"{role}-5xx-rate",
                description=f"{role}: more than {threshold}% of its answers were 5xx",
                threshold=threshold,
                queries=[
                    metric_query("errors", Metric(namespace, RESPONSES_METRIC, {**function, "StatusClass": "5xx"})),
                    metric_query("answers", Metric(namespace, RESPONSES_METRIC, function)),
                    # Published only when one happens: a minute without a 5xx has no datapoint.
                    expression("rate", "IF(answers > 0, 100 * FILL(errors, 0) / answers, 0)", "5xx rate (%)"),
                ],
            )
        )
    return specs


def _operation_sum(args: MonitoringArgs, metric: str) -> list[Query]:
    """ThrottledRequests/SystemErrors exist only per (TableName, Operation): sum the operations used."""
    operations = list(args.table_operations)
    queries = [
        metric_query(f"m{i}", Metric("AWS/DynamoDB", metric, {"TableName": args.table_name, "Operation": op}))
        for i, op in enumerate(operations)
    ]
    ids = ", ".join(f"m{i}" for i in range(len(operations)))
    return [*queries, expression("total", f"SUM([{ids}])", f"{metric} (all operations)")]


def table_alarms(args: MonitoringArgs) -> list[AlarmSpec]:
    """Throttles and system errors over the operations used; replication to each other region."""
    thresholds, specs = args.thresholds, []
    if args.table_operations:
        specs += [
            AlarmSpec(
                key="table-throttled-requests",
                description="DynamoDB throttled requests on the payment table",
                threshold=thresholds.dynamodb_throttled_requests,
                queries=_operation_sum(args, "ThrottledRequests"),
            ),
            AlarmSpec(
                key="table-system-errors",
                description="DynamoDB system errors (HTTP 500) on the payment table",
                threshold=thresholds.dynamodb_system_errors,
                queries=_operation_sum(args, "SystemErrors"),
            ),
        ]
    specs += [
        AlarmSpec(
            key=f"replication-latency-{receiving}",
            description=f"Replication from {args.region} to {receiving} is slow",
            threshold=thresholds.replication_latency_ms,
            metric=Metric(
                "AWS/DynamoDB", "ReplicationLatency", {"TableName": args.table_name, "ReceivingRegion": receiving}
            ),
            statistic="Average",
        )
        for receiving in args.replica_regions
    ]
    return specs


def outcome_alarms(args: MonitoringArgs) -> list[AlarmSpec]:
    """Payments, captures, voids and refunds whose outcome is not certain yet: none may go unnoticed."""
    thresholds, namespace = args.thresholds, args.metrics_namespace
    oldest = AlarmSpec(
        key="oldest-pending",
        # The resolver's OldestPendingAge covers this region's pending payments and pending operations.
        description=f"A payment or a capture, void or refund has been pending for "
        f"{thresholds.oldest_pending_seconds:.0f} s or more (runbook: docs/reliability.md)",
        threshold=thresholds.oldest_pending_seconds,
        metric=Metric(namespace, "OldestPendingAge"),
        statistic="Maximum",
        # The resolver publishes it every minute: silence means the resolver is not running.
        treat_missing_data="breaching",
        evaluation_periods=3,
        datapoints_to_alarm=3,
    )
    counted = [
        AlarmSpec(
            key=key,
            description=f"{description} (runbook: docs/reliability.md)",
            threshold=threshold,
            metric=Metric(namespace, metric),
            evaluation_periods=1,
            datapoints_to_alarm=1,
        )
        for key, metric, description, threshold in (
            ("payment-not-stored", "PaymentNotStored", "a bank answer could not be stored (left pending)", 1.0),
            (
                "operation-not-stored",
                "OperationNotStored",
                "the bank's answer to a capture, void or refund could not be stored (left pending)",
                1.0,
            ),
            (
                "resolver-failures",
                "ResolverFailures",
                "the resolver could not reach the bank",
                thresholds.resolver_failures,
            ),
            ("reversals", "Reversals", "the resolver reversed payments at the bank", 1.0),
        )
    ]
    heartbeats = [
        AlarmSpec(
            key=f"heartbeat-{peer}",
            description=f"{peer}'s heartbeat, as replicated to {args.region}, is older than "
            f"{thresholds.heartbeat_age_seconds:.0f} s: replication or {peer}'s resolver has stopped",
            threshold=thresholds.heartbeat_age_seconds,
            metric=Metric(namespace, "HeartbeatAge", {"PeerRegion": peer}),
            statistic="Maximum",
            treat_missing_data="breaching",
            evaluation_periods=3,
            datapoints_to_alarm=3,
        )
        for peer in args.replica_regions
    ]
    return [oldest, *counted, *heartbeats, webhook_alarm(args)]


def webhook_alarm(args: MonitoringArgs) -> AlarmSpec:
    """How long the most overdue webhook delivery has waited past its due time (the sender publishes
    OldestUndeliveredAge every run, 0 when none is due): a sender falling behind, a disabled sender, a
    silent region not yet taken over. A receiver that keeps failing is not overdue (its events wait for
    their retries); it is the merchant's (the endpoint is disabled after 5 days). The sender's own
    errors, throttles and duration are the per-function alarms."""
    seconds = args.thresholds.oldest_undelivered_seconds
    return AlarmSpec(
        key="oldest-undelivered",
        description=f"A webhook delivery has been overdue for {seconds:.0f} s or more "
        "(runbook: docs/reliability.md, Webhooks)",
        threshold=seconds,
        metric=Metric(args.metrics_namespace, "OldestUndeliveredAge"),
        statistic="Maximum",
        # Published every minute by the sender: silence means it is not running.
        treat_missing_data="breaching",
        evaluation_periods=3,
        datapoints_to_alarm=3,
    )


def health_check_alarms(args: MonitoringArgs) -> list[AlarmSpec]:
    """The region's Route 53 health check failing, when it has one (in us-east-1, where its metrics are)."""
    if args.health_check_id is None:
        return []
    return [
        AlarmSpec(
            key="health-check",
            description=f"Route 53 health check of {args.region} failing: the region left DNS",
            threshold=1,
            comparison="LessThanThreshold",
            metric=Metric("AWS/Route53", "HealthCheckStatus", {"HealthCheckId": args.health_check_id}),
            statistic="Minimum",
            # No data from a health check is itself a failure.
            treat_missing_data="breaching",
            evaluation_periods=1,
            datapoints_to_alarm=1,
            region=ROUTE53_METRICS_REGION,
        )
    ]


# EventBridge rules to the alert topic, by role: the KMS API calls that make a key unusable (delivered by
# CloudTrail's management events) and KMS's own deletion event. Free: AWS service events.
KEY_RULES = ("key-api-calls", "key-deleted")


def key_event_pattern(role: str, key_arns: Sequence[str]) -> dict[str, Any]:
    """The EventBridge pattern of the key-watch rule `role` (one of KEY_RULES) for these keys."""
    if role == "key-api-calls":
        return {
            "source": ["aws.kms"],
            "detail-type": ["AWS API Call via CloudTrail"],
            "detail": {
                "eventSource": ["kms.amazonaws.com"],
                "eventName": list(KEY_EVENTS),
                "resources": {"ARN": list(key_arns)},
            },
        }
    if role == "key-deleted":
        return {"source": ["aws.kms"], "detail-type": ["KMS CMK Deletion"], "resources": list(key_arns)}
    raise ValueError(f"no key-watch rule {role!r}: one of {KEY_RULES}")
