"""Captures, voids and refunds in the table: one suite for the DynamoDB adapter on moto and the in-memory
fake (as test_repository_contract.py). Reads fold a payment with its operations; lists page without
losing an operation at a page's edge; the sparse index finds pending operations and due expiries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from handlers.adapters.dynamo import DynamoRepository
from handlers.adapters.dynamo_operations import operation_key
from handlers.domain import ids
from handlers.domain.errors import ConditionFailed
from handlers.domain.models import (
    CaptureMethod,
    CardSummary,
    ListQuery,
    Operation,
    OperationKind,
    OperationStatus,
    Payment,
    PaymentStatus,
    StoredPayment,
)
from tests.fakes import MemoryRepository
from tests.integration.conftest import TABLE

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
EU, US = "eu-west-1", "us-east-1"


@pytest.fixture(params=["dynamodb", "memory"])
def repo(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryRepository()
    else:
        yield DynamoRepository(request.getfixturevalue("dynamodb"), TABLE)


def authorized(at: datetime, *, expires: datetime | None = None, merchant: str = "mer_a") -> StoredPayment:
    payment_id = ids.new_payment_id(at)
    payment = Payment(
        id=payment_id,
        merchant_id=merchant,
        status=PaymentStatus.AUTHORIZED,
        amount=1000,
        currency="EUR",
        reference=None,
        card=CardSummary("visa", "4291", 4, 2030),
        authorization_code="A1",
        created_at=ids.created_at(payment_id),
        region=EU,
        capture_method=CaptureMethod.MANUAL,
        authorization_expires_at=expires or at + timedelta(days=7),
    )
    return StoredPayment(payment, 1)


def operation(
    stored: StoredPayment,
    kind: OperationKind,
    amount: int,
    *,
    at: datetime = T0,
    status: OperationStatus = OperationStatus.SUCCEEDED,
    region: str = EU,
) -> Operation:
    operation_id = ids.new_operation_id(kind.value, at)
    return Operation(
        id=operation_id,
        payment_id=stored.payment.id,
        merchant_id=stored.payment.merchant_id,
        kind=kind,
        status=status,
        amount=amount,
        created_at=at,
        region=region,
        bank_reference=stored.bank_reference,
        refund_reference=operation_id if kind is OperationKind.REFUND else None,
        reason="damaged" if kind is OperationKind.REFUND else None,
        due_at=at.timestamp() + 10 if status is OperationStatus.PENDING else None,
    )


def save(repo: Any, stored: StoredPayment, *operations: Operation) -> None:
    pending = attrs.evolve(stored.payment, status=PaymentStatus.PENDING, authorization_code=None)
    repo.save_pending(attrs.evolve(stored, payment=pending))
    repo.transition(stored, PaymentStatus.PENDING, stored.attempt)
    for op in operations:
        repo.save_pending_operation(op)


def test_an_operation_is_written_once_read_back_whole_and_moved_only_from_pending(repo: Any) -> None:
    stored = authorized(T0)
    pending = operation(stored, OperationKind.REFUND, 300, status=OperationStatus.PENDING)
    save(repo, stored, pending)
    assert repo.get_operation("mer_a", stored.payment.id, pending.id) == pending
    with pytest.raises(ConditionFailed):
        repo.save_pending_operation(pending)
    done = attrs.evolve(pending, status=OperationStatus.SUCCEEDED, due_at=None)
    repo.transition_operation(done, OperationStatus.PENDING)
    with pytest.raises(ConditionFailed):
        repo.transition_operation(attrs.evolve(done, status=OperationStatus.FAILED), OperationStatus.PENDING)
    assert repo.get_operation("mer_a", stored.payment.id, pending.id) == done
    assert repo.get_operation("mer_b", stored.payment.id, pending.id) is None


def test_a_payment_is_read_with_its_operations_oldest_first_and_only_its_own(repo: Any) -> None:
    stored, neighbour = authorized(T0), authorized(T0 + timedelta(milliseconds=1))
    capture = operation(stored, OperationKind.CAPTURE, 800, at=T0 + timedelta(seconds=1))
    refund = operation(stored, OperationKind.REFUND, 100, at=T0 + timedelta(seconds=2))
    save(repo, stored, refund, capture)
    save(repo, neighbour, operation(neighbour, OperationKind.VOID, 1000))
    assert repo.get_payment_with_operations("mer_a", stored.payment.id) == (stored, (capture, refund))
    assert repo.get_payment("mer_a", stored.payment.id) == stored  # the payment's own item, as before
    assert repo.get_payment_with_operations("mer_b", stored.payment.id) is None


def test_lists_fold_operations_and_page_across_them_without_gaps(repo: Any) -> None:
    payments = [authorized(T0 + timedelta(seconds=i)) for i in range(7)]
    for i, stored in enumerate(payments):
        ops = [operation(stored, OperationKind.CAPTURE, 500 + i)]
        ops += [
            operation(stored, OperationKind.REFUND, 10, at=T0 + timedelta(seconds=i, milliseconds=k)) for k in range(i)
        ]
        save(repo, stored, *ops)
    seen: list[Payment] = []
    cursor = None
    while True:
        page = repo.list_payments("mer_a", ListQuery(limit=2, after_id=cursor))
        seen.extend(page.payments)
        if page.next_after_id is None:
            break
        cursor = page.next_after_id
    assert [p.id for p in seen] == [s.payment.id for s in reversed(payments)]
    assert [(p.status, p.amount_captured, p.amount_refunded) for p in seen] == [
        (PaymentStatus.CAPTURED, 500 + i, 10 * i) for i in reversed(range(7))
    ]


def test_a_status_filter_matches_the_folded_status(repo: Any) -> None:
    captured, voided, held = (authorized(T0 + timedelta(seconds=i)) for i in range(3))
    save(repo, captured, operation(captured, OperationKind.CAPTURE, 1000))
    save(repo, voided, operation(voided, OperationKind.VOID, 1000))
    save(repo, held, operation(held, OperationKind.CAPTURE, 1000, status=OperationStatus.FAILED))
    ids_of = {
        status: [p.id for p in repo.list_payments("mer_a", ListQuery(status=status)).payments]
        for status in (PaymentStatus.CAPTURED, PaymentStatus.VOIDED, PaymentStatus.AUTHORIZED)
    }
    assert ids_of == {
        PaymentStatus.CAPTURED: [captured.payment.id],
        PaymentStatus.VOIDED: [voided.payment.id],
        PaymentStatus.AUTHORIZED: [held.payment.id],
    }


def test_pending_operations_are_found_by_the_region_that_wrote_them(repo: Any) -> None:
    stored = authorized(T0)
    ours = operation(stored, OperationKind.CAPTURE, 1000, status=OperationStatus.PENDING)
    theirs = operation(stored, OperationKind.VOID, 1000, status=OperationStatus.PENDING, region=US)
    later = attrs.evolve(
        operation(stored, OperationKind.REFUND, 5, status=OperationStatus.PENDING), due_at=T0.timestamp() + 999
    )
    save(repo, stored, ours, theirs, later)
    assert repo.due_operations(EU, T0.timestamp() + 10, 10) == [ours]
    assert repo.due_operations(US, T0.timestamp() + 10, 10) == [theirs]
    count, oldest = repo.pending_operations_summary(EU)
    assert count == 2 and oldest in (ours.id, later.id)
    repo.transition_operation(
        attrs.evolve(ours, status=OperationStatus.SUCCEEDED, due_at=None), OperationStatus.PENDING
    )
    assert repo.due_operations(EU, T0.timestamp() + 10, 10) == []
    assert repo.pending_operations_summary(EU)[0] == 1


def test_due_expiries_are_the_owners_authorized_payments_past_their_expiry(repo: Any) -> None:
    soon = authorized(T0, expires=T0 + timedelta(hours=1))
    later = authorized(T0 + timedelta(seconds=1), expires=T0 + timedelta(days=7))
    save(repo, soon)
    save(repo, later)
    at = (T0 + timedelta(hours=2)).timestamp()
    assert [s.payment.id for s in repo.due_expiries(EU, at, 10)] == [soon.payment.id]
    assert repo.due_expiries(US, at, 10) == []
    expired = attrs.evolve(soon, payment=attrs.evolve(soon.payment, status=PaymentStatus.EXPIRED))
    repo.transition(expired, PaymentStatus.AUTHORIZED, 1)
    assert repo.due_expiries(EU, at, 10) == []
    assert repo.pending_summary(EU) == (0, None)  # neither is counted as a pending payment


def test_the_reference_search_finds_payments_not_their_operations(repo: Any) -> None:
    stored = authorized(T0)
    save(repo, stored, operation(stored, OperationKind.CAPTURE, 1000))
    found = repo.payments_with_reference(
        "mer_a", stored.bank_reference, T0 - timedelta(minutes=1), T0 + timedelta(minutes=1)
    )
    assert found == [stored]


def test_due_operations_page_on_in_the_index_order_and_the_oldest_is_by_creation(repo: Any) -> None:
    older, newer = authorized(T0), authorized(T0 + timedelta(seconds=1))
    void = operation(older, OperationKind.VOID, 1000, at=T0, status=OperationStatus.PENDING)
    refund = operation(newer, OperationKind.REFUND, 5, at=T0 + timedelta(seconds=1), status=OperationStatus.PENDING)
    capture = operation(older, OperationKind.CAPTURE, 9, at=T0 + timedelta(seconds=2), status=OperationStatus.PENDING)
    save(repo, older, capture, void)
    save(repo, newer, refund)
    now = T0.timestamp() + 60
    first = repo.due_operations(EU, now, 2)
    assert first == [capture, void]  # by payment, then operation
    assert repo.due_operations(EU, now, 2, after=operation_key(first[-1])) == [refund]
    assert repo.due_operations(EU, now, 2, after=operation_key(refund)) == []
    assert repo.pending_operations_summary(EU) == (3, void.id)  # the oldest by creation, whatever its kind


def test_due_expiries_page_on_after_the_last_one_tried(repo: Any) -> None:
    payments = [authorized(T0 + timedelta(seconds=i), expires=T0 + timedelta(hours=1)) for i in range(3)]
    for stored in payments:
        save(repo, stored)
    at = (T0 + timedelta(hours=2)).timestamp()
    first = repo.due_expiries(EU, at, 2)
    assert [s.payment.id for s in first] == [s.payment.id for s in payments[:2]]
    assert [s.payment.id for s in repo.due_expiries(EU, at, 2, after=first[-1].payment.id)] == [payments[2].payment.id]


def _every_page(repo: Any, query: ListQuery) -> list[Payment]:
    seen: list[Payment] = []
    for _ in range(200):  # a list that stops making progress fails here
        page = repo.list_payments("mer_a", query)
        seen.extend(page.payments)
        if page.next_after_id is None:
            return seen
        query = attrs.evolve(query, after_id=page.next_after_id)
    raise AssertionError("the cursor never reached the end")


def test_a_filter_with_no_match_in_the_read_budget_still_gives_a_cursor_to_the_match(repo: Any) -> None:
    voided = authorized(T0)
    save(repo, voided, operation(voided, OperationKind.VOID, 1000))
    for i in range(1, 400):  # newer payments the filter drops in DynamoDB, more than five pages' worth
        newer = authorized(T0 + timedelta(seconds=i))
        declined = attrs.evolve(newer.payment, status=PaymentStatus.DECLINED, authorization_code=None)
        save(repo, attrs.evolve(newer, payment=declined))
    found = _every_page(repo, ListQuery(limit=1, status=PaymentStatus.VOIDED))
    assert [p.id for p in found] == [voided.payment.id]


def test_a_payment_with_more_refunds_than_a_page_holds_does_not_stop_the_list(repo: Any) -> None:
    older, busy = authorized(T0), authorized(T0 + timedelta(seconds=1))
    save(repo, older)
    refunds = [
        operation(busy, OperationKind.REFUND, 1, at=T0 + timedelta(seconds=2, milliseconds=i)) for i in range(300)
    ]
    save(repo, busy, operation(busy, OperationKind.CAPTURE, 1000), *refunds)
    found = _every_page(repo, ListQuery(limit=1))
    assert [p.id for p in found] == [busy.payment.id, older.payment.id]
    assert found[0].amount_refunded == 300
