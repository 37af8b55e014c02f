"""The merchant's webhook API: endpoints (create, list, read, delete, rotate the secret, enable again) and
the event log (list, read with its delivery attempts, resend). Plain Python; the ports are below.

Every read and write is scoped to the merchant of the API key: another merchant's endpoint or event is
not found (404), as a missing one is.

One exception to "an event item is written only by its region's sender" (handlers.domain.webhooks):
a resend is written by the region that receives the request. It is a version-conditioned write of the
event's deliveries (never its body), so in that region it cannot overwrite a sender's write it did not
read: a lost race is a 409 `request_in_progress` and the merchant sends it again. The event stays in its
writer's WEBHOOK# partition, so that region's sender delivers it, with the same `webhook-id`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

import attrs

from handlers.domain.errors import ConditionFailed, FieldError, InvalidRequest, NotFound, RequestInProgress
from handlers.domain.ports import EndpointRepository
from handlers.domain.webhook_pages import (
    CreateEndpoint,
    EndpointPage,
    EndpointQuery,
    EventPage,
    EventQuery,
    is_id,
)
from handlers.domain.webhooks import (
    ENDPOINT_PREFIX,
    EVENT_PREFIX,
    Delivery,
    Endpoint,
    EndpointStatus,
    Resolver,
    StoredEvent,
    UrlPolicy,
    check_url,
    new_endpoint_id,
    new_secret,
)

ROTATION_OVERLAP = timedelta(hours=24)  # the old secret still signs for this long after a rotation
_CHANGE_ATTEMPTS = 3  # reads of an endpoint another writer keeps changing, before a 409
EVENT_RETENTION = timedelta(days=30)  # GET /v1/events shows this much (DynamoDB's TTL deletes the rest)
MAX_ENDPOINTS = 16  # per merchant: the sender reads them all for each event


class EventLog(Protocol):
    """The event reads of the API and a resend's write (handlers.adapters.dynamo_webhooks)."""

    def get_event(self, merchant_id: str, event_id: str) -> StoredEvent | None: ...

    def list_events(self, merchant_id: str, query: EventQuery, created_from: datetime) -> EventPage:
        """The merchant's events created at or after `created_from`, newest first, of `query.type` if set."""

    def requeue_event(self, event: StoredEvent, previous_version: int) -> None:
        """Write the event's deliveries and due time (never its body), and put it back in its writer's
        pending partition; ConditionFailed unless the table holds `previous_version`."""


class EndpointLister(Protocol):
    def list_endpoints(self, merchant_id: str, query: EndpointQuery) -> EndpointPage:
        """The merchant's endpoints, oldest first."""


@attrs.frozen
class WebhookApi:
    endpoints: EndpointRepository
    lister: EndpointLister
    events: EventLog
    policy: UrlPolicy
    resolve: Resolver
    clock: Callable[[], datetime]

    # --- endpoints -------------------------------------------------------------------------------

    def create_endpoint(self, command: CreateEndpoint) -> Endpoint:
        self._check_url(command.url)
        if len(self.endpoints.endpoints(command.merchant_id)) >= MAX_ENDPOINTS:
            raise InvalidRequest(f"A merchant has at most {MAX_ENDPOINTS} webhook endpoints: delete one first.")
        now = self.clock()
        endpoint = Endpoint(
            id=new_endpoint_id(now),
            merchant_id=command.merchant_id,
            url=command.url,
            events=command.events,
            status=EndpointStatus.ENABLED,
            secret=new_secret(),
            created_at=now,
        )
        self.endpoints.save_endpoint(endpoint)
        return endpoint

    def list_endpoints(self, merchant_id: str, query: EndpointQuery) -> EndpointPage:
        return self.lister.list_endpoints(merchant_id, query)

    def get_endpoint(self, merchant_id: str, endpoint_id: str) -> Endpoint:
        endpoint = None
        if is_id(endpoint_id, ENDPOINT_PREFIX):  # anything else is no key of the table's
            endpoint = self.endpoints.get_endpoint(merchant_id, endpoint_id)
        if endpoint is None:
            raise NotFound("No such webhook endpoint.")
        return endpoint

    def delete_endpoint(self, merchant_id: str, endpoint_id: str) -> None:
        """Its deliveries still due are dropped by the sender (the endpoint is gone)."""
        try:
            if not is_id(endpoint_id, ENDPOINT_PREFIX):
                raise ConditionFailed("not an endpoint id")
            self.endpoints.delete_endpoint(merchant_id, endpoint_id)  # ConditionFailed: there is none
        except ConditionFailed:
            raise NotFound("No such webhook endpoint.") from None

    def rotate_secret(self, merchant_id: str, endpoint_id: str) -> Endpoint:
        """A new secret; the one it replaces still signs every delivery for ROTATION_OVERLAP (a second
        rotation within it drops the oldest)."""

        def rotated(endpoint: Endpoint) -> Endpoint:
            until = self.clock() + ROTATION_OVERLAP
            return attrs.evolve(
                endpoint, secret=new_secret(), previous_secret=endpoint.secret, previous_secret_until=until
            )

        return self._change(merchant_id, endpoint_id, rotated)

    def enable_endpoint(self, merchant_id: str, endpoint_id: str) -> Endpoint:
        """A disabled endpoint (410, or failing for days) takes deliveries again, of new events; its URL
        is checked again first. Events created while it was disabled are kept: resend them."""

        def turned_on(endpoint: Endpoint) -> Endpoint | None:
            if endpoint.status is EndpointStatus.ENABLED:
                return None
            self._check_url(endpoint.url)
            enabled = attrs.evolve(endpoint, status=EndpointStatus.ENABLED, disabled_reason=None)
            return attrs.evolve(enabled, failing_since=None, last_failure_at=None)

        return self._change(merchant_id, endpoint_id, turned_on)

    def _change(self, merchant_id: str, endpoint_id: str, change: Callable[[Endpoint], Endpoint | None]) -> Endpoint:
        """Read, change (None: nothing to change), write under a condition on what was read. A change
        made meanwhile (another rotation, the sender's disable) makes it read and change again, so no
        rotation drops another's secret and no rotation enables what the sender disabled."""
        for _ in range(_CHANGE_ATTEMPTS):
            endpoint = self.get_endpoint(merchant_id, endpoint_id)  # NotFound once deleted
            changed = change(endpoint)
            if changed is None:
                return endpoint
            try:
                self.endpoints.replace_endpoint(changed, endpoint)
            except ConditionFailed:
                continue
            return changed
        raise RequestInProgress("The webhook endpoint is being changed by another request; try again.")

    def _check_url(self, url: str) -> None:
        problem = check_url(url, self.policy, self.resolve)
        if problem is not None:
            raise InvalidRequest("The webhook URL is refused.", [FieldError("url", problem)])

    # --- events ----------------------------------------------------------------------------------

    def list_events(self, merchant_id: str, query: EventQuery) -> EventPage:
        return self.events.list_events(merchant_id, query, self.clock() - EVENT_RETENTION)

    def get_event(self, merchant_id: str, event_id: str) -> StoredEvent:
        event = self.events.get_event(merchant_id, event_id) if is_id(event_id, EVENT_PREFIX) else None
        if event is None or event.created_at < self.clock() - EVENT_RETENTION:
            raise NotFound("No such event.")
        return event

    def resend(self, merchant_id: str, event_id: str, endpoint_id: str | None = None) -> StoredEvent:
        """Deliver the event again, now: to `endpoint_id`, or to every enabled endpoint subscribed to its
        type. Those deliveries start over (the schedule from its first attempt); the others are kept."""
        event = self.get_event(merchant_id, event_id)
        targets = self._resend_targets(merchant_id, event, endpoint_id)
        now = self.clock().timestamp()
        fresh = {endpoint.id: Delivery(endpoint.id, attempts=0, next_at=now) for endpoint in targets}
        kept = tuple(delivery for delivery in event.deliveries if delivery.endpoint_id not in fresh)
        # Never attempted yet: the sender picks every subscribed endpoint at the first attempt (the one
        # asked for among them); naming only that one here would drop the others.
        deliveries = kept + tuple(fresh.values()) if event.deliveries else ()
        requeued = attrs.evolve(event, deliveries=deliveries, due_at=now, version=event.version + 1)
        try:
            self.events.requeue_event(requeued, event.version)
        except ConditionFailed:
            raise RequestInProgress(
                "The event is being written by its sender right now: send the resend again after Retry-After."
            ) from None
        return requeued

    def _resend_targets(self, merchant_id: str, event: StoredEvent, endpoint_id: str | None) -> Sequence[Endpoint]:
        if endpoint_id is None:
            targets = [
                endpoint
                for endpoint in self.endpoints.endpoints(merchant_id)
                if endpoint.status is EndpointStatus.ENABLED and endpoint.subscribed(event.type)
            ]
            if not targets:
                raise InvalidRequest(f"No enabled webhook endpoint is subscribed to {event.type.value}.")
            return targets
        endpoint = (
            self.endpoints.get_endpoint(merchant_id, endpoint_id) if is_id(endpoint_id, ENDPOINT_PREFIX) else None
        )
        problem = None
        if endpoint is None:
            problem = "is not one of your webhook endpoints"
        elif endpoint.status is not EndpointStatus.ENABLED:
            problem = "is disabled: enable it first (POST /v1/webhook_endpoints/{id}/enable)"
        elif not endpoint.subscribed(event.type):
            problem = f"is not subscribed to {event.type.value}"
        if problem is not None or endpoint is None:
            raise InvalidRequest("The event cannot be resent there.", [FieldError("endpoint_id", str(problem))])
        return [endpoint]
