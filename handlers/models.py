"""Frozen models. Validation of merchant input lives in the converter's hooks (handlers.converter),
which report every bad field at once; the validators here guard invariants of our own objects."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import NewType

import attrs

# Wire types whose structure hooks validate them (see handlers.converter).
Amount = NewType("Amount", int)
Currency = NewType("Currency", str)
Reference = NewType("Reference", str)
CardNumber = NewType("CardNumber", str)
Cvv = NewType("Cvv", str)
Month = NewType("Month", int)
Year = NewType("Year", int)

MAX_AMOUNT = 99_999_999
MAX_REFERENCE_LENGTH = 128


class PaymentStatus(enum.StrEnum):
    AUTHORIZED = "authorized"
    DECLINED = "declined"
    FAILED = "failed"


@attrs.frozen
class CardInput:
    # repr=False: a card must never reach a log line or a traceback through repr().
    number: CardNumber = attrs.field(repr=False)
    expiry_month: Month
    expiry_year: Year
    cvv: Cvv = attrs.field(repr=False)


@attrs.frozen
class PaymentRequest:
    amount: Amount
    currency: Currency
    card: CardInput
    reference: Reference | None = None


@attrs.frozen
class CardSummary:
    brand: str
    last4: str
    expiry_month: int
    expiry_year: int


def _authorization_code_matches_status(payment: Payment, _: attrs.Attribute[str | None], code: str | None) -> None:
    if (code is not None) != (payment.status is PaymentStatus.AUTHORIZED):
        raise ValueError("authorization_code is set exactly when the payment is authorized")


@attrs.frozen
class Payment:
    id: str
    merchant_id: str
    status: PaymentStatus
    amount: int = attrs.field(validator=attrs.validators.and_(attrs.validators.ge(1), attrs.validators.le(MAX_AMOUNT)))
    currency: str
    reference: str | None
    card: CardSummary
    authorization_code: str | None = attrs.field(validator=_authorization_code_matches_status)
    created_at: datetime
    region: str


@attrs.frozen
class StoredPayment:
    payment: Payment
    attempt: int  # which idempotent attempt wrote it; a retry after a bank failure is attempt 2
    # What the bank was sent as `reference`, for reconciliation: the payment id, or with an
    # Idempotency-Key a keyed hash of (merchant, key) that every region sends alike.
    bank_reference: str = attrs.field(default=attrs.Factory(lambda self: self.payment.id, takes_self=True))


@attrs.frozen
class IdempotencyClaim:
    """Who owns an Idempotency-Key: which request (keyed fingerprint), which payment, until when."""

    merchant_id: str
    key: str  # HMAC of the merchant's Idempotency-Key: free text, so never stored as given
    fingerprint: str
    payment_id: str
    attempt: int
    lease_until: float  # epoch seconds; a request holding the key past this is presumed dead
    expires_at: int  # epoch seconds; after this the key is forgotten (DynamoDB TTL)
    # Random per request: a write retried by the SDK after a lost answer recognises itself by it.
    owner: str


@attrs.frozen
class BankDecision:
    authorized: bool
    authorization_code: str | None


@attrs.frozen
class ListQuery:
    limit: int = 20
    after_id: str | None = None  # decoded cursor: continue with payments older than this id
    status: PaymentStatus | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


@attrs.frozen
class Page:
    payments: tuple[Payment, ...]
    next_after_id: str | None


@attrs.frozen
class Merchant:
    id: str
    name: str
    active: bool = True
