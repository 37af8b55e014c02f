"""Merchant input for captures, voids and refunds -> the service's command (handlers.domain.models.PaymentOperation)."""

from __future__ import annotations

import attrs
from cattrs.errors import ClassValidationError

from handlers.domain.errors import FieldError, InvalidRequest
from handlers.domain.models import Amount, IdempotencyKey, OperationKind, PaymentOperation, RefundReason
from handlers.wire.converter import CANONICAL_JSON, CONVERTER, field_errors


@attrs.frozen
class CaptureBody:
    amount: Amount | None = None  # default: the whole authorized amount


@attrs.frozen
class VoidBody:
    pass


@attrs.frozen
class RefundBody:
    amount: Amount | None = None  # default: what is left to refund
    reason: RefundReason | None = None


_BODIES: dict[OperationKind, type[CaptureBody | VoidBody | RefundBody]] = {
    OperationKind.CAPTURE: CaptureBody,
    OperationKind.VOID: VoidBody,
    OperationKind.REFUND: RefundBody,
}


def parse_operation_command(
    kind: OperationKind, merchant_id: str, payment_id: str, body: object, idempotency_key: str | None
) -> PaymentOperation:
    """A capture's, void's or refund's JSON body (an empty body is `{}`) and its Idempotency-Key."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    try:
        parsed: CaptureBody | VoidBody | RefundBody = CONVERTER.structure(body, _BODIES[kind])
    except ClassValidationError as e:
        errors = list({error.field: error for error in field_errors(e)}.values())
        raise InvalidRequest(_summary(errors), errors) from None
    key = None
    if idempotency_key is not None:
        key = IdempotencyKey(idempotency_key, CANONICAL_JSON.encode(body))
    return PaymentOperation(
        merchant_id=merchant_id,
        payment_id=payment_id,
        kind=kind,
        amount=getattr(parsed, "amount", None),
        reason=getattr(parsed, "reason", None),
        idempotency=key,
    )


def _summary(errors: list[FieldError]) -> str:
    count = len(errors)
    return f"The request has {count} invalid field{'s' if count > 1 else ''}."
