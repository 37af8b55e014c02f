"""Merchant input -> domain objects, collecting every bad field into one InvalidRequest.

Shape rules live in the converter's hooks; the rules here need configuration or the date
(currency allow-list, expiry, CVV length by brand) and only look at values whose shape is right,
so a request gets one message per bad field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import UTC, date, datetime

import attrs
from cattrs.errors import ClassValidationError

from handlers.domain import cards
from handlers.domain.errors import FieldError, InvalidRequest
from handlers.domain.ids import is_payment_id
from handlers.domain.models import CreatePayment, IdempotencyKey, ListQuery, PaymentRequest, PaymentStatus
from handlers.wire.converter import CANONICAL_JSON, CONVERTER, echoable, field_errors
from handlers.wire.cursors import Cursors

DEFAULT_CURRENCIES = frozenset({"GBP", "EUR", "USD"})
MAX_PAGE_SIZE = 100
MAX_IDEMPOTENCY_KEY_LENGTH = 255
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # payment ids count milliseconds from here
_LIST_PARAMETERS = ("limit", "cursor", "status", "created_from", "created_to")


@attrs.frozen
class ValidationRules:
    allowed_currencies: frozenset[str] = DEFAULT_CURRENCIES


def parse_payment_command(
    merchant_id: str, body: object, idempotency_key: str | None, rules: ValidationRules, today: date
) -> CreatePayment:
    """A POST's JSON body and its parsed Idempotency-Key as the service's command."""
    request = parse_payment_request(body, rules, today)
    if idempotency_key is None:
        return CreatePayment(merchant_id, request)
    # Canonical: the same body with its keys in another order is the same request.
    canonical = CANONICAL_JSON.encode(body)
    return CreatePayment(merchant_id, request, IdempotencyKey(idempotency_key, canonical))


def parse_payment_request(body: object, rules: ValidationRules, today: date) -> PaymentRequest:
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    errors: list[FieldError] = []
    request = None
    try:
        request = CONVERTER.structure(body, PaymentRequest)
    except ClassValidationError as e:
        errors.extend(field_errors(e))
    errors.extend(_policy_errors(body, rules, today))
    if errors:
        raise InvalidRequest(_summary(errors), _one_per_field(errors))
    assert request is not None
    return request


def _policy_errors(body: Mapping[str, object], rules: ValidationRules, today: date) -> Iterator[FieldError]:
    currency = body.get("currency")
    if isinstance(currency, str) and currency not in rules.allowed_currencies:
        yield FieldError("currency", "must be one of " + ", ".join(sorted(rules.allowed_currencies)))
    card = body.get("card")
    if isinstance(card, Mapping):
        yield from _expiry_errors(card.get("expiry_month"), card.get("expiry_year"), today)
        yield from _cvv_errors(card.get("number"), card.get("cvv"))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _expiry_errors(month: object, year: object, today: date) -> Iterator[FieldError]:
    if not (_is_int(month) and _is_int(year) and 1 <= month <= 12):  # type: ignore[operator]
        return
    if year < today.year:  # type: ignore[operator]
        yield FieldError("card.expiry_year", "the card has expired")
    elif year == today.year and month < today.month:  # type: ignore[operator]
        yield FieldError("card.expiry_month", "the card has expired")


def _cvv_errors(number: object, cvv: object) -> Iterator[FieldError]:
    if not (isinstance(number, str) and isinstance(cvv, str) and number and cards.is_ascii_digits(number)):
        return
    brand = cards.brand_of(number)
    expected = cards.cvv_length(brand)
    if cards.is_ascii_digits(cvv) and len(cvv) in (3, 4) and len(cvv) != expected:
        yield FieldError("card.cvv", f"must be {expected} digits for this card")


def _one_per_field(errors: list[FieldError]) -> list[FieldError]:
    seen: dict[str, FieldError] = {}
    for error in errors:
        seen.setdefault(error.field, error)
    return list(seen.values())


def _summary(errors: list[FieldError]) -> str:
    count = len({e.field for e in errors})
    return f"The request has {count} invalid field{'s' if count > 1 else ''}."


def parse_idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not 1 <= len(value) <= MAX_IDEMPOTENCY_KEY_LENGTH or not all(" " <= c <= "~" for c in value):
        message = f"must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters"
        raise InvalidRequest("The Idempotency-Key header is invalid.", [FieldError("Idempotency-Key", message)])
    return value


# --- listing ------------------------------------------------------------------------------------


def _limit(text: str) -> int:
    if not (cards.is_ascii_digits(text) and len(text) <= 3 and 1 <= int(text) <= MAX_PAGE_SIZE):
        raise ValueError(f"must be an integer from 1 to {MAX_PAGE_SIZE}")
    return int(text)


def _status(text: str) -> PaymentStatus:
    try:
        return PaymentStatus(text)
    except ValueError:
        raise ValueError("must be one of " + ", ".join(s.value for s in PaymentStatus)) from None


# RFC 3339 date-time (OpenAPI's `format: date-time`): the offset is required, so no moment is read in
# a zone the client did not name. `_PLUS_AS_SPACE` is one whose `+hh:mm` came through a query string
# unencoded: a + there decodes to a space.
_DATE_TIME = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
_RFC_3339 = re.compile(_DATE_TIME + r"([Zz]|[+-][0-9]{2}:[0-9]{2})")
_PLUS_AS_SPACE = re.compile(_DATE_TIME + r" [0-9]{2}:[0-9]{2}")
_NOT_RFC_3339 = "must be an RFC 3339 date-time with an offset (Z or +hh:mm), e.g. 2026-11-26T10:00:00Z"


def _timestamp(text: str) -> datetime:
    if _PLUS_AS_SPACE.fullmatch(text):
        raise ValueError(
            "has a space where its offset's + was (a + in a query string is a space): percent-encode + as %2B"
        )
    try:
        if not _RFC_3339.fullmatch(text):
            raise ValueError
        moment = datetime.fromisoformat(text.upper())
    except ValueError:
        raise ValueError(_NOT_RFC_3339) from None
    try:
        in_utc = moment.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00:00-05:00
        in_utc = None
    if in_utc is None or in_utc < EPOCH:
        raise ValueError("must be between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z")
    return in_utc


def _end_timestamp(text: str) -> datetime:
    moment = _timestamp(text)
    if moment == EPOCH:  # exclusive: nothing can be created before it
        raise ValueError("must be after 1970-01-01T00:00:00Z")
    return moment


_PARSERS: dict[str, Callable[[str], object]] = {"limit": _limit, "status": _status, "created_from": _timestamp}
_PARSERS["created_to"] = _end_timestamp
_FIELD_NAMES = {"cursor": "after_id"}


def _unknown_parameters(params: Mapping[str, str], known: Collection[str]) -> list[FieldError]:
    return [FieldError(echoable(name), "is not a known query parameter") for name in params if name not in known]


def refuse_query_parameters(params: Mapping[str, str]) -> None:
    """For the routes that take no query parameter: the list's 400, naming each one."""
    errors = _unknown_parameters(params, ())
    if errors:
        raise InvalidRequest(_summary(errors), _one_per_field(errors))


def parse_list_query(params: Mapping[str, str], cursors: Cursors) -> ListQuery:
    """The list's parameters; a `cursor` only as this merchant's payments list returned it."""

    def cursor(text: str) -> str:
        return cursors.decode(text, is_payment_id)

    parsers = {**_PARSERS, "cursor": cursor}
    values: dict[str, object] = {}
    errors = _unknown_parameters(params, parsers)
    for name, parse in parsers.items():
        if name in params:
            try:
                values[_FIELD_NAMES.get(name, name)] = parse(params[name])
            except ValueError as e:
                errors.append(FieldError(name, str(e)))
    start, end = values.get("created_from"), values.get("created_to")
    if isinstance(start, datetime) and isinstance(end, datetime) and start >= end:
        errors.append(FieldError("created_to", "must be later than created_from"))
    if errors:
        raise InvalidRequest(_summary(errors), _one_per_field(errors))
    return ListQuery(**values)  # type: ignore[arg-type]
