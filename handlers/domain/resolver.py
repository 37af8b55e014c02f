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

import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import attrs

from handlers.domain import ids
from handlers.domain.models import Heartbeat, StoredPayment
from handlers.domain.ports import Bank, PaymentRepository
from handlers.domain.settlement import Clock, ResolutionPolicy, Settlement, Tally, utc_now

logger = logging.getLogger(__name__)


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
        )

    def _settle_due(
        self, settlement: Settlement, region: str, now: float, deadline: float, *, taking_over: bool, reschedule: bool
    ) -> None:
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
                    settlement.settle(stored, taking_over=taking_over, reschedule=reschedule)
                except Exception:
                    logger.exception("resolver_payment_failed", extra={"payment_id": stored.payment.id})
                    settlement.tally.failures += 1

    def _beat(self, previous: Heartbeat | None, now: float) -> float:
        unbroken = previous is not None and now - previous.at <= self._policy.takeover_after_seconds
        alive_since = previous.alive_since if previous is not None and unbroken else now
        self._payments.record_heartbeat(self._region, Heartbeat(now, alive_since))
        return alive_since

    def _due(self, region: str, now: float, after: str | None) -> Sequence[StoredPayment]:
        # Ids encode creation time: nothing written in the last resolve_after seconds can be due.
        newest = ids.id_bound(datetime.fromtimestamp(now - self._policy.resolve_after_seconds, UTC), upper=True)
        return self._payments.due_payments(region, now, newest, self._policy.batch_size, after=after)
