"""The lifecycle's items and reads (handlers.adapters.dynamo and dynamo_operations) on the embedded
DynamoDB, the stack's own (moto with the partition index and local_gateway.moto_speedups, in its
child process), and on moto as it ships: every read gives what DynamoDB's documented semantics give
(asserted here), and the same on both servers.

The access patterns: a payment with its operations (one Query, begins_with, ConsistentRead); the
sparse index's OPERATION#<region>#<shard> and EXPIRY#<region>#<shard> partitions (due_at <= :now
filtered after Limit); the list by status (`#status IN (...) OR attribute_exists(#kind)`); the
search by bank reference (`... AND attribute_not_exists(#kind)`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from handlers.adapters.dynamo import DynamoRepository
from handlers.domain import ids
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
from local_gateway.dynamodb import create_table, dynamodb_client
from local_gateway.topology import TABLE_REGION

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EU, US = "eu-west-1", "us-east-1"
MERCHANT = "mer_a"


def _payment(n: int, status: PaymentStatus, *, manual: bool = False, captured: int = 0, region: str = EU) -> Payment:
    payment_id = ids.new_payment_id(T0 + timedelta(seconds=n))
    return Payment(
        id=payment_id,
        merchant_id=MERCHANT,
        status=status,
        amount=1000,
        currency="EUR",
        reference=f"order-{n}",
        card=CardSummary("visa", "4242", 4, 2030),
        authorization_code=None if status is PaymentStatus.PENDING else "A1",
        created_at=ids.created_at(payment_id),
        region=region,
        capture_method=CaptureMethod.MANUAL if manual else CaptureMethod.AUTOMATIC,
        amount_captured=captured,
        authorization_expires_at=T0 + timedelta(seconds=100 + n) if manual else None,
    )


def _operation(
    payment: Payment, n: int, kind: OperationKind, status: OperationStatus, amount: int, *, region: str = EU
) -> Operation:
    op_id = ids.new_operation_id(kind.value, T0 + timedelta(seconds=10 + n))
    pending = status is OperationStatus.PENDING
    return Operation(
        id=op_id,
        payment_id=payment.id,
        merchant_id=MERCHANT,
        kind=kind,
        status=status,
        amount=amount,
        created_at=ids.created_at(ids.PAYMENT_PREFIX + op_id.split("_", 1)[1]),
        region=region,
        bank_reference=payment.id,
        refund_reference=f"{payment.id}-{n}" if kind is OperationKind.REFUND else None,
        due_at=T0.timestamp() + 50 + n if pending else None,
    )


@attrs.frozen
class Scene:
    automatic: Payment  # captured, two refunds (one succeeded, one pending)
    manual: Payment  # authorized, a pending capture
    expiring: Payment  # authorized, expires at T0 + 100 + n
    voided: Payment  # authorized, a succeeded void
    refunds: tuple[Operation, Operation]
    capture: Operation
    void: Operation
    us_refund: Operation  # written by us-east-1 (a request received there)


def _scene() -> Scene:
    automatic = _payment(1, PaymentStatus.CAPTURED, captured=1000)
    manual = _payment(2, PaymentStatus.AUTHORIZED, manual=True)
    expiring = _payment(3, PaymentStatus.AUTHORIZED, manual=True)
    voided = _payment(4, PaymentStatus.AUTHORIZED, manual=True)
    refunds = (
        _operation(automatic, 1, OperationKind.REFUND, OperationStatus.SUCCEEDED, 300),
        _operation(automatic, 2, OperationKind.REFUND, OperationStatus.PENDING, 200),
    )
    return Scene(
        automatic=automatic,
        manual=manual,
        expiring=expiring,
        voided=voided,
        refunds=refunds,
        capture=_operation(manual, 3, OperationKind.CAPTURE, OperationStatus.PENDING, 1000),
        void=_operation(voided, 4, OperationKind.VOID, OperationStatus.SUCCEEDED, 1000),
        us_refund=_operation(automatic, 5, OperationKind.REFUND, OperationStatus.PENDING, 100, region=US),
    )


def _written(port: int, scene: Scene) -> DynamoRepository:
    client = dynamodb_client(f"http://127.0.0.1:{port}", TABLE_REGION)
    create_table(client, "lifecycle")
    repository = DynamoRepository(client, "lifecycle")
    for payment in (scene.automatic, scene.manual, scene.expiring, scene.voided):
        repository.save_pending(StoredPayment(payment, 1, bank_reference=payment.id))
    for op in (*scene.refunds, scene.capture, scene.void, scene.us_refund):
        repository.save_pending_operation(op)
    return repository


def _reads(repository: DynamoRepository, scene: Scene) -> dict[str, Any]:
    """Every lifecycle read, as plain values."""
    now = T0.timestamp()
    with_ops = repository.get_payment_with_operations(MERCHANT, scene.automatic.id)
    assert with_ops is not None
    return {
        "with_operations": (with_ops[0].payment.id, [op.id for op in with_ops[1]]),
        "missing": repository.get_payment_with_operations(MERCHANT, ids.new_payment_id(T0)),
        "due_operations_none_yet": repository.due_operations(EU, now, 10),
        "due_operations": [op.id for op in repository.due_operations(EU, now + 60, 10)],
        "due_operations_limit_1": [op.id for op in repository.due_operations(EU, now + 60, 1)],
        "due_operations_us": [op.id for op in repository.due_operations(US, now + 60, 10)],
        "due_expiries": [s.payment.id for s in repository.due_expiries(EU, now + 102.5, 10)],
        "due_expiries_all": [s.payment.id for s in repository.due_expiries(EU, now + 1000, 10)],
        "pending_operations": repository.pending_operations_summary(EU),
        "captured": [
            p.id for p in repository.list_payments(MERCHANT, ListQuery(status=PaymentStatus.CAPTURED)).payments
        ],
        "voided": [p.id for p in repository.list_payments(MERCHANT, ListQuery(status=PaymentStatus.VOIDED)).payments],
        "all": [
            (p.id, p.status.value, p.amount_captured, p.amount_refunded)
            for p in repository.list_payments(MERCHANT, ListQuery(limit=2)).payments
        ],
        "by_reference": [
            s.payment.id
            for s in repository.payments_with_reference(
                MERCHANT, scene.automatic.id, T0 - timedelta(hours=1), T0 + timedelta(hours=1)
            )
        ],
    }


def _listed(repository: DynamoRepository, query: ListQuery) -> list[str]:
    return [payment.id for payment in repository.list_payments(MERCHANT, query).payments]


@pytest.fixture(scope="module")
def answers(embedded: int, reference: int) -> tuple[Scene, dict[str, Any], dict[str, Any]]:
    scene = _scene()
    return scene, _reads(_written(embedded, scene), scene), _reads(_written(reference, scene), scene)


def test_the_embedded_dynamodb_reads_the_lifecycle_as_moto_does(answers: tuple[Scene, Any, Any]) -> None:
    _, ours, theirs = answers
    assert ours == theirs


def test_a_payment_is_read_with_its_operations_oldest_first(answers: tuple[Scene, Any, Any]) -> None:
    scene, ours, _ = answers
    refunds = [op.id for op in (*scene.refunds, scene.us_refund)]
    assert ours["with_operations"] == (scene.automatic.id, refunds)
    assert ours["missing"] is None


def test_due_operations_come_from_the_writer_region_s_partitions(answers: tuple[Scene, Any, Any]) -> None:
    scene, ours, _ = answers
    assert ours["due_operations_none_yet"] == []  # due at T0 + 50 + n
    # The pending ones in the index's order (by payment, then operation); at most the limit
    # (which one depends on the shards the ids fall in: each shard is read in sort-key order).
    assert ours["due_operations"] == [scene.refunds[1].id, scene.capture.id]
    assert len(ours["due_operations_limit_1"]) == 1
    assert set(ours["due_operations_limit_1"]) < set(ours["due_operations"])
    assert ours["due_operations_us"] == [scene.us_refund.id]
    assert ours["pending_operations"] == (2, scene.refunds[1].id)


def test_expiries_come_due_at_each_authorization_s_expiry(answers: tuple[Scene, Any, Any]) -> None:
    scene, ours, _ = answers
    assert ours["due_expiries"] == [scene.manual.id]  # T0 + 102; the next expires at T0 + 103
    assert ours["due_expiries_all"] == [scene.manual.id, scene.expiring.id, scene.voided.id]


def test_the_list_folds_operations_and_filters_by_the_folded_status(answers: tuple[Scene, Any, Any]) -> None:
    scene, ours, _ = answers
    assert ours["captured"] == [scene.automatic.id]
    assert ours["voided"] == [scene.voided.id]
    assert ours["all"] == [(scene.voided.id, "voided", 0, 0), (scene.expiring.id, "authorized", 0, 0)]


def test_the_reference_search_finds_the_payment_not_its_operations(answers: tuple[Scene, Any, Any]) -> None:
    scene, ours, _ = answers
    assert ours["by_reference"] == [scene.automatic.id]
