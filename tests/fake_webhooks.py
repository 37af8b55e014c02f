"""MemoryRepository's webhook endpoints and event log, as handlers.adapters.dynamo_webhooks keeps them
(tests/integration/test_webhook_store_contract.py runs one suite against both)."""

from __future__ import annotations

import threading
from datetime import datetime

import attrs

from handlers.domain.errors import ConditionFailed
from handlers.domain.webhook_pages import EndpointPage, EndpointQuery, EventPage, EventQuery
from handlers.domain.webhooks import Endpoint, NewEvent, StoredEvent
from handlers.wire.converter import event_body


class WebhookMemory:
    """Mixed into MemoryRepository: its events (written with their changes) and its lock."""

    events: dict[tuple[str, str], NewEvent]
    webhook_endpoints: dict[tuple[str, str], Endpoint]
    stored_events: dict[tuple[str, str], StoredEvent]
    _lock: threading.Lock

    def save_endpoint(self, endpoint: Endpoint) -> None:
        with self._lock:
            key = (endpoint.merchant_id, endpoint.id)
            if key in self.webhook_endpoints:
                raise ConditionFailed("endpoint exists")
            self.webhook_endpoints[key] = endpoint

    def get_endpoint(self, merchant_id: str, endpoint_id: str) -> Endpoint | None:
        return self.webhook_endpoints.get((merchant_id, endpoint_id))

    def endpoints(self, merchant_id: str) -> list[Endpoint]:
        mine = [e for (merchant, _), e in self.webhook_endpoints.items() if merchant == merchant_id]
        return sorted(mine, key=lambda endpoint: endpoint.id)

    def list_endpoints(self, merchant_id: str, query: EndpointQuery) -> EndpointPage:
        found = [e for e in self.endpoints(merchant_id) if query.after_id is None or e.id > query.after_id]
        if len(found) > query.limit:
            return EndpointPage(tuple(found[: query.limit]), found[query.limit - 1].id)
        return EndpointPage(tuple(found), None)

    def replace_endpoint(self, endpoint: Endpoint, previous: Endpoint) -> None:
        changed = {
            field.name: getattr(endpoint, field.name)
            for field in attrs.fields(Endpoint)
            if getattr(endpoint, field.name) != getattr(previous, field.name)
        }
        if not changed:
            return  # nothing to write, as the adapter
        with self._lock:
            key = (endpoint.merchant_id, endpoint.id)
            held = self.webhook_endpoints.get(key)
            if held is None or (held.secret, held.status) != (previous.secret, previous.status):
                raise ConditionFailed("no such endpoint, or changed since it was read")
            self.webhook_endpoints[key] = attrs.evolve(held, **changed)  # only what this change touched

    def delete_endpoint(self, merchant_id: str, endpoint_id: str) -> None:
        with self._lock:
            if self.webhook_endpoints.pop((merchant_id, endpoint_id), None) is None:
                raise ConditionFailed("no such endpoint")

    def get_event(self, merchant_id: str, event_id: str) -> StoredEvent | None:
        key = (merchant_id, event_id)
        if key in self.stored_events:
            return self.stored_events[key]
        event = self.events.get(key)
        if event is None:
            return None
        created = event.created_at.timestamp()
        return StoredEvent(
            event.id, event.merchant_id, event.type, event.created_at, event.region, event_body(event), created
        )

    def list_events(self, merchant_id: str, query: EventQuery, created_from: datetime) -> EventPage:
        found = [
            stored
            for (merchant, event_id) in sorted(self.events, reverse=True)
            if merchant == merchant_id
            and (query.after_id is None or event_id < query.after_id)
            and (stored := self.get_event(merchant, event_id)) is not None
            and stored.created_at >= created_from
            and (query.type is None or stored.type is query.type)
        ]
        if len(found) > query.limit:
            return EventPage(tuple(found[: query.limit]), found[query.limit - 1].id)
        return EventPage(tuple(found), None)

    def requeue_event(self, event: StoredEvent, previous_version: int) -> None:
        with self._lock:
            current = self.get_event(event.merchant_id, event.id)
            if current is None or current.version != previous_version:
                raise ConditionFailed("version changed")
            self.stored_events[(event.merchant_id, event.id)] = attrs.evolve(
                current, deliveries=event.deliveries, due_at=event.due_at, version=event.version
            )
