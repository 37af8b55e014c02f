"""The scheduled resolver's Lambda handler (every minute; the local stack's loop calls it too): settle
this region's due pending payments, captures, voids and refunds, expire manual authorizations past
their TTL (handlers.domain.resolver), and publish what it did and the backlog as EMF metrics:

- `PaymentsPending`, `OperationsPending` (captures, voids, refunds), `OldestPendingAge` (the oldest of
  both: the pending-age alarm covers operations too), `ResolverFailures`, `Reversals`;
- `PaymentsResolved` by `Status`; `Captures`, `Voids`, `Refunds` by `Outcome` for the operations it
  settled (the API counts the same metrics for the answers it gave: a `pending` there is followed by
  the resolver's `succeeded` or `failed`); `Expiries`, the authorizations it released as `expired`."""

from __future__ import annotations

import logging
from typing import Any

from handlers.domain.models import OperationKind
from handlers.domain.resolver import ResolverReport
from handlers.entrypoints import snapstart, wiring
from handlers.entrypoints.observability import emit_metric, log_context

logger = logging.getLogger("handlers.api")  # the name the resolver's log lines have always carried

# The API's names for the same counts (handlers.entrypoints.lifecycle_api), by the kind's value.
OPERATION_METRICS = {
    OperationKind.CAPTURE.value: "Captures",
    OperationKind.VOID.value: "Voids",
    OperationKind.REFUND.value: "Refunds",
}


def resolve_pending(event: object, context: Any) -> dict[str, object]:
    """Scheduled every minute: settle this region's due pending payments and publish the backlog."""
    with log_context(request_id=str(getattr(context, "aws_request_id", "scheduled"))):
        wiring.settings()
        try:
            report = wiring.payment_resolver().run()
        except Exception:
            logger.exception("resolver_failed")
            wiring.count("ResolverFailures")
            raise  # a Lambda error: the Errors alarm sees a resolver that cannot run at all
        publish_resolver_report(report)
        return {
            "pending": report.pending,
            "settled": dict(report.settled),
            "failures": report.failures,
            "operations_settled": dict(report.operations_settled),
            "expired": report.expired,
            "pending_operations": report.pending_operations,
        }


def publish_resolver_report(report: ResolverReport) -> None:
    namespace = wiring.settings().metrics_namespace
    wiring.count("PaymentsPending", report.pending)
    wiring.count("OperationsPending", report.pending_operations)
    # The oldest pending payment or operation: the pending-age alarm's metric.
    emit_metric(namespace, "OldestPendingAge", report.oldest_pending_age or 0.0, "Seconds", {})
    wiring.count("ResolverFailures", report.failures)
    wiring.count("Reversals", report.reversals)
    # By Outcome like Captures, Voids and Refunds: the dashboard graphs the four with one metric search.
    emit_metric(namespace, "Expiries", report.expired, "Count", {"Outcome": "expired"})
    for status, count in report.settled.items():
        emit_metric(namespace, "PaymentsResolved", count, "Count", {"Status": status})
    for settled, count in report.operations_settled.items():
        kind, _, outcome = settled.partition(".")  # "capture.succeeded"
        if kind in OPERATION_METRICS:
            emit_metric(namespace, OPERATION_METRICS[kind], count, "Count", {"Outcome": outcome})
    for peer, age in report.peer_heartbeat_ages.items():
        # A peer that never beat is reported as a day old: the alarm only needs "older than the threshold".
        emit_metric(
            namespace,
            "HeartbeatAge",
            min(age, 86_400.0) if age is not None else 86_400.0,
            "Seconds",
            {"PeerRegion": peer},
        )
    logger.info(
        "resolver_run",
        extra={
            "pending": report.pending,
            "settled": dict(report.settled),
            "failures": report.failures,
            "took_over": list(report.took_over),
            "operations_settled": dict(report.operations_settled),
            "expired": report.expired,
            "pending_operations": report.pending_operations,
        },
    )


if snapstart.initializing_a_snapshot():
    wiring.prime_for_snapshot()
