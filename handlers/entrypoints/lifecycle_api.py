"""The lifecycle's Lambda handlers, one per route (handlers.contract.routes): capture, void, refund,
list refunds. Thin: read the event, call handlers.domain.operations, shape the answer."""

from __future__ import annotations

import logging

from handlers.domain.errors import BankUnavailable, InvalidState
from handlers.domain.models import OperationKind, OperationStatus
from handlers.domain.operations import OperationResult
from handlers.entrypoints import wiring
from handlers.entrypoints.http_handler import entry_point
from handlers.entrypoints.observability import emit_metric, log_context
from handlers.wire import http
from handlers.wire.converter import operation_to_wire, payment_to_wire
from handlers.wire.operations import parse_operation_command
from handlers.wire.validation import parse_idempotency_key

logger = logging.getLogger("handlers.api")


@entry_point
def capture_payment(event: http.Event) -> http.Response:
    result = _run(OperationKind.CAPTURE, event)
    return _payment_answer(result, event)


@entry_point
def void_payment(event: http.Event) -> http.Response:
    result = _run(OperationKind.VOID, event)
    return _payment_answer(result, event)


@entry_point
def create_refund(event: http.Event) -> http.Response:
    result = _run(OperationKind.REFUND, event)
    pending = result.operation.status is OperationStatus.PENDING
    body = operation_to_wire(result.operation)
    return http.operation_response(
        201, body, event, pending=pending, replayed=result.replayed, retry_after=_retry_after()
    )


@entry_point
def list_refunds(event: http.Event) -> http.Response:
    # The reader: this function holds no bank URL and no fingerprint key (handlers.contract.routes).
    refunds = wiring.payment_reader().refunds(http.merchant_id(event), _payment_id(event))
    return http.json_response(200, {"data": [operation_to_wire(refund) for refund in refunds]}, event)


def _run(kind: OperationKind, event: http.Event) -> OperationResult:
    merchant = http.merchant_id(event)
    with log_context(merchant_id=merchant):
        body = http.optional_json_body(event)
        key = parse_idempotency_key(http.header(event, "Idempotency-Key"))
        service = wiring.operation_service()  # first: a misconfigured function answers 500, whatever the body
        command = parse_operation_command(kind, merchant, _payment_id(event), body, key)
        try:
            result = service.run(command)
        except BankUnavailable as e:
            if not e.replayed:  # a replay repeats the answer of a failure already counted
                _count(kind, "failed")
            raise
        except InvalidState:
            _count(kind, "refused")
            raise
        if not result.replayed:
            _count(kind, result.operation.status.value)
        logger.info(
            "operation_replayed" if result.replayed else "operation_processed",
            extra={"operation_id": result.operation.id, "status": result.operation.status.value},
        )
        return result


def _payment_answer(result: OperationResult, event: http.Event) -> http.Response:
    pending = result.operation.status is OperationStatus.PENDING
    return http.operation_response(
        200,
        payment_to_wire(result.payment),
        event,
        pending=pending,
        replayed=result.replayed,
        retry_after=_retry_after(),
    )


def _payment_id(event: http.Event) -> str:
    return str((event.get("pathParameters") or {}).get("id", ""))


def _retry_after() -> int:
    return max(1, round(wiring.settings().idempotency_lease))


def _count(kind: OperationKind, outcome: str) -> None:
    """Captures, Voids and Refunds by Outcome (EMF)."""
    name = {OperationKind.CAPTURE: "Captures", OperationKind.VOID: "Voids", OperationKind.REFUND: "Refunds"}[kind]
    emit_metric(wiring.settings().metrics_namespace, name, 1, "Count", {"Outcome": outcome})
