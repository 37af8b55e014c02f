"""MemoryRepository's webhook state for the sender (handlers.domain.delivery.SenderStore): each event as
stored (its deliveries, attempts and version), and the merchants' endpoints, with the conditions of
handlers.adapters.dynamo_deliveries."""

from __future__ import annotations

import threading

from handlers.domain.errors import ConditionFailed
from handlers.domain.webhook_pages import DueCursor, DuePage
from handlers.domain.webhooks import Endpoint, NewEvent, StoredEvent
from handlers.wire import converter


class MemoryDeliveries:
    _lock: threading.Lock

    def __init__(self) -> None:
        self.stored_events: dict[tuple[str, str], StoredEvent] = {}  # as the sender reads and writes them
        self.webhook_endpoints: dict[tuple[str, str], Endpoint] = {}

    def _store_event(self, event: NewEvent) -> None:
        """As the change's transaction writes it: due at once, under its writer's region."""
        self.stored_events[(event.merchant_id, event.id)] = StoredEvent(
            id=event.id,
            merchant_id=event.merchant_id,
            type=event.type,
            created_at=event.created_at,
            region=event.region,
            body=converter.event_body(event),
            due_at=event.created_at.timestamp(),
        )

    def due_events(self, region: str, now: float, limit: int, cursor: DueCursor | None = None) -> DuePage:
        """One partition, in due order, after the cursor's (due_at, id): the adapter's reading forward."""
        after = cursor["after"] if cursor is not None else None
        with self._lock:
            due = [
                event
                for event in self.stored_events.values()
                if event.region == region and event.due_at is not None and event.due_at <= now
            ]
        due = sorted(
            (event for event in due if after is None or (event.due_at, event.id) > after),
            key=lambda event: (event.due_at or 0.0, event.id),
        )
        page = due[:limit]
        more = len(due) > limit
        return DuePage(tuple(page), {"after": (page[-1].due_at, page[-1].id)} if more else None)

    def get_event(self, merchant_id: str, event_id: str) -> StoredEvent | None:
        return self.stored_events.get((merchant_id, event_id))

    def replace_event(self, event: StoredEvent, previous_version: int) -> None:
        with self._lock:
            held = self.stored_events.get((event.merchant_id, event.id))
            if held is None or held.version != previous_version:
                raise ConditionFailed("event changed")
            self.stored_events[(event.merchant_id, event.id)] = event

    def save_endpoint(self, endpoint: Endpoint) -> None:
        with self._lock:
            if (endpoint.merchant_id, endpoint.id) in self.webhook_endpoints:
                raise ConditionFailed("endpoint exists")
            self.webhook_endpoints[(endpoint.merchant_id, endpoint.id)] = endpoint

    def endpoints(self, merchant_id: str) -> list[Endpoint]:
        with self._lock:
            found = [e for (merchant, _), e in self.webhook_endpoints.items() if merchant == merchant_id]
        return sorted(found, key=lambda endpoint: endpoint.id)

    def update_endpoint(self, endpoint: Endpoint, previous: Endpoint) -> None:
        with self._lock:
            held = self.webhook_endpoints.get((endpoint.merchant_id, endpoint.id))
            if held is None or (held.secret, held.status) != (previous.secret, previous.status):
                raise ConditionFailed("endpoint changed")
            self.webhook_endpoints[(endpoint.merchant_id, endpoint.id)] = endpoint

    def endpoint(self, merchant_id: str, endpoint_id: str) -> Endpoint:
        return self.webhook_endpoints[(merchant_id, endpoint_id)]
