"""Settling captures, voids and refunds, and expiring authorizations. Plain Python over the ports.

Every operation is written `pending` before the bank is called, with the bank reference it will be
sent under, so the resolver can always finish it: it asks the bank first (an inquiry of the payment's
reference, or of the refund's own reference) and sends the operation again only under the same
reference. Both are idempotent at the bank (one capture per reference, one refund per refund
reference, a reversal is a reversal), so a resend after a crash at any line never moves money twice.

An operation is written by the region that received its request. Like a payment, it is written by
another region only when that region takes over a silent one, and then only with the outcome the
bank's record dictates (never a reschedule), so both writers write the same value.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence

import attrs

from handlers.domain.errors import (
    BankNotProcessed,
    BankOutcomeUnknown,
    BankRefusal,
    BankUnreachable,
    ConditionFailed,
    StorageUnavailable,
)
from handlers.domain.lifecycle import fold, pending_modification
from handlers.domain.models import (
    BankRecord,
    BankStatus,
    Operation,
    OperationKind,
    OperationStatus,
    Payment,
    PaymentStatus,
    StoredPayment,
)
from handlers.domain.ports import Bank, OperationRepository, PaymentRepository
from handlers.domain.settlement import Clock, ResolutionPolicy, settled, utc_now
from handlers.domain.webhooks import EventType, NewEvent, new_event, operation_event_type

logger = logging.getLogger(__name__)

# Failure reasons of our own (the others are the bank's refusal codes, docs/bank.md).
NOT_PROCESSED = "bank_unavailable"  # provably not processed: nothing moved
NOT_FOUND = "not_found"


@attrs.define
class OperationTally:
    """What a resolver run did to operations and expiries, for its report and metrics."""

    settled: Counter[str] = attrs.Factory(Counter)  # "capture.succeeded" -> how many were written
    expired: int = 0
    failures: int = 0


class OperationSettlement:
    def __init__(
        self,
        *,
        operations: OperationRepository,
        payments: PaymentRepository,
        bank: Bank,
        policy: ResolutionPolicy,
        clock: Clock = utc_now,
        on_not_stored: Callable[[], None] = lambda: None,
        tally: OperationTally | None = None,
    ) -> None:
        self._operations = operations
        self._payments = payments
        self._bank = bank
        self._policy = policy
        self._clock = clock
        self._on_not_stored = on_not_stored
        self.tally = OperationTally() if tally is None else tally

    # --- the request: send once, write the answer ---------------------------------------------------

    def execute(self, pending: Operation) -> Operation:
        """Send the written operation to the bank and write its answer; pending if the answer was lost."""
        try:
            self._send(pending)
        except BankRefusal as e:
            return self._write_answer(pending, OperationStatus.FAILED, e.reason)
        except BankNotProcessed:
            return self._write_answer(pending, OperationStatus.FAILED, NOT_PROCESSED)
        except (BankOutcomeUnknown, BankUnreachable) as e:
            logger.warning("operation_outcome_unknown", extra={"operation_id": pending.id, "reason": str(e)})
            return pending
        return self._write_answer(pending, OperationStatus.SUCCEEDED, None)

    def _send(self, op: Operation) -> None:
        if op.kind is OperationKind.CAPTURE:
            if self._bank.capture(op.bank_reference, op.amount) != op.amount:
                raise BankRefusal("already_captured")
        elif op.kind is OperationKind.VOID:
            record = self._bank.reverse(op.bank_reference)
            if record.status is not BankStatus.REVERSED:
                raise BankRefusal(record.status.value)
        else:
            assert op.refund_reference is not None
            self._bank.refund(op.bank_reference, op.refund_reference, op.amount)

    def _write_answer(self, pending: Operation, status: OperationStatus, reason: str | None) -> Operation:
        final = attrs.evolve(pending, status=status, failure_reason=reason, due_at=None)
        try:
            return final if self._replaced(pending, final) else self._held_or(pending)
        except Exception:
            # The bank acted but the table does not say so yet: the resolver settles it from the bank.
            logger.exception(
                "operation_not_stored",
                extra={"operation_id": pending.id, "kind": pending.kind.value, "status": status.value},
            )
            self._on_not_stored()
            return pending

    # --- the resolver: ask the bank, then finish under the same reference ----------------------------

    def settle(self, op: Operation, *, reschedule: bool = True, taking_over: bool = False) -> Operation:
        """Settle one pending operation now; returns what the table holds afterwards. A taker (the
        operation's region is silent) writes only an outcome the bank already holds: it never sends
        (its region may have answered the request, e.g. failed, in a write not replicated yet) and
        never reschedules."""
        if op.status is not OperationStatus.PENDING:
            return op
        try:
            verdict = self._ask_bank(op)
            if verdict is None and taking_over:
                return op
            if verdict is None:  # the bank has not done it: finish it, under the same reference
                self._send(op)
                verdict = (OperationStatus.SUCCEEDED, None)
        except BankRefusal as e:
            verdict = (OperationStatus.FAILED, e.reason)
        except (BankUnreachable, BankOutcomeUnknown, BankNotProcessed) as e:
            logger.warning("operation_bank_unreachable", extra={"operation_id": op.id, "reason": str(e)})
            self.tally.failures += 1
            return self._reschedule(op) if reschedule and not taking_over else op
        final = attrs.evolve(op, status=verdict[0], failure_reason=verdict[1], due_at=None)
        if not self._replaced(op, final):
            return self._held_or(op)
        self.tally.settled[f"{op.kind.value}.{final.status.value}"] += 1
        logger.info("operation_resolved", extra={"operation_id": op.id, "status": final.status.value})
        return final

    def _ask_bank(self, op: Operation) -> tuple[OperationStatus, str | None] | None:
        """The outcome the bank's record dictates, or None when the bank has not done it yet."""
        if op.kind is OperationKind.REFUND:
            assert op.refund_reference is not None
            refunded = self._bank.refund_status(op.bank_reference, op.refund_reference)
            if refunded is None:
                return None
            if refunded != op.amount:
                return OperationStatus.FAILED, "refund_reference_reused"
            return OperationStatus.SUCCEEDED, None
        record = self._bank.inquire(op.bank_reference)
        if record is None:
            return OperationStatus.FAILED, NOT_FOUND
        return _modification_outcome(op, record)

    def _reschedule(self, op: Operation) -> Operation:
        failures = op.resolve_failures + 1
        delay = self._policy.retry_delay(failures)
        later = attrs.evolve(op, due_at=self._clock().timestamp() + delay, resolve_failures=failures)
        return later if self._replaced(op, later) else self._held_or(op)

    def _replaced(self, pending: Operation, after: Operation) -> bool:
        """Write `after` if the operation is still pending; a final status with its event (one transaction)."""
        try:
            self._operations.transition_operation(after, OperationStatus.PENDING, event=self._event(after))
        except ConditionFailed:
            return False
        return True

    def _event(self, after: Operation) -> NewEvent | None:
        """A refund's outcome reports the refund; a capture or void the payment it moved, as it is with it."""
        event_type = operation_event_type(after)
        if event_type is None:
            return None
        subject: Payment | Operation = after
        if after.kind is not OperationKind.REFUND:
            loaded = self._payments.get_payment_with_operations(after.merchant_id, after.payment_id)
            if loaded is None:  # unreachable: an operation is written only for an existing payment
                raise StorageUnavailable("The operation's payment could not be read.")
            stored, operations = loaded
            subject = fold(stored.payment, (*(op for op in operations if op.id != after.id), after))
        return new_event(event_type, subject, after.region, self._clock())

    def _held_or(self, op: Operation) -> Operation:
        found = self._operations.get_operation(op.merchant_id, op.payment_id, op.id)
        return op if found is None else found


def _modification_outcome(op: Operation, record: BankRecord) -> tuple[OperationStatus, str | None] | None:
    """A capture's or void's outcome from the bank's record of the payment's reference."""
    if record.status is BankStatus.AUTHORIZED:
        return None
    if record.status is BankStatus.DECLINED:
        return OperationStatus.FAILED, "declined"
    if op.kind is OperationKind.CAPTURE:
        return _capture_outcome(op, record)
    if record.status is BankStatus.CAPTURED:
        return OperationStatus.FAILED, "already_captured"
    return OperationStatus.SUCCEEDED, None


def _capture_outcome(op: Operation, record: BankRecord) -> tuple[OperationStatus, str | None]:
    if record.status is BankStatus.REVERSED:
        return OperationStatus.FAILED, "reference_reversed"
    if record.captured_amount != op.amount:  # another amount was captured (one capture per reference)
        return OperationStatus.FAILED, "already_captured"
    return OperationStatus.SUCCEEDED, None


class Expiry:
    """Release manual authorizations not captured in time (`expired`). Only the owner region writes
    the payment: it records what its operations or the bank's record say when they moved it."""

    def __init__(
        self, *, payments: PaymentRepository, bank: Bank, tally: OperationTally, region: str, clock: Clock = utc_now
    ) -> None:
        self._payments = payments
        self._bank = bank
        self.tally = tally
        self._region = region
        self._clock = clock

    def expire(self, stored: StoredPayment) -> StoredPayment:
        loaded = self._payments.get_payment_with_operations(stored.payment.merchant_id, stored.payment.id)
        if loaded is None or loaded[0].status is not PaymentStatus.AUTHORIZED:
            return stored if loaded is None else loaded[0]
        stored, operations = loaded
        view = fold(stored.payment, operations)
        if view.status is not PaymentStatus.AUTHORIZED:  # captured or voided by an operation: record it
            return self._write(stored, view.status, operations, captured=view.amount_captured)
        if pending_modification(operations) is not None:  # a capture or void is being settled: wait for it
            return stored
        return self._release_at_the_bank(stored, operations)

    def _release_at_the_bank(self, stored: StoredPayment, operations: Sequence[Operation]) -> StoredPayment:
        try:
            record = self._release(stored)
        except BankUnreachable as e:
            logger.warning("expiry_bank_unreachable", extra={"payment_id": stored.payment.id, "reason": str(e)})
            self.tally.failures += 1
            return stored
        if record.status is BankStatus.CAPTURED:
            return self._write(stored, PaymentStatus.CAPTURED, operations, captured=record.captured_amount)
        if record.status is not BankStatus.REVERSED:
            logger.error("expiry_unexpected_bank_status", extra={"payment_id": stored.payment.id})
            return stored
        final = self._write(stored, PaymentStatus.EXPIRED, operations)
        if final.status is PaymentStatus.EXPIRED:
            self.tally.expired += 1
            logger.info("payment_expired", extra={"payment_id": stored.payment.id})
        return final

    def _release(self, stored: StoredPayment) -> BankRecord:
        """The reversal releases the hold; after a capture (another region's, not replicated yet) the
        bank refuses it, and its record says what was captured."""
        try:
            return self._bank.reverse(stored.bank_reference)
        except BankRefusal as e:
            record = self._bank.inquire(stored.bank_reference) if e.reason == "already_captured" else None
            if record is None:
                raise BankUnreachable(f"The bank refused the reversal ({e.reason}).") from e
            return record

    def _write(
        self, stored: StoredPayment, status: PaymentStatus, operations: Sequence[Operation], *, captured: int = 0
    ) -> StoredPayment:
        final = settled(stored, status, stored.payment.authorization_code, captured=captured)
        # Only an expiry is this write's own change: a capture or void recorded here was reported by
        # the operation's writer (or will be, once its item replicates), in its own transaction.
        event = None
        if status is PaymentStatus.EXPIRED:
            view = fold(final.payment, operations)
            event = new_event(EventType.PAYMENT_EXPIRED, view, self._region, self._clock())
        try:
            self._payments.transition(final, PaymentStatus.AUTHORIZED, stored.attempt, event=event)
        except ConditionFailed:
            found = self._payments.get_payment(stored.payment.merchant_id, stored.payment.id)
            return stored if found is None else found
        return final
