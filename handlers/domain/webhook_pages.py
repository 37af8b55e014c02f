"""The values the webhook stores and the wire format exchange with the sender (handlers.domain.delivery)
and the merchant's API (handlers.domain.webhook_api): pages, queries, the create command and the id
check. Kept apart so that the repository implementing those stores, and the wire format, load neither
module: a payment's function needs neither."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from handlers.domain import ids
from handlers.domain.webhooks import Endpoint, EventType, StoredEvent

# Where a pass left each of the store's partitions: the store's own (the domain only hands it back).
DueCursor = Mapping[str, Any]


@attrs.frozen
class DuePage:
    events: Sequence[StoredEvent]  # the most overdue first
    cursor: DueCursor | None = None  # None: every partition is read to its end


@attrs.frozen
class EventQuery:
    limit: int = 20
    after_id: str | None = None  # the last event of the previous page (newest first: older ones follow)
    type: EventType | None = None


@attrs.frozen
class EventPage:
    events: tuple[StoredEvent, ...]
    next_after_id: str | None  # None: no more events


@attrs.frozen
class EndpointQuery:
    limit: int = 20
    after_id: str | None = None


@attrs.frozen
class EndpointPage:
    endpoints: tuple[Endpoint, ...]
    next_after_id: str | None


@attrs.frozen
class CreateEndpoint:
    merchant_id: str
    url: str
    events: tuple[EventType, ...] = ()  # empty: every type


def is_id(text: str, prefix: str) -> bool:
    """A webhook endpoint's or event's id: its prefix and a ULID."""
    return text.startswith(prefix) and ids.is_payment_id(ids.PAYMENT_PREFIX + text.removeprefix(prefix))
