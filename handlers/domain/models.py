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
RefundReason = NewType("RefundReason", str)
CardNumber = NewType("CardNumber", str)
Cvv = NewType("Cvv", str)
Month = NewType("Month", int)
Year = NewType("Year", int)

MAX_AMOUNT = 99_999_999
MAX_REFERENCE_LENGTH = 128
MAX_REASON_LENGTH = 500


class PaymentStatus(enum.StrEnum):
    PENDING = "pending"  # sent or about to be sent to the bank; the outcome is not known yet
    AUTHORIZED = "authorized"  # the shopper's money is held, not taken (manual capture)
    CAPTURED = "captured"  # taken: by the authorization itself (automatic) or by a capture
    DECLINED = "declined"
    FAILED = "failed"  # provably not processed by the bank
    VOIDED = "voided"  # the merchant released the authorization
    EXPIRED = "expired"  # not captured in time: the resolver released it at the bank
    REVERSED = "reversed"  # authorized at the bank, then reversed by the gateway


class CaptureMethod(enum.StrEnum):
    AUTOMATIC = "automatic"  # one bank message authorizes and captures
    MANUAL = "manual"  # authorize now; capture, void or let expire later


# The only moves a payment may make (Stripe's PaymentIntent table, Kill Bill's state machine):
# every write of a status is conditioned on this table, so a final status never moves back.
# A refund does not move the status: it moves `amount_refunded`.
ALLOWED_MOVES: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    PaymentStatus.PENDING: frozenset(set(PaymentStatus) - {PaymentStatus.PENDING}),
    PaymentStatus.AUTHORIZED: frozenset(
        {PaymentStatus.CAPTURED, PaymentStatus.VOIDED, PaymentStatus.EXPIRED, PaymentStatus.REVERSED}
    ),
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
    capture_method: CaptureMethod = CaptureMethod.AUTOMATIC


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


# Every status that follows an authorization keeps the authorization's code.
_CODE_REQUIRED = frozenset(
    {
        PaymentStatus.AUTHORIZED,
        PaymentStatus.CAPTURED,
        PaymentStatus.VOIDED,
        PaymentStatus.EXPIRED,
        PaymentStatus.REVERSED,
    }
)


def _authorization_code_matches_status(payment: Payment, _: attrs.Attribute[str | None], code: str | None) -> None:
    if (code is not None) != (payment.status in _CODE_REQUIRED):
        raise ValueError("authorization_code is set exactly when the payment was authorized")


def _amounts_fit(payment: Payment, _: attrs.Attribute[int], refunded: int) -> None:
    if not 0 <= payment.amount_captured <= payment.amount:
        raise ValueError("amount_captured is between 0 and amount")
    if (payment.amount_captured > 0) != (payment.status is PaymentStatus.CAPTURED):
        raise ValueError("amount_captured is set exactly when the payment is captured")
    if not 0 <= refunded <= payment.amount_captured:
        raise ValueError("amount_refunded is between 0 and amount_captured")


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
    capture_method: CaptureMethod = CaptureMethod.AUTOMATIC
    amount_captured: int = 0
    amount_refunded: int = attrs.field(default=0, validator=_amounts_fit)
    # A manual authorization not captured by then is released at the bank and becomes `expired`.
    authorization_expires_at: datetime | None = None


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


class OperationKind(enum.StrEnum):
    CAPTURE = "capture"
    VOID = "void"
    REFUND = "refund"


class OperationStatus(enum.StrEnum):
    PENDING = "pending"  # written before the bank is called; the outcome is not known yet
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the bank refused it (or provably did not process it): nothing moved


OPERATION_MOVES: dict[OperationStatus, frozenset[OperationStatus]] = {
    OperationStatus.PENDING: frozenset({OperationStatus.SUCCEEDED, OperationStatus.FAILED}),
}


@attrs.frozen
class Operation:
    """A capture, void or refund of a payment: its own item, written `pending` before the bank is
    called (write-ahead) and only ever by the region that received the request (`region`), so one
    region writes each item. The payment as merchants see it is folded from its authorization and
    these (handlers.domain.lifecycle)."""

    id: str  # re_... (refunds), cp_... (captures), vd_... (voids): a ULID, sortable by creation
    payment_id: str
    merchant_id: str
    kind: OperationKind
    status: OperationStatus
    amount: int = attrs.field(validator=attrs.validators.and_(attrs.validators.ge(1), attrs.validators.le(MAX_AMOUNT)))
    created_at: datetime
    region: str
    # What the bank is sent: the payment's reference (capture, void) and, for a refund, its own
    # refund reference; a key's refund reference is the same in every region (bank deduplicates).
    bank_reference: str
    refund_reference: str | None = None
    reason: str | None = None  # the merchant's reason for a refund (checked: no card number)
    failure_reason: str | None = None  # the bank's refusal, e.g. already_captured
    attempt: int = 1
    # Epoch seconds after which the resolver settles it while pending; None once it is final.
    due_at: float | None = None
    resolve_failures: int = 0


@attrs.frozen
class PaymentOperation:
    """The service's command for a capture, void or refund of one payment."""

    merchant_id: str
    payment_id: str
    kind: OperationKind
    amount: int | None = None  # None: the whole amount (capture) or what is left (refund)
    reason: str | None = None
    idempotency: IdempotencyKey | None = None


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
    operation_id: str | None = None  # a capture's, void's or refund's key: the operation it made


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
    captured: bool = False  # asked with capture=true and the money was taken too


class BankStatus(enum.StrEnum):
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
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
    captured_amount: int = 0
    refunded_amount: int = 0


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
    # The kind of the key this is the merchant of (handlers.domain.auth.KeyMode's value); None for a
    # key made before keys had kinds (`pgw_...`), which no gateway takes any more.
    key_mode: str | None = None
