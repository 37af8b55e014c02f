"""The alarm and dashboard builders as plain data: no Pulumi runtime, no mocks (tests/infra/test_monitoring.py
checks the resources `Monitoring` makes of them)."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest

from components.monitoring import AlarmSpec, AlarmThresholds, ContainerMetrics, LambdaMetrics, MonitoringArgs, Widget
from components.monitoring.alarms import alarm_specs, rollback_alarms
from components.monitoring.dashboard import GRID_WIDTH, dashboard_body, layout

LAMBDA = LambdaMetrics(api_name="payment-gateway", stage_name="live")
CONTAINER = ContainerMetrics(
    load_balancer="app/pg/1", target_group="targetgroup/pg/2", cluster_name="pg", service_name="pg-api", min_tasks=2
)
SOURCES = {"lambda": LAMBDA, "container": CONTAINER}


def args(source: Any = LAMBDA, **overrides: Any) -> MonitoringArgs:
    base = MonitoringArgs(
        region="eu-west-1",
        functions={"create-payment": "pg-create-payment", "authorizer": "pg-authorizer", "resolver": "pg-resolver"},
        function_timeout_seconds=5,
        table_name="payment-gateway",
        table_operations=["GetItem", "PutItem"],
        source=source,
        responding_functions=["create-payment"],
        rejecting_functions=["authorizer"],
        replica_regions=["us-east-1"],
        health_check_id="hc-1",
    )
    return dataclasses.replace(base, **overrides)


def by_key(specs: list[AlarmSpec]) -> dict[str, AlarmSpec]:
    return {spec.key: spec for spec in specs}


# --- alarms --------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_each_source_brings_its_own_alarms_and_only_those(source: str) -> None:
    keys = set(by_key(alarm_specs(args(SOURCES[source]))))
    api = {k for k in keys if k.startswith("api-")}
    fleet = {k for k in keys if k.startswith(("alb-", "service-"))}
    if source == "lambda":
        assert api == {"api-5xx-rate", "api-4xx-rate", "api-p99-latency"} and not fleet
    else:
        assert not api
        assert fleet == {
            "alb-5xx-rate",
            "alb-4xx-rate",
            "alb-p99-response-time",
            "alb-unhealthy-targets",
            "service-cpu",
            "service-memory",
            "service-running-tasks",
        }


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_every_rollback_alarm_a_source_names_exists(source: str) -> None:
    """A renamed alarm would otherwise drop out of every deployment's rollback silently."""
    metrics = SOURCES[source]
    keys = {spec.key for spec in metrics.alarms(AlarmThresholds())}
    assert metrics.rollback_alarms() and set(metrics.rollback_alarms()) <= keys


def test_a_deployment_rolls_back_on_the_api_and_on_the_functions_own_errors_and_5xx() -> None:
    specs = alarm_specs(args(CONTAINER))
    existing = {spec.key for spec in specs}
    assert rollback_alarms(args(CONTAINER), "create-payment", existing) == [
        "alb-5xx-rate",
        "alb-p99-response-time",
        "create-payment-errors",
        "create-payment-5xx-rate",
    ]
    # The authorizer has no errors alarm (its errors are its 401s) and no 5xx rate of its own.
    assert rollback_alarms(args(LAMBDA), "authorizer", existing | {"api-5xx-rate", "api-p99-latency"}) == [
        "api-5xx-rate",
        "api-p99-latency",
    ]


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_every_alarm_has_a_window_and_watches_one_metric_or_one_expression_of_its_own_queries(source: str) -> None:
    for spec in alarm_specs(args(SOURCES[source])):
        assert spec.evaluation_periods and spec.datapoints_to_alarm, spec.key
        assert 0 < spec.datapoints_to_alarm <= spec.evaluation_periods, spec.key
        assert (spec.metric is None) != (not spec.queries), spec.key
        if spec.queries:
            ids = {q.id for q in spec.queries if q.metric is not None}
            [returned] = [q for q in spec.queries if q.metric is None]
            assert returned.expression is not None
            assert set(re.findall(r"\b[a-z]\w*\b", returned.expression)) <= ids, spec.key


def test_the_window_is_the_thresholds_unless_an_alarm_names_its_own() -> None:
    found = by_key(alarm_specs(args(thresholds=AlarmThresholds(evaluation_periods=4, datapoints_to_alarm=2))))
    assert (found["create-payment-errors"].evaluation_periods, found["create-payment-errors"].datapoints_to_alarm) == (
        4,
        2,
    )
    assert (found["health-check"].evaluation_periods, found["health-check"].datapoints_to_alarm) == (1, 1)


def test_only_the_health_check_alarm_leaves_the_region_and_only_with_a_health_check() -> None:
    regions = {spec.key: spec.region for spec in alarm_specs(args())}
    assert {key: region for key, region in regions.items() if region} == {"health-check": "us-east-1"}
    assert "health-check" not in by_key(alarm_specs(args(health_check_id=None)))


def test_two_alarms_of_one_key_are_refused_before_any_resource() -> None:
    """A function named `api` answering 5xx would share the REST API's `api-5xx-rate`."""
    with pytest.raises(ValueError, match=r"unique in a region: \['api-5xx-rate'\]"):
        alarm_specs(args(functions={"api": "pg-api"}, responding_functions=["api"], rejecting_functions=[]))


def test_the_alarm_thresholds_refuse_more_datapoints_than_periods() -> None:
    with pytest.raises(ValueError, match="datapoints_to_alarm"):
        AlarmThresholds(evaluation_periods=2, datapoints_to_alarm=3)


# --- dashboard -----------------------------------------------------------------------------------


def widgets(n: int, prefix: str = "w") -> list[Widget]:
    return [Widget(f"{prefix}{i}", [["NS", "M", {"stat": "Sum"}]]) for i in range(n)]


def cells(placed: list[dict[str, Any]]) -> set[tuple[int, int]]:
    """Every grid unit a widget covers."""
    covered: list[tuple[int, int]] = []
    for w in placed:
        covered += [(x, y) for x in range(w["x"], w["x"] + w["width"]) for y in range(w["y"], w["y"] + w["height"])]
    assert len(covered) == len(set(covered)), "widgets overlap"
    return set(covered)


def test_the_layout_places_widgets_in_reading_order_two_a_row_without_overlap() -> None:
    placed = layout([widgets(5)], "eu-west-1")
    assert [(w["x"], w["y"]) for w in placed] == [(0, 0), (12, 0), (0, 6), (12, 6), (0, 12)]
    assert all(w["x"] + w["width"] <= GRID_WIDTH for w in placed)
    cells(placed)


def test_a_section_starts_on_a_row_of_its_own_and_moves_down_when_one_above_grows() -> None:
    placed = layout([widgets(3, "a"), widgets(2, "b")], "eu-west-1")
    assert [(w["properties"]["title"], w["x"], w["y"]) for w in placed if w["properties"]["title"][0] == "b"] == [
        ("b0", 0, 12),
        ("b1", 12, 12),
    ]
    grown = layout([widgets(5, "a"), widgets(2, "b")], "eu-west-1")
    assert [w["y"] for w in grown if w["properties"]["title"][0] == "b"] == [18, 18]
    cells(grown)


def test_an_empty_section_takes_no_room() -> None:
    assert layout([widgets(2), [], widgets(1, "z")], "eu-west-1")[-1]["y"] == 6


def titles(body: dict[str, Any]) -> list[str]:
    return [w["properties"]["title"] for w in body["widgets"]]


def test_the_dashboard_shows_the_sources_traffic_first_then_every_regions_graphs_then_the_fleet() -> None:
    shared = [
        *["Payments by status", "Bank latency (ms)", "Lambda errors and throttles", "Payment outcomes (resolver)"],
        *["Captures by outcome", "Voids by outcome", "Refunds by outcome", "Expiries by outcome"],
        *["Webhook deliveries by outcome", "Webhooks: oldest undelivered (s), endpoints disabled"],
    ]
    assert titles(dashboard_body(args(LAMBDA))) == ["Requests", "Latency (ms)", "Error rates (%)", *shared]
    container = dashboard_body(args(CONTAINER))
    assert titles(container) == [
        *["Requests", "Target response time (s)", "Error rates (%)", *shared],
        *["Service CPU and memory (%)", "Tasks"],
    ]
    placed = container["widgets"]
    assert min(w["y"] for w in placed[-2:]) >= max(w["y"] + w["height"] for w in placed[:-2])
    cells(placed)


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_every_graph_is_of_the_region_and_its_expressions_use_only_its_own_metrics(source: str) -> None:
    for widget in dashboard_body(args(SOURCES[source], region="us-east-1"))["widgets"]:
        properties = widget["properties"]
        assert properties["region"] == "us-east-1"
        ids = {m[-1]["id"] for m in properties["metrics"] if isinstance(m[-1], dict) and "id" in m[-1]}
        for metric in properties["metrics"]:
            if "expression" in metric[-1]:
                assert set(re.findall(r"\b[a-z]\w*\b", metric[-1]["expression"])) <= ids, properties["title"]


def test_every_function_and_peer_region_is_graphed() -> None:
    body = dashboard_body(args(replica_regions=["us-east-1", "ap-southeast-2"]))
    metrics = [m for w in body["widgets"] for m in w["properties"]["metrics"]]
    graphed = {m[3] for m in metrics if m[:2] == ["AWS/Lambda", "Errors"]}
    assert graphed == {"pg-create-payment", "pg-authorizer", "pg-resolver"}
    assert {m[3] for m in metrics if m[:2] == ["PaymentGateway", "HeartbeatAge"]} == {"us-east-1", "ap-southeast-2"}


# --- the payment lifecycle -----------------------------------------------------------------------


def test_captures_voids_refunds_and_expiries_are_graphed_by_every_outcome() -> None:
    body = dashboard_body(args(metrics_namespace="PG Test"))
    graphs = {w["properties"]["title"]: w["properties"]["metrics"] for w in body["widgets"]}
    for metric in ("Captures", "Voids", "Refunds", "Expiries"):
        [[query]] = graphs[f"{metric} by outcome"]
        # Every Outcome value the namespace holds for the metric, the namespace quoted (it may hold a space).
        assert query["expression"] == f"""SEARCH('{{"PG Test",Outcome}} MetricName="{metric}"', 'Sum', 60)"""
        assert query["label"] == "${PROP('Dim.Outcome')}"
    statuses = {m[3] for m in graphs["Payments by status"]}
    assert {"authorized", "captured"} <= statuses  # manual and automatic capture's successes
    resolver = {m[1] for m in graphs["Payment outcomes (resolver)"]}
    assert {"OldestPendingAge", "PaymentNotStored", "OperationNotStored"} <= resolver


def test_pending_operations_page_like_pending_payments() -> None:
    specs = by_key(alarm_specs(args()))
    oldest = specs["oldest-pending"]
    assert oldest.metric is not None and oldest.metric.name == "OldestPendingAge"
    assert "capture, void or refund" in oldest.description and "payment" in oldest.description
    lost = specs["operation-not-stored"]
    assert lost.metric is not None and (lost.metric.name, lost.threshold) == ("OperationNotStored", 1.0)
    assert (lost.evaluation_periods, lost.datapoints_to_alarm) == (1, 1)  # the first one pages
    assert lost.description.endswith("(runbook: docs/reliability.md)")
