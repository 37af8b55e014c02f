"""Capture, void and refund: the use cases after an authorization. Plain Python over the ports.

Each request writes its operation `pending` before the bank is called (write-ahead), then the bank's
answer; a lost answer leaves it pending (202) for the resolver (handlers.domain.operation_settlement).
An Idempotency-Key works as for payments: a replay answers the first request's operation, the same
key with another body is refused, a concurrent duplicate is told to wait, and a key whose holder
died before writing its operation is taken over after the lease. A keyed refund is sent under a
refund reference derived from the key, the same in every region, so a retry that lands in the
other region during the replication lag is refunded once by the bank.
"""

from __future__ import annotations

import contextlib
import hmac
import secrets
from collections.abc import Callable
from datetime import datetime

import attrs

from handlers.domain import ids
from handlers.domain.errors import (
    AmountTooLarge,
    BankUnavailable,
    ConditionFailed,
    IdempotencyKeyReused,
    InvalidState,
    NotFound,
    OutcomeUnknown,
    RequestInProgress,
    StorageUnavailable,
)
from handlers.domain.lifecycle import check_allowed, fold, operation_amount, pending_modification
from handlers.domain.models import (
    IdempotencyClaim,
    Operation,
    OperationKind,
    OperationStatus,
    Payment,
    PaymentOperation,
    StoredPayment,
)
from handlers.domain.operation_settlement import NOT_PROCESSED, OperationSettlement
from handlers.domain.ports import Bank, OperationRepository, PaymentRepository
from handlers.domain.service import (
    DEFAULT_POLICY,
    DEFAULT_RESOLUTION,
    IdempotencyPolicy,
    idempotency_key_digest,
    keyed_hash,
    try_again,
)
from handlers.domain.settlement import Clock, ResolutionPolicy, utc_now

# What a refused capture or void says the payment is now (the bank's refusal codes, docs/bank.md).
_STATUS_AFTER_REFUSAL = {"already_captured": "captured", "reference_reversed": "voided", "declined": "declined"}


@attrs.frozen
class OperationResult:
    payment: Payment  # the payment with the operation applied (as far as it is known)
    operation: Operation
    replayed: bool


class OperationService:
    def __init__(
        self,
        *,
        payments: PaymentRepository,
        operations: OperationRepository,
        bank: Bank,
        region: str,
        fingerprint_key: bytes,
        policy: IdempotencyPolicy = DEFAULT_POLICY,
        resolution: ResolutionPolicy = DEFAULT_RESOLUTION,
        clock: Clock = utc_now,
        on_not_stored: Callable[[], None] = lambda: None,
    ) -> None:
        self._payments = payments
        self._operations = operations
        self._region = region
        self._fingerprint_key = fingerprint_key
        self._policy = policy
        self._resolution = resolution
        self._clock = clock
        self._settlement = OperationSettlement(
            operations=operations,
            payments=payments,
            bank=bank,
            policy=resolution,
            clock=clock,
            on_not_stored=on_not_stored,
        )

    def run(self, command: PaymentOperation) -> OperationResult:
        """Capture, void or refund; raises what the merchant is answered when it did not happen."""
        return answer(self._run(command), keyed=command.idempotency is not None)

    def _run(self, command: PaymentOperation) -> OperationResult:
        now = self._clock()
        if command.idempotency is None:
            operation_id = ids.new_operation_id(command.kind.value, now)
            return self._start(command, operation_id, operation_id, claim=None)
        fresh = self._new_claim(command, now)
        held = self._payments.claim(fresh, now.timestamp())
        attempt = fresh if held is None else self._resolve(held, fresh, command)
        if isinstance(attempt, OperationResult):
            return attempt
        assert attempt.operation_id is not None
        reference = self._refund_reference(command, fresh)
        try:
            return self._start(command, attempt.operation_id, reference, claim=attempt)
        except (InvalidState, AmountTooLarge, NotFound, RequestInProgress):
            self._release(attempt)  # nothing was written: the same key may be sent again at once
            raise

    def _resolve(
        self, held: IdempotencyClaim, fresh: IdempotencyClaim, command: PaymentOperation
    ) -> OperationResult | IdempotencyClaim:
        if not hmac.compare_digest(held.fingerprint, fresh.fingerprint) or held.operation_id is None:
            raise IdempotencyKeyReused("This Idempotency-Key was already used with a different request.")
        op = self._operations.get_operation(command.merchant_id, command.payment_id, held.operation_id)
        if op is not None and op.status is not OperationStatus.PENDING:
            return self._result(op, replayed=True)
        if held.lease_until > self._clock().timestamp():
            raise RequestInProgress("A request with this Idempotency-Key is still being processed.")
        if op is not None:  # its request ended without the bank's answer: its region finishes it now
            settled = self._settlement.settle(op, reschedule=False) if op.region == self._region else op
            return self._result(settled, replayed=True)
        # A new operation id: the dead holder's id may yet be written in its region (its write-ahead
        # in flight, or not replicated), and each item has one writer. The bank reference is the same
        # (the payment's, or the key's refund reference), so the bank still acts once.
        retry = attrs.evolve(
            held,
            attempt=held.attempt + 1,
            lease_until=fresh.lease_until,
            expires_at=fresh.expires_at,
            owner=fresh.owner,
            operation_id=fresh.operation_id,
        )
        try:
            self._payments.take_over(retry)
        except ConditionFailed:
            raise RequestInProgress("A request with this Idempotency-Key is still being processed.") from None
        return retry

    def _start(
        self, command: PaymentOperation, operation_id: str, refund_reference: str, *, claim: IdempotencyClaim | None
    ) -> OperationResult:
        stored, operations = self._load(command.merchant_id, command.payment_id)
        view = fold(stored.payment, operations)
        check_allowed(view, command.kind)
        if command.kind is not OperationKind.REFUND and pending_modification(operations) is not None:
            raise RequestInProgress("Another capture or void of this payment is being processed.")
        amount = operation_amount(view, operations, command.kind, command.amount)
        pending = self._pending(command, stored, operation_id, amount, refund_reference)
        if claim is not None:
            self._require_lease_for_the_bank(claim)
        self._write_ahead(pending)
        # From here the operation is recorded and the resolver finishes it: never a 503 ("not sent").
        if claim is not None and not self._lease_allows_the_bank(claim):
            done = pending  # the lease was eaten by slow storage: 202, the resolver sends it
        else:
            done = self._settlement.execute(pending)
        known = (*(op for op in operations if op.id != done.id), done)
        return OperationResult(fold(stored.payment, known), done, replayed=False)

    def _pending(
        self, command: PaymentOperation, stored: StoredPayment, operation_id: str, amount: int, refund_reference: str
    ) -> Operation:
        refund = command.kind is OperationKind.REFUND
        return Operation(
            id=operation_id,
            payment_id=stored.payment.id,
            merchant_id=command.merchant_id,
            kind=command.kind,
            status=OperationStatus.PENDING,
            amount=amount,
            created_at=self._clock(),
            region=self._region,
            bank_reference=stored.bank_reference,
            refund_reference=refund_reference if refund else None,
            reason=command.reason,
            due_at=self._clock().timestamp() + self._resolution.resolve_after_seconds,
        )

    def _write_ahead(self, pending: Operation) -> None:
        try:
            self._operations.save_pending_operation(pending)
        except ConditionFailed:  # the SDK retried a write whose answer was lost: is it ours?
            found = self._operations.get_operation(pending.merchant_id, pending.payment_id, pending.id)
            if found != pending:
                raise RequestInProgress("A request with this Idempotency-Key is still being processed.") from None
        except StorageUnavailable as e:
            # The write may have landed after all (its answer lost): then the resolver sends it.
            raise OutcomeUnknown("The operation's record may or may not have been written.") from e

    def _require_lease_for_the_bank(self, claim: IdempotencyClaim) -> None:
        if not self._lease_allows_the_bank(claim):
            raise StorageUnavailable("The payment store was too slow to start the operation within its lease.")

    def _lease_allows_the_bank(self, claim: IdempotencyClaim) -> bool:
        return self._clock().timestamp() + self._policy.bank_call_seconds < claim.lease_until

    def _load(self, merchant_id: str, payment_id: str) -> tuple[StoredPayment, tuple[Operation, ...]]:
        loaded = (
            self._payments.get_payment_with_operations(merchant_id, payment_id)
            if ids.is_payment_id(payment_id)
            else None
        )
        if loaded is None:
            raise NotFound("No payment with this id.")
        return loaded

    def _result(self, op: Operation, *, replayed: bool) -> OperationResult:
        """A replay's answer; the store failing now is an unknown outcome (500: replay the key again),
        never a 503: the first request, or this replay's settle, may have moved money."""
        try:
            stored, operations = self._load(op.merchant_id, op.payment_id)
        except StorageUnavailable as e:
            raise OutcomeUnknown("The payment could not be read back.") from e
        known = (*(o for o in operations if o.id != op.id), op)
        return OperationResult(fold(stored.payment, known), op, replayed)

    def _new_claim(self, command: PaymentOperation, now: datetime) -> IdempotencyClaim:
        assert command.idempotency is not None
        # The operation and the payment are part of what the key stands for: the same key sent to
        # another payment, or to a capture after a refund, is another request.
        request = f"{command.kind.value}:{command.payment_id}:{command.idempotency.body}"
        return IdempotencyClaim(
            merchant_id=command.merchant_id,
            key=idempotency_key_digest(self._fingerprint_key, command.idempotency.key),
            fingerprint=keyed_hash(self._fingerprint_key, "body", request),
            payment_id=command.payment_id,
            attempt=1,
            lease_until=now.timestamp() + self._policy.lease_seconds,
            expires_at=int(now.timestamp()) + self._policy.retention_seconds,
            owner=secrets.token_hex(8),
            operation_id=ids.new_operation_id(command.kind.value, now),
        )

    def _refund_reference(self, command: PaymentOperation, claim: IdempotencyClaim) -> str:
        """The same in every region for one key and request (the bank refunds it once)."""
        digest = keyed_hash(
            self._fingerprint_key, "refund-reference", f"{command.merchant_id}:{claim.key}:{claim.fingerprint}"
        )
        return "rr_" + digest[:40]

    def _release(self, claim: IdempotencyClaim) -> None:
        with contextlib.suppress(ConditionFailed, StorageUnavailable):  # else the lease runs out by itself
            self._payments.take_over(attrs.evolve(claim, lease_until=0.0))


def answer(result: OperationResult, *, keyed: bool) -> OperationResult:
    """The merchant's answer, the same first time and on every replay: a capture or void the bank
    refused is a 409 naming the status the bank's refusal shows; one the bank provably did not
    process is a 502 (nothing moved); a refund the bank refused is a `failed` refund."""
    op = result.operation
    if op.status is not OperationStatus.FAILED:
        return result
    if op.failure_reason == NOT_PROCESSED:
        raise BankUnavailable(
            f"The acquiring bank did not process the {op.kind.value}, so nothing moved. It is recorded as failed: "
            f"to try again, {try_again(keyed)}.",
            op.payment_id,
            replayed=result.replayed,
        )
    if op.kind is OperationKind.REFUND:
        return result
    status = _STATUS_AFTER_REFUSAL.get(op.failure_reason or "", result.payment.status.value)
    raise InvalidState(f"The bank refused the {op.kind.value} ({op.failure_reason}): the payment is {status}.", status)
