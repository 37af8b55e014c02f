"""The outcome machine (test_outcome_machine.py) with captures, voids and refunds in both regions: requests
with and without keys, retries, crashes after the bank acted and before the write, lost answers,
replication with last-writer-wins and resolver runs, interleaved at random.

Invariants, on top of the payments' own:
- what any region shows is true at the bank: a `captured` payment's amount is the bank's captured
  amount, a `voided` one is reversed there, and no region shows more refunded than the bank refunded;
- the bank never captures twice, never refunds above the captured amount (its ledger is the arbiter);
- once everything is replicated and resolved: nothing is pending, every refund and capture at the
  bank has its record, and both regions show every payment alike.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule

from handlers.domain.delivery import DeliveryPolicy, PostResult, WebhookSender
from handlers.domain.errors import BankOutcomeUnknown, PaymentError
from handlers.domain.lifecycle import fold
from handlers.domain.models import (
    BankStatus,
    IdempotencyKey,
    Operation,
    OperationKind,
    OperationStatus,
    Payment,
    PaymentOperation,
    PaymentStatus,
    StoredPayment,
)
from handlers.domain.operations import OperationService
from handlers.domain.resolver import PaymentResolver
from handlers.domain.webhooks import (
    Endpoint,
    EndpointStatus,
    EventType,
    new_secret,
    operation_event_type,
    payment_event_type,
)
from tests.commands import payment_command
from tests.reliability.test_outcome_machine import (
    MERCHANT,
    POLICY,
    REGIONS,
    Crash,
    Outcomes,
    Replica,
    _agrees,
)
from tests.support import VISA_AUTHORIZED, payment_body

OPERATION_KEYS = ("o1", "o2", None)
FAULTS = ("none", "unknown", "crash_after_bank", "crash_before_write", "not_sent")


class LifecycleReplica(Replica):
    """A replica that also queues its operations' writes for the other region."""

    crash_on_operation_write = False

    def save_pending_operation(self, operation: Operation) -> None:
        super().save_pending_operation(operation)
        self._sent("operation", _operation_key(operation), operation)

    def transition_operation(self, operation: Operation, previous: OperationStatus, *, event: Any = None) -> None:
        if self.crash_on_operation_write:
            raise Crash
        super().transition_operation(operation, previous, event=event)
        self._sent("operation", _operation_key(operation), operation)
        if event is not None:
            self._sent("event", (event.merchant_id, event.id), event)

    def apply(self, kind: str, key: Any, value: Any, stamp: int) -> None:
        if kind == "event" and key not in self.stored_events:
            self._store_event(value)  # replicated with its index keys: the region it names delivers it
        if kind not in ("operation",):
            super().apply(kind, key, value, stamp)
        elif self.versions.get((kind, key), -1) < stamp:
            self.versions[(kind, key)] = stamp
            self.operations[key] = value


class _Receiver:
    """Answers 200 to every post and keeps each one's webhook-id."""

    def __init__(self, posted: list[str]) -> None:
        self._posted = posted

    def post(self, url: str, address: str, headers: Mapping[str, str], body: str, timeout: float) -> PostResult:
        self._posted.append(headers["webhook-id"])
        return PostResult(200)


class Lifecycle(Outcomes):
    replica_type = LifecycleReplica

    def __init__(self) -> None:
        super().__init__()
        self.operation_services = {
            region: OperationService(
                payments=self.replicas[region],
                operations=self.replicas[region],
                bank=self.bank,
                region=region,
                fingerprint_key=b"machine-key",
                resolution=POLICY,
                clock=self.clock,
            )
            for region in REGIONS
        }
        self.took_over = False  # a region settled another's items in this run (events may be written twice)
        self.resolvers = {
            region: PaymentResolver(
                payments=self.replicas[region],
                operations=self.replicas[region],
                bank=self.bank,
                region=region,
                policy=POLICY,
                clock=self.clock,
                peers=REGIONS,
            )
            for region in REGIONS
        }

    @rule(region=st.sampled_from(REGIONS), automatic=st.booleans())
    def authorized_payment(self, region: str, automatic: bool) -> None:
        """A payment that goes through (the `pay` rule mostly explores its faults): something to move."""
        body = payment_body(VISA_AUTHORIZED, capture_method="automatic" if automatic else "manual")
        self.replicas[region].crash_on_write_ahead = False  # `pay` leaves its last fault armed
        self.services[region].create_payment(payment_command(MERCHANT, body, None))

    @precondition(lambda self: any(r.payments for r in self.replicas.values()))
    @rule(
        region=st.sampled_from(REGIONS),
        pick=st.integers(0, 50),
        kind=st.sampled_from(tuple(OperationKind)),
        amount=st.sampled_from((None, 1, 300, 700, 1050)),
        key=st.sampled_from(OPERATION_KEYS),
        fault=st.sampled_from(FAULTS),
    )
    def operate(
        self, region: str, pick: int, kind: OperationKind, amount: int | None, key: str | None, fault: str
    ) -> None:
        replica = self.replicas[region]
        # Mostly payments an operation can move (a declined or failed one only ever gets a 409).
        movable = sorted(
            k for k, s in replica.payments.items() if s.status in (PaymentStatus.AUTHORIZED, PaymentStatus.CAPTURED)
        )
        payments = movable if movable and pick % 5 else sorted(replica.payments)
        if not payments:
            return
        payment_id = payments[pick % len(payments)][1]
        kind = self._likely(replica, payment_id, kind, pick)
        body = {} if amount is None else {"amount": amount}
        # Keys per operation and payment, so most requests are new ones and some are retries (the same
        # key again, in either region) or a key reused with another amount.
        scoped = None if key is None else f"{kind.value}:{payment_id}:{key}"
        idempotency = None if scoped is None else IdempotencyKey(scoped, repr(sorted(body.items())))
        command = PaymentOperation(MERCHANT, payment_id, kind, amount, None, idempotency)
        self.bank.operation_fails_with = BankOutcomeUnknown("timed out") if fault == "not_sent" else None
        self.bank.operation_fails_after = {"unknown": BankOutcomeUnknown("lost"), "crash_after_bank": Crash()}.get(
            fault
        )
        replica.crash_on_operation_write = fault == "crash_before_write"
        try:
            self.operation_services[region].run(command)
        except (Crash, PaymentError):
            return
        finally:
            self.bank.operation_fails_with = self.bank.operation_fails_after = None
            replica.crash_on_operation_write = False

    @rule(region=st.sampled_from(REGIONS), unreachable=st.booleans())
    def resolve(self, region: str, unreachable: bool) -> None:
        self.bank.unreachable = unreachable
        try:
            self.took_over |= bool(self.resolvers[region].run().took_over)
        finally:
            self.bank.unreachable = False

    def _likely(self, replica: Replica, payment_id: str, asked: OperationKind, pick: int) -> OperationKind:
        """Mostly what the payment allows as this region sees it (a refund once captured), else as drawn."""
        if pick % 4 == 0:
            return asked
        view = next(v for v, s in self._views(replica) if s.payment.id == payment_id)
        if view.status is PaymentStatus.CAPTURED:
            return OperationKind.REFUND
        return OperationKind.VOID if pick % 7 == 0 else OperationKind.CAPTURE

    # --- invariants -------------------------------------------------------------------------------

    @invariant()
    def final_records_say_what_the_bank_says(self) -> None:
        """The payments' own check, on each payment's authorization: what a capture, void or expiry
        did after it is checked by what_a_region_shows_is_true_at_the_bank."""
        for replica in self.replicas.values():
            for stored in replica.payments.values():
                if stored.status is not PaymentStatus.PENDING:
                    assert _authorization_agrees(stored.payment, self.bank.ledger.get(stored.bank_reference)), stored

    @invariant()
    def an_answer_given_inside_another_request_stays_true(self) -> None:
        for _, payment in self.inside_answers:
            if payment.status is not PaymentStatus.PENDING:
                reference = next(
                    s.bank_reference
                    for r in self.replicas.values()
                    for s in r.payments.values()
                    if s.payment.id == payment.id
                )
                assert _authorization_agrees(payment, self.bank.ledger.get(reference)), payment

    @invariant()
    def what_a_region_shows_is_true_at_the_bank(self) -> None:
        for replica in self.replicas.values():
            for view, stored in self._views(replica):
                record = self.bank.ledger.get(stored.bank_reference)
                if view.status is PaymentStatus.CAPTURED:
                    assert record is not None and record.status is BankStatus.CAPTURED, (view, record)
                    assert record.captured_amount == view.amount_captured, (view, record)
                if view.status is PaymentStatus.VOIDED:
                    assert record is not None and record.status is BankStatus.REVERSED, (view, record)
                refunded = record.refunded_amount if record is not None else 0
                assert view.amount_refunded <= refunded, (view, record)

    @invariant()
    def the_bank_never_captures_twice_nor_refunds_above_the_capture(self) -> None:
        for reference, record in self.bank.ledger.items():
            assert record.refunded_amount <= record.captured_amount <= (record.amount or 0), (reference, record)
            refunds = sum(amount for (ref, _), amount in self.bank.refunds.items() if ref == reference)
            assert refunds == record.refunded_amount, (reference, record)

    def teardown(self) -> None:
        self._quiesce()
        for replica in self.replicas.values():
            pending = [op for op in replica.operations.values() if op.status is OperationStatus.PENDING]
            assert pending == [], pending
            self._every_bank_movement_has_its_record(replica)
        views = [dict((s.payment.id, v) for v, s in self._views(r)) for r in self.replicas.values()]
        assert views[0] == views[1]
        assert self.replicas[REGIONS[0]].operations == self.replicas[REGIONS[1]].operations
        self._every_final_change_has_its_event()
        self._the_receiver_gets_every_event()
        for replica in self.replicas.values():  # the payments' own quiescence check, on authorizations
            assert all(s.status is not PaymentStatus.PENDING for s in replica.payments.values())
            agreeing = {
                s.bank_reference
                for s in replica.payments.values()
                if _authorization_agrees(s.payment, self.bank.ledger.get(s.bank_reference))
            }
            charged = {ref for ref, record in self.bank.ledger.items() if record.authorization_code}
            assert charged <= agreeing, charged - agreeing
        self.final_records_say_what_the_bank_says()
        assert self.replicas[REGIONS[0]].payments == self.replicas[REGIONS[1]].payments

    def _quiesce(self) -> None:
        for _ in range(10):
            self.replicate(len(self.outbox))
            self.clock.advance(seconds=POLICY.takeover_after_seconds + 1)
            for resolver in self.resolvers.values():
                self.took_over |= bool(resolver.run().took_over)
        self.replicate(len(self.outbox))

    def _every_final_change_has_its_event(self) -> None:
        """Exactly one event per change: each payment's final status, each settled refund (a manual
        payment's `authorized` comes before only if its record was ever written authorized: a sibling of
        one key settled late from the bank's record goes from pending to what the bank holds); duplicates
        only where a region took over a live one's items (the documented bound)."""
        replica = self.replicas[REGIONS[0]]
        assert replica.events == self.replicas[REGIONS[1]].events
        seen = Counter((event.subject.id, event.type) for event in replica.events.values())
        expected: set[tuple[str, EventType]] = set()
        for view, _ in self._views(replica):
            final = payment_event_type(view.status)
            if final is not None:
                expected.add((view.id, final))
        for op in replica.operations.values():
            if op.kind is OperationKind.REFUND and op.status is not OperationStatus.PENDING:
                expected.add((op.id, operation_event_type(op)))  # type: ignore[arg-type]
        assert expected <= set(seen), expected - set(seen)
        if not self.took_over:
            assert all(count == 1 for count in seen.values()), [k for k, c in seen.items() if c > 1]
        for event in replica.events.values():  # built from the state its write committed
            if isinstance(event.subject, Payment):
                assert payment_event_type(event.subject.status) in (event.type, None), event

    def _the_receiver_gets_every_event(self) -> None:
        """Each region's sender delivers the events its region wrote, to an endpoint registered now (it
        subscribes to every type): the receiver gets every event of the run, under its own id."""
        posted: list[str] = []
        for region, replica in self.replicas.items():
            replica.save_endpoint(
                Endpoint(
                    id="we_machine",
                    merchant_id=MERCHANT,
                    url="https://hooks.example.com/machine",
                    events=(),
                    status=EndpointStatus.ENABLED,
                    secret=new_secret(),
                    created_at=self.clock(),
                )
            )
            sender = WebhookSender(
                store=replica,
                poster=_Receiver(posted),
                resolve=lambda _: ["93.184.216.34"],
                region=region,
                policy=DeliveryPolicy(parallel=1),
                resolution=POLICY,
                clock=self.clock,
            )
            report = sender.run()
            assert report.failures == 0 and report.lost_writes == 0, report
        everything = {event.id for event in self.replicas[REGIONS[0]].events.values()}
        assert set(posted) == everything, everything ^ set(posted)
        assert len(posted) == len(everything)  # each once: no pass posts an event twice

    def _every_bank_movement_has_its_record(self, replica: LifecycleReplica) -> None:
        refunds = {op.refund_reference: op for op in replica.operations.values() if op.kind is OperationKind.REFUND}
        for (_, refund_reference), amount in self.bank.refunds.items():
            op = refunds.get(refund_reference)
            assert op is not None and op.status is OperationStatus.SUCCEEDED and op.amount == amount, (op, amount)
        by_reference: dict[str, list[Payment]] = {}
        for view, stored in self._views(replica):
            by_reference.setdefault(stored.bank_reference, []).append(view)
        for reference, record in self.bank.ledger.items():
            views = by_reference.get(reference, [])
            if record.status is BankStatus.CAPTURED:  # one record of the reference shows it (siblings may not)
                assert any(v.status is PaymentStatus.CAPTURED for v in views), (reference, record, views)
            shown = sum(v.amount_refunded for v in views)
            assert shown == record.refunded_amount, (reference, record, views)

    def _views(self, replica: Replica) -> list[tuple[Payment, StoredPayment]]:
        found = []
        for (merchant, payment_id), stored in replica.payments.items():
            operations = tuple(op for key, op in replica.operations.items() if key[:2] == (merchant, payment_id))
            found.append((fold(stored.payment, sorted(operations, key=lambda op: op.id)), stored))
        return found


_AFTER_AN_AUTHORIZATION = frozenset(
    {
        PaymentStatus.AUTHORIZED,
        PaymentStatus.CAPTURED,
        PaymentStatus.VOIDED,
        PaymentStatus.EXPIRED,
        PaymentStatus.REVERSED,
    }
)


def _authorization_agrees(payment: Payment, record: Any) -> bool:
    """The payment's authorization is the bank's: once the bank captured or released it, a payment
    that was authorized shows the same code (its later moves are checked on the folded view)."""
    moved = record is not None and record.status in (BankStatus.CAPTURED, BankStatus.REVERSED)
    if moved and payment.status in _AFTER_AN_AUTHORIZATION and record.authorization_code:
        return bool(record.authorization_code == payment.authorization_code)
    return _agrees(StoredPayment(payment, 1), record)


def _operation_key(operation: Operation) -> tuple[str, str, str]:
    return (operation.merchant_id, operation.payment_id, operation.id)


TestLifecycle = Lifecycle.TestCase
TestLifecycle.settings = settings(
    max_examples=int(os.environ.get("MACHINE_EXAMPLES", "60")),
    stateful_step_count=30,
    deadline=None,
    derandomize=os.environ.get("MACHINE_RANDOM") != "1",
)
