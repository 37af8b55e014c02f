"""The plain data of monitoring: thresholds, alarm specs, widgets, and what a metrics source provides.

Nothing here creates a resource: the builders (alarms.py, sources.py, dashboard.py) return these, and
`Monitoring` (component.py) turns them into resources. Values that name a deployed resource (a
function's name, a load balancer's ARN suffix) are `pulumi.Input[str]`: strings in tests, the
component's outputs in a stack, passed through untouched.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pulumi

# Every metric, alarm and graph is per minute.
PERIOD = 60


@dataclass(frozen=True)
class AlarmThresholds:
    """Each alarm's threshold, and the window alarms evaluate 1-minute periods over unless their spec sets
    one. Thresholds are not range-checked here (the stack config refuses 0: such an alarm always fires)."""

    api_5xx_rate_percent: float = 1.0
    """API 5XX rate alarm, % of requests (ContainerMetrics: the load balancer's and targets' 5XX), and each
    responding function's alarm on its share of 5xx answers."""
    api_4xx_rate_percent: float = 10.0
    """API 4XX rate alarm, % of requests (ContainerMetrics: the load balancer's and targets' 4XX)."""
    api_p99_latency_ms: float = 1000.0
    """API p99 latency alarm, ms (ContainerMetrics: the targets' response time p99); the design target is 1 s."""
    lambda_errors: float = 1.0
    """Errors per minute of each function, except `rejecting_functions`."""
    lambda_throttles: float = 1.0
    """Throttles per minute of each function."""
    lambda_duration_percent_of_timeout: float = 80.0
    """p99 duration alarm of each function, % of its timeout."""
    dynamodb_throttled_requests: float = 1.0
    """Table throttled requests per minute, summed over `table_operations`."""
    dynamodb_system_errors: float = 1.0
    """Table system errors (HTTP 500) per minute, summed over `table_operations`."""
    replication_latency_ms: float = 10000.0
    """Average replication latency towards each of `replica_regions`, ms."""
    oldest_pending_seconds: float = 900.0
    """Age of the oldest pending payment, capture, void or refund (the resolver's OldestPendingAge), s;
    3 of 3 minutes, missing data breaching (a resolver that stopped publishing)."""
    oldest_undelivered_seconds: float = 900.0
    """A webhook delivery overdue this long past its due time (the sender's OldestUndeliveredAge) pages."""
    resolver_failures: float = 1.0
    """Resolver bank inquiries or reversals that failed, per minute."""
    heartbeat_age_seconds: float = 300.0
    """Age of each replica region's heartbeat as replicated here, s; missing data breaches."""
    fargate_cpu_percent: float = 80.0
    """ContainerMetrics only: the service's average CPU, %."""
    fargate_memory_percent: float = 80.0
    """ContainerMetrics only: the service's average memory, %."""
    evaluation_periods: int = 5
    """1-minute periods an alarm evaluates, where its spec sets none."""
    datapoints_to_alarm: int = 3
    """Breaching periods among those that fire the alarm, where its spec sets none (1 to `evaluation_periods`)."""

    def __post_init__(self) -> None:
        if not 0 < self.datapoints_to_alarm <= self.evaluation_periods:
            raise ValueError("datapoints_to_alarm must be between 1 and evaluation_periods")


@dataclass(frozen=True)
class Metric:
    namespace: str
    name: str
    dimensions: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Query:
    """One line of an alarm's metric math: a metric it reads, or the expression it watches (returned)."""

    id: str
    metric: Metric | None = None
    stat: str = "Sum"
    expression: str | None = None
    label: str | None = None


def metric_query(query_id: str, metric: Metric, stat: str = "Sum") -> Query:
    return Query(query_id, metric=metric, stat=stat)


def expression(query_id: str, math: str, label: str) -> Query:
    return Query(query_id, expression=math, label=label)


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm: a single metric (with `statistic` or `extended_statistic`) or metric math (`queries`)."""

    key: str
    """Unique in the region: the alarm's name is `<prefix>-<region>-<key>`."""
    description: str
    threshold: float
    comparison: str = "GreaterThanOrEqualToThreshold"
    metric: Metric | None = None
    statistic: str | None = "Sum"
    extended_statistic: str | None = None
    queries: Sequence[Query] = ()
    treat_missing_data: str = "notBreaching"
    evaluation_periods: int | None = None
    """None: the thresholds' `evaluation_periods` (and likewise `datapoints_to_alarm`)."""
    datapoints_to_alarm: int | None = None
    region: str | None = None
    """Where the alarm lives when not in the stack's region (it notifies a topic of its own region)."""

    def windowed(self, thresholds: AlarmThresholds) -> AlarmSpec:
        """This spec with the thresholds' evaluation window wherever it names none."""
        return dataclasses.replace(
            self,
            evaluation_periods=self.evaluation_periods or thresholds.evaluation_periods,
            datapoints_to_alarm=self.datapoints_to_alarm or thresholds.datapoints_to_alarm,
        )


@dataclass(frozen=True)
class Widget:
    """A time-series graph; `dashboard.layout` gives it its place and region."""

    title: str
    metrics: Sequence[Sequence[Any]]
    """CloudWatch's metric arrays: namespace, name, dimension pairs..., then an options object."""
    annotations: Mapping[str, Any] | None = None


class MetricsSource(Protocol):
    """What serves the API in a region, as its alarms and dashboard see it: one per compute option."""

    def alarms(self, thresholds: AlarmThresholds) -> list[AlarmSpec]:
        """The front's own alarms: error rates, latency, and the fleet's health if it has one."""
        ...

    def rollback_alarms(self) -> tuple[str, ...]:
        """Keys of the alarms that stop a gradual deployment: the whole API answering errors or slowly."""
        ...

    def traffic_widgets(self) -> list[Widget]:
        """The dashboard's first graphs: requests, latency, error rates."""
        ...

    def fleet_widgets(self) -> list[Widget]:
        """Graphs of what runs the code, on rows of their own under the shared ones (none for Lambda)."""
        ...


@dataclass(frozen=True)
class MonitoringArgs:
    """What Monitoring watches in one region, at which thresholds, and who is told. Fields: docs/components.md."""

    region: str
    """The stack's region: its alarms, dashboard, topic and key-watch rules (the health-check alarm is in
    us-east-1)."""
    functions: Mapping[str, pulumi.Input[str]]
    """Role (e.g. `create-payment`) -> deployed function name."""
    function_timeout_seconds: int
    """The functions' timeout, s (LambdaSettings.timeout_seconds): the base of their p99 duration alarms."""
    table_name: pulumi.Input[str]
    """The payment table: its throttles, system errors and replication latency are watched."""
    table_operations: Sequence[str]
    """DynamoDB operations (`GetItem`...) whose throttles and system errors to watch."""
    source: MetricsSource
    """What serves the payment API: `LambdaMetrics` (the REST API) or `ContainerMetrics` (ALB and ECS)."""
    responding_functions: Sequence[str] = ()
    """Roles whose entry point publishes `Responses` by status class (the route functions): each
    gets an alarm on its rate of 5xx answers at `api_5xx_rate_percent`."""
    rejecting_functions: Sequence[str] = ()
    """Roles whose errors include their answers: a REQUEST authorizer raises `Unauthorized` to give
    a 401, so each bad key is a Lambda error. No errors alarm for them; their real faults reach
    the client as API Gateway 5XX, which the API 5XX alarm watches."""
    replica_regions: Sequence[str] = ()
    """Regions this region's replica replicates to (ReplicationLatency's ReceivingRegion); each also gets
    an alarm on its heartbeat's age."""
    function_timeouts: Mapping[str, int] = field(default_factory=dict)
    """Roles whose timeout differs from `function_timeout_seconds` (the resolver's), s."""
    health_check_id: pulumi.Input[str] | None = None
    """This region's Route 53 health check: an alarm on it in us-east-1, with a topic of its own there when
    this region is elsewhere. None: no such alarm."""
    alarm_email: str | None = None
    """An address subscribed to every topic (AWS sends each a confirmation); None: no subscription."""
    metrics_namespace: str = "PaymentGateway"
    """The handlers' metrics namespace (FunctionsArgs.metrics_namespace): the outcome, 5xx-answer and webhook
    alarms and their graphs read it."""
    name_prefix: str = "payment-gateway"
    """Names the alarms (`<prefix>-<region>-<key>`), the dashboard (`<prefix>-<region>`), the topics and their
    keys (`<prefix>-alerts-<region>`) and the key-watch rules."""
    thresholds: AlarmThresholds = field(default_factory=AlarmThresholds)
    """Each alarm's threshold, and the evaluation window."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on the topics, their keys, the alarms and the key-watch rules."""
    watched_keys: Sequence[pulumi.Input[str]] = ()
    """KMS keys whose disabling, deletion or policy change must page at once: the table replica's key
    here (a replica whose key is unusable stops replicating, and AWS may cut it off after ~20 h)."""
