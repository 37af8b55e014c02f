"""The operator's webhook commands (python -m handlers.admin, see handlers.ops.admin): list a merchant's
`endpoints` (never a secret), show an `event` with its deliveries and attempts, and `resend` an event
(requeued: due now, for its region's sender to deliver at its next run). Written against the ports
(handlers.domain.ports: EventRepository, EndpointRepository), which the table's repository implements."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

import attrs

from handlers.domain.webhooks import Delivery, Endpoint, StoredEvent
from handlers.ops.cli import AdminError, Command, argument
from handlers.wire.converter import format_timestamp

if TYPE_CHECKING:
    from handlers.adapters.dynamo import DynamoRepository
    from handlers.domain.ports import EndpointRepository, EventRepository

_EVENT_METHODS = ("get_event", "replace_event")
_ENDPOINT_METHODS = ("endpoints",)


class UnknownEvent(AdminError):
    pass


def _when(epoch: float | None) -> str:
    return "-" if epoch is None else format_timestamp(datetime.fromtimestamp(epoch, UTC))


def endpoint_lines(endpoints: Sequence[Endpoint]) -> list[str]:
    """One line per endpoint: id, status, URL, the event types (all when none), created_at, and why it
    was disabled. Never the secret nor the previous one (they are not even in the endpoint's repr)."""
    lines = []
    for endpoint in endpoints:
        events = ",".join(t.value for t in endpoint.events) or "all"
        reason = f"\tdisabled: {endpoint.disabled_reason}" if endpoint.disabled_reason else ""
        created = format_timestamp(endpoint.created_at)
        lines.append(f"{endpoint.id}\t{endpoint.status.value}\t{endpoint.url}\tevents={events}\t{created}{reason}")
    return lines


def _delivery_line(delivery: Delivery) -> str:
    state = "delivered" if delivery.delivered else ("pending" if delivery.next_at is not None else "given up")
    return f"  delivery {delivery.endpoint_id}\t{state}\tattempts={delivery.attempts}\tnext={_when(delivery.next_at)}"


def event_lines(event: StoredEvent) -> list[str]:
    """The event (id, type, the region that writes and sends it, created, next due) and its deliveries
    per endpoint, then every attempt: endpoint, time, HTTP status or error, duration."""
    lines = [
        f"{event.id}\t{event.type.value}\tregion={event.region}\tcreated={format_timestamp(event.created_at)}"
        f"\tdue={_when(event.due_at)}"
    ]
    if not event.deliveries:
        lines.append("  no delivery yet (the endpoints are chosen at the first attempt)")
    lines += [_delivery_line(delivery) for delivery in event.deliveries]
    for attempt in event.attempts:
        answer = f"HTTP {attempt.status}" if attempt.status is not None else f"error: {attempt.error}"
        lines.append(
            f"  attempt {attempt.endpoint_id}\t{format_timestamp(attempt.at)}\t{answer}\t{attempt.duration_ms} ms"
        )
    return lines


def requeued(event: StoredEvent, now: datetime, endpoint_id: str | None = None) -> StoredEvent:
    """The event due now again: every delivery (or only `endpoint_id`'s, added if the event had none to
    it) undelivered and due now, attempts kept; the same event id, so receivers see the same webhook-id.
    Before the first attempt (no deliveries yet) the sender chooses the endpoints itself."""
    at = now.timestamp()
    deliveries = list(event.deliveries)
    if endpoint_id is not None and event.deliveries and all(d.endpoint_id != endpoint_id for d in deliveries):
        deliveries.append(Delivery(endpoint_id=endpoint_id))
    # Never attempted yet: the sender picks every subscribed endpoint at the first attempt; naming only
    # `endpoint_id` here would drop the others.
    again = [
        attrs.evolve(d, delivered=False, next_at=at) if endpoint_id in (None, d.endpoint_id) else d for d in deliveries
    ]
    return attrs.evolve(event, due_at=at, deliveries=tuple(again), version=event.version + 1)


def resend(
    events: EventRepository, merchant_id: str, event_id: str, now: datetime, endpoint_id: str | None = None
) -> StoredEvent:
    """Requeue the event (its region's sender delivers it at its next run); ConditionFailed if the sender
    wrote it meanwhile (run the command again)."""
    event = events.get_event(merchant_id, event_id)
    if event is None:
        raise UnknownEvent(f"No event {event_id} for merchant {merchant_id}.")
    again = requeued(event, now, endpoint_id)
    events.replace_event(again, event.version)
    return again


def _ports(repository: DynamoRepository) -> tuple[EventRepository, EndpointRepository]:
    """The table's repository as the webhook ports (a build without them says so, one line)."""
    missing = [name for name in (*_EVENT_METHODS, *_ENDPOINT_METHODS) if not hasattr(repository, name)]
    if missing:
        raise AdminError(f"This build's table repository has no webhook storage ({', '.join(missing)}).")
    return cast("EventRepository", repository), cast("EndpointRepository", repository)


def _endpoints(repository: DynamoRepository, args: argparse.Namespace) -> None:
    _, endpoints = _ports(repository)
    for line in endpoint_lines(endpoints.endpoints(args.merchant_id)) or ["no endpoint"]:
        print(line)


def _event(repository: DynamoRepository, args: argparse.Namespace) -> None:
    events, _ = _ports(repository)
    event = events.get_event(args.merchant_id, args.event_id)
    if event is None:
        raise UnknownEvent(f"No event {args.event_id} for merchant {args.merchant_id}.")
    for line in event_lines(event):
        print(line)


def _resend(repository: DynamoRepository, args: argparse.Namespace) -> None:
    events, _ = _ports(repository)
    again = resend(events, args.merchant_id, args.event_id, datetime.now(UTC), args.endpoint_id)
    to = args.endpoint_id or "every endpoint it was for (or every subscribed one, before its first attempt)"
    print(f"{again.id}\trequeued: due now from {again.region}'s sender, to {to}")


_MERCHANT = argument("--merchant-id", required=True, help="the merchant (mer_...): endpoints and events are its own")
WEBHOOK_COMMANDS: dict[str, Command] = {
    "endpoints": Command(
        "list a merchant's webhook endpoints: id, status, URL, event types, created, why disabled (never a secret)",
        _endpoints,
        (_MERCHANT,),
    ),
    "event": Command(
        "show a webhook event with its deliveries and every attempt (endpoint, time, HTTP status or error, duration)",
        _event,
        (argument("event_id", help="the event (evt_...)"), _MERCHANT),
    ),
    "resend": Command(
        "requeue a webhook event: due now, delivered by its region's sender at its next run (same webhook-id)",
        _resend,
        (
            argument("event_id", help="the event (evt_...)"),
            _MERCHANT,
            argument("--endpoint-id", help="only to this endpoint (we_...); default: every endpoint it was for"),
        ),
    ),
}
