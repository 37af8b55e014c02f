"""The metrics sources, one per compute option: what serves the API, its alarms and its graphs.

- `LambdaMetrics` (compute: lambda): the REST API's 5XX and 4XX rates (metric math over Count) and
  p99 latency against the 1 s design target.
- `ContainerMetrics` (compute: fargate): the load balancer's 5XX and 4XX rates (its own answers and
  the targets' over RequestCount), target response time p99 against the same target, unhealthy
  targets; the service's CPU and memory, and fewer running tasks than the minimum.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from components.monitoring.model import AlarmSpec, AlarmThresholds, Metric, Query, Widget, expression, metric_query

if TYPE_CHECKING:
    import pulumi

LATENCY_PERCENTILES = ("p50", "p90", "p99")


def _pairs(dimensions: Mapping[str, pulumi.Input[str]]) -> list[Any]:
    """Dimensions as a dashboard's metric array lists them: name, value, name, value..."""
    return [item for pair in dimensions.items() for item in pair]


def _rate_alarm(key: str, subject: str, family: str, threshold: float, queries: list[Query]) -> AlarmSpec:
    return AlarmSpec(
        key=key,
        description=f"More than {threshold}% of {subject} requests answered {family}",
        threshold=threshold,
        queries=queries,
    )


def _p99_alarm(key: str, description: str, threshold: float, metric: Metric) -> AlarmSpec:
    return AlarmSpec(
        key=key, description=description, threshold=threshold, metric=metric, statistic=None, extended_statistic="p99"
    )


@dataclass(frozen=True)
class LambdaMetrics:
    """The REST API and stage serving the payment API."""

    api_name: pulumi.Input[str]
    """The REST API's name: the ApiName dimension of its metrics."""
    stage_name: pulumi.Input[str]
    """Its stage's name: the Stage dimension."""

    def _dimensions(self) -> dict[str, pulumi.Input[str]]:
        return {"ApiName": self.api_name, "Stage": self.stage_name}

    def _rate(self, family: str, threshold: float) -> AlarmSpec:
        dims = self._dimensions()
        return _rate_alarm(
            f"api-{family.lower()}-rate",
            "API",
            family,
            threshold,
            [
                metric_query("errors", Metric("AWS/ApiGateway", f"{family}Error", dims)),
                metric_query("requests", Metric("AWS/ApiGateway", "Count", dims)),
                expression("rate", "IF(requests > 0, 100 * errors / requests, 0)", f"{family} rate (%)"),
            ],
        )

    def alarms(self, thresholds: AlarmThresholds) -> list[AlarmSpec]:
        return [
            self._rate("5XX", thresholds.api_5xx_rate_percent),
            self._rate("4XX", thresholds.api_4xx_rate_percent),
            _p99_alarm(
                "api-p99-latency",
                f"API p99 latency at or above {thresholds.api_p99_latency_ms} ms (design target 1 s)",
                thresholds.api_p99_latency_ms,
                Metric("AWS/ApiGateway", "Latency", self._dimensions()),
            ),
        ]

    def rollback_alarms(self) -> tuple[str, ...]:
        return ("api-5xx-rate", "api-p99-latency")

    def traffic_widgets(self) -> list[Widget]:
        api = ["AWS/ApiGateway"]
        dims = _pairs(self._dimensions())
        return [
            Widget("Requests", [[*api, "Count", *dims, {"stat": "Sum", "label": "requests"}]]),
            Widget(
                "Latency (ms)",
                [[*api, "Latency", *dims, {"stat": p, "label": p}] for p in LATENCY_PERCENTILES],
                annotations={"horizontal": [{"label": "target", "value": 1000}]},
            ),
            Widget(
                "Error rates (%)",
                [
                    [*api, "4XXError", *dims, {"stat": "Sum", "id": "e4", "visible": False}],
                    [*api, "5XXError", *dims, {"stat": "Sum", "id": "e5", "visible": False}],
                    [*api, "Count", *dims, {"stat": "Sum", "id": "n", "visible": False}],
                    [{"expression": "IF(n > 0, 100 * e4 / n, 0)", "label": "4XX %"}],
                    [{"expression": "IF(n > 0, 100 * e5 / n, 0)", "label": "5XX %"}],
                ],
            ),
        ]

    def fleet_widgets(self) -> list[Widget]:
        return []  # the functions' errors and throttles are among every region's graphs


ELB = "AWS/ApplicationELB"


@dataclass(frozen=True)
class ContainerMetrics:
    """The container option's dimensions: the ALB and target group (ARN suffixes), cluster and service."""

    load_balancer: pulumi.Input[str]
    """The load balancer's ARN suffix: the LoadBalancer dimension."""
    target_group: pulumi.Input[str]
    """The target group's ARN suffix: the TargetGroup dimension."""
    cluster_name: pulumi.Input[str]
    """The ECS cluster's name: the ClusterName dimension."""
    service_name: pulumi.Input[str]
    """The ECS service's name: the ServiceName dimension."""
    min_tasks: int
    """Fewer running tasks than this fire the running-tasks alarm (TaskSettings.min_tasks)."""

    def _targets(self) -> Mapping[str, pulumi.Input[str]]:
        return {"LoadBalancer": self.load_balancer, "TargetGroup": self.target_group}

    def _service(self) -> Mapping[str, pulumi.Input[str]]:
        return {"ClusterName": self.cluster_name, "ServiceName": self.service_name}

    def _rate(self, family: str, threshold: float) -> AlarmSpec:
        """The ALB's own answers (no healthy target, a timeout) and the targets', over all requests."""
        dims: dict[str, pulumi.Input[str]] = {"LoadBalancer": self.load_balancer}
        return _rate_alarm(
            f"alb-{family.lower()}-rate",
            "load balancer",
            family,
            threshold,
            [
                metric_query("elb", Metric(ELB, f"HTTPCode_ELB_{family}_Count", dims)),
                metric_query("target", Metric(ELB, f"HTTPCode_Target_{family}_Count", dims)),
                metric_query("requests", Metric(ELB, "RequestCount", dims)),
                # Both counts are reported only when non-zero (ELB guide, "CloudWatch metrics for
                # your Application Load Balancer": reporting criteria): without FILL a minute of
                # target errors alone has no `elb` datapoint, so no sum and no rate, and missing
                # data is not breaching.
                expression(
                    "rate",
                    "IF(requests > 0, 100 * (FILL(elb, 0) + FILL(target, 0)) / requests, 0)",
                    f"{family} rate (%)",
                ),
            ],
        )

    def alarms(self, thresholds: AlarmThresholds) -> list[AlarmSpec]:
        return [*self._load_balancer_alarms(thresholds), *self._service_alarms(thresholds)]

    def _load_balancer_alarms(self, thresholds: AlarmThresholds) -> list[AlarmSpec]:
        return [
            self._rate("5XX", thresholds.api_5xx_rate_percent),
            self._rate("4XX", thresholds.api_4xx_rate_percent),
            _p99_alarm(
                "alb-p99-response-time",
                f"Target response time p99 at or above {thresholds.api_p99_latency_ms} ms (design target 1 s)",
                thresholds.api_p99_latency_ms / 1000,  # the metric is in seconds
                Metric(ELB, "TargetResponseTime", self._targets()),
            ),
            AlarmSpec(
                key="alb-unhealthy-targets",
                description="A task fails the load balancer's health check",
                threshold=1,
                metric=Metric(ELB, "UnHealthyHostCount", self._targets()),
                statistic="Maximum",
            ),
        ]

    def _service_alarms(self, thresholds: AlarmThresholds) -> list[AlarmSpec]:
        usage = [
            AlarmSpec(
                key=key,
                description=f"The API service's average {metric} at or above {threshold:g}% "
                "(auto scaling should have added tasks)",
                threshold=threshold,
                metric=Metric("AWS/ECS", metric, self._service()),
                statistic="Average",
            )
            for key, metric, threshold in (
                ("service-cpu", "CPUUtilization", thresholds.fargate_cpu_percent),
                ("service-memory", "MemoryUtilization", thresholds.fargate_memory_percent),
            )
        ]
        running = AlarmSpec(
            key="service-running-tasks",
            description=f"Fewer than {self.min_tasks} API tasks running: the region cannot carry "
            "the design load after a failover",
            threshold=self.min_tasks,
            comparison="LessThanThreshold",
            metric=Metric("ECS/ContainerInsights", "RunningTaskCount", self._service()),
            statistic="Minimum",
            # Container Insights reports every minute while the service exists: silence is a fault.
            treat_missing_data="breaching",
        )
        return [*usage, running]

    def rollback_alarms(self) -> tuple[str, ...]:
        return ("alb-5xx-rate", "alb-p99-response-time")

    def traffic_widgets(self) -> list[Widget]:
        """The same three graphs as the REST API's, for the load balancer."""
        lb = _pairs({"LoadBalancer": self.load_balancer})
        targets = _pairs(self._targets())

        def hidden(metric: str, query_id: str) -> list[Any]:
            return [ELB, metric, *lb, {"stat": "Sum", "id": query_id, "visible": False}]

        return [
            Widget("Requests", [[ELB, "RequestCount", *lb, {"stat": "Sum", "label": "requests"}]]),
            Widget(
                "Target response time (s)",
                [[ELB, "TargetResponseTime", *targets, {"stat": p, "label": p}] for p in LATENCY_PERCENTILES],
                annotations={"horizontal": [{"label": "target", "value": 1}]},
            ),
            Widget(
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
            ),
        ]

    def fleet_widgets(self) -> list[Widget]:
        """The service's tasks: CPU and memory, running and healthy."""
        service, targets = _pairs(self._service()), _pairs(self._targets())
        return [
            Widget(
                "Service CPU and memory (%)",
                [
                    ["AWS/ECS", m, *service, {"stat": "Average", "label": m}]
                    for m in ("CPUUtilization", "MemoryUtilization")
                ],
            ),
            Widget(
                "Tasks",
                [
                    ["ECS/ContainerInsights", "RunningTaskCount", *service, {"stat": "Minimum", "label": "running"}],
                    [ELB, "HealthyHostCount", *targets, {"stat": "Minimum", "label": "healthy"}],
                    [ELB, "UnHealthyHostCount", *targets, {"stat": "Maximum", "label": "unhealthy"}],
                ],
                annotations={"horizontal": [{"label": "minimum", "value": self.min_tasks}]},
            ),
        ]
