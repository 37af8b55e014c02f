"""The payment use cases: process, retrieve, list. Plain Python over the ports."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

import attrs

from handlers.domain import cards, ids
from handlers.domain.errors import (
    BankNotProcessed,
    BankOutcomeUnknown,
    BankUnavailable,
    ConditionFailed,
    IdempotencyKeyReused,
    NotFound,
    RequestInProgress,
    StorageUnavailable,
)
from handlers.domain.lifecycle import distinct_refunds, fold
from handlers.domain.models import (
    CaptureMethod,
    CardSummary,
    CreatePayment,
    IdempotencyClaim,
    IdempotencyKey,
    ListQuery,
    Operation,
    Page,
    Payment,
    PaymentStatus,
    StoredPayment,
)
from handlers.domain.ports import Bank, PaymentRepository
from handlers.domain.settlement import Clock, ResolutionPolicy, Settlement, utc_now

logger = logging.getLogger(__name__)


@attrs.frozen
class IdempotencyPolicy:
    # Must exceed the function timeout: a holder older than this is presumed dead and replaced.
    lease_seconds: float = 10.0
    retention_seconds: int = 24 * 3600
    # The longest a bank call may take (connect + read deadlines): a holder starts one only with at
    # least this much of its lease left, so no take-over can happen while it is at the bank.
    bank_call_seconds: float = 0.85


DEFAULT_POLICY = IdempotencyPolicy()
DEFAULT_RESOLUTION = ResolutionPolicy()


@attrs.frozen
class Created:
    """A request's answer: a final payment (201), a pending one (202), or a replay of either."""

    payment: Payment
    replayed: bool


class PaymentService:
    """Process a payment with a write-ahead record: `pending` is stored before the bank is called,
    so whatever instant the process dies at, there is a record for the resolver to settle."""

    def __init__(
        self,
        *,
        payments: PaymentRepository,
        bank: Bank,
        region: str,
        fingerprint_key: bytes,
        policy: IdempotencyPolicy = DEFAULT_POLICY,
        resolution: ResolutionPolicy = DEFAULT_RESOLUTION,
        clock: Clock = utc_now,
        on_not_stored: Callable[[], None] = lambda: None,
    ) -> None:
        self._payments = payments
        self._bank = bank
        self._region = region
        self._fingerprint_key = fingerprint_key
        self._policy = policy
        self._resolution = resolution
        self._clock = clock
        self._settlement = Settlement(
            payments=payments, bank=bank, region=region, policy=resolution, clock=clock, on_not_stored=on_not_stored
        )

    # --- process ---------------------------------------------------------------------------------

    def create_payment(self, command: CreatePayment) -> Created:
        now, idempotency = self._clock(), command.idempotency
        if idempotency is None:
            payment_id = ids.new_payment_id(now)
            return Created(self._process(command, payment_id, payment_id, attempt=1), replayed=False)
        fresh = self._new_claim(command.merchant_id, idempotency, now)
        reference = bank_reference(self._fingerprint_key, command.merchant_id, idempotency.key, fresh.fingerprint)
        held = self._payments.claim(fresh, now.timestamp())
        attempt = fresh if held is None else self._resolve(held, fresh, reference, now.timestamp())
        if isinstance(attempt, Payment):
            return Created(_final_or_pending(attempt, keyed=True, replayed=True), replayed=True)
        payment = self._process(command, attempt.payment_id, reference, attempt=attempt.attempt, claim=attempt)
        return Created(payment, replayed=False)

    def _resolve(
        self, held: IdempotencyClaim, fresh: IdempotencyClaim, reference: str, now: float
    ) -> Payment | IdempotencyClaim:
        """Another request used this key: replay its payment, refuse, or take over the abandoned key."""
        if not hmac.compare_digest(held.fingerprint, fresh.fingerprint):
            raise IdempotencyKeyReused("This Idempotency-Key was already used with a different request body.")
        stored = self._payments.get_payment(held.merchant_id, held.payment_id)
        if stored is not None and stored.status is not PaymentStatus.PENDING:
            return stored.payment
        if held.lease_until > now:  # its holder may be at the bank right now
            raise RequestInProgress("A request with this Idempotency-Key is still being processed.")
        if stored is not None:  # its holder ended without an outcome: ask the bank, never authorize again
            return self._settlement.on_replay(stored)
        # Its holder died before writing the payment, so before calling the bank. The key's payment in
        # the other region (a retry during the lag) may hold the reference, and may be being reversed:
        # then it is the answer, so a reference is never sent again once a payment of it exists.
        sibling = self._sibling(held, reference)
        if sibling is not None and sibling.status is not PaymentStatus.PENDING:
            return sibling.payment
        if sibling is not None:
            return self._settlement.on_replay(sibling)
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
        return retry

    def _sibling(self, held: IdempotencyClaim, reference: str) -> StoredPayment | None:
        """Another payment sent under this key's reference: both regions' claims of one key were made
        within a replication lag of each other, far inside the resolver's takeover bound."""
        around = ids.created_at(held.payment_id)
        window = timedelta(seconds=self._resolution.takeover_after_seconds)
        found = self._payments.payments_with_reference(held.merchant_id, reference, around - window, around + window)
        return min(found, key=lambda s: (s.status is PaymentStatus.PENDING, s.payment.id), default=None)

    def _process(
        self,
        command: CreatePayment,
        payment_id: str,
        reference: str,
        *,
        attempt: int,
        claim: IdempotencyClaim | None = None,
    ) -> Payment:
        if claim is not None:  # before the write too: a payment that cannot start leaves nothing to settle
            self._require_lease_for_the_bank(claim)
        pending = self._write_ahead(self._pending(command, payment_id, reference, attempt))
        if claim is not None:
            self._require_lease_for_the_bank(claim)
        try:
            automatic = command.request.capture_method is CaptureMethod.AUTOMATIC
            decision = self._bank.authorize(reference, command.request, capture=automatic)
        except BankNotProcessed as e:
            failed = self._settlement.refused(pending, e).payment
            return _final_or_pending(failed, cause=e, keyed=claim is not None, replayed=False)
        except BankOutcomeUnknown as e:
            # Charged or not, nobody knows yet: the record stays pending and the resolver asks the bank.
            logger.warning("bank_outcome_unknown", extra={"payment_id": payment_id, "reason": str(e)})
            return pending.payment
        return self._settlement.answered(pending, decision).payment

    def _write_ahead(self, pending: StoredPayment) -> StoredPayment:
        # Nothing has been sent yet: any failure here is a retryable 503, never a charge.
        try:
            self._payments.save_pending(pending)
        except ConditionFailed:
            # The SDK retried a write whose answer was lost: the item it finds is our own (the same
            # fresh payment id, attempt and due time). Anything else is another holder's.
            found = self._payments.get_payment(pending.payment.merchant_id, pending.payment.id)
            if found != pending:
                raise RequestInProgress("A request with this Idempotency-Key is still being processed.") from None
        return pending

    def _require_lease_for_the_bank(self, claim: IdempotencyClaim) -> None:
        # Slow storage calls before the bank may have eaten the lease: a bank call that could outlive
        # it would race a take-over. Nothing was charged; the pending record is failed by the resolver.
        if self._clock().timestamp() + self._policy.bank_call_seconds >= claim.lease_until:
            raise StorageUnavailable("The payment store was too slow to start the payment within its lease.")

    def _pending(self, command: CreatePayment, payment_id: str, reference: str, attempt: int) -> StoredPayment:
        request, card = command.request, command.request.card
        payment = Payment(
            id=payment_id,
            merchant_id=command.merchant_id,
            status=PaymentStatus.PENDING,
            amount=request.amount,
            currency=request.currency,
            reference=request.reference,
            card=CardSummary(cards.brand_of(card.number), card.number[-4:], card.expiry_month, card.expiry_year),
            authorization_code=None,
            created_at=ids.created_at(payment_id),
            region=self._region,
            capture_method=request.capture_method,
        )
        due_at = self._clock().timestamp() + self._resolution.resolve_after_seconds
        return StoredPayment(payment, attempt, reference, due_at=due_at)

    def _new_claim(self, merchant_id: str, idempotency: IdempotencyKey, now: datetime) -> IdempotencyClaim:
        return IdempotencyClaim(
            merchant_id=merchant_id,
            key=idempotency_key_digest(self._fingerprint_key, idempotency.key),
            fingerprint=self._fingerprint(idempotency.body),
            payment_id=ids.new_payment_id(now),
            attempt=1,
            lease_until=now.timestamp() + self._policy.lease_seconds,
            expires_at=int(now.timestamp()) + self._policy.retention_seconds,
            owner=secrets.token_hex(8),
        )

    def _fingerprint(self, canonical_body: str) -> str:
        # Keyed: the body holds the card number and CVV (PCI DSS 3.5.1.1).
        return keyed_hash(self._fingerprint_key, "body", canonical_body)


def _final_or_pending(payment: Payment, cause: Exception | None = None, *, keyed: bool, replayed: bool) -> Payment:
    """A `failed` payment is answered as the 502 that names it, first time and on every replay."""
    if payment.status is PaymentStatus.FAILED:
        raise BankUnavailable(
            "The acquiring bank did not process the payment, so nothing was charged. It is recorded as failed: "
            f"to try again, {try_again(keyed)}.",
            payment.id,
            replayed=replayed,
        ) from cause
    return payment


def try_again(keyed: bool) -> str:
    """How to try again after a 502: a request without a key is a new one each time it is sent."""
    return "send it with a new Idempotency-Key" if keyed else "send the request again"


class PaymentReader:
    """Retrieve and list; needs only the repository, so the read functions hold no bank secrets."""

    def __init__(self, payments: PaymentRepository) -> None:
        self._payments = payments

    def get_payment(self, merchant_id: str, payment_id: str) -> Payment:
        # The key includes the merchant: another merchant's payment is simply absent (same 404).
        found = None
        if ids.is_payment_id(payment_id):
            found = self._payments.get_payment_with_operations(merchant_id, payment_id)
        if found is None:
            raise NotFound("No payment with this id.")
        stored, operations = found
        return fold(stored.payment, operations)

    def list_payments(self, merchant_id: str, query: ListQuery) -> Page:
        return self._payments.list_payments(merchant_id, query)

    def refunds(self, merchant_id: str, payment_id: str) -> tuple[Operation, ...]:
        """A payment's refunds, oldest first (404 for another merchant's payment); reads only."""
        found = None
        if ids.is_payment_id(payment_id):
            found = self._payments.get_payment_with_operations(merchant_id, payment_id)
        if found is None:
            raise NotFound("No payment with this id.")
        return tuple(distinct_refunds(found[1]))


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
