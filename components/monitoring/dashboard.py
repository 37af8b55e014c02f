"""The region's dashboard as plain data: the metrics source's traffic graphs, then every region's graphs,
then the source's fleet, laid out automatically (no coordinates: a new graph is one more `Widget` in its list)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from components.monitoring.model import PERIOD, MonitoringArgs, Widget

# What create-payment answers (handlers/entrypoints/api.py publishes Payments by Status): `captured`
# with automatic capture, `authorized` with manual.
PAYMENT_STATUSES = ("pending", "authorized", "captured", "declined", "failed", "reversed")
# The lifecycle's EMF counts, each by Outcome (handlers/entrypoints/lifecycle_api.py and the resolver).
LIFECYCLE_METRICS = ("Captures", "Voids", "Refunds", "Expiries")
# CloudWatch dashboards are 24 units wide: two graphs a row.
GRID_WIDTH = 24
COLUMNS = 2
WIDGET_HEIGHT = 6


def shared_widgets(args: MonitoringArgs) -> list[Widget]:
    """What every region shows whatever serves its API: payments, the bank, the functions, the resolver,
    the lifecycle and the webhooks."""
    namespace = args.metrics_namespace
    outcomes = [
        [namespace, name, {"stat": stat, "label": name}]
        for name, stat in (
            ("PaymentsPending", "Maximum"),
            ("OldestPendingAge", "Maximum"),
            ("ResolverFailures", "Sum"),
            ("Reversals", "Sum"),
            ("PaymentNotStored", "Sum"),
            ("OperationNotStored", "Sum"),
        )
    ]
    heartbeats = [[namespace, "HeartbeatAge", "PeerRegion", peer, {"stat": "Maximum"}] for peer in args.replica_regions]
    return [
        Widget(
            "Payments by status",
            [[namespace, "Payments", "Status", s, {"stat": "Sum", "label": s}] for s in PAYMENT_STATUSES],
        ),
        Widget("Bank latency (ms)", [[namespace, "BankLatency", {"stat": p, "label": p}] for p in ("p50", "p99")]),
        Widget(
            "Lambda errors and throttles",
            [
                ["AWS/Lambda", m, "FunctionName", f, {"stat": "Sum"}]
                for f in args.functions.values()
                for m in ("Errors", "Throttles")
            ],
        ),
        Widget("Payment outcomes (resolver)", [*outcomes, *heartbeats]),
        *lifecycle_widgets(namespace),
        *webhook_widgets(args),
    ]


def webhook_widgets(args: MonitoringArgs) -> list[Widget]:
    """The sender's EMF metrics: deliveries by every Outcome it publishes (a metric search), the oldest
    undelivered event's age against its alarm, and endpoints disabled."""
    namespace = args.metrics_namespace
    deliveries = f"SEARCH('{{\"{namespace}\",Outcome}} MetricName=\"WebhookDeliveries\"', 'Sum', {PERIOD})"
    return [
        Widget("Webhook deliveries by outcome", [[{"expression": deliveries, "label": "${PROP('Dim.Outcome')}"}]]),
        Widget(
            "Webhooks: oldest undelivered (s), endpoints disabled",
            [
                [namespace, "OldestUndeliveredAge", {"stat": "Maximum", "label": "OldestUndeliveredAge"}],
                [namespace, "EndpointsDisabled", {"stat": "Sum", "label": "EndpointsDisabled", "yAxis": "right"}],
            ],
            annotations={"horizontal": [{"label": "alarm", "value": args.thresholds.oldest_undelivered_seconds}]},
        ),
    ]


def lifecycle_widgets(namespace: str) -> list[Widget]:
    """Captures, voids, refunds and expiries, one graph each, a line per Outcome. A metric search
    rather than a list of outcomes: every Outcome the handlers publish is graphed, one added later too."""
    return [
        Widget(
            f"{metric} by outcome",
            [
                [
                    {
                        "expression": f"SEARCH('{{\"{namespace}\",Outcome}} MetricName=\"{metric}\"', 'Sum', {PERIOD})",
                        "label": "${PROP('Dim.Outcome')}",
                    }
                ]
            ],
        )
        for metric in LIFECYCLE_METRICS
    ]


def layout(sections: Sequence[Sequence[Widget]], region: str) -> list[dict[str, Any]]:
    """CloudWatch's widgets in reading order, `COLUMNS` a row; each section starts on a row of its own."""
    width = GRID_WIDTH // COLUMNS
    placed: list[dict[str, Any]] = []
    row = 0
    for section in sections:
        for index, widget in enumerate(section):
            x, y = index % COLUMNS * width, row + index // COLUMNS * WIDGET_HEIGHT
            placed.append(_render(widget, region, x, y, width))
        row += -(-len(section) // COLUMNS) * WIDGET_HEIGHT  # the section's rows, rounded up
    return placed


def _render(widget: Widget, region: str, x: int, y: int, width: int) -> dict[str, Any]:
    annotations = {"annotations": widget.annotations} if widget.annotations is not None else {}
    return {
        "type": "metric",
        "x": x,
        "y": y,
        "width": width,
        "height": WIDGET_HEIGHT,
        "properties": {
            "title": widget.title,
            "region": region,
            "view": "timeSeries",
            "period": PERIOD,
            "metrics": [list(metric) for metric in widget.metrics],
            **annotations,
        },
    }


def dashboard_body(args: MonitoringArgs) -> dict[str, Any]:
    """The dashboard's body (to be rendered as JSON once the names it holds are known)."""
    sections = [[*args.source.traffic_widgets(), *shared_widgets(args)], args.source.fleet_widgets()]
    return {"widgets": layout(sections, args.region)}
