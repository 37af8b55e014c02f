"""Settling a payment: every move out of `pending` is decided and written here. Plain Python over the ports.

Two paths settle a payment and both come here. The request (handlers.domain.service) writes the bank's
answer to its own call (`answered`, `refused`) and, on a replay of a pending payment, settles it
from the bank's record or only looks it up (`on_replay`). The resolver (handlers.domain.resolver) and
`python -m handlers.admin resolve` settle what no request could (`settle`): ask the bank by
reference, write the bank's record as a conditional transition, or back off while the bank cannot
be reached. If the bank has no record, the reference is reversed first, so that a late
authorization cannot land, and only then is the payment `failed`. A final status written from the
bank's record is what its single record dictates, so every region that writes it writes the same
value and the global table's last-writer-wins cannot flip a result. Only one region writes a
payment: its owner, or a region taking over a silent owner's (`settle`'s docstring).

The one rule a reversal keeps: **no record of the reversed reference ever says `authorized`.** A
payment's own reference (no Idempotency-Key) is sent by its one request, which has ended once the
payment is due. A key's reference is shared: during replication lag a retry of the same key in the
other region gets its own payment id and sends the same reference, and its authorization may land
at any moment of its lease. Inquiry and reversal are two calls, so an authorization landing between
them would be reversed while its request records `authorized` and answers 201. So a key's reference
is reversed only once no request can still send it (`reversible_at`): every request that sends it
claimed the key before this payment's claim had replicated (later ones find that claim and replay,
or find this payment by its reference), so all of them have ended, and their records replicated,
within one replication bound and one lease of this payment's creation; the takeover bound is built
from exactly those (handlers.contract.resolution.takeover_after) plus two resolver intervals. For the same
reason a keyed refusal only asks the bank (`refused`), never reverses. And the `reverse` policy
reverses a late authorization only under a payment's own reference: a key's reference may be held
as `authorized` by a record this region cannot always find (the other region's retry during the
lag, or the same key and body sent again after the claim's 24 h), whose merchant was told 201, so
a key's late authorization is settled, under either policy.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import attrs

from handlers.contract.resolution import UnknownOutcome
from handlers.domain import ids
from handlers.domain.errors import (
    BankNotProcessed,
    BankRefusal,
    BankUnreachable,
    ConditionFailed,
    StorageUnavailable,
)
from handlers.domain.models import BankDecision, BankRecord, BankStatus, Payment, PaymentStatus, StoredPayment, can_move
from handlers.domain.ports import Bank, PaymentRepository
from handlers.domain.webhooks import new_event, payment_event_type

logger = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@attrs.frozen
class ResolutionPolicy:
    # A pending payment is due this long after it was written: by then the request that wrote it
    # has ended (deployed, the idempotency lease: twice the function timeout).
    resolve_after_seconds: float = 10.0
    unknown_outcome: UnknownOutcome = UnknownOutcome.SETTLE
    # Backoff while the bank cannot be reached: first retry after this, doubling up to the maximum.
    retry_base_seconds: float = 30.0
    retry_max_seconds: float = 900.0
    # Another region's payments are settled here only once its heartbeat is older than this.
    takeover_after_seconds: float = 300.0
    batch_size: int = 100
    # 2 ** this is the largest backoff multiplier: 30 s * 2 ** 1024 would overflow a float.
    max_backoff_doublings: int = 32
    # A run stops taking new payments after this long (the deployed function's timeout is 60 s),
    # and the next run goes on where it stopped.
    run_budget_seconds: float = 40.0
    # A manual authorization not captured within this is released at the bank (`expired`): card
    # schemes let an issuer drop the hold after about 7 days.
    authorization_ttl_seconds: float = 7 * 24 * 3600.0

    def retry_delay(self, failures: int) -> float:
        """Seconds until the next try after `failures` unanswered ones: doubling, capped (its exponent too)."""
        doublings = min(failures - 1, self.max_backoff_doublings)
        return float(min(self.retry_base_seconds * 2**doublings, self.retry_max_seconds))

    def silent(self, heartbeat_age: float | None) -> bool:
        """A region whose resolver has not beaten for longer than the takeover bound is out of service.
        One with no heartbeat yet is not judged: its beat may still be replicating."""
        return heartbeat_age is not None and heartbeat_age > self.takeover_after_seconds


def gateway_status(record: BankRecord) -> tuple[PaymentStatus, str | None]:
    """The bank's record as a payment status; the same record gives the same answer in every region."""
    if record.status is BankStatus.AUTHORIZED:
        return PaymentStatus.AUTHORIZED, record.authorization_code
    if record.status is BankStatus.CAPTURED:
        return PaymentStatus.CAPTURED, record.authorization_code
    if record.status is BankStatus.DECLINED:
        return PaymentStatus.DECLINED, None
    if record.authorization_code:
        return PaymentStatus.REVERSED, record.authorization_code
    return PaymentStatus.FAILED, None  # reversed before any authorization: nothing was charged


def settled(
    pending: StoredPayment,
    status: PaymentStatus,
    code: str | None,
    *,
    captured: int = 0,
    expires_at: datetime | None = None,
) -> StoredPayment:
    """`pending` moved to `status`. A capture takes `captured` (0: the whole amount, as an automatic
    capture does); an authorization holds the money until `expires_at`."""
    if not can_move(pending.status, status):
        raise ValueError(f"a {pending.status} payment cannot become {status}")
    amount_captured = (captured or pending.payment.amount) if status is PaymentStatus.CAPTURED else 0
    expiry = expires_at if status is PaymentStatus.AUTHORIZED else pending.payment.authorization_expires_at
    payment = attrs.evolve(
        pending.payment,
        status=status,
        authorization_code=code,
        amount_captured=amount_captured,
        authorization_expires_at=expiry,
    )
    return attrs.evolve(pending, payment=payment, due_at=None)


@attrs.define
class Tally:
    """What settling did, for the resolver's report (handlers.domain.resolver.ResolverReport)."""

    settled: Counter[str] = attrs.Factory(Counter)  # final status -> how many were written
    failures: int = 0  # the bank could not be reached (a resolver run adds the payments that failed otherwise)
    reversals: int = 0


class Settlement:
    """Settle pending payments of `region` (or of a silent region taken over) from the bank."""

    def __init__(
        self,
        *,
        payments: PaymentRepository,
        bank: Bank,
        region: str,
        policy: ResolutionPolicy,
        clock: Clock = utc_now,
        on_not_stored: Callable[[], None] = lambda: None,
        tally: Tally | None = None,
    ) -> None:
        self._payments = payments
        self._bank = bank
        self._region = region
        self._policy = policy
        self._clock = clock
        self._on_not_stored = on_not_stored
        self._reverses_late = policy.unknown_outcome is UnknownOutcome.REVERSE
        self.tally = Tally() if tally is None else tally

    # --- the request: the bank's answer to its own call ------------------------------------------

    def answered(self, pending: StoredPayment, decision: BankDecision) -> StoredPayment:
        """The bank authorized or declined the request's call: that is the payment's status."""
        if decision.authorized and decision.captured:
            return self._write_answer(pending, PaymentStatus.CAPTURED, decision.authorization_code)
        if decision.authorized:
            return self._write_answer(pending, PaymentStatus.AUTHORIZED, decision.authorization_code)
        return self._write_answer(pending, PaymentStatus.DECLINED, None)

    def refused(self, pending: StoredPayment, refusal: BankNotProcessed) -> StoredPayment:
        """The bank provably did not process the request's call. Under the payment's own reference
        nothing was charged under it: `failed`. A key's reference is shared by both regions: the other
        may have charged it (a retry that failed over during the lag), or may be at the bank with it
        right now, so only ask: its record if it has one (the other region's charge is this request's
        too), else pending (202) until the resolver may reverse it. Never a reversal here."""
        if _own_reference(pending):
            return self._write_answer(pending, PaymentStatus.FAILED, None)
        try:
            record = self._bank.inquire(pending.bank_reference)
        except BankUnreachable:
            return pending
        if record is None:
            logger.warning(
                "keyed_refusal_left_pending", extra={"payment_id": pending.payment.id, "reason": str(refusal)}
            )
            return pending
        return self._write_answer(pending, *gateway_status(record), captured=record.captured_amount)

    def on_replay(self, stored: StoredPayment) -> Payment:
        """A replay of a pending payment. Its owner settles it, unless the owner's own resolver has
        been silent long enough for another region to be settling it now; any other region only
        looks it up: a second writer could lose to, or overwrite, the owner's write."""
        if stored.owner_region != self._region or not self._resolver_alive():
            return self.look_up(stored)
        return self.settle(stored).payment

    def look_up(self, stored: StoredPayment) -> Payment:
        """A pending payment as its owner will settle it, without writing and without reversing:
        pending while the bank has no record or no answer, and, under the `reverse` policy, while an
        authorization is one its owner will reverse (a late one under the payment's own reference).
        An answer given here is never contradicted by the owner's."""
        try:
            record = self._bank.inquire(stored.bank_reference)
            if record is None or self._unwanted(record, stored):
                return stored.payment
        except (BankUnreachable, StorageUnavailable):
            return stored.payment
        return self._from_record(stored, record).payment

    # --- the bank's record: the resolver, a replay in the owning region, the operator -------------

    def settle(self, stored: StoredPayment, *, taking_over: bool = False, reschedule: bool = False) -> StoredPayment:
        """Settle one pending payment now from the bank's record; returns what the table holds afterwards.

        Only one region writes a payment: its owner, or a region taking over a silent owner's.
        Conditional writes are checked only in the replica that receives them, so a second writer
        could see its write lose to the other's under last-writer-wins (a reschedule over a final
        status would move it backwards). So a reschedule (pending -> pending, later) is written only
        by the owner's resolver run, and only once it has been alive for longer than a takeover;
        a replay's inquiry and a taker leave an unanswered payment as it is. A payment that needs a
        reversal its reference cannot have yet (the module's docstring) stays pending too."""
        if stored.status is not PaymentStatus.PENDING:
            return stored
        if not (taking_over or stored.owner_region == self._region):
            raise ValueError(f"{self._region} does not settle {stored.owner_region}'s payments")
        try:
            outcome = self._ask_bank(stored)
        except (BankUnreachable, BankRefusal) as e:  # a refusal: captured between inquiry and reversal
            logger.warning("resolver_bank_unreachable", extra={"payment_id": stored.payment.id, "reason": str(e)})
            self.tally.failures += 1
            return self._reschedule(stored) if reschedule else stored
        if outcome is None:
            return self._postpone(stored) if reschedule else stored
        return self._write_record(stored, self._from_record(stored, outcome))

    def reversible_at(self, stored: StoredPayment) -> float:
        """When the payment's reference may be reversed (epoch seconds): at once for a payment's own
        reference; for a key's shared reference once no request can still send it (module docstring)."""
        created = ids.created_at(stored.payment.id).timestamp()
        return created if _own_reference(stored) else created + self._policy.takeover_after_seconds

    def _resolver_alive(self) -> bool:
        beat = self._payments.heartbeats().get(self._region)
        return beat is not None and not self._policy.silent(self._clock().timestamp() - beat.at)

    def _ask_bank(self, stored: StoredPayment) -> BankRecord | None:
        """The bank's record that settles it, or None while it needs a reversal not allowed yet."""
        record = self._bank.inquire(stored.bank_reference)
        # No record: it never arrived, or has not yet, so block the reference before calling it failed.
        # A late authorization under the `reverse` policy, of a payment's own reference: unwanted.
        if record is not None and not self._unwanted(record, stored):
            _check_matches(stored, record)
            return record
        if self._clock().timestamp() < self.reversible_at(stored):
            logger.info("resolver_reversal_not_yet", extra={"payment_id": stored.payment.id})
            return None
        record = self._reverse(stored)
        _check_matches(stored, record)
        return record

    def _from_record(self, stored: StoredPayment, record: BankRecord) -> StoredPayment:
        """The payment as the bank's single record dictates (the same in every region that writes it)."""
        return self._final(stored, *gateway_status(record), captured=record.captured_amount)

    def _final(
        self, stored: StoredPayment, status: PaymentStatus, code: str | None, *, captured: int = 0
    ) -> StoredPayment:
        # From the authorization's request, not from when it was settled: the hold started then.
        expires_at = ids.created_at(stored.payment.id) + timedelta(seconds=self._policy.authorization_ttl_seconds)
        return settled(stored, status, code, captured=captured, expires_at=expires_at)

    def _unwanted(self, record: BankRecord, stored: StoredPayment) -> bool:
        """A late authorization the `reverse` policy gives back: only under a payment's own reference
        (module docstring: a key's may be another record's 201)."""
        return record.status is BankStatus.AUTHORIZED and self._reverses_late and _own_reference(stored)

    def _reverse(self, stored: StoredPayment) -> BankRecord:
        record = self._bank.reverse(stored.bank_reference)
        self.tally.reversals += 1
        logger.info("payment_reversal", extra={"payment_id": stored.payment.id, "bank_status": record.status.value})
        return record

    # --- the writes: conditional on the pending record and its attempt ----------------------------

    def _write_answer(
        self, pending: StoredPayment, status: PaymentStatus, code: str | None, *, captured: int = 0
    ) -> StoredPayment:
        """pending -> the bank's answer to the request. If the write fails the record stays pending:
        the resolver settles it from the bank's record, and the merchant is told the payment is pending."""
        final = self._final(pending, status, code, captured=captured)
        try:
            if self._replaced(pending, final):
                return final
            # Settled meanwhile (the resolver, a replay): the stored outcome stands.
            found = self._held(pending)
            if found is None:
                raise StorageUnavailable("The payment store refused the write but holds no payment.")
            return found
        except Exception:
            return self._left_pending(pending, final.payment)

    def _left_pending(self, pending: StoredPayment, outcome: Payment) -> StoredPayment:
        """Called from an `except`: the outcome exists (at the bank) but not in the table; say so."""
        logger.exception(
            "payment_not_stored",
            extra={"payment": payment_summary(outcome), "bank_reference": pending.bank_reference},
        )
        self._on_not_stored()
        return pending

    def _write_record(self, pending: StoredPayment, final: StoredPayment) -> StoredPayment:
        if not self._replaced(pending, final):  # settled meanwhile, by the request or another region: that stands
            return self._held_or(pending)
        self.tally.settled[final.status.value] += 1
        logger.info("payment_resolved", extra={"payment_id": final.payment.id, "status": final.status.value})
        return final

    def _reschedule(self, stored: StoredPayment) -> StoredPayment:
        failures = stored.resolve_failures + 1
        delay = self._policy.retry_delay(failures)
        return self._due_again(stored, self._clock().timestamp() + delay, failures)

    def _postpone(self, stored: StoredPayment) -> StoredPayment:
        """Not a failure: due again when its reference may be reversed."""
        return self._due_again(stored, self.reversible_at(stored), stored.resolve_failures)

    def _due_again(self, stored: StoredPayment, due_at: float, failures: int) -> StoredPayment:
        later = attrs.evolve(stored, due_at=due_at, resolve_failures=failures)
        return later if self._replaced(stored, later) else self._held_or(stored)

    def _replaced(self, pending: StoredPayment, after: StoredPayment) -> bool:
        """Write `after` if the table still holds `pending` pending at its attempt; False if it does not.
        A final status is written with its event (the same transaction)."""
        event_type = payment_event_type(after.status)
        # The event belongs to the payment's owner (a taker writes it for the silent owner's sender to
        # deliver, or its own under the same takeover rule).
        event = None if event_type is None else new_event(event_type, after.payment, after.owner_region, self._clock())
        try:
            self._payments.transition(after, PaymentStatus.PENDING, pending.attempt, event=event)
        except ConditionFailed:
            return False
        return True

    def _held(self, stored: StoredPayment) -> StoredPayment | None:
        return self._payments.get_payment(stored.payment.merchant_id, stored.payment.id)

    def _held_or(self, stored: StoredPayment) -> StoredPayment:
        found = self._held(stored)
        return found if found is not None else stored


def _own_reference(stored: StoredPayment) -> bool:
    """Sent under the payment's own id (no Idempotency-Key): no other request ever sends it."""
    return stored.bank_reference == stored.payment.id


def _check_matches(stored: StoredPayment, record: BankRecord) -> None:
    """The bank's record is the truth; a different amount would mean a reference collision: say so loudly."""
    if record.amount is not None and (record.amount, record.currency) != (
        stored.payment.amount,
        stored.payment.currency,
    ):
        logger.error(
            "bank_record_mismatch",
            extra={"payment_id": stored.payment.id, "bank_amount": record.amount, "bank_currency": record.currency},
        )


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
