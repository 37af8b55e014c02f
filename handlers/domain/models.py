"""Frozen models. Validation of merchant input lives in the converter's hooks (handlers.wire.converter),
which report every bad field at once; the validators here guard invariants of our own objects."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import NewType

import attrs

# Wire types whose structure hooks validate them (see handlers.wire.converter).
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
    PENDING = "pending"  # sent or about to be sent to the bank; the outcome is not known yet
    AUTHORIZED = "authorized"
    DECLINED = "declined"
    FAILED = "failed"  # provably not processed by the bank
    REVERSED = "reversed"  # authorized at the bank, then reversed by the gateway


# The only moves a payment may make (Stripe's PaymentIntent table, Kill Bill's state machine):
# every write of a status is conditioned on this table, so a final status never moves back.
ALLOWED_MOVES: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    PaymentStatus.PENDING: frozenset(
        {PaymentStatus.AUTHORIZED, PaymentStatus.DECLINED, PaymentStatus.FAILED, PaymentStatus.REVERSED}
    ),
    PaymentStatus.AUTHORIZED: frozenset({PaymentStatus.REVERSED}),
}


def can_move(old: PaymentStatus, new: PaymentStatus) -> bool:
    return new in ALLOWED_MOVES.get(old, frozenset())


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
class IdempotencyKey:
    """A request's Idempotency-Key and the body it came with. Both are the merchant's text, never
    stored or logged as given (repr=False): only their keyed hashes are (handlers.domain.service)."""

    key: str = attrs.field(repr=False)
    # The body as sent, as canonical JSON (card number and CVV inside): its keyed hash is the key's
    # fingerprint, which tells a replay from the same key reused for another body.
    body: str = attrs.field(repr=False)


@attrs.frozen
class CreatePayment:
    """The service's command: a merchant's valid payment request (handlers.wire.validation), and its key."""

    merchant_id: str
    request: PaymentRequest
    idempotency: IdempotencyKey | None = None


@attrs.frozen
class CardSummary:
    brand: str
    last4: str
    expiry_month: int
    expiry_year: int


_CODE_REQUIRED = frozenset({PaymentStatus.AUTHORIZED, PaymentStatus.REVERSED})


def _authorization_code_matches_status(payment: Payment, _: attrs.Attribute[str | None], code: str | None) -> None:
    # A reversed payment keeps the code of the authorization it reversed.
    if (code is not None) != (payment.status in _CODE_REQUIRED):
        raise ValueError("authorization_code is set exactly when the payment is authorized or reversed")


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
    """A payment as the table holds it: written `pending` before the bank is called (write-ahead),
    with everything the resolver needs to settle it if the request never finishes."""

    payment: Payment
    attempt: int  # which idempotent attempt wrote it; a take-over of an abandoned key is attempt 2
    # What the bank was sent as `reference`, for inquiries and reversals: the payment id, or with an
    # Idempotency-Key a keyed hash of (merchant, key, body) that every region sends alike.
    bank_reference: str = attrs.field(default=attrs.Factory(lambda self: self.payment.id, takes_self=True))
    # Epoch seconds after which the resolver settles a pending payment; None once it is final.
    due_at: float | None = None
    # How many times the resolver failed to reach the bank for it (its backoff grows with this).
    resolve_failures: int = 0

    @property
    def status(self) -> PaymentStatus:
        return self.payment.status

    @property
    def owner_region(self) -> str:
        return self.payment.region


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
class Heartbeat:
    """A region's resolver is alive: `at` its last run, `alive_since` the start of its current unbroken
    series of runs (a region back from silence may have been taken over: see handlers.domain.resolver)."""

    at: float
    alive_since: float


@attrs.frozen
class BankDecision:
    authorized: bool
    authorization_code: str | None


class BankStatus(enum.StrEnum):
    AUTHORIZED = "authorized"
    DECLINED = "declined"
    REVERSED = "reversed"


@attrs.frozen
class BankRecord:
    """The bank's single record of a reference (GET {bankUrl}/{reference}, or a reversal's answer).
    `reversed` without an authorization code: the reversal came first and nothing was charged."""

    status: BankStatus
    authorization_code: str | None = None
    amount: int | None = None
    currency: str | None = None


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
