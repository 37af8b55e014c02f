"""The scheduled webhook sender's Lambda handler (every minute; the local stack's loop calls it every
second): deliver this region's due events, and a silent region's (handlers.domain.delivery), and
publish as EMF metrics:

- `WebhookDeliveries` by `Outcome` (delivered, retrying, exhausted, gone, skipped), one per attempt;
- `OldestUndeliveredAge`: seconds since this region's oldest event still waiting for a delivery was
  written (0 when none; its alarm says deliveries are stuck or failing for long);
- `EndpointsDisabled`: endpoints this run disabled (a 410, or every attempt failing for 5 days)."""

from __future__ import annotations

import logging
from typing import Any

from handlers.domain.delivery import Outcome, SenderReport
from handlers.entrypoints import snapstart, wiring
from handlers.entrypoints.observability import emit_metric, log_context

logger = logging.getLogger("handlers.webhooks")
OUTCOMES = (Outcome.DELIVERED, Outcome.RETRYING, Outcome.EXHAUSTED, Outcome.GONE, Outcome.SKIPPED)


def deliver(event: object, context: Any) -> dict[str, object]:
    """Scheduled every minute: post the due webhook events and publish what happened."""
    with log_context(request_id=str(getattr(context, "aws_request_id", "scheduled"))):
        wiring.settings()
        try:
            report = wiring.webhook_sender().run()
        except Exception:
            logger.exception("webhook_sender_failed")
            raise  # a Lambda error: the Errors alarm sees a sender that cannot run at all
        publish_sender_report(report)
        return {
            "outcomes": dict(report.outcomes),
            "endpoints_disabled": report.endpoints_disabled,
            "failures": report.failures,
            "took_over": list(report.took_over),
        }


def publish_sender_report(report: SenderReport) -> None:
    namespace = wiring.settings().metrics_namespace
    for outcome in OUTCOMES:  # zeros too: a dashboard's line does not vanish when nothing happened
        emit_metric(namespace, "WebhookDeliveries", report.outcomes.get(outcome, 0), "Count", {"Outcome": outcome})
    emit_metric(namespace, "OldestUndeliveredAge", report.oldest_undelivered_age or 0.0, "Seconds", {})
    emit_metric(namespace, "EndpointsDisabled", report.endpoints_disabled, "Count", {})
    logger.info(
        "webhook_sender_run",
        extra={
            "outcomes": dict(report.outcomes),
            "endpoints_disabled": report.endpoints_disabled,
            "events_written": report.events_written,
            "lost_writes": report.lost_writes,
            "failures": report.failures,
            "took_over": list(report.took_over),
        },
    )


if snapstart.initializing_a_snapshot():
    wiring.prime_for_snapshot()
