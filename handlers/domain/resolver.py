"""The resolver: settle `pending` payments from the bank's own record. Plain Python over the ports.

Like Kill Bill's janitor, it does one thing per payment: load it and settle it (handlers.domain.settlement:
ask the bank by reference, write the bank's answer as a conditional transition, or back off when the
bank cannot be reached). What it adds is the schedule: a heartbeat per run, this region's due payments
batch after batch within a time budget, and the payments of regions whose resolver has been silent
for longer than the takeover bound.

The scheduled function and the local stack's loop are two thin entry points over `run`; a replay
of a pending key and `python -m handlers.admin resolve` settle one payment through
handlers.domain.settlement directly.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TypeVar

import attrs

from handlers.domain import ids
from handlers.domain.models import Heartbeat, StoredPayment
from handlers.domain.operation_settlement import Expiry, OperationSettlement, OperationTally
from handlers.domain.ports import Bank, OperationRepository, PaymentRepository
from handlers.domain.settlement import Clock, ResolutionPolicy, Settlement, Tally, utc_now

logger = logging.getLogger(__name__)
T = TypeVar("T")


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
    operations_settled: Mapping[str, int] = attrs.Factory(dict)  # "capture.succeeded" -> how many
    expired: int = 0  # manual authorizations released at the bank this run
    pending_operations: int = 0  # captures, voids and refunds still pending in this region


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
        operations: OperationRepository | None = None,
    ) -> None:
        self._payments = payments
        self._operations = operations
        self._bank = bank
        self._region = region
        self._policy = policy
        self._clock = clock
        self._peers = tuple(peer for peer in peers if peer != region)

    def run(self) -> ResolverReport:
        """One pass: heartbeat, this region's due payments, and those of regions out of service."""
        tally = Tally()
        settlement = Settlement(
            payments=self._payments,
            bank=self._bank,
            region=self._region,
            policy=self._policy,
            clock=self._clock,
            tally=tally,
        )
        now = self._clock().timestamp()
        beats = self._payments.heartbeats()
        alive_since = self._beat(beats.get(self._region), now)
        # Back from a silence long enough to be taken over: another region may have settled some of
        # our payments, and its writes may still be replicating. Until they must have arrived, write
        # only final statuses (the bank's), never a reschedule that could win over theirs.
        rescheduling = now - alive_since > self._policy.takeover_after_seconds
        ages = {peer: now - beats[peer].at if peer in beats else None for peer in self._peers}
        took_over = tuple(peer for peer, age in ages.items() if self._policy.silent(age))
        deadline = time.monotonic() + self._policy.run_budget_seconds
        for region in (self._region, *took_over):
            ours = region == self._region
            # A taker never reschedules: the owner may be back and write the same payment meanwhile.
            self._settle_due(settlement, region, now, deadline, taking_over=not ours, reschedule=rescheduling and ours)
        count, oldest = self._payments.pending_summary(self._region)
        operation_tally, pending_operations = OperationTally(), 0
        if self._operations is not None:
            self._lifecycle(operation_tally, (self._region, *took_over), rescheduling, now, deadline)
            pending_operations, oldest_operation = self._operations.pending_operations_summary(self._region)
            oldest = _older(oldest, oldest_operation)
        oldest_age = None if oldest is None else max(0.0, now - ids.created_at(oldest).timestamp())
        return ResolverReport(
            region=self._region,
            settled=dict(tally.settled),
            failures=tally.failures,
            reversals=tally.reversals,
            pending=count,
            oldest_pending_age=oldest_age,
            took_over=took_over,
            peer_heartbeat_ages=ages,
            operations_settled=dict(operation_tally.settled),
            expired=operation_tally.expired,
            pending_operations=pending_operations,
        )

    def _lifecycle(
        self, tally: OperationTally, regions: Sequence[str], rescheduling: bool, now: float, deadline: float
    ) -> None:
        """Pending captures, voids and refunds (this region's, and a silent region's: only what the bank
        already holds, never rescheduled), then this region's manual authorizations past their expiry.
        Batch after batch from the last one tried, as for payments: items left as they were (a taker's,
        an expiry waiting for a capture) cannot hide the ones behind them."""
        assert self._operations is not None
        operations = self._operations
        settlement = OperationSettlement(
            operations=operations,
            payments=self._payments,
            bank=self._bank,
            policy=self._policy,
            clock=self._clock,
            tally=tally,
        )

        def failed(item_id: str) -> None:
            logger.exception("resolver_operation_failed", extra={"item_id": item_id})
            tally.failures += 1

        for region in regions:
            ours = region == self._region
            settle = functools.partial(settlement.settle, reschedule=rescheduling and ours, taking_over=not ours)
            due = functools.partial(operations.due_operations, region, now, self._policy.batch_size)
            _in_batches(due, settle, lambda op: f"{op.payment_id}#{op.id}", failed, deadline)
        expiry = Expiry(payments=self._payments, bank=self._bank, tally=tally, region=self._region, clock=self._clock)
        due_expiries = functools.partial(operations.due_expiries, self._region, now, self._policy.batch_size)
        _in_batches(due_expiries, expiry.expire, lambda stored: stored.payment.id, failed, deadline)

    def _settle_due(
        self, settlement: Settlement, region: str, now: float, deadline: float, *, taking_over: bool, reschedule: bool
    ) -> None:
        """Batch after batch until none is left or the run's time is up (`_in_batches`). Each batch starts
        after the last payment tried, so payments left pending (a taker and a region just back from a
        silence never reschedule) cannot hide the ones behind them. One payment must never stop a
        region's resolver."""

        def failed(payment_id: str) -> None:
            logger.exception("resolver_payment_failed", extra={"payment_id": payment_id})
            settlement.tally.failures += 1

        due = functools.partial(self._due, region, now)
        settle = functools.partial(settlement.settle, taking_over=taking_over, reschedule=reschedule)
        _in_batches(due, settle, lambda stored: stored.payment.id, failed, deadline)

    def _beat(self, previous: Heartbeat | None, now: float) -> float:
        unbroken = previous is not None and now - previous.at <= self._policy.takeover_after_seconds
        alive_since = previous.alive_since if previous is not None and unbroken else now
        self._payments.record_heartbeat(self._region, Heartbeat(now, alive_since))
        return alive_since

    def _due(self, region: str, now: float, after: str | None) -> Sequence[StoredPayment]:
        # Ids encode creation time: nothing written in the last resolve_after seconds can be due.
        newest = ids.id_bound(datetime.fromtimestamp(now - self._policy.resolve_after_seconds, UTC), upper=True)
        return self._payments.due_payments(region, now, newest, self._policy.batch_size, after=after)


def _in_batches(
    due: Callable[..., Sequence[T]],
    settle: Callable[[T], object],
    item_id: Callable[[T], str],
    failed: Callable[[str], None],
    deadline: float,
) -> None:
    """Batch after batch (`due(after=...)`), each after the last item tried, until none is left or the
    time is up; one item's failure goes to `failed` (called while its exception is handled), and the
    run goes on."""
    after: str | None = None
    while time.monotonic() < deadline:
        batch = due(after=after)
        if not batch:
            return
        for item in batch:
            if time.monotonic() >= deadline:
                return
            after = item_id(item)
            try:
                settle(item)
            except Exception:
                failed(after)


def _older(payment_id: str | None, operation_id: str | None) -> str | None:
    """The older of a payment's and an operation's ids, as a payment id (both are ULIDs)."""
    if operation_id is None:
        return payment_id
    as_payment = ids.PAYMENT_PREFIX + ids.creation_order(operation_id)
    return as_payment if payment_id is None else min(payment_id, as_payment)
