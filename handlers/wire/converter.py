"""The one cattrs converter: merchant JSON in, payment JSON out, and DynamoDB items both ways.

Structure hooks of the wire types check the shape of each field; every failure is collected by
cattrs' detailed validation and turned into FieldErrors with dotted paths. Messages are ours and
never echo the value (it may be a card number).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import attrs
from cattrs import Converter
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn

from handlers.contract import schema
from handlers.domain import cards
from handlers.domain.errors import FieldError
from handlers.domain.models import (
    MAX_AMOUNT,
    MAX_REASON_LENGTH,
    MAX_REFERENCE_LENGTH,
    Amount,
    CaptureMethod,
    CardNumber,
    Currency,
    Cvv,
    IdempotencyClaim,
    Month,
    Operation,
    Payment,
    PaymentStatus,
    Reference,
    RefundReason,
    StoredPayment,
    Year,
)
from handlers.domain.webhooks import NewEvent

T = TypeVar("T")


class FieldValueError(ValueError):
    """A hook's verdict on one field; its message is shown to the merchant."""


def _require(kind: type | tuple[type, ...], value: object, what: str) -> Any:
    # bool is an int subclass; JSON true must not pass as an amount.
    if isinstance(value, bool) or not isinstance(value, kind):
        raise FieldValueError(f"must be {what}")
    return value


def _amount(value: object, _: object) -> Amount:
    amount = _require(int, value, "an integer amount in minor units")
    if not 1 <= amount <= MAX_AMOUNT:
        raise FieldValueError(f"must be between 1 and {MAX_AMOUNT:,}")
    return Amount(amount)


def _currency(value: object, _: object) -> Currency:
    code = _require(str, value, "a string")
    if len(code) != 3 or not (code.isascii() and code.isalpha() and code.isupper()):
        raise FieldValueError("must be an upper-case ISO 4217 code such as GBP")
    return Currency(code)


def _is_unicode_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _merchant_text(value: object, maximum: int) -> str:
    """Free text a merchant sends, that is stored, replicated and shown as given."""
    text: str = _require(str, value, "a string")
    if len(text) > maximum:
        raise FieldValueError(f"must be at most {maximum} characters")
    if not _is_unicode_text(text):  # JSON's "\ud800" escape: DynamoDB stores only UTF-8 text
        raise FieldValueError("must be valid Unicode text (no unpaired surrogates)")
    if _has_control(text):
        raise FieldValueError("must not contain control characters")
    if cards.contains_pan(text):  # PCI DSS 3.5.1
        raise FieldValueError("must not contain a card number")
    return text


# Bidirectional embeddings, overrides and isolates: text that reads differently from what it holds.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _has_control(text: str) -> bool:
    if text.isascii():  # one C call: in ASCII, what isprintable() refuses is category Cc (a space is printable)
        return not text.isprintable()
    return any(_is_control(char) for char in text)


def _is_control(char: str) -> bool:
    """NUL, line breaks (U+2028/U+2029 too), escapes and bidi overrides: they break or disguise the logs,
    exports and dashboards that show a merchant's text. Joiners and marks (emoji, scripts) are text."""
    return unicodedata.category(char) in ("Cc", "Zl", "Zp") or char in _BIDI_CONTROLS


def _reference(value: object, _: object) -> Reference:
    return Reference(_merchant_text(value, MAX_REFERENCE_LENGTH))


def _capture_method(value: object, _: object) -> CaptureMethod:
    text = _require(str, value, "a string")
    if text not in tuple(CaptureMethod):
        raise FieldValueError("must be one of " + ", ".join(method.value for method in CaptureMethod))
    return CaptureMethod(text)


def _refund_reason(value: object, _: object) -> RefundReason:
    return RefundReason(_merchant_text(value, MAX_REASON_LENGTH))


def _card_number(value: object, _: object) -> CardNumber:
    number = _require(str, value, "a string of digits")
    if not (cards.is_ascii_digits(number) and 14 <= len(number) <= 19):
        raise FieldValueError("must be 14 to 19 digits")
    if not cards.luhn_valid(number):
        raise FieldValueError("is not a valid card number (Luhn check failed)")
    return CardNumber(number)


def _cvv(value: object, _: object) -> Cvv:
    cvv = _require(str, value, "a string of digits")
    if not (cards.is_ascii_digits(cvv) and 3 <= len(cvv) <= 4):
        raise FieldValueError("must be 3 or 4 digits")
    return Cvv(cvv)


def _month(value: object, _: object) -> Month:
    if not 1 <= _require(int, value, "an integer") <= 12:
        raise FieldValueError("must be between 1 and 12")
    return Month(value)  # type: ignore[arg-type]


def _year(value: object, _: object) -> Year:
    if not 1000 <= _require(int, value, "an integer") <= 9999:
        raise FieldValueError("must be a four-digit year")
    return Year(value)  # type: ignore[arg-type]


def _stored_int(value: object, _: object) -> int:
    # DynamoDB numbers come back as Decimal.
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return int(_require(int, value, "an integer"))


def _stored_float(value: object, _: object) -> float:
    return float(_require((int, float, Decimal), value, "a number"))


def format_timestamp(moment: datetime) -> str:
    """UTC to the millisecond (cut, not rounded): "2026-12-07T17:40:18.974Z"."""
    # isoformat, not strftime: a third of the cost, six times a payment (the same text from year 1000).
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"


def _parse_timestamp(value: object, _: object) -> datetime:
    return datetime.fromisoformat(_require(str, value, "a timestamp"))


def _make_converter() -> Converter:
    converter = Converter(forbid_extra_keys=True, detailed_validation=True)
    for wire_type, hook in (
        (Amount, _amount),
        (Currency, _currency),
        (Reference, _reference),
        (CardNumber, _card_number),
        (CaptureMethod, _capture_method),
        (RefundReason, _refund_reason),
        (Cvv, _cvv),
        (Month, _month),
        (Year, _year),
        (int, _stored_int),
        (float, _stored_float),
        (datetime, _parse_timestamp),
    ):
        converter.register_structure_hook(wire_type, hook)
    converter.register_unstructure_hook(datetime, format_timestamp)
    converter.register_structure_hook_factory(
        attrs.has, lambda cls: _objects_only(make_dict_structure_fn(cls, converter))
    )
    return converter


def _objects_only(structure: Callable[[Mapping[str, Any], Any], T]) -> Callable[[object, Any], T]:
    def hook(value: object, cls: Any) -> T:
        if not isinstance(value, Mapping):
            raise FieldValueError("must be a JSON object")
        return structure(value, cls)

    return hook


CONVERTER = _make_converter()
COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))  # built once: json.dumps builds one a call
# A request body's canonical text (keys sorted, ASCII), whose keyed hash is its idempotency fingerprint.
CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)
MAX_ECHOED_NAME = 64


def field_errors(error: BaseException, path: str = "") -> Iterator[FieldError]:
    """Flatten cattrs' grouped errors into one FieldError per bad field."""
    if isinstance(error, ClassValidationError | IterableValidationError):
        for inner in error.exceptions:
            yield from field_errors(inner, _child_path(path, inner))
    elif isinstance(error, ForbiddenExtraKeysError):
        for name in sorted(error.extra_fields):
            yield FieldError(_join(path, echoable(name)), "is not a known field")
    elif isinstance(error, KeyError):
        yield FieldError(path, "is required")
    elif isinstance(error, FieldValueError):
        yield FieldError(path, str(error))
    else:
        yield FieldError(path or "body", "is invalid")


def echoable(name: str) -> str:
    """An unknown field's name is the client's text, sent back in the error: never a card number."""
    masked = cards.mask_pans(name)
    return masked if len(masked) <= MAX_ECHOED_NAME else masked[:MAX_ECHOED_NAME] + "..."


def _child_path(path: str, inner: BaseException) -> str:
    for note in getattr(inner, "__notes__", ()):
        if isinstance(note, AttributeValidationNote):
            return _join(path, note.name)
        if isinstance(note, IterableValidationNote):
            return _join(path, str(note.index))
    return path


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# --- wire format --------------------------------------------------------------------------------


def payment_to_wire(payment: Payment) -> dict[str, Any]:
    body = _unstructured(payment)
    del body["merchant_id"]  # implied by the API key; never part of the public object
    return body


class _LastPayment:
    """The last payment unstructured, by identity: a settled payment is written, put in its event and
    answered, three unstructures of one frozen object (~5 us each). A new dict each time (the callers
    add and remove keys); the nested card dict is shared, and nothing changes it."""

    latest: tuple[Payment, dict[str, Any]] | None = None  # one tuple: threads read a consistent pair


def _unstructured(payment: Payment) -> dict[str, Any]:
    latest = _LastPayment.latest
    if latest is None or latest[0] is not payment:
        latest = _LastPayment.latest = (payment, CONVERTER.unstructure(payment))
    return dict(latest[1])


# --- storage format (DynamoDB items as plain Python values; the adapter marshals them) ----------

_PAYMENT_KEYS = (
    "pk",
    "sk",
    "attempt",
    "bank_reference",
    schema.DUE_ATTRIBUTE,
    "resolve_failures",
    schema.PENDING_PARTITION_KEY,
)
_CLAIM_KEYS = ("pk", "sk")


def payment_to_item(stored: StoredPayment, keys: Mapping[str, str]) -> dict[str, Any]:
    item = _unstructured(stored.payment)
    item |= {**keys, "attempt": stored.attempt, "bank_reference": stored.bank_reference}
    shard = schema.pending_shard(stored.payment.id)
    if stored.status is PaymentStatus.PENDING:
        # Only pending items carry the index's key: a settled payment leaves the sparse index.
        item[schema.PENDING_PARTITION_KEY] = schema.pending_pk(stored.owner_region, shard)
        item[schema.DUE_ATTRIBUTE] = stored.due_at
        item["resolve_failures"] = stored.resolve_failures
    elif stored.status is PaymentStatus.AUTHORIZED and stored.payment.authorization_expires_at is not None:
        # Until it expires (or its owner records a capture or void): the resolver finds it by this.
        item[schema.PENDING_PARTITION_KEY] = f"{schema.EXPIRY_PREFIX}{stored.owner_region}#{shard}"
        item[schema.DUE_ATTRIBUTE] = stored.payment.authorization_expires_at.timestamp()
    return item


def payment_from_item(item: Mapping[str, Any]) -> StoredPayment:
    body = {name: value for name, value in item.items() if name not in _PAYMENT_KEYS}
    payment = CONVERTER.structure(body, Payment)
    due = item.get(schema.DUE_ATTRIBUTE)
    pending = payment.status is PaymentStatus.PENDING
    return StoredPayment(
        payment,
        _stored_int(item.get("attempt", 1), None),
        str(item.get("bank_reference", payment.id)),
        due_at=None if due is None or not pending else _stored_float(due, None),
        resolve_failures=_stored_int(item.get("resolve_failures", 0), None),
    )


_OPERATION_KEYS = ("pk", "sk", schema.PENDING_PARTITION_KEY)


def operation_to_item(operation: Operation, keys: Mapping[str, str]) -> dict[str, Any]:
    item: dict[str, Any] = {**CONVERTER.unstructure(operation), **keys}
    if operation.due_at is not None:  # pending: in the sparse index under its writer's region
        shard = schema.pending_shard(operation.id)
        item[schema.PENDING_PARTITION_KEY] = f"{schema.OPERATION_PENDING_PREFIX}{operation.region}#{shard}"
    return {name: value for name, value in item.items() if value is not None}


def operation_from_item(item: Mapping[str, Any]) -> Operation:
    return CONVERTER.structure({k: v for k, v in item.items() if k not in _OPERATION_KEYS}, Operation)


def is_operation_item(item: Mapping[str, Any]) -> bool:
    return schema.OPERATION_KIND_ATTRIBUTE in item


def operation_to_wire(operation: Operation) -> dict[str, Any]:
    """A refund as the API shows it."""
    body = {
        "id": operation.id,
        "payment_id": operation.payment_id,
        "amount": operation.amount,
        "status": _REFUND_STATUS[operation.status.value],
        "reason": operation.reason,
        "created_at": format_timestamp(operation.created_at),
    }
    if operation.failure_reason is not None:
        body["failure_reason"] = operation.failure_reason
    return body


_REFUND_STATUS = {"pending": "pending", "succeeded": "succeeded", "failed": "failed"}


def event_body(event: NewEvent) -> str:
    """The delivered body, fixed when the change is written: the payment or refund exactly as the API
    returns it then. Stored as this text, so every attempt and resend signs the same bytes."""
    data = payment_to_wire(event.subject) if isinstance(event.subject, Payment) else operation_to_wire(event.subject)
    body = {"id": event.id, "type": event.type.value, "created_at": format_timestamp(event.created_at), "data": data}
    return COMPACT_JSON.encode(body)


def event_to_item(event: NewEvent) -> dict[str, Any]:
    """A new event: in the sparse index under its writer's region until delivered (due at once), and
    deleted by DynamoDB's TTL after the events list's retention."""
    head = event_item_head(
        event.merchant_id,
        event.id,
        event_type=event.type.value,
        created_at=event.created_at,
        region=event.region,
        subject_id=event.subject.id,
    )
    return {
        **head,
        "body": event_body(event),
        schema.WEBHOOK_PARTITION_KEY: schema.webhook_partition(event.region, event.id),
        schema.WEBHOOK_DUE_ATTRIBUTE: event.created_at.timestamp(),
    }


def event_item_head(
    merchant_id: str, event_id: str, *, event_type: str, created_at: datetime, region: str, subject_id: str
) -> dict[str, Any]:
    """What every write of an event item holds besides its body: its key, what the events list shows
    of it, and its TTL (the events list's retention after its creation)."""
    return {
        schema.PARTITION_KEY: schema.merchant_pk(merchant_id),
        schema.SORT_KEY: schema.event_sk(event_id),
        "id": event_id,
        "type": event_type,
        "created_at": format_timestamp(created_at),
        "region": region,
        "subject_id": subject_id,
        schema.TTL_ATTRIBUTE: int(created_at.timestamp()) + schema.EVENT_RETENTION_SECONDS,
    }


def claim_to_item(claim: IdempotencyClaim, keys: Mapping[str, str]) -> dict[str, Any]:
    item: dict[str, Any] = CONVERTER.unstructure(claim)
    return {**item, **keys}


def claim_from_item(item: Mapping[str, Any]) -> IdempotencyClaim:
    body = {name: value for name, value in item.items() if name not in _CLAIM_KEYS}
    return CONVERTER.structure(body, IdempotencyClaim)
