"""DynamoDB item sizes, computed from the handlers' own converter so that they follow the code."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from handlers.contract import schema
from handlers.domain.models import (
    CardSummary,
    IdempotencyClaim,
    Operation,
    OperationKind,
    OperationStatus,
    Payment,
    PaymentStatus,
    StoredPayment,
)
from handlers.wire import converter


def item_bytes(item: dict[str, object]) -> int:
    """DynamoDB's item size: attribute names plus values (strings UTF-8, numbers ~1 byte per 2 digits + 1)."""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


def _value_bytes(value: object) -> int:
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int | float):
        digits = len(str(abs(value)).replace(".", "").lstrip("0")) or 1
        return math.ceil(digits / 2) + 1
    if isinstance(value, dict):
        return 3 + sum(len(str(k).encode()) + _value_bytes(v) + 1 for k, v in value.items())
    return len(str(value).encode())


def sample_payment_item() -> dict[str, object]:
    payment_id = "pay_01JD2Z3Y4X5W6V7T8S9R0QPNMK"
    merchant = "mer_01JBENCH000000000000000000"
    payment = Payment(
        id=payment_id,
        merchant_id=merchant,
        status=PaymentStatus.AUTHORIZED,
        amount=1050,
        currency="GBP",
        reference="order-2026-11-26-000123",
        card=CardSummary("visa", "4291", 4, 2030),
        authorization_code="0CBDF7770145",
        created_at=datetime(2026, 11, 26, 10, 34, 45, 756000, tzinfo=UTC),
        region="eu-west-1",
    )
    keys = {schema.PARTITION_KEY: schema.merchant_pk(merchant), schema.SORT_KEY: schema.payment_sk(payment_id)}
    item: dict[str, object] = converter.payment_to_item(StoredPayment(payment, 1), keys)
    return item


def sample_claim_item() -> dict[str, object]:
    claim = IdempotencyClaim(
        merchant_id="mer_01JBENCH000000000000000000",
        key="9f8c2a4e-6b1d-4c3a-8e7f-0a1b2c3d4e5f",
        fingerprint="ab" * 32,
        payment_id="pay_01JD2Z3Y4X5W6V7T8S9R0QPNMK",
        attempt=1,
        lease_until=1795689377.759,
        expires_at=1795775767,
        owner="5d41402abc4b2a76",
    )
    keys = {
        schema.PARTITION_KEY: schema.merchant_pk(claim.merchant_id),
        schema.SORT_KEY: schema.idempotency_sk(claim.key),
    }
    item: dict[str, object] = converter.claim_to_item(claim, keys)
    return item


def sample_operation_item() -> dict[str, object]:
    """A refund as written before the bank is called (pending: with the sparse index's key and due
    time), the largest an operation item gets: a reason, the refund reference. Under 1 KB: 1 WRU."""
    merchant, payment_id = "mer_01JBENCH000000000000000000", "pay_01JD2Z3Y4X5W6V7T8S9R0QPNMK"
    operation = Operation(
        id="re_01JD2Z3Y4X5W6V7T8S9R0QPNMK",
        payment_id=payment_id,
        merchant_id=merchant,
        kind=OperationKind.REFUND,
        status=OperationStatus.PENDING,
        amount=1050,
        created_at=datetime(2026, 11, 27, 9, 12, 5, 123000, tzinfo=UTC),
        region="eu-west-1",
        bank_reference=payment_id,
        refund_reference="rr_" + "ab" * 20,
        reason="requested_by_customer",
        due_at=1795689377.759,
    )
    keys = {
        schema.PARTITION_KEY: schema.merchant_pk(merchant),
        schema.SORT_KEY: schema.operation_sk(payment_id, operation.id),
    }
    item: dict[str, object] = converter.operation_to_item(operation, keys)
    return item
