"""The payment use cases: process, retrieve, list. Plain Python over the ports."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import attrs

from handlers import cards, ids
from handlers.errors import (
    BankUnavailable,
    ConditionFailed,
    IdempotencyKeyReused,
    NotFound,
    PaymentNotRecorded,
    RequestInProgress,
    StorageUnavailable,
)
from handlers.models import (
    CardSummary,
    IdempotencyClaim,
    Page,
    Payment,
    PaymentRequest,
    PaymentStatus,
    StoredPayment,
)
from handlers.ports import Bank, PaymentRepository
from handlers.validation import ValidationRules, parse_list_query, parse_payment_request

logger = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@attrs.frozen
class IdempotencyPolicy:
    # Must exceed the function timeout: a holder older than this is presumed dead and replaced.
    lease_seconds: float = 10.0
    retention_seconds: int = 24 * 3600
    # The longest a bank call may take (connect + read deadlines): a holder starts one only with at
    # least this much of its lease left, so no take-over can happen while it is at the bank.
    bank_call_seconds: float = 0.85


@attrs.frozen
class _Attempt:
    """The claim this request holds, and the reference an earlier attempt already sent the bank."""

    claim: IdempotencyClaim
    sent_reference: str | None = None


DEFAULT_RULES = ValidationRules()
DEFAULT_POLICY = IdempotencyPolicy()


@attrs.frozen
class Created:
    payment: Payment
    replayed: bool


class PaymentService:
    def __init__(
        self,
        *,
        payments: PaymentRepository,
        bank: Bank,
        region: str,
        fingerprint_key: bytes,
        rules: ValidationRules = DEFAULT_RULES,
        policy: IdempotencyPolicy = DEFAULT_POLICY,
        clock: Clock = utc_now,
    ) -> None:
        self._payments = payments
        self._bank = bank
        self._region = region
        self._fingerprint_key = fingerprint_key
        self._rules = rules
        self._policy = policy
        self._clock = clock

    # --- process ---------------------------------------------------------------------------------

    def create_payment(self, merchant_id: str, body: object, idempotency_key: str | None) -> Created:
        now = self._clock()
        request = parse_payment_request(body, self._rules, now.date())
        if idempotency_key is None:
            return Created(self._charge_once(merchant_id, request, ids.new_payment_id(now)), replayed=False)
        fresh = self._new_claim(merchant_id, idempotency_key, body, now)
        held = self._payments.claim(fresh, now.timestamp())
        attempt = _Attempt(fresh) if held is None else self._resolve(held, fresh, now.timestamp())
        if isinstance(attempt, Payment):
            return Created(attempt, replayed=True)
        claim = attempt.claim
        self._require_lease_for_the_bank(claim)
        reference = attempt.sent_reference or bank_reference(
            self._fingerprint_key, merchant_id, idempotency_key, claim.fingerprint
        )
        return Created(self._charge(merchant_id, request, claim.payment_id, reference, claim.attempt), replayed=False)

    def _require_lease_for_the_bank(self, claim: IdempotencyClaim) -> None:
        # Slow storage calls before the bank may have eaten the lease: a bank call that could outlive
        # it would race a take-over. Nothing was charged; a retry takes the claim over after the lease.
        if self._clock().timestamp() + self._policy.bank_call_seconds >= claim.lease_until:
            raise StorageUnavailable("The payment store was too slow to start the payment within its lease.")

    def _charge_once(self, merchant_id: str, request: PaymentRequest, payment_id: str) -> Payment:
        """Without a key nothing ties a resend to this attempt, so a store failure after the bank
        call must not invite one (a keyed request keeps the retryable 503: its resend is safe)."""
        try:
            return self._charge(merchant_id, request, payment_id, payment_id, attempt=1)
        except BankUnavailable:
            raise  # the failed attempt is recorded: the merchant is told its id
        except Exception as e:  # the bank was called; storing what it said failed, however
            raise PaymentNotRecorded(
                "The bank was called but its answer could not be recorded; the payment may exist at the bank. "
                "Do not resend this request: without an Idempotency-Key a resend is a new payment.",
                payment_id,
            ) from e

    def _new_claim(self, merchant_id: str, key: str, body: object, now: datetime) -> IdempotencyClaim:
        return IdempotencyClaim(
            merchant_id=merchant_id,
            key=idempotency_key_digest(self._fingerprint_key, key),
            fingerprint=self._fingerprint(body),
            payment_id=ids.new_payment_id(now),
            attempt=1,
            lease_until=now.timestamp() + self._policy.lease_seconds,
            expires_at=int(now.timestamp()) + self._policy.retention_seconds,
            owner=secrets.token_hex(8),
        )

    def _fingerprint(self, body: object) -> str:
        # Keyed: the body holds the card number and CVV (PCI DSS 3.5.1.1).
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return keyed_hash(self._fingerprint_key, "body", canonical)

    def _resolve(self, held: IdempotencyClaim, fresh: IdempotencyClaim, now: float) -> Payment | _Attempt:
        """Another request used this key: replay its outcome, refuse, or take over its payment id."""
        if not hmac.compare_digest(held.fingerprint, fresh.fingerprint):
            raise IdempotencyKeyReused("This Idempotency-Key was already used with a different request body.")
        stored = self._payments.get_payment(held.merchant_id, held.payment_id)
        finished = stored is not None and stored.attempt == held.attempt
        if stored is not None and finished and stored.payment.status is not PaymentStatus.FAILED:
            return stored.payment
        if not finished and held.lease_until > now:
            raise RequestInProgress("A request with this Idempotency-Key is still being processed.")
        # The last attempt failed at the bank, or its holder died: retry under the same payment id
        # and the bank reference it was sent (as stored, whatever formula made it), so a
        # deduplicating bank answers without charging again.
        retry = attrs.evolve(
            held,
            attempt=held.attempt + 1,
            lease_until=fresh.lease_until,
            expires_at=fresh.expires_at,
            owner=fresh.owner,
        )
        try:
            self._payments.take_over(retry)
        except ConditionFailed:
            raise RequestInProgress("A request with this Idempotency-Key is still being processed.") from None
        return _Attempt(retry, stored.bank_reference if stored is not None else None)

    def _charge(
        self, merchant_id: str, request: PaymentRequest, payment_id: str, reference: str, attempt: int
    ) -> Payment:
        try:
            decision = self._bank.authorize(reference, request)
        except BankUnavailable as e:
            failed = self._payment(merchant_id, request, payment_id, PaymentStatus.FAILED, None)
            recorded = self._save(StoredPayment(failed, attempt, reference))
            if recorded.status is not PaymentStatus.FAILED:
                return recorded  # an earlier attempt reached a final outcome; that one stands
            raise BankUnavailable(
                "The acquiring bank did not answer. The payment was recorded as failed and may be retried.",
                recorded.id,
            ) from e
        status = PaymentStatus.AUTHORIZED if decision.authorized else PaymentStatus.DECLINED
        code = decision.authorization_code if decision.authorized else None
        return self._save(
            StoredPayment(self._payment(merchant_id, request, payment_id, status, code), attempt, reference)
        )

    def _payment(
        self, merchant_id: str, request: PaymentRequest, payment_id: str, status: PaymentStatus, code: str | None
    ) -> Payment:
        card = request.card
        return Payment(
            id=payment_id,
            merchant_id=merchant_id,
            status=status,
            amount=request.amount,
            currency=request.currency,
            reference=request.reference,
            card=CardSummary(cards.brand_of(card.number), card.number[-4:], card.expiry_month, card.expiry_year),
            authorization_code=code,
            created_at=ids.created_at(payment_id),
            region=self._region,
        )

    def _save(self, stored: StoredPayment) -> Payment:
        try:
            return self._store(stored)
        except Exception:
            # The bank has answered; without this line the outcome would exist only at the bank.
            logger.exception(
                "payment_not_stored",
                extra={
                    "payment": payment_summary(stored.payment),
                    "attempt": stored.attempt,
                    "bank_reference": stored.bank_reference,
                },
            )
            raise

    def _store(self, stored: StoredPayment) -> Payment:
        try:
            self._payments.save_payment(stored)
        except ConditionFailed:
            found = self._payments.get_payment(stored.payment.merchant_id, stored.payment.id)
            if found is None:
                raise StorageUnavailable("The payment store refused the write but holds no payment.") from None
            return found.payment  # an earlier attempt reached a final outcome; that one stands
        return stored.payment


class PaymentReader:
    """Retrieve and list; needs only the repository, so the read functions hold no bank secrets."""

    def __init__(self, payments: PaymentRepository) -> None:
        self._payments = payments

    def get_payment(self, merchant_id: str, payment_id: str) -> Payment:
        # The key includes the merchant: another merchant's payment is simply absent (same 404).
        stored = self._payments.get_payment(merchant_id, payment_id) if ids.is_payment_id(payment_id) else None
        if stored is None:
            raise NotFound("No payment with this id.")
        return stored.payment

    def list_payments(self, merchant_id: str, params: Mapping[str, str]) -> Page:
        return self._payments.list_payments(merchant_id, parse_list_query(params))


def keyed_hash(secret: bytes, purpose: str, text: str) -> str:
    return hmac.new(secret, f"{purpose}:{text}".encode(), hashlib.sha256).hexdigest()


def bank_reference(secret: bytes, merchant_id: str, key: str, body_fingerprint: str) -> str:
    """What the bank is sent for a request with an Idempotency-Key. The same in every region: during
    replication lag a retry that lands in the other region gets a new payment id there, but the bank
    still sees one reference and a deduplicating acquirer does not charge twice. The body is part of
    it: a key reused after its 24 h (or, during the lag, in the other region) for another payment must
    not be answered with the first payment's decision by a deduplicating acquirer."""
    return "idem_" + keyed_hash(secret, "bank-reference", f"{merchant_id}:{key}:{body_fingerprint}")[:40]


def idempotency_key_digest(secret: bytes, key: str) -> str:
    """How a merchant's Idempotency-Key is stored: free text may hold anything, even a card number."""
    return keyed_hash(secret, "idempotency-key", key)


def payment_summary(payment: Payment) -> dict[str, object]:
    """What may be logged about a payment: everything but the card beyond brand and last four."""
    return {
        "id": payment.id,
        "merchant_id": payment.merchant_id,
        "status": payment.status.value,
        "amount": payment.amount,
        "currency": payment.currency,
        "authorization_code": payment.authorization_code,
        "card_brand": payment.card.brand,
        "card_last4": payment.card.last4,
    }
