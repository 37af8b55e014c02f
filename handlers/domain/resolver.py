"""The resolver: settle `pending` payments from the bank's own record. Plain Python over the ports.

Like Kill Bill's janitor, it does one thing per payment: load it, ask the bank by reference, write
the bank's answer as a conditional transition, or back off when the bank cannot be reached. If the
bank has no record, it reverses the reference first, so that a late authorization cannot land,
and only then marks the payment `failed`. Every region that settles a payment writes the value the
bank's single record dictates, so the global table's last-writer-wins cannot flip a result.

The one rule a reversal keeps: **no record of the reversed reference ever says `authorized`.** A
payment's own reference (no Idempotency-Key) is sent by its one request, which has ended once the
payment is due. A key's reference is shared: during replication lag a retry of the same key in the
other region gets its own payment id and sends the same reference, and its authorization may land
at any moment of its lease. Inquiry and reversal are two calls, so an authorization landing between
them would be reversed while its request records `authorized` and answers 201. So a key's reference
is reversed only once no request can still send it (`reversible_at`): every request that sends it
claimed the key before this payment's claim had replicated (later ones find that claim and replay,
or find this payment by its reference), so all of them have ended, and their records replicated,
within one replication bound and one lease of this payment's creation; `takeover_after` is built
from exactly those (see `handlers.contract.resolution.takeover_after`) plus two resolver intervals. And the `reverse`
policy reverses a late authorization only under a payment's own reference: a key's reference may be
held as `authorized` by a record this region cannot always find (the other region's retry during
the lag, or the same key and body sent again after the claim's 24 h), whose merchant was told 201,
so a key's late authorization is settled, under either policy.

The scheduled function and the local stack's loop are two thin entry points over `run`; a replay
of a pending key and `python -m handlers.admin resolve` call `settle` for one payment.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

import attrs

from handlers.contract.resolution import UnknownOutcome
from handlers.domain import ids
from handlers.domain.errors import BankUnreachable, ConditionFailed, StorageUnavailable
from handlers.domain.models import BankRecord, BankStatus, Heartbeat, Payment, PaymentStatus, StoredPayment, can_move
from handlers.domain.ports import Bank, PaymentRepository

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


@attrs.frozen
class ResolverReport:
    region: str
    settled: Mapping[str, int]  # final status -> how many this run wrote
    failures: int  # bank unreachable: rescheduled with a longer delay
    reversals: int
    pending: int  # still pending in this region after the run
    oldest_pending_age: float | None  # seconds since the oldest pending payment was created
    took_over: tuple[str, ...]  # regions whose payments this run settled too
    peer_heartbeat_ages: Mapping[str, float | None]  # seconds since each other region's heartbeat (None: none)


def gateway_status(record: BankRecord) -> tuple[PaymentStatus, str | None]:
    """The bank's record as a payment status; the same record gives the same answer in every region."""
    if record.status is BankStatus.AUTHORIZED:
        return PaymentStatus.AUTHORIZED, record.authorization_code
    if record.status is BankStatus.DECLINED:
        return PaymentStatus.DECLINED, None
    if record.authorization_code:
        return PaymentStatus.REVERSED, record.authorization_code
    return PaymentStatus.FAILED, None  # reversed before any authorization: nothing was charged


def settled(pending: StoredPayment, status: PaymentStatus, code: str | None) -> StoredPayment:
    if not can_move(pending.status, status):
        raise ValueError(f"a {pending.status} payment cannot become {status}")
    payment = attrs.evolve(pending.payment, status=status, authorization_code=code)
    return attrs.evolve(pending, payment=payment, due_at=None)


class PaymentResolver:
    def __init__(
        self,
        *,
        payments: PaymentRepository,
        bank: Bank,
        region: str,
        policy: ResolutionPolicy,
        clock: Clock = utc_now,
        peers: Sequence[str] = (),
    ) -> None:
        self._payments = payments
        self._bank = bank
        self._region = region
        self._policy = policy
        self._clock = clock
        self._peers = tuple(peer for peer in peers if peer != region)
        self._reverses_late = policy.unknown_outcome is UnknownOutcome.REVERSE
        self._settled: Counter[str] = Counter()
        self._failures = 0
        self._reversals = 0

    def run(self) -> ResolverReport:
        """One pass: heartbeat, this region's due payments, and those of regions out of service."""
        self._settled, self._failures, self._reversals = Counter(), 0, 0
        now = self._clock().timestamp()
        beats = self._payments.heartbeats()
        alive_since = self._beat(beats.get(self._region), now)
        # Back from a silence long enough to be taken over: another region may have settled some of
        # our payments, and its writes may still be replicating. Until they must have arrived, write
        # only final statuses (the bank's), never a reschedule that could win over theirs.
        rescheduling = now - alive_since > self._policy.takeover_after_seconds
        ages = {peer: now - beats[peer].at if peer in beats else None for peer in self._peers}
        took_over = tuple(peer for peer, age in ages.items() if self._silent(age))
        deadline = time.monotonic() + self._policy.run_budget_seconds
        for region in (self._region, *took_over):
            ours = region == self._region
            # A taker never reschedules: the owner may be back and write the same payment meanwhile.
            self._settle_due(region, now, deadline, taking_over=not ours, reschedule=rescheduling and ours)
        count, oldest = self._payments.pending_summary(self._region)
        oldest_age = None if oldest is None else max(0.0, now - ids.created_at(oldest).timestamp())
        return ResolverReport(
            region=self._region,
            settled=dict(self._settled),
            failures=self._failures,
            reversals=self._reversals,
            pending=count,
            oldest_pending_age=oldest_age,
            took_over=took_over,
            peer_heartbeat_ages=ages,
        )

    def _settle_due(self, region: str, now: float, deadline: float, *, taking_over: bool, reschedule: bool) -> None:
        """Batch after batch until none is left or the run's time is up. Each batch starts after the
        last payment tried, so payments left pending (a taker and a region just back from a silence
        never reschedule) cannot hide the ones behind them. Any failure of one payment is logged and
        counted, and the run goes on: one payment must never stop a region's resolver."""
        after: str | None = None
        while time.monotonic() < deadline:
            batch = self._due(region, now, after)
            if not batch:
                return
            for stored in batch:
                if time.monotonic() >= deadline:
                    return
                after = stored.payment.id
                try:
                    self.settle(stored, taking_over=taking_over, reschedule=reschedule)
                except Exception:
                    logger.exception("resolver_payment_failed", extra={"payment_id": stored.payment.id})
                    self._failures += 1

    def settle_on_replay(self, stored: StoredPayment) -> Payment:
        """A replay of this region's pending payment: settle it, unless this region's own resolver has
        been silent long enough for the other region to be settling it now (then only look it up)."""
        beat = self._payments.heartbeats().get(self._region)
        alive = beat is not None and not self._silent(self._clock().timestamp() - beat.at)
        return self.settle(stored).payment if alive else self.look_up(stored)

    def _beat(self, previous: Heartbeat | None, now: float) -> float:
        unbroken = previous is not None and now - previous.at <= self._policy.takeover_after_seconds
        alive_since = previous.alive_since if previous is not None and unbroken else now
        self._payments.record_heartbeat(self._region, Heartbeat(now, alive_since))
        return alive_since

    def settle(self, stored: StoredPayment, *, taking_over: bool = False, reschedule: bool = False) -> StoredPayment:
        """Settle one pending payment now; returns what the table holds afterwards.

        Only one region writes a payment: its owner, or a region taking over a silent owner's.
        Conditional writes are checked only in the replica that receives them, so a second writer
        could see its write lose to the other's under last-writer-wins (a reschedule over a final
        status would move it backwards). So a reschedule (pending -> pending, later) is written only
        by the owner's resolver run, and only once it has been alive for longer than a takeover;
        a replay's inquiry and a taker leave an unanswered payment as it is. A payment that needs a
        reversal its reference cannot have yet (see the module's docstring) stays pending too."""
        if stored.status is not PaymentStatus.PENDING:
            return stored
        if not (taking_over or stored.owner_region == self._region):
            raise ValueError(f"{self._region} does not settle {stored.owner_region}'s payments")
        try:
            outcome = self._ask_bank(stored)
        except BankUnreachable as e:
            logger.warning("resolver_bank_unreachable", extra={"payment_id": stored.payment.id, "reason": str(e)})
            self._failures += 1
            return self._reschedule(stored) if reschedule else stored
        if outcome is None:
            return self._postpone(stored) if reschedule else stored
        return self._write(stored, settled(stored, *outcome))

    def look_up(self, stored: StoredPayment) -> Payment:
        """Another region's pending payment as its owner will settle it, without writing (its owner
        settles it) and without reversing: pending while the bank has no record or no answer, and,
        under the `reverse` policy, while an authorization is one its owner will reverse (a late one
        under the payment's own reference). An answer given here is never contradicted by the owner's."""
        try:
            record = self._bank.inquire(stored.bank_reference)
            if record is None or self._unwanted(record, stored):
                return stored.payment
        except (BankUnreachable, StorageUnavailable):
            return stored.payment
        return settled(stored, *gateway_status(record)).payment

    def reversible_at(self, stored: StoredPayment) -> float:
        """When the payment's reference may be reversed (epoch seconds): at once for a payment's own
        reference; for a key's shared reference once no request can still send it (module docstring)."""
        created = ids.created_at(stored.payment.id).timestamp()
        return created if _own_reference(stored) else created + self._policy.takeover_after_seconds

    def _silent(self, heartbeat_age: float | None) -> bool:
        # A peer with no heartbeat yet is not judged: its beat may still be replicating.
        return heartbeat_age is not None and heartbeat_age > self._policy.takeover_after_seconds

    def _due(self, region: str, now: float, after: str | None) -> Sequence[StoredPayment]:
        # Ids encode creation time: nothing written in the last resolve_after seconds can be due.
        newest = ids.id_bound(datetime.fromtimestamp(now - self._policy.resolve_after_seconds, UTC), upper=True)
        return self._payments.due_payments(region, now, newest, self._policy.batch_size, after=after)

    def _ask_bank(self, stored: StoredPayment) -> tuple[PaymentStatus, str | None] | None:
        """The status the bank's record dictates, or None while it needs a reversal not allowed yet."""
        record = self._bank.inquire(stored.bank_reference)
        # No record: it never arrived, or has not yet, so block the reference before calling it failed.
        # A late authorization under the `reverse` policy, of a payment's own reference: unwanted.
        if record is not None and not self._unwanted(record, stored):
            _check_matches(stored, record)
            return gateway_status(record)
        if self._clock().timestamp() < self.reversible_at(stored):
            logger.info("resolver_reversal_not_yet", extra={"payment_id": stored.payment.id})
            return None
        record = self._reverse(stored)
        _check_matches(stored, record)
        return gateway_status(record)

    def _unwanted(self, record: BankRecord, stored: StoredPayment) -> bool:
        """A late authorization the `reverse` policy gives back: only under a payment's own reference
        (module docstring: a key's may be another record's 201)."""
        return record.status is BankStatus.AUTHORIZED and self._reverses_late and _own_reference(stored)

    def _reverse(self, stored: StoredPayment) -> BankRecord:
        record = self._bank.reverse(stored.bank_reference)
        self._reversals += 1
        logger.info("payment_reversal", extra={"payment_id": stored.payment.id, "bank_status": record.status.value})
        return record

    def _write(self, pending: StoredPayment, final: StoredPayment) -> StoredPayment:
        try:
            self._payments.transition(final, PaymentStatus.PENDING, pending.attempt)
        except ConditionFailed:  # settled meanwhile, by the request or another region: that stands
            found = self._payments.get_payment(pending.payment.merchant_id, pending.payment.id)
            return found if found is not None else pending
        self._settled[final.status.value] += 1
        logger.info("payment_resolved", extra={"payment_id": final.payment.id, "status": final.status.value})
        return final

    def _reschedule(self, stored: StoredPayment) -> StoredPayment:
        failures = stored.resolve_failures + 1
        doublings = min(failures - 1, self._policy.max_backoff_doublings)
        delay = min(self._policy.retry_base_seconds * 2**doublings, self._policy.retry_max_seconds)
        return self._due_again(stored, self._clock().timestamp() + delay, failures)

    def _postpone(self, stored: StoredPayment) -> StoredPayment:
        """Not a failure: due again when its reference may be reversed."""
        return self._due_again(stored, self.reversible_at(stored), stored.resolve_failures)

    def _due_again(self, stored: StoredPayment, due_at: float, failures: int) -> StoredPayment:
        later = attrs.evolve(stored, due_at=due_at, resolve_failures=failures)
        try:
            self._payments.transition(later, PaymentStatus.PENDING, stored.attempt)
        except ConditionFailed:
            found = self._payments.get_payment(stored.payment.merchant_id, stored.payment.id)
            return found if found is not None else stored
        return later


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
