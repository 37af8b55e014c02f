"""The scheduled resolver's Lambda handler (every minute; the local stack's loop calls it too): settle
this region's due pending payments (handlers.domain.resolver) and publish the backlog."""

from __future__ import annotations

import logging
from typing import Any

from handlers.domain.resolver import ResolverReport
from handlers.entrypoints import snapstart, wiring
from handlers.entrypoints.observability import emit_metric, log_context

logger = logging.getLogger("handlers.api")  # the name the resolver's log lines have always carried


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
        return {"pending": report.pending, "settled": dict(report.settled), "failures": report.failures}


def publish_resolver_report(report: ResolverReport) -> None:
    namespace = wiring.settings().metrics_namespace
    wiring.count("PaymentsPending", report.pending)
    emit_metric(namespace, "OldestPendingAge", report.oldest_pending_age or 0.0, "Seconds", {})
    wiring.count("ResolverFailures", report.failures)
    wiring.count("Reversals", report.reversals)
    for status, count in report.settled.items():
        emit_metric(namespace, "PaymentsResolved", count, "Count", {"Status": status})
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
        },
    )


if snapstart.initializing_a_snapshot():
    wiring.prime_for_snapshot()
