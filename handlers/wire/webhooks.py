"""The webhook API's wire format: request bodies and query parameters in, endpoints and events out; and
the endpoint and stored event items (DynamoDB's plain values) both ways.

An endpoint's secret is rendered only by `secret_to_wire` (creation and rotation); `endpoint_to_wire`
never shows it. An event is shown as it was delivered (its stored body: the API's own payment or refund,
no card data beyond it), with its deliveries and attempts on `GET /v1/events/{id}`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from handlers.contract import schema
from handlers.domain.errors import FieldError, InvalidRequest
from handlers.domain.webhook_pages import CreateEndpoint, EndpointQuery, EventQuery, is_id
from handlers.domain.webhooks import (
    ENDPOINT_PREFIX,
    EVENT_PREFIX,
    Attempt,
    Delivery,
    Endpoint,
    EventType,
    StoredEvent,
)
from handlers.wire.converter import CONVERTER, echoable, event_item_head, format_timestamp
from handlers.wire.cursors import Cursors
from handlers.wire.validation import MAX_PAGE_SIZE

MAX_URL_LENGTH = 2048
_ENDPOINT_FIELDS = ("url", "events")
_RESEND_FIELDS = ("endpoint_id",)


def _refuse(errors: list[FieldError]) -> None:
    if errors:
        count = len(errors)
        raise InvalidRequest(f"The request has {count} invalid field{'s' if count > 1 else ''}.", errors)


def _unknown(body: Mapping[str, object], known: tuple[str, ...], what: str) -> list[FieldError]:
    return [FieldError(echoable(str(name)), f"is not a known {what}") for name in body if name not in known]


def _event_type(text: object) -> EventType | None:
    try:
        return EventType(text) if isinstance(text, str) else None
    except ValueError:
        return None


_EVENT_TYPES = ", ".join(kind.value for kind in EventType)


def parse_create_endpoint(merchant_id: str, body: object) -> CreateEndpoint:
    """`{"url": "https://...", "events": ["payment.captured", ...]}`; `events` absent or null: every type."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    errors = _unknown(body, _ENDPOINT_FIELDS, "field")
    url = body.get("url")
    if "url" not in body:
        errors.append(FieldError("url", "is required"))
    elif not isinstance(url, str) or not url:
        errors.append(FieldError("url", "must be a non-empty string"))
    elif len(url) > MAX_URL_LENGTH:
        errors.append(FieldError("url", f"must be at most {MAX_URL_LENGTH} characters"))
    events: tuple[EventType, ...] = ()
    wanted = body.get("events")
    if wanted is not None:
        if not isinstance(wanted, list) or not wanted:
            errors.append(FieldError("events", "must be a non-empty list of event types (omit it for every type)"))
        else:
            found = [_event_type(name) for name in wanted]
            bad = [str(index) for index, kind in enumerate(found) if kind is None]
            if bad:
                errors.append(FieldError(f"events.{bad[0]}", "must be one of " + _EVENT_TYPES))
            events = tuple(dict.fromkeys(kind for kind in found if kind is not None))
    _refuse(errors)
    return CreateEndpoint(merchant_id, str(url), events)


def parse_resend(body: object) -> str | None:
    """`{}` or `{"endpoint_id": "we_..."}`: the endpoint to deliver to again (None: every subscribed one)."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    errors = _unknown(body, _RESEND_FIELDS, "field")
    endpoint_id = body.get("endpoint_id")
    if endpoint_id is not None and not (isinstance(endpoint_id, str) and is_id(endpoint_id, ENDPOINT_PREFIX)):
        errors.append(FieldError("endpoint_id", "must be a webhook endpoint's id (we_...)"))
    _refuse(errors)
    return endpoint_id


def parse_no_fields(body: object) -> None:
    """A route that takes no field: no body, or `{}`."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    _refuse(_unknown(body, (), "field"))


# --- query parameters -------------------------------------------------------------------------------


def _limit(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 3 and 1 <= int(text) <= MAX_PAGE_SIZE):
        raise ValueError(f"must be an integer from 1 to {MAX_PAGE_SIZE}")
    return int(text)


def _type(text: str) -> EventType:
    kind = _event_type(text)
    if kind is None:
        raise ValueError("must be one of " + _EVENT_TYPES)
    return kind


def _parse_query(params: Mapping[str, str], parsers: Mapping[str, Any]) -> dict[str, Any]:
    errors = _unknown(params, tuple(parsers), "query parameter")
    values: dict[str, Any] = {}
    for name, parse in parsers.items():
        if name in params:
            try:
                values["after_id" if name == "cursor" else name] = parse(params[name])
            except ValueError as e:
                errors.append(FieldError(name, str(e)))
    _refuse(errors)
    return values


def parse_event_query(params: Mapping[str, str], cursors: Cursors) -> EventQuery:
    """`limit` (1-100, default 20), `cursor` (a `next_cursor` of this list), `type` (one event type)."""
    parsers = {"limit": _limit, "cursor": lambda text: cursors.decode(text, _is(EVENT_PREFIX)), "type": _type}
    return EventQuery(**_parse_query(params, parsers))


def parse_endpoint_query(params: Mapping[str, str], cursors: Cursors) -> EndpointQuery:
    parsers = {"limit": _limit, "cursor": lambda text: cursors.decode(text, _is(ENDPOINT_PREFIX))}
    return EndpointQuery(**_parse_query(params, parsers))


def _is(prefix: str) -> Callable[[str], bool]:
    return lambda text: is_id(text, prefix)


# --- rendering --------------------------------------------------------------------------------------


def endpoint_to_wire(endpoint: Endpoint) -> dict[str, Any]:
    """Never the secret (nor the previous one)."""
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": [kind.value for kind in endpoint.events] or [kind.value for kind in EventType],
        "status": endpoint.status.value,
        "disabled_reason": endpoint.disabled_reason,
        "created_at": format_timestamp(endpoint.created_at),
    }


def secret_to_wire(endpoint: Endpoint) -> dict[str, Any]:
    """The endpoint with its secret: the answer of its creation only."""
    return {**endpoint_to_wire(endpoint), "secret": endpoint.secret}


def event_to_wire(event: StoredEvent) -> dict[str, Any]:
    """The event exactly as it is delivered: `{"id", "type", "created_at", "data"}`."""
    body: dict[str, Any] = json.loads(event.body)
    return body


def _moment(epoch: float | None) -> str | None:
    return None if epoch is None else format_timestamp(datetime.fromtimestamp(epoch, UTC))


def _delivery_to_wire(delivery: Delivery) -> dict[str, Any]:
    status = "delivered" if delivery.delivered else "pending" if delivery.next_at is not None else "failed"
    return {
        "endpoint_id": delivery.endpoint_id,
        "status": status,
        "attempts": delivery.attempts,
        "next_attempt_at": _moment(delivery.next_at) if status == "pending" else None,
    }


def _attempt_to_wire(attempt: Attempt) -> dict[str, Any]:
    return {
        "endpoint_id": attempt.endpoint_id,
        "at": format_timestamp(attempt.at),
        "http_status": attempt.status,
        "error": attempt.error,
        "duration_ms": attempt.duration_ms,
    }


def event_detail_to_wire(event: StoredEvent) -> dict[str, Any]:
    """The event as delivered, with its deliveries (one per endpoint) and every attempt, oldest first."""
    return {
        **event_to_wire(event),
        "deliveries": [_delivery_to_wire(delivery) for delivery in event.deliveries],
        "attempts": [_attempt_to_wire(attempt) for attempt in sorted(event.attempts, key=lambda a: a.at)],
    }


# --- storage format ---------------------------------------------------------------------------------

_ENDPOINT_KEYS = (schema.PARTITION_KEY, schema.SORT_KEY)


def endpoint_keys(merchant_id: str, endpoint_id: str) -> dict[str, str]:
    return {schema.PARTITION_KEY: schema.merchant_pk(merchant_id), schema.SORT_KEY: schema.endpoint_sk(endpoint_id)}


def endpoint_to_item(endpoint: Endpoint) -> dict[str, Any]:
    """Every field but the unset ones; `events` a list (empty: every type)."""
    values: dict[str, Any] = CONVERTER.unstructure(endpoint)
    item = {name: value for name, value in values.items() if value is not None}
    return {**item, **endpoint_keys(endpoint.merchant_id, endpoint.id)}


def endpoint_from_item(item: Mapping[str, Any]) -> Endpoint:
    return CONVERTER.structure({k: v for k, v in item.items() if k not in _ENDPOINT_KEYS}, Endpoint)


def deliveries_to_item(deliveries: tuple[Delivery, ...]) -> list[dict[str, Any]]:
    return [CONVERTER.unstructure(delivery) for delivery in deliveries]


def attempts_to_item(attempts: tuple[Attempt, ...]) -> list[dict[str, Any]]:
    return [CONVERTER.unstructure(attempt) for attempt in attempts]


def stored_event_to_item(event: StoredEvent) -> dict[str, Any]:
    """The whole event item as the sender rewrites it: what the change's transaction wrote (the body as
    it was signed, the TTL) with its deliveries, attempts, version and, while a delivery is due, its
    place in the webhooks index."""
    head = event_item_head(
        event.merchant_id,
        event.id,
        event_type=event.type.value,
        created_at=event.created_at,
        region=event.region,
        subject_id=json.loads(event.body)["data"]["id"],
    )
    item: dict[str, Any] = {
        **head,
        "body": event.body,
        "deliveries": deliveries_to_item(event.deliveries),
        "attempts": attempts_to_item(event.attempts),
        "version": event.version,
    }
    if event.due_at is not None:
        item[schema.WEBHOOK_PARTITION_KEY] = schema.webhook_partition(event.region, event.id)
        item[schema.WEBHOOK_DUE_ATTRIBUTE] = event.due_at
    return item


def stored_event_from_item(item: Mapping[str, Any]) -> StoredEvent:
    """An event item (handlers.wire.converter.event_to_item, then its sender's or a resend's writes):
    `deliveries` and `attempts` lists of maps, `version` (absent: 0), `due_at` only while in the index."""
    due = item.get(schema.WEBHOOK_DUE_ATTRIBUTE) if schema.WEBHOOK_PARTITION_KEY in item else None
    return StoredEvent(
        id=str(item["id"]),
        merchant_id=str(item[schema.PARTITION_KEY]).removeprefix(schema.MERCHANT_PREFIX),
        type=EventType(item["type"]),
        created_at=CONVERTER.structure(item["created_at"], datetime),
        region=str(item["region"]),
        body=str(item["body"]),
        due_at=None if due is None else float(due),
        deliveries=tuple(_delivery(value) for value in item.get("deliveries") or ()),
        attempts=tuple(_attempt(value) for value in item.get("attempts") or ()),
        version=int(item.get("version", 0)),
    )


def _delivery(value: Mapping[str, Any]) -> Delivery:
    next_at = value.get("next_at")
    return Delivery(
        endpoint_id=str(value["endpoint_id"]),
        attempts=int(value.get("attempts", 0)),
        next_at=None if next_at is None else float(next_at),
        delivered=bool(value.get("delivered", False)),
    )


def _attempt(value: Mapping[str, Any]) -> Attempt:
    status, error = value.get("status"), value.get("error")
    return Attempt(
        endpoint_id=str(value["endpoint_id"]),
        at=datetime.fromisoformat(str(value["at"])),
        status=None if status is None else int(status),
        error=None if error is None else str(error),
        duration_ms=int(value.get("duration_ms", 0)),
    )


def event_pending_partition(event: StoredEvent) -> str:
    """Its writer's WEBHOOK# partition of the webhooks index: that region's sender delivers it."""
    return schema.webhook_partition(event.region, event.id)
