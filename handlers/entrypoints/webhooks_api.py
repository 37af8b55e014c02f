"""The webhook API's Lambda handlers, one per route (handlers.contract.routes): endpoints and events.
Thin: read the event, call handlers.domain.webhook_api, shape the answer (handlers.wire.webhooks)."""

from __future__ import annotations

import logging

from handlers.entrypoints import wiring
from handlers.entrypoints.http_handler import entry_point, query_entry_point
from handlers.entrypoints.observability import log_context
from handlers.wire import http
from handlers.wire import webhooks as wire

logger = logging.getLogger("handlers.api")


def _id(event: http.Event) -> str:
    return str((event.get("pathParameters") or {}).get("id", ""))


# --- endpoints -----------------------------------------------------------------------------------------


@entry_point
def create_endpoint(event: http.Event) -> http.Response:
    merchant = http.merchant_id(event)
    with log_context(merchant_id=merchant):
        command = wire.parse_create_endpoint(merchant, http.json_body(event))
        endpoint = wiring.webhook_api().create_endpoint(command)
        logger.info("webhook_endpoint_created", extra={"endpoint_id": endpoint.id})
        return http.json_response(201, wire.secret_to_wire(endpoint), event)


@query_entry_point
def list_endpoints(event: http.Event) -> http.Response:
    merchant = http.merchant_id(event)
    cursors = wiring.cursors(merchant, "webhook-endpoints")
    query = wire.parse_endpoint_query(http.query_parameters(event), cursors)
    page = wiring.webhook_api().list_endpoints(merchant, query)
    cursor = cursors.encode(page.next_after_id) if page.next_after_id else None
    body = {"data": [wire.endpoint_to_wire(endpoint) for endpoint in page.endpoints], "next_cursor": cursor}
    return http.json_response(200, body, event)


@entry_point
def get_endpoint(event: http.Event) -> http.Response:
    endpoint = wiring.webhook_api().get_endpoint(http.merchant_id(event), _id(event))
    return http.json_response(200, wire.endpoint_to_wire(endpoint), event)


@entry_point
def delete_endpoint(event: http.Event) -> http.Response:
    merchant = http.merchant_id(event)
    with log_context(merchant_id=merchant):
        wiring.webhook_api().delete_endpoint(merchant, _id(event))
        logger.info("webhook_endpoint_deleted", extra={"endpoint_id": _id(event)})
        response = http.json_response(204, None, event)
        response["body"] = ""  # 204: no content
        del response["headers"]["Content-Type"]
        return response


@entry_point
def rotate_secret(event: http.Event) -> http.Response:
    merchant = http.merchant_id(event)
    with log_context(merchant_id=merchant):
        wire.parse_no_fields(http.optional_json_body(event))  # none, or `{}`
        endpoint = wiring.webhook_api().rotate_secret(merchant, _id(event))
        logger.info("webhook_secret_rotated", extra={"endpoint_id": endpoint.id})
        return http.json_response(200, {"secret": endpoint.secret}, event)


@entry_point
def enable_endpoint(event: http.Event) -> http.Response:
    merchant = http.merchant_id(event)
    with log_context(merchant_id=merchant):
        wire.parse_no_fields(http.optional_json_body(event))
        endpoint = wiring.webhook_api().enable_endpoint(merchant, _id(event))
        logger.info("webhook_endpoint_enabled", extra={"endpoint_id": endpoint.id})
        return http.json_response(200, wire.endpoint_to_wire(endpoint), event)


# --- events --------------------------------------------------------------------------------------------


@query_entry_point
def list_events(event: http.Event) -> http.Response:
    merchant = http.merchant_id(event)
    cursors = wiring.cursors(merchant, "events")
    query = wire.parse_event_query(http.query_parameters(event), cursors)
    page = wiring.webhook_api().list_events(merchant, query)
    cursor = cursors.encode(page.next_after_id) if page.next_after_id else None
    body = {"data": [wire.event_to_wire(stored) for stored in page.events], "next_cursor": cursor}
    return http.json_response(200, body, event)


@entry_point
def get_event(event: http.Event) -> http.Response:
    stored = wiring.webhook_api().get_event(http.merchant_id(event), _id(event))
    return http.json_response(200, wire.event_detail_to_wire(stored), event)


@entry_point
def resend_event(event: http.Event) -> http.Response:
    """202: requeued, due now; its writer region's sender delivers it (handlers.domain.webhook_api)."""
    merchant = http.merchant_id(event)
    with log_context(merchant_id=merchant):
        endpoint_id = wire.parse_resend(http.optional_json_body(event))
        stored = wiring.webhook_api().resend(merchant, _id(event), endpoint_id)
        logger.info("webhook_event_resent", extra={"event_id": stored.id, "endpoint_id": endpoint_id})
        return http.json_response(202, wire.event_detail_to_wire(stored), event)
