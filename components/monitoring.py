"""Monitoring: alarms to an encrypted SNS topic and a dashboard, for one region's gateway.

Alarms (every one with alarm AND ok actions to the topic):
- API (the Lambda option's REST API): 5XX rate, 4XX rate (metric math over Count), p99 latency >= the
  1 s design target;
- load balancer and service (the container option): 5XX and 4XX rates (the ALB's own and the targets'
  over RequestCount), target response time p99 >= the same target, unhealthy targets, the service's
  CPU and memory, and fewer running tasks than the minimum (Container Insights' RunningTaskCount);
- per function: Errors, Throttles, p99 Duration near the timeout;
- per route function: the rate of its 5xx answers (EMF `Responses` by status class, from the
  handlers' entry point): handled failures are answers, not Lambda errors;
- table: ThrottledRequests and SystemErrors summed over the operations the functions use;
- ReplicationLatency from this region to every other replica region;
- payment outcomes (EMF from the handlers and the resolver): the oldest pending payment's age,
  payments whose outcome could not be stored, resolver failures, reversals, and each other
  region's replication heartbeat age (missing data breaches: a silent resolver is the failure);
- the Route 53 health check, when there is one. Route 53 publishes its metrics in us-east-1 only,
  so that alarm lives in us-east-1 and, an alarm being able to notify only a topic of its own
  region, gets its own (encrypted) topic there when this stack is elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.common import account_context, child_opts, customer_managed_key, policy_json, type_token
from components.policies import AccountContext, alert_topic_policy, alerts_key_policy

ROUTE53_METRICS_REGION = "us-east-1"
# The handlers' entry point (handlers/entrypoints/http_handler.py) publishes one per answer, by FunctionName and by
# FunctionName + StatusClass (2xx, 4xx, 5xx).
RESPONSES_METRIC = "Responses"
# What stops a gradual deployment and shifts it back (components.deployments), besides the
# function's own errors and 5xx alarms: the whole API answering errors or slowly, whichever compute
# option serves it (the REST API's alarms, or the load balancer's).
API_ROLLBACK_ALARMS = ("api-5xx-rate", "api-p99-latency", "alb-5xx-rate", "alb-p99-response-time")
PAYMENT_STATUSES = ("pending", "authorized", "declined", "failed", "reversed")
PERIOD = 60
# KMS calls after which a key cannot encrypt or decrypt (or may soon not): a replica using it stops.
KEY_EVENTS = ("DisableKey", "ScheduleKeyDeletion", "PutKeyPolicy")


@dataclass(frozen=True)
class AlarmThresholds:
    api_5xx_rate_percent: float = 1.0
    api_4xx_rate_percent: float = 10.0
    api_p99_latency_ms: float = 1000.0
    lambda_errors: float = 1.0
    lambda_throttles: float = 1.0
    lambda_duration_percent_of_timeout: float = 80.0
    dynamodb_throttled_requests: float = 1.0
    dynamodb_system_errors: float = 1.0
    replication_latency_ms: float = 10000.0
    oldest_pending_seconds: float = 900.0
    resolver_failures: float = 1.0
    heartbeat_age_seconds: float = 300.0
    fargate_cpu_percent: float = 80.0
    fargate_memory_percent: float = 80.0
    evaluation_periods: int = 5
    datapoints_to_alarm: int = 3

    def __post_init__(self) -> None:
        if not 0 < self.datapoints_to_alarm <= self.evaluation_periods:
            raise ValueError("datapoints_to_alarm must be between 1 and evaluation_periods")


@dataclass(frozen=True)
class ContainerMetrics:
    """The container option's dimensions: the ALB and target group (ARN suffixes), cluster and service."""

    load_balancer: pulumi.Input[str]
    target_group: pulumi.Input[str]
    cluster_name: pulumi.Input[str]
    service_name: pulumi.Input[str]
    min_tasks: int


@dataclass(frozen=True)
class MonitoringArgs:
    region: str
    functions: Mapping[str, pulumi.Input[str]]
    """Role (e.g. `create-payment`) -> deployed function name."""
    function_timeout_seconds: int
    table_name: pulumi.Input[str]
    table_operations: Sequence[str]
    """DynamoDB operations (`GetItem`...) whose throttles and system errors to watch."""
    api_name: pulumi.Input[str] | None = None
    stage_name: pulumi.Input[str] | None = None
    """The REST API and stage serving the payment API (the Lambda option)."""
    container: ContainerMetrics | None = None
    """The load balancer and service serving it (the container option)."""
    responding_functions: Sequence[str] = ()
    """Roles whose entry point publishes `Responses` by status class (the route functions): each
    gets an alarm on its rate of 5xx answers at `api_5xx_rate_percent`."""
    rejecting_functions: Sequence[str] = ()
    """Roles whose errors include their answers: a REQUEST authorizer raises `Unauthorized` to give
    a 401, so each bad key is a Lambda error. No errors alarm for them; their real faults reach
    the client as API Gateway 5XX, which the API 5XX alarm watches."""
    replica_regions: Sequence[str] = ()
    """Regions this region's replica replicates to (ReplicationLatency's ReceivingRegion)."""
    function_timeouts: Mapping[str, int] = field(default_factory=dict)
    """Roles whose timeout differs from `function_timeout_seconds` (the resolver's)."""
    health_check_id: pulumi.Input[str] | None = None
    alarm_email: str | None = None
    metrics_namespace: str = "PaymentGateway"
    name_prefix: str = "payment-gateway"
    thresholds: AlarmThresholds = field(default_factory=AlarmThresholds)
    tags: Mapping[str, str] = field(default_factory=dict)
    watched_keys: Sequence[pulumi.Input[str]] = ()
    """KMS keys whose disabling, deletion or policy change must page at once: the table replica's key
    here (a replica whose key is unusable stops replicating, and AWS may cut it off after ~20 h)."""


@dataclass(frozen=True)
class AlarmSpec:
    """What differs between alarms; `Monitoring._alarm` fills in the rest."""

    key: str
    description: str
    threshold: float
    comparison: str = "GreaterThanOrEqualToThreshold"
    metric: tuple[str, str, Mapping[str, pulumi.Input[str]]] | None = None  # namespace, name, dimensions
    statistic: str | None = "Sum"
    extended_statistic: str | None = None
    queries: Sequence[aws.cloudwatch.MetricAlarmMetricQueryArgs] = ()
    treat_missing_data: str = "notBreaching"
    evaluation_periods: int | None = None
    datapoints_to_alarm: int | None = None


def _metric_query(
    query_id: str, namespace: str, metric: str, dimensions: Mapping[str, pulumi.Input[str]], stat: str = "Sum"
) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
    return aws.cloudwatch.MetricAlarmMetricQueryArgs(
        id=query_id,
        return_data=False,
        metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
            namespace=namespace, metric_name=metric, dimensions=dict(dimensions), stat=stat, period=PERIOD
        ),
    )


def _expression(query_id: str, expression: str, label: str) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
    return aws.cloudwatch.MetricAlarmMetricQueryArgs(id=query_id, expression=expression, label=label, return_data=True)


class Monitoring(pulumi.ComponentResource):
    topic_arn: pulumi.Output[str]
    health_topic_arn: pulumi.Output[str] | None
    dashboard_name: pulumi.Output[str]
    dashboard_url: pulumi.Output[str]
    alarm_names: list[pulumi.Output[str]]
    alarm_names_by_key: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("monitoring", "Monitoring"), name, None, opts)
        self._name = name
        self._args = args
        self.alarm_names = []
        self.alarm_names_by_key = {}
        self.topic_arn = self._topic(args.region, "")
        if args.api_name is not None:
            self._api_alarms()
        if args.container is not None:
            self._load_balancer_alarms(args.container)
            self._service_alarms(args.container)
        self._function_alarms()
        self._response_alarms()
        self._table_alarms()
        self._outcome_alarms()
        if args.watched_keys:
            self._key_watch(args.watched_keys)
        self.health_topic_arn = None
        if args.health_check_id is not None:
            self._health_check_alarm(args.health_check_id)
        self._dashboard()
        self.register_outputs(
            {"topic_arn": self.topic_arn, "dashboard_url": self.dashboard_url, "alarm_names": self.alarm_names}
        )

    def _topic(self, region: str, suffix: str) -> pulumi.Output[str]:
        """A KMS-encrypted topic (and its key) in `region`; names carry this stack's region."""
        args = self._args
        label = f"{args.name_prefix}-alerts-{args.region}"
        ctx = account_context(self, region)
        key = customer_managed_key(
            self,
            (f"{self._name}-key{suffix}", f"{self._name}-key-alias{suffix}"),
            region=region,
            description=f"Encrypts the {label} alarm topic",
            alias=f"alias/{label}",
            policy=policy_json(ctx, alerts_key_policy),
            tags=dict(args.tags),
        )
        topic = aws.sns.Topic(
            f"{self._name}-topic{suffix}",
            aws.sns.TopicArgs(region=region, name=label, kms_master_key_id=key.arn, tags=dict(args.tags)),
            child_opts(self),
        )
        # The key-watch rules (EventBridge) publish only to this stack's own region's topic.
        event_rules = region == args.region and bool(args.watched_keys)

        def render(values: list[Any]) -> str:
            topic_arn, context = values
            assert isinstance(context, AccountContext)
            return json.dumps(alert_topic_policy(str(topic_arn), context, event_rules), sort_keys=True)

        aws.sns.TopicPolicy(
            f"{self._name}-topic-policy{suffix}",
            aws.sns.TopicPolicyArgs(
                region=region, arn=topic.arn, policy=pulumi.Output.all(topic.arn, ctx).apply(render)
            ),
            # The same name and parent as before the policy covered alarms: an update, not a replacement
            # (deleting a TopicPolicy resets the topic to SNS's default policy).
            child_opts(self),
        )
        if args.alarm_email:
            aws.sns.TopicSubscription(
                f"{self._name}-email{suffix}",
                aws.sns.TopicSubscriptionArgs(
                    region=region, topic=topic.arn, protocol="email", endpoint=args.alarm_email
                ),
                child_opts(self),
            )
        return topic.arn

    def _alarm(self, spec: AlarmSpec, region: str | None = None, topic: pulumi.Input[str] | None = None) -> None:
        args, thresholds = self._args, self._args.thresholds
        actions = [topic if topic is not None else self.topic_arn]
        namespace, metric, dimensions = spec.metric if spec.metric else (None, None, None)
        alarm = aws.cloudwatch.MetricAlarm(
            f"{self._name}-{spec.key}",
            aws.cloudwatch.MetricAlarmArgs(
                region=region or args.region,
                name=f"{args.name_prefix}-{args.region}-{spec.key}",
                alarm_description=spec.description,
                comparison_operator=spec.comparison,
                threshold=spec.threshold,
                evaluation_periods=spec.evaluation_periods or thresholds.evaluation_periods,
                datapoints_to_alarm=spec.datapoints_to_alarm or thresholds.datapoints_to_alarm,
                namespace=namespace,
                metric_name=metric,
                dimensions=dict(dimensions) if dimensions is not None else None,
                period=PERIOD if spec.metric else None,
                statistic=spec.statistic if spec.metric and not spec.extended_statistic else None,
                extended_statistic=spec.extended_statistic,
                metric_queries=list(spec.queries) or None,
                treat_missing_data=spec.treat_missing_data,
                alarm_actions=actions,
                ok_actions=actions,
                tags=dict(args.tags),
            ),
            child_opts(self),
        )
        self.alarm_names.append(alarm.name)
        self.alarm_names_by_key[spec.key] = alarm.name

    def rollback_alarms(self, role: str) -> list[pulumi.Output[str]]:
        """The alarms that roll back `role`'s deployment: the API's, and the function's own errors and 5xx."""
        keys = [*API_ROLLBACK_ALARMS, f"{role}-errors", f"{role}-5xx-rate"]
        return [self.alarm_names_by_key[key] for key in keys if key in self.alarm_names_by_key]

    def _api_dimensions(self) -> dict[str, pulumi.Input[str]]:
        assert self._args.api_name is not None and self._args.stage_name is not None
        return {"ApiName": self._args.api_name, "Stage": self._args.stage_name}

    def _api_rate_alarm(self, family: str, threshold: float) -> None:
        dims = self._api_dimensions()
        self._alarm(
            AlarmSpec(
                key=f"api-{family.lower()}-rate",
                description=f"More than {threshold}% of API requests answered {family}",
                threshold=threshold,
                queries=[
                    _metric_query("errors", "AWS/ApiGateway", f"{family}Error", dims),
                    _metric_query("requests", "AWS/ApiGateway", "Count", dims),
                    _expression("rate", "IF(requests > 0, 100 * errors / requests, 0)", f"{family} rate (%)"),
                ],
            )
        )

    def _api_alarms(self) -> None:
        thresholds = self._args.thresholds
        self._api_rate_alarm("5XX", thresholds.api_5xx_rate_percent)
        self._api_rate_alarm("4XX", thresholds.api_4xx_rate_percent)
        self._alarm(
            AlarmSpec(
                key="api-p99-latency",
                description=f"API p99 latency at or above {thresholds.api_p99_latency_ms} ms (design target 1 s)",
                threshold=thresholds.api_p99_latency_ms,
                metric=("AWS/ApiGateway", "Latency", self._api_dimensions()),
                statistic=None,
                extended_statistic="p99",
            )
        )

    def _alb_rate_alarm(self, family: str, threshold: float, container: ContainerMetrics) -> None:
        """The ALB's own answers (no healthy target, a timeout) and the targets', over all requests."""
        dims: dict[str, pulumi.Input[str]] = {"LoadBalancer": container.load_balancer}
        namespace = "AWS/ApplicationELB"
        self._alarm(
            AlarmSpec(
                key=f"alb-{family.lower()}-rate",
                description=f"More than {threshold}% of load balancer requests answered {family}",
                threshold=threshold,
                queries=[
                    _metric_query("elb", namespace, f"HTTPCode_ELB_{family}_Count", dims),
                    _metric_query("target", namespace, f"HTTPCode_Target_{family}_Count", dims),
                    _metric_query("requests", namespace, "RequestCount", dims),
                    # Both counts are reported only when non-zero (ELB guide, "CloudWatch metrics for
                    # your Application Load Balancer": reporting criteria): without FILL a minute of
                    # target errors alone has no `elb` datapoint, so no sum and no rate, and missing
                    # data is not breaching.
                    _expression(
                        "rate",
                        "IF(requests > 0, 100 * (FILL(elb, 0) + FILL(target, 0)) / requests, 0)",
                        f"{family} rate (%)",
                    ),
                ],
            )
        )

    def _load_balancer_alarms(self, container: ContainerMetrics) -> None:
        thresholds = self._args.thresholds
        self._alb_rate_alarm("5XX", thresholds.api_5xx_rate_percent, container)
        self._alb_rate_alarm("4XX", thresholds.api_4xx_rate_percent, container)
        targets: dict[str, pulumi.Input[str]] = {
            "LoadBalancer": container.load_balancer,
            "TargetGroup": container.target_group,
        }
        self._alarm(
            AlarmSpec(
                key="alb-p99-response-time",
                description=f"Target response time p99 at or above {thresholds.api_p99_latency_ms} ms "
                "(design target 1 s)",
                threshold=thresholds.api_p99_latency_ms / 1000,  # the metric is in seconds
                metric=("AWS/ApplicationELB", "TargetResponseTime", targets),
                statistic=None,
                extended_statistic="p99",
            )
        )
        self._alarm(
            AlarmSpec(
                key="alb-unhealthy-targets",
                description="A task fails the load balancer's health check",
                threshold=1,
                metric=("AWS/ApplicationELB", "UnHealthyHostCount", targets),
                statistic="Maximum",
            )
        )

    def _service_alarms(self, container: ContainerMetrics) -> None:
        thresholds = self._args.thresholds
        dims: dict[str, pulumi.Input[str]] = {
            "ClusterName": container.cluster_name,
            "ServiceName": container.service_name,
        }
        for key, metric, threshold in (
            ("service-cpu", "CPUUtilization", thresholds.fargate_cpu_percent),
            ("service-memory", "MemoryUtilization", thresholds.fargate_memory_percent),
        ):
            self._alarm(
                AlarmSpec(
                    key=key,
                    description=f"The API service's average {metric} at or above {threshold:g}% "
                    "(auto scaling should have added tasks)",
                    threshold=threshold,
                    metric=("AWS/ECS", metric, dims),
                    statistic="Average",
                )
            )
        self._alarm(
            AlarmSpec(
                key="service-running-tasks",
                description=f"Fewer than {container.min_tasks} API tasks running: the region cannot carry "
                "the design load after a failover",
                threshold=container.min_tasks,
                comparison="LessThanThreshold",
                metric=("ECS/ContainerInsights", "RunningTaskCount", dims),
                statistic="Minimum",
                # Container Insights reports every minute while the service exists: silence is a fault.
                treat_missing_data="breaching",
            )
        )

    def _function_alarms(self) -> None:
        thresholds = self._args.thresholds
        for role, function_name in self._args.functions.items():
            timeout = self._args.function_timeouts.get(role, self._args.function_timeout_seconds)
            duration_ms = timeout * 1000 * thresholds.lambda_duration_percent_of_timeout / 100
            dims: dict[str, pulumi.Input[str]] = {"FunctionName": function_name}
            if role not in self._args.rejecting_functions:
                self._alarm(
                    AlarmSpec(
                        key=f"{role}-errors",
                        description=f"{role}: invocation errors",
                        threshold=thresholds.lambda_errors,
                        metric=("AWS/Lambda", "Errors", dims),
                    )
                )
            self._alarm(
                AlarmSpec(
                    key=f"{role}-throttles",
                    description=f"{role}: throttled invocations (concurrency exhausted)",
                    threshold=thresholds.lambda_throttles,
                    metric=("AWS/Lambda", "Throttles", dims),
                )
            )
            self._alarm(
                AlarmSpec(
                    key=f"{role}-duration-p99",
                    description=f"{role}: p99 duration at or above {duration_ms:.0f} ms (near the timeout)",
                    threshold=duration_ms,
                    metric=("AWS/Lambda", "Duration", dims),
                    statistic=None,
                    extended_statistic="p99",
                )
            )

    def _response_alarms(self) -> None:
        """A route function answering 5xx: every exception becomes a 500 (handlers/wire/http.py), so the
        Errors alarm sees only crashes; this sees the answers, per function, beside the API-wide rate."""
        threshold, namespace = self._args.thresholds.api_5xx_rate_percent, self._args.metrics_namespace
        for role in self._args.responding_functions:
            function: dict[str, pulumi.Input[str]] = {"FunctionName": self._args.functions[role]}
            self._alarm(
                AlarmSpec(
                    key=f"{role}-5xx-rate",
                    description=f"{role}: more than {threshold}% of its answers were 5xx",
                    threshold=threshold,
                    queries=[
                        _metric_query("errors", namespace, RESPONSES_METRIC, {**function, "StatusClass": "5xx"}),
                        _metric_query("answers", namespace, RESPONSES_METRIC, function),
                        # Published only when one happens: a minute without a 5xx has no datapoint.
                        _expression("rate", "IF(answers > 0, 100 * FILL(errors, 0) / answers, 0)", "5xx rate (%)"),
                    ],
                )
            )

    def _operation_sum(self, metric: str) -> list[aws.cloudwatch.MetricAlarmMetricQueryArgs]:
        """ThrottledRequests/SystemErrors exist only per (TableName, Operation): sum the operations used."""
        operations = list(self._args.table_operations)
        queries = [
            _metric_query(f"m{i}", "AWS/DynamoDB", metric, {"TableName": self._args.table_name, "Operation": op})
            for i, op in enumerate(operations)
        ]
        ids = ", ".join(f"m{i}" for i in range(len(operations)))
        return [*queries, _expression("total", f"SUM([{ids}])", f"{metric} (all operations)")]

    def _table_alarms(self) -> None:
        thresholds = self._args.thresholds
        if self._args.table_operations:
            self._alarm(
                AlarmSpec(
                    key="table-throttled-requests",
                    description="DynamoDB throttled requests on the payment table",
                    threshold=thresholds.dynamodb_throttled_requests,
                    queries=self._operation_sum("ThrottledRequests"),
                )
            )
            self._alarm(
                AlarmSpec(
                    key="table-system-errors",
                    description="DynamoDB system errors (HTTP 500) on the payment table",
                    threshold=thresholds.dynamodb_system_errors,
                    queries=self._operation_sum("SystemErrors"),
                )
            )
        for receiving in self._args.replica_regions:
            self._alarm(
                AlarmSpec(
                    key=f"replication-latency-{receiving}",
                    description=f"Replication from {self._args.region} to {receiving} is slow",
                    threshold=thresholds.replication_latency_ms,
                    metric=(
                        "AWS/DynamoDB",
                        "ReplicationLatency",
                        {"TableName": self._args.table_name, "ReceivingRegion": receiving},
                    ),
                    statistic="Average",
                )
            )

    def _outcome_alarms(self) -> None:
        """Payments whose outcome is not certain yet: none of these may go unnoticed."""
        thresholds, namespace = self._args.thresholds, self._args.metrics_namespace
        self._alarm(
            AlarmSpec(
                key="oldest-pending",
                description=f"A payment has been pending for {thresholds.oldest_pending_seconds:.0f} s or more "
                "(runbook: docs/reliability.md)",
                threshold=thresholds.oldest_pending_seconds,
                metric=(namespace, "OldestPendingAge", {}),
                statistic="Maximum",
                # The resolver publishes it every minute: silence means the resolver is not running.
                treat_missing_data="breaching",
                evaluation_periods=3,
                datapoints_to_alarm=3,
            )
        )
        for key, metric, description, threshold in (
            ("payment-not-stored", "PaymentNotStored", "a bank answer could not be stored (left pending)", 1.0),
            (
                "resolver-failures",
                "ResolverFailures",
                "the resolver could not reach the bank",
                thresholds.resolver_failures,
            ),
            ("reversals", "Reversals", "the resolver reversed payments at the bank", 1.0),
        ):
            self._alarm(
                AlarmSpec(
                    key=key,
                    description=f"{description} (runbook: docs/reliability.md)",
                    threshold=threshold,
                    metric=(namespace, metric, {}),
                    evaluation_periods=1,
                    datapoints_to_alarm=1,
                )
            )
        for peer in self._args.replica_regions:
            self._alarm(
                AlarmSpec(
                    key=f"heartbeat-{peer}",
                    description=f"{peer}'s heartbeat, as replicated to {self._args.region}, is older than "
                    f"{thresholds.heartbeat_age_seconds:.0f} s: replication or {peer}'s resolver has stopped",
                    threshold=thresholds.heartbeat_age_seconds,
                    metric=(namespace, "HeartbeatAge", {"PeerRegion": peer}),
                    statistic="Maximum",
                    treat_missing_data="breaching",
                    evaluation_periods=3,
                    datapoints_to_alarm=3,
                )
            )

    def _key_watch(self, keys: Sequence[pulumi.Input[str]]) -> None:
        """EventBridge rules to the alert topic: the KMS API calls that make a key unusable (delivered by
        CloudTrail's management events) and KMS's own deletion event. Free: AWS service events."""
        args = self._args
        patterns = {
            "key-api-calls": pulumi.Output.all(*keys).apply(
                lambda arns: json.dumps(
                    {
                        "source": ["aws.kms"],
                        "detail-type": ["AWS API Call via CloudTrail"],
                        "detail": {
                            "eventSource": ["kms.amazonaws.com"],
                            "eventName": list(KEY_EVENTS),
                            "resources": {"ARN": list(arns)},
                        },
                    }
                )
            ),
            "key-deleted": pulumi.Output.all(*keys).apply(
                lambda arns: json.dumps(
                    {"source": ["aws.kms"], "detail-type": ["KMS CMK Deletion"], "resources": list(arns)}
                )
            ),
        }
        for role, pattern in patterns.items():
            rule = aws.cloudwatch.EventRule(
                f"{self._name}-{role}",
                aws.cloudwatch.EventRuleArgs(
                    region=args.region,
                    name=f"{args.name_prefix}-{args.region}-{role}",
                    description="A table key was disabled, scheduled for deletion, deleted or had its policy changed",
                    event_pattern=pattern,
                    tags=dict(args.tags),
                ),
                child_opts(self),
            )
            aws.cloudwatch.EventTarget(
                f"{self._name}-{role}-target",
                aws.cloudwatch.EventTargetArgs(region=args.region, rule=rule.name, arn=self.topic_arn),
                child_opts(self),
            )

    def _health_check_alarm(self, health_check_id: pulumi.Input[str]) -> None:
        if self._args.region == ROUTE53_METRICS_REGION:
            topic = self.topic_arn
        else:
            topic = self._topic(ROUTE53_METRICS_REGION, f"-{ROUTE53_METRICS_REGION}")
            self.health_topic_arn = topic
        self._alarm(
            AlarmSpec(
                key="health-check",
                description=f"Route 53 health check of {self._args.region} failing: the region left DNS",
                threshold=1,
                comparison="LessThanThreshold",
                metric=("AWS/Route53", "HealthCheckStatus", {"HealthCheckId": health_check_id}),
                statistic="Minimum",
                # No data from a health check is itself a failure.
                treat_missing_data="breaching",
                evaluation_periods=1,
                datapoints_to_alarm=1,
            ),
            region=ROUTE53_METRICS_REGION,
            topic=topic,
        )

    # --- dashboard -------------------------------------------------------------------------------

    def _widget(self, title: str, metrics: list[list[Any]], x: int, y: int, **properties: Any) -> dict[str, Any]:
        return {
            "type": "metric",
            "x": x,
            "y": y,
            "width": 12,
            "height": 6,
            "properties": {
                "title": title,
                "region": self._args.region,
                "view": "timeSeries",
                "period": PERIOD,
                "metrics": metrics,
                **properties,
            },
        }

    def _api_widgets(self) -> list[dict[str, Any]]:
        """Requests, latency and error rates of the REST API (rows 0 and 6, left)."""
        args = self._args
        api = ["AWS/ApiGateway"]
        dims = ["ApiName", args.api_name, "Stage", args.stage_name]
        return [
            self._widget("Requests", [[*api, "Count", *dims, {"stat": "Sum", "label": "requests"}]], 0, 0),
            self._widget(
                "Latency (ms)",
                [[*api, "Latency", *dims, {"stat": p, "label": p}] for p in ("p50", "p90", "p99")],
                12,
                0,
                annotations={"horizontal": [{"label": "target", "value": 1000}]},
            ),
            self._widget(
                "Error rates (%)",
                [
                    [*api, "4XXError", *dims, {"stat": "Sum", "id": "e4", "visible": False}],
                    [*api, "5XXError", *dims, {"stat": "Sum", "id": "e5", "visible": False}],
                    [*api, "Count", *dims, {"stat": "Sum", "id": "n", "visible": False}],
                    [{"expression": "IF(n > 0, 100 * e4 / n, 0)", "label": "4XX %"}],
                    [{"expression": "IF(n > 0, 100 * e5 / n, 0)", "label": "5XX %"}],
                ],
                0,
                6,
            ),
        ]

    def _container_widgets(self, container: ContainerMetrics) -> list[dict[str, Any]]:
        """The same three for the load balancer, then the service's fleet (row 24) under the shared rows."""
        elb = ["AWS/ApplicationELB"]
        lb = ["LoadBalancer", container.load_balancer]
        targets = [*lb, "TargetGroup", container.target_group]
        service = ["ClusterName", container.cluster_name, "ServiceName", container.service_name]

        def hidden(metric: str, query_id: str) -> list[Any]:
            return [*elb, metric, *lb, {"stat": "Sum", "id": query_id, "visible": False}]

        return [
            self._widget("Requests", [[*elb, "RequestCount", *lb, {"stat": "Sum", "label": "requests"}]], 0, 0),
            self._widget(
                "Target response time (s)",
                [[*elb, "TargetResponseTime", *targets, {"stat": p, "label": p}] for p in ("p50", "p90", "p99")],
                12,
                0,
                annotations={"horizontal": [{"label": "target", "value": 1}]},
            ),
            self._widget(
                "Error rates (%)",
                [
                    hidden("HTTPCode_ELB_4XX_Count", "b4"),
                    hidden("HTTPCode_Target_4XX_Count", "t4"),
                    hidden("HTTPCode_ELB_5XX_Count", "b5"),
                    hidden("HTTPCode_Target_5XX_Count", "t5"),
                    hidden("RequestCount", "n"),
                    [{"expression": "IF(n > 0, 100 * (FILL(b4, 0) + FILL(t4, 0)) / n, 0)", "label": "4XX %"}],
                    [{"expression": "IF(n > 0, 100 * (FILL(b5, 0) + FILL(t5, 0)) / n, 0)", "label": "5XX %"}],
                ],
                0,
                6,
            ),
            self._widget(
                "Service CPU and memory (%)",
                [
                    ["AWS/ECS", m, *service, {"stat": "Average", "label": m}]
                    for m in ("CPUUtilization", "MemoryUtilization")
                ],
                0,
                24,
            ),
            self._widget(
                "Tasks",
                [
                    ["ECS/ContainerInsights", "RunningTaskCount", *service, {"stat": "Minimum", "label": "running"}],
                    [*elb, "HealthyHostCount", *targets, {"stat": "Minimum", "label": "healthy"}],
                    [*elb, "UnHealthyHostCount", *targets, {"stat": "Maximum", "label": "unhealthy"}],
                ],
                12,
                24,
                annotations={"horizontal": [{"label": "minimum", "value": container.min_tasks}]},
            ),
        ]

    def _dashboard(self) -> None:
        args = self._args
        namespace = args.metrics_namespace
        functions = list(args.functions.values())
        widgets = [
            *(self._api_widgets() if args.api_name is not None else []),
            *(self._container_widgets(args.container) if args.container is not None else []),
            self._widget(
                "Payments by status",
                [[namespace, "Payments", "Status", s, {"stat": "Sum", "label": s}] for s in PAYMENT_STATUSES],
                12,
                6,
            ),
            self._widget(
                "Bank latency (ms)",
                [[namespace, "BankLatency", {"stat": p, "label": p}] for p in ("p50", "p99")],
                0,
                12,
            ),
            self._widget(
                "Payment outcomes (resolver)",
                [
                    [namespace, name, {"stat": stat, "label": name}]
                    for name, stat in (
                        ("PaymentsPending", "Maximum"),
                        ("OldestPendingAge", "Maximum"),
                        ("ResolverFailures", "Sum"),
                        ("Reversals", "Sum"),
                        ("PaymentNotStored", "Sum"),
                    )
                ]
                + [
                    [namespace, "HeartbeatAge", "PeerRegion", peer, {"stat": "Maximum"}]
                    for peer in args.replica_regions
                ],
                0,
                18,
            ),
            self._widget(
                "Lambda errors and throttles",
                [
                    ["AWS/Lambda", m, "FunctionName", f, {"stat": "Sum"}]
                    for f in functions
                    for m in ("Errors", "Throttles")
                ],
                12,
                12,
            ),
        ]
        dashboard = aws.cloudwatch.Dashboard(
            f"{self._name}-dashboard",
            aws.cloudwatch.DashboardArgs(
                region=args.region,
                dashboard_name=f"{args.name_prefix}-{args.region}",
                dashboard_body=pulumi.Output.json_dumps({"widgets": widgets}),
            ),
            child_opts(self),
        )
        self.dashboard_name = dashboard.dashboard_name
        self.dashboard_url = dashboard.dashboard_name.apply(
            lambda dashboard_name: (
                f"https://{args.region}.console.aws.amazon.com/cloudwatch/home"
                f"?region={args.region}#dashboards:name={dashboard_name}"
            )
        )
