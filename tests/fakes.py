"""In-memory stand-ins for the ports, with the same conditional-write semantics as handlers.adapters.dynamo
(tests/integration/test_repository_contract.py runs one suite against both).

The benchmarks serve thousands of calls from `MemoryRepository` (bench/fakes.py), so each operation
is O(1) or O(page), as DynamoDB's are: the figures then measure the handler, not the fake.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import attrs

from handlers.domain import ids
from handlers.domain.errors import BankNotProcessed, BankRefusal, BankUnreachable, ConditionFailed
from handlers.domain.lifecycle import fold
from handlers.domain.models import (
    BankDecision,
    BankRecord,
    BankStatus,
    Heartbeat,
    IdempotencyClaim,
    ListQuery,
    Merchant,
    Operation,
    OperationStatus,
    Page,
    Payment,
    PaymentRequest,
    PaymentStatus,
    StoredPayment,
)
from handlers.domain.webhooks import Endpoint, NewEvent, StoredEvent
from tests.fake_deliveries import MemoryDeliveries
from tests.fake_webhooks import WebhookMemory


class MemoryRepository(WebhookMemory, MemoryDeliveries):
    def __init__(self) -> None:
        super().__init__()  # the webhook events as stored, and the endpoints (tests/fake_deliveries.py)
        self.payments: dict[tuple[str, str], StoredPayment] = {}
        self.claims: dict[tuple[str, str], IdempotencyClaim] = {}
        self.keys: dict[str, Merchant] = {}
        self.beats: dict[str, Heartbeat] = {}
        self.operations: dict[tuple[str, str, str], Operation] = {}  # (merchant, payment, operation)
        self.events: dict[tuple[str, str], NewEvent] = {}  # (merchant, event id): written with their change
        self.webhook_endpoints: dict[tuple[str, str], Endpoint] = {}  # (merchant, endpoint id)
        # An event's state once written after its creation (deliveries, attempts, version), by a resend here.
        self.stored_events: dict[tuple[str, str], StoredEvent] = {}
        self.writes = 0
        self._lock = threading.Lock()
        self._ids_by_merchant: dict[str, list[str]] = {}  # sorted, like the table's sort key

    def claim(self, claim: IdempotencyClaim, now: float) -> IdempotencyClaim | None:
        with self._lock:
            held = self.claims.get((claim.merchant_id, claim.key))
            if held is not None and held.expires_at > now and held.owner != claim.owner:
                return held
            self.writes += 1
            self.claims[(claim.merchant_id, claim.key)] = claim
            return None

    def take_over(self, claim: IdempotencyClaim) -> None:
        with self._lock:
            held = self.claims.get((claim.merchant_id, claim.key))
            if held is None or (held.attempt != claim.attempt - 1 and held.owner != claim.owner):
                raise ConditionFailed("attempt changed")
            self.writes += 1
            self.claims[(claim.merchant_id, claim.key)] = claim

    def save_pending(self, stored: StoredPayment) -> None:
        with self._lock:
            key = (stored.payment.merchant_id, stored.payment.id)
            if key in self.payments:
                raise ConditionFailed("payment exists")
            self.writes += 1
            self.payments[key] = stored
            bisect.insort(self._ids_by_merchant.setdefault(stored.payment.merchant_id, []), stored.payment.id)

    def receive(self, stored: StoredPayment) -> None:
        """A payment as another region's replica wrote it, replicated here (unconditionally)."""
        with self._lock:
            key = (stored.payment.merchant_id, stored.payment.id)
            if key not in self.payments:
                bisect.insort(self._ids_by_merchant.setdefault(stored.payment.merchant_id, []), stored.payment.id)
            self.payments[key] = stored

    def transition(
        self, stored: StoredPayment, previous: PaymentStatus, previous_attempt: int, *, event: NewEvent | None = None
    ) -> None:
        with self._lock:
            key = (stored.payment.merchant_id, stored.payment.id)
            old = self.payments.get(key)
            if old is None or old.payment.status is not previous or old.attempt != previous_attempt:
                raise ConditionFailed("status or attempt changed")
            self._add_event(event)
            self.writes += 1
            self.payments[key] = stored

    def _add_event(self, event: NewEvent | None) -> None:
        """The event of a change, in the same atomic step (DynamoDB: one transaction)."""
        if event is not None:
            if (event.merchant_id, event.id) in self.events:
                raise ConditionFailed("event exists")
            self.events[(event.merchant_id, event.id)] = event
            self._store_event(event)

    def due_payments(
        self, region: str, now: float, created_before: str, limit: int, *, after: str | None = None
    ) -> list[StoredPayment]:
        with self._lock:
            due = [
                stored
                for stored in self.payments.values()
                if stored.payment.status is PaymentStatus.PENDING
                and stored.owner_region == region
                and (after or "") < stored.payment.id < created_before
                and stored.due_at is not None
                and stored.due_at <= now
            ]
        return sorted(due, key=lambda stored: stored.payment.id)[:limit]

    def payments_with_reference(
        self, merchant_id: str, bank_reference: str, created_from: datetime, created_to: datetime
    ) -> list[StoredPayment]:
        """The merchant's id range (a Query on its partition), filtered by reference."""
        with self._lock:
            merchant_ids = self._ids_by_merchant.get(merchant_id, [])
            lower = bisect.bisect_left(merchant_ids, ids.id_bound(created_from, upper=False))
            upper = bisect.bisect_right(merchant_ids, ids.id_bound(created_to, upper=True))
            in_range = (self.payments[(merchant_id, payment_id)] for payment_id in merchant_ids[lower:upper])
            return [stored for stored in in_range if stored.bank_reference == bank_reference]

    def pending_summary(self, region: str) -> tuple[int, str | None]:
        with self._lock:
            pending = sorted(
                stored.payment.id
                for stored in self.payments.values()
                if stored.payment.status is PaymentStatus.PENDING and stored.owner_region == region
            )
        return len(pending), pending[0] if pending else None

    def record_heartbeat(self, region: str, beat: Heartbeat) -> None:
        self.beats[region] = beat

    def heartbeats(self) -> dict[str, Heartbeat]:
        return dict(self.beats)

    def get_payment(self, merchant_id: str, payment_id: str) -> StoredPayment | None:
        return self.payments.get((merchant_id, payment_id))

    def list_payments(self, merchant_id: str, query: ListQuery) -> Page:
        """Newest first, reading only as far as the page needs (a Query with a key range and Limit)."""
        with self._lock:  # a concurrent save shifts the index
            merchant_ids = self._ids_by_merchant.get(merchant_id, [])
            lower, upper = self._id_range(merchant_ids, query)
            found: list[Payment] = []
            for index in range(upper - 1, lower - 1, -1):
                payment = self._view(merchant_id, merchant_ids[index])
                if query.status is None or payment.status is query.status:
                    found.append(payment)
                if len(found) > query.limit:
                    return Page(tuple(found[: query.limit]), found[query.limit - 1].id)
            return Page(tuple(found), None)

    @staticmethod
    def _id_range(merchant_ids: list[str], query: ListQuery) -> tuple[int, int]:
        upper = len(merchant_ids)
        if query.after_id is not None:
            upper = bisect.bisect_left(merchant_ids, query.after_id)
        if query.created_to is not None:
            upper = min(upper, bisect.bisect_left(merchant_ids, ids.id_bound(query.created_to, upper=False)))
        lower = 0
        if query.created_from is not None:
            lower = bisect.bisect_left(merchant_ids, ids.id_bound(query.created_from, upper=False))
        return lower, upper

    def _view(self, merchant_id: str, payment_id: str) -> Payment:
        return fold(self.payments[(merchant_id, payment_id)].payment, self._operations_of(merchant_id, payment_id))

    def _operations_of(self, merchant_id: str, payment_id: str) -> tuple[Operation, ...]:
        found = (op for key, op in self.operations.items() if key[:2] == (merchant_id, payment_id))
        return tuple(sorted(found, key=lambda op: op.id))

    def get_payment_with_operations(
        self, merchant_id: str, payment_id: str
    ) -> tuple[StoredPayment, tuple[Operation, ...]] | None:
        with self._lock:
            stored = self.payments.get((merchant_id, payment_id))
            return None if stored is None else (stored, self._operations_of(merchant_id, payment_id))

    def save_pending_operation(self, operation: Operation) -> None:
        with self._lock:
            key = (operation.merchant_id, operation.payment_id, operation.id)
            if key in self.operations:
                raise ConditionFailed("operation exists")
            self.writes += 1
            self.operations[key] = operation

    def receive_operation(self, operation: Operation) -> None:
        """An operation as another region wrote it, replicated here (unconditionally)."""
        with self._lock:
            self.operations[(operation.merchant_id, operation.payment_id, operation.id)] = operation

    def transition_operation(
        self, operation: Operation, previous: OperationStatus, *, event: NewEvent | None = None
    ) -> None:
        with self._lock:
            key = (operation.merchant_id, operation.payment_id, operation.id)
            old = self.operations.get(key)
            if old is None or old.status is not previous:
                raise ConditionFailed("status changed")
            self._add_event(event)
            self.writes += 1
            self.operations[key] = operation

    def get_operation(self, merchant_id: str, payment_id: str, operation_id: str) -> Operation | None:
        return self.operations.get((merchant_id, payment_id, operation_id))

    def due_operations(self, region: str, now: float, limit: int, *, after: str | None = None) -> list[Operation]:
        with self._lock:
            due = [
                op
                for op in self.operations.values()
                if op.region == region
                and op.due_at is not None
                and op.due_at <= now
                and (after is None or after < f"{op.payment_id}#{op.id}")
            ]
        return sorted(due, key=lambda op: f"{op.payment_id}#{op.id}")[:limit]

    def pending_operations_summary(self, region: str) -> tuple[int, str | None]:
        with self._lock:
            pending = [op for op in self.operations.values() if op.region == region and op.due_at is not None]
        oldest = min(pending, key=lambda op: ids.creation_order(op.id), default=None)
        return len(pending), None if oldest is None else oldest.id

    def due_expiries(self, region: str, now: float, limit: int, *, after: str | None = None) -> list[StoredPayment]:
        with self._lock:
            due = [
                stored
                for stored in self.payments.values()
                if stored.status is PaymentStatus.AUTHORIZED
                and stored.owner_region == region
                and stored.payment.authorization_expires_at is not None
                and stored.payment.authorization_expires_at.timestamp() <= now
                and (after is None or after < stored.payment.id)
            ]
        return sorted(due, key=lambda stored: stored.payment.id)[:limit]

    def ping(self) -> None:
        return None

    def merchant_for_key(self, key_hash: str) -> Merchant | None:
        return self.keys.get(key_hash)

    def add_key(self, key_hash: str, merchant: Merchant) -> None:
        if key_hash in self.keys:
            raise ConditionFailed("key exists")
        self.keys[key_hash] = merchant

    def revoke_key(self, key_hash: str) -> None:
        self.keys[key_hash] = attrs.evolve(self.keys[key_hash], active=False)

    def api_keys(self) -> list[tuple[str, Merchant]]:
        return list(self.keys.items())


@attrs.define
class ScriptedBank:
    """The bank protocol of docs/bank.md in memory: a ledger by reference that never charges one
    reference twice. Answers by the card's last digit like the simulator (0: not processed).

    `fail_with` is raised before anything is charged; `fail_after_charge` after the charge is in
    the ledger (a late answer, a dropped connection); `unreachable` fails inquiries and reversals.
    """

    calls: list[tuple[str, PaymentRequest]] = attrs.field(factory=list)
    fail_with: Exception | None = None
    fail_after_charge: Exception | None = None
    unreachable: bool = False
    before_answer: Callable[[], None] | None = None
    after_inquiry: Callable[[str], None] | None = None
    ledger: dict[str, BankRecord] = attrs.field(factory=dict)
    charges: dict[str, int] = attrs.field(factory=dict)  # authorizations actually made, per reference
    inquiries: list[str] = attrs.field(factory=list)
    reversals: list[str] = attrs.field(factory=list)
    # Captures, voids and refunds: raised before the bank acts, or after it acted (the answer lost).
    operation_fails_with: Exception | None = None
    operation_fails_after: Exception | None = None
    refunds: dict[tuple[str, str], int] = attrs.field(factory=dict)  # (reference, refund reference) -> amount
    captures_sent: list[tuple[str, int]] = attrs.field(factory=list)
    refunds_sent: list[tuple[str, str, int]] = attrs.field(factory=list)
    _lock: threading.Lock = attrs.field(factory=threading.Lock)

    def authorize(self, reference: str, request: PaymentRequest, *, capture: bool = False) -> BankDecision:
        self.calls.append((reference, request))
        if self.before_answer:
            self.before_answer()
        if self.fail_with is not None:
            raise self.fail_with
        if int(request.card.number[-1]) == 0:
            raise BankNotProcessed("The bank answered HTTP 503.")
        record = self._record(reference, request)
        if self.fail_after_charge is not None:
            raise self.fail_after_charge
        if record.status is BankStatus.REVERSED:
            raise BankNotProcessed("The bank refused the reference: it was reversed.")
        if capture and record.status is BankStatus.AUTHORIZED:
            with self._lock:
                record = self.ledger[reference] = attrs.evolve(
                    record, status=BankStatus.CAPTURED, captured_amount=request.amount
                )
        return BankDecision(
            record.status in (BankStatus.AUTHORIZED, BankStatus.CAPTURED),
            record.authorization_code,
            captured=record.status is BankStatus.CAPTURED,
        )

    def capture(self, reference: str, amount: int) -> int:
        self.captures_sent.append((reference, amount))
        self._operation_may_fail(self.operation_fails_with)
        with self._lock:
            found = self.ledger.get(reference)
            if found is None:
                raise BankRefusal("not_found")
            if found.status is BankStatus.CAPTURED and found.captured_amount != amount:
                raise BankRefusal("already_captured")
            if found.status in (BankStatus.REVERSED, BankStatus.DECLINED):
                raise BankRefusal("reference_reversed" if found.status is BankStatus.REVERSED else "declined")
            if found.amount is not None and amount > found.amount:
                raise BankRefusal("invalid_amount")
            self.ledger[reference] = attrs.evolve(found, status=BankStatus.CAPTURED, captured_amount=amount)
        self._operation_may_fail(self.operation_fails_after)
        return amount

    def refund(self, reference: str, refund_reference: str, amount: int) -> None:
        self.refunds_sent.append((reference, refund_reference, amount))
        self._operation_may_fail(self.operation_fails_with)
        with self._lock:
            found = self.ledger.get(reference)
            if found is None:
                raise BankRefusal("not_found")
            held = self.refunds.get((reference, refund_reference))
            if held is not None and held != amount:
                raise BankRefusal("refund_reference_reused")
            if held is None:
                if found.status is not BankStatus.CAPTURED:
                    raise BankRefusal("not_captured")
                if found.refunded_amount + amount > found.captured_amount:
                    raise BankRefusal("exceeds_captured")
                self.refunds[(reference, refund_reference)] = amount
                self.ledger[reference] = attrs.evolve(found, refunded_amount=found.refunded_amount + amount)
        self._operation_may_fail(self.operation_fails_after)

    def refund_status(self, reference: str, refund_reference: str) -> int | None:
        if self.unreachable:
            raise BankUnreachable("The bank could not be reached.")
        return self.refunds.get((reference, refund_reference))

    def _operation_may_fail(self, error: Exception | None) -> None:
        if error is not None:
            raise error

    def _record(self, reference: str, request: PaymentRequest) -> BankRecord:
        with self._lock:
            found = self.ledger.get(reference)
            if found is not None:
                if found.amount is not None and (found.amount, found.currency) != (request.amount, request.currency):
                    raise BankNotProcessed("The bank refused the reference: it was used for another payment.")
                return found
            authorized = int(request.card.number[-1]) % 2 == 1
            code = f"AUTH{len(self.ledger) + 1}" if authorized else None
            status = BankStatus.AUTHORIZED if authorized else BankStatus.DECLINED
            record = BankRecord(status, code, request.amount, request.currency)
            self.ledger[reference] = record
            if authorized:
                self.charges[reference] = self.charges.get(reference, 0) + 1
            return record

    def inquire(self, reference: str) -> BankRecord | None:
        self.inquiries.append(reference)
        if self.unreachable:
            raise BankUnreachable("The bank could not be reached.")
        found = self.ledger.get(reference)
        if self.after_inquiry:
            self.after_inquiry(reference)
        return found

    def reverse(self, reference: str) -> BankRecord:
        self.reversals.append(reference)
        if self.unreachable:
            raise BankUnreachable("The bank could not be reached.")
        with self._lock:
            found = self.ledger.get(reference)
            if found is not None and found.status is BankStatus.CAPTURED:
                raise BankRefusal("already_captured")
            if found is None:
                record = BankRecord(BankStatus.REVERSED)
            elif found.status is BankStatus.AUTHORIZED:
                record = attrs.evolve(found, status=BankStatus.REVERSED)
            else:
                record = found
            self.ledger[reference] = record
            return record


@attrs.define
class FakeClock:
    now: datetime = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
