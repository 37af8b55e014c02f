"""API Gateway REST proxy events in, proxy responses out, and the one map from errors to HTTP."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Mapping
from typing import Any

from handlers.contract.limits import MAX_BODY_BYTES
from handlers.contract.messages import BODY_TOO_LARGE, INTERNAL_ERROR, NOT_JSON, OUTCOME_UNKNOWN_RETRY_AFTER
from handlers.domain.errors import (
    AmountTooLarge,
    BankUnavailable,
    FieldError,
    IdempotencyKeyReused,
    InvalidRequest,
    InvalidState,
    NotFound,
    OutcomeUnknown,
    PayloadTooLarge,
    PaymentError,
    RequestInProgress,
    StorageUnavailable,
    Unauthorized,
    UnsupportedMediaType,
)
from handlers.domain.models import Payment, PaymentStatus
from handlers.wire.converter import COMPACT_JSON, echoable, payment_to_wire

logger = logging.getLogger(__name__)
Event = Mapping[str, Any]
Response = dict[str, Any]
# status, error type, Retry-After seconds (for errors worth retrying after a pause)
ERRORS: dict[type[PaymentError], tuple[int, str, int | None]] = {
    InvalidRequest: (400, "invalid_request", None),
    Unauthorized: (401, "unauthorized", None),
    NotFound: (404, "not_found", None),
    RequestInProgress: (409, "request_in_progress", 1),
    InvalidState: (409, "invalid_state", None),
    PayloadTooLarge: (413, "payload_too_large", None),
    UnsupportedMediaType: (415, "unsupported_media_type", None),
    IdempotencyKeyReused: (422, "idempotency_key_reused", None),
    AmountTooLarge: (422, "amount_too_large", None),
    BankUnavailable: (502, "bank_unavailable", None),
    StorageUnavailable: (503, "service_unavailable", 1),
    OutcomeUnknown: (500, "internal_error", OUTCOME_UNKNOWN_RETRY_AFTER),
}
_INTERNAL = (500, "internal_error", OUTCOME_UNKNOWN_RETRY_AFTER)


def request_id(event: Event) -> str:
    return str((event.get("requestContext") or {}).get("requestId") or "unknown")


def merchant_id(event: Event) -> str:
    merchant = ((event.get("requestContext") or {}).get("authorizer") or {}).get("merchant_id")
    if not merchant:  # API Gateway only invokes us after the authorizer allowed the request
        raise Unauthorized("The request carries no authenticated merchant.")
    return str(merchant)


def header(event: Event, name: str) -> str | None:
    wanted = name.lower()
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == wanted:
            return str(value)
    return None


def query_parameters(event: Event) -> dict[str, str]:
    multi = event.get("multiValueQueryStringParameters") or {}
    repeated = [name for name, values in multi.items() if len(values) > 1]
    if repeated:
        raise InvalidRequest(
            "A query parameter was repeated.", [FieldError(echoable(name), "must be given once") for name in repeated]
        )
    return {name: str(value) for name, value in (event.get("queryStringParameters") or {}).items()}


def json_body(event: Event) -> object:
    raw = _body_bytes(event)
    if len(raw) > MAX_BODY_BYTES:  # whatever its type: every oversized body is a 413, as WAF answers it
        raise PayloadTooLarge(BODY_TOO_LARGE)
    if not _is_utf8_json(header(event, "Content-Type")):
        raise UnsupportedMediaType(NOT_JSON)
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_once_each, parse_int=_bounded_int)
    except UnicodeDecodeError:
        raise InvalidRequest("The request body must be UTF-8 encoded JSON.") from None
    except _RepeatedKey as repeated:  # {"amount":1050,"amount":2000}: which one was meant is not ours to guess
        field = FieldError(echoable(repeated.key), "is given more than once")
        raise InvalidRequest("The request body repeats a key.", [field]) from None
    except (ValueError, RecursionError):  # includes JSONDecodeError
        raise InvalidRequest("The request body is not valid JSON.") from None


def _is_utf8_json(content_type: str | None) -> bool:
    """application/json, whose text is UTF-8 (RFC 8259): a charset parameter, if any, must say so."""
    media_type, *parameters = (content_type or "").split(";")
    if media_type.strip().lower() != "application/json":
        return False
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            return False
    return True


# Longer integers than any field takes (amounts are at most 12 digits) are not converted: Python
# refuses over 4,300 digits, and the field's own check should name it whatever its length.
_MAX_INTEGER_DIGITS = 40


class _OutOfRange(int):
    """A JSON integer too long to convert: a value past every field's range, with its sign."""


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) <= _MAX_INTEGER_DIGITS:
        return int(text)
    return _OutOfRange(-(10**_MAX_INTEGER_DIGITS) if text.startswith("-") else 10**_MAX_INTEGER_DIGITS)


class _RepeatedKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _once_each(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are each given once (json.loads keeps the last of a repeated one)."""
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKey(key)
            seen.add(key)
    return found


def _body_bytes(event: Event) -> bytes:
    body = event.get("body") or ""
    if not event.get("isBase64Encoded"):
        return str(body).encode("utf-8", errors="surrogatepass")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("The request body could not be decoded.") from None


def json_response(status: int, body: object, event: Event, headers: Mapping[str, str] | None = None) -> Response:
    return {
        "statusCode": status,
        "headers": {
            "Content-Type": "application/json",
            "X-Request-Id": request_id(event),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            **(headers or {}),
        },
        "body": COMPACT_JSON.encode(body),
    }


def payment_response(payment: Payment, event: Event, *, replayed: bool, retry_after: int) -> Response:
    """201 for a final status; 202 + Retry-After while the outcome is not known: not an error, and
    never a reason to resend as a new payment."""
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    if payment.status is PaymentStatus.PENDING:
        return json_response(202, payment_to_wire(payment), event, {**headers, "Retry-After": str(retry_after)})
    return json_response(201, payment_to_wire(payment), event, headers)


def operation_response(
    status: int, body: object, event: Event, *, pending: bool, replayed: bool, retry_after: int
) -> Response:
    """A capture's or void's payment (200) or a refund (201); 202 + Retry-After while the bank's
    answer is not known (the resolver finishes it)."""
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    if pending:
        return json_response(202, body, event, {**headers, "Retry-After": str(retry_after)})
    return json_response(status, body, event, headers)


def optional_json_body(event: Event) -> object:
    """The body of a route whose every field is optional: none at all is `{}`."""
    if not _body_bytes(event):
        return {}
    return json_body(event)


def error_response(error: Exception, event: Event) -> Response:
    status, kind, retry_after = ERRORS.get(type(error), _INTERNAL) if isinstance(error, PaymentError) else _INTERNAL
    if status >= 500:
        cause = {"cause": str(error.__cause__)} if error.__cause__ else {}
        logger.warning("request_failed", extra={"error_type": kind, "reason": str(error), **cause})
    detail: dict[str, Any] = {"type": kind, "message": _public_message(error, status)}
    if isinstance(error, InvalidRequest) and error.fields:
        detail["fields"] = [{"field": f.field, "message": f.message} for f in error.fields]
    if isinstance(error, BankUnavailable) and error.payment_id:
        detail["payment_id"] = error.payment_id
    if isinstance(error, InvalidState):
        detail["status"] = error.status  # the payment's current status
    if isinstance(error, AmountTooLarge):
        detail["fields"] = [{"field": "amount", "message": f"must be at most {error.maximum}"}]
        detail["maximum"] = error.maximum
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    if isinstance(error, BankUnavailable) and error.replayed:  # as a replayed 201 says it
        headers["Idempotent-Replayed"] = "true"
    return json_response(status, {"error": detail}, event, headers)


def _public_message(error: Exception, status: int) -> str:
    if type(error) not in ERRORS or isinstance(error, OutcomeUnknown):
        return INTERNAL_ERROR
    if status == 503:
        return "The payment store is temporarily unavailable. Please retry shortly."
    return str(error)
