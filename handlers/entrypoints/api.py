"""The payment API's Lambda handlers, one per route (handlers.contract.routes names them): read the
event, call the domain, shape the answer. What wraps each of them is in `http_handler`, what they
call is built in `wiring`."""

from __future__ import annotations

import logging
import math

from handlers.domain.errors import BankUnavailable
from handlers.domain.settlement import utc_now
from handlers.entrypoints import snapstart, wiring
from handlers.entrypoints.http_handler import entry_point, query_entry_point
from handlers.entrypoints.observability import emit_metric, log_context
from handlers.wire import http
from handlers.wire.converter import payment_to_wire
from handlers.wire.validation import parse_idempotency_key, parse_list_query, parse_payment_command

logger = logging.getLogger("handlers.api")


@entry_point
def create_payment(event: http.Event) -> http.Response:
    merchant = http.merchant_id(event)
    with log_context(merchant_id=merchant):
        body = http.json_body(event)
        key = parse_idempotency_key(http.header(event, "Idempotency-Key"))
        service = wiring.payment_service()  # first: a misconfigured function answers 500, whatever the body
        command = parse_payment_command(merchant, body, key, wiring.validation_rules(), utc_now().date())
        try:
            created = service.create_payment(command)
        except BankUnavailable as e:
            if not e.replayed:
                _count_payment("failed")
            raise
        payment = created.payment
        if created.replayed:
            logger.info("payment_replayed", extra={"payment_id": payment.id, "status": payment.status.value})
        else:
            _count_payment(payment.status.value)
            logger.info("payment_processed", extra={"payment_id": payment.id, "status": payment.status.value})
        return http.payment_response(payment, event, replayed=created.replayed, retry_after=_retry_after())


def _retry_after() -> int:
    """When a pending payment is worth asking about again: once its request's lease is over."""
    return max(1, math.ceil(wiring.settings().idempotency_lease))


@entry_point
def get_payment(event: http.Event) -> http.Response:
    payment_id = str((event.get("pathParameters") or {}).get("id", ""))
    payment = wiring.payment_reader().get_payment(http.merchant_id(event), payment_id)
    return http.json_response(200, payment_to_wire(payment), event)


@query_entry_point
def list_payments(event: http.Event) -> http.Response:
    merchant = http.merchant_id(event)
    cursors = wiring.cursors(merchant, "payments")
    query = parse_list_query(http.query_parameters(event), cursors)
    page = wiring.payment_reader().list_payments(merchant, query)
    cursor = cursors.encode(page.next_after_id) if page.next_after_id else None
    body = {"data": [payment_to_wire(p) for p in page.payments], "next_cursor": cursor}
    return http.json_response(200, body, event)


@entry_point
def health(event: http.Event) -> http.Response:
    wiring.health_repository().ping()
    return http.json_response(200, {"status": "ok", "region": wiring.settings().region}, event)


def _count_payment(status: str) -> None:
    emit_metric(wiring.settings().metrics_namespace, "Payments", 1, "Count", {"Status": status})


if snapstart.initializing_a_snapshot():
    wiring.prime_for_snapshot()
