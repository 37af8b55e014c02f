"""`python -m handlers.admin pending` and `resolve <payment_id>`: the operator's view of the payments
whose outcome is not known yet, and settling one now, over moto and a real localhost bank."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from handlers.adapters.bank import HttpBank
from handlers.adapters.dynamo import DynamoRepository
from handlers.domain import ids
from handlers.domain.models import (
    CaptureMethod,
    CardSummary,
    Operation,
    OperationKind,
    OperationStatus,
    Payment,
    PaymentStatus,
    StoredPayment,
)
from handlers.ops import admin
from handlers.wire.validation import ValidationRules, parse_payment_request
from tests.integration.conftest import REGION, TABLE
from tests.reliability.faultbank import FaultBank, running_bank
from tests.support import VISA_AUTHORIZED, payment_body


@pytest.fixture
def bank() -> Iterator[FaultBank]:
    with running_bank() as fault_bank:
        yield fault_bank


def pending(repository: DynamoRepository, reference: str | None = None) -> StoredPayment:
    payment_id = ids.new_payment_id(datetime.now(UTC))
    payment = Payment(
        id=payment_id,
        merchant_id="mer_a",
        status=PaymentStatus.PENDING,
        amount=1050,
        currency="GBP",
        reference=None,
        card=CardSummary("visa", VISA_AUTHORIZED[-4:], 4, 2030),
        authorization_code=None,
        created_at=ids.created_at(payment_id),
        region=REGION,
    )
    stored = StoredPayment(payment, 1, reference or payment_id, due_at=datetime.now(UTC).timestamp() + 10)
    repository.save_pending(stored)
    return stored


def charge(bank: FaultBank, reference: str) -> str:
    """The bank charged this reference, and its answer never reached the gateway."""
    request = parse_payment_request(payment_body(VISA_AUTHORIZED), ValidationRules(), datetime.now(UTC).date())
    decision = HttpBank(bank.url, connect_timeout=5, read_timeout=5).authorize(reference, request)
    assert decision.authorization_code
    return decision.authorization_code


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = admin.main(["--table", TABLE, "--region", REGION, *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_pending_lists_the_regions_pending_payments_oldest_first(
    dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    repository = DynamoRepository(dynamodb, TABLE)
    assert run(capsys, "pending")[:2] == (0, f"no pending payments owned by {REGION}\n")
    first, second = pending(repository), pending(repository)
    code, out, _ = run(capsys, "pending")
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("PAYMENT_ID")
    assert [line.split()[0] for line in lines[1:]] == [first.payment.id, second.payment.id]
    assert "1050 GBP" in lines[1]
    assert run(capsys, "pending", "--owner-region", "us-east-1")[1] == "no pending payments owned by us-east-1\n"


def test_resolve_writes_the_banks_record_of_a_charge_whose_answer_was_lost(
    dynamodb: Any, bank: FaultBank, capsys: pytest.CaptureFixture[str]
) -> None:
    repository = DynamoRepository(dynamodb, TABLE)
    stored = pending(repository, reference="idem_lost-answer")
    code = charge(bank, "idem_lost-answer")
    # stderr is left alone: an earlier test's logging handler may still point at a closed stream
    assert run(capsys, "resolve", stored.payment.id, "--bank-url", bank.url)[:2] == (
        0,
        f"{stored.payment.id}: authorized (authorization {code})\n",
    )
    settled = repository.get_payment("mer_a", stored.payment.id)
    assert settled is not None and (settled.status, settled.payment.authorization_code) == (
        PaymentStatus.AUTHORIZED,
        code,
    )
    assert bank.reversals == [] and len(bank.calls) == 1  # asked, never authorized again


def test_resolve_reverses_what_the_bank_never_saw_then_fails_it(
    dynamodb: Any, bank: FaultBank, capsys: pytest.CaptureFixture[str]
) -> None:
    repository = DynamoRepository(dynamodb, TABLE)
    stored = pending(repository)
    assert run(capsys, "resolve", stored.payment.id, "--bank-url", bank.url)[:2] == (
        0,
        f"{stored.payment.id}: failed\n",
    )
    assert bank.reversals == [stored.bank_reference] and bank.charges == {}
    assert repository.get_payment("mer_a", stored.payment.id).status is PaymentStatus.FAILED  # type: ignore[union-attr]


def test_resolve_fails_clearly_for_an_unknown_payment_or_an_unreachable_bank(
    dynamodb: Any, bank: FaultBank, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BANK_URL", raising=False)
    repository = DynamoRepository(dynamodb, TABLE)
    code, out, err = run(capsys, "resolve", "pay_01JD2Z3Y4X5W6V7T8S9R0QPNMK", "--bank-url", bank.url)
    assert code == 1 and out == "" and err.startswith("error: No pending payment") and "Traceback" not in err
    stored = pending(repository)
    bank.reachable = False
    code, out, err = run(capsys, "resolve", stored.payment.id, "--bank-url", bank.url)
    assert code == 1 and out == f"{stored.payment.id}: pending\n" and "stays pending" in err
    assert repository.get_payment("mer_a", stored.payment.id) == stored
    code, _, err = run(capsys, "resolve", stored.payment.id)
    assert code == 1 and "--bank-url" in err


# --- the lifecycle: a payment's captures, voids and refunds -------------------------------------------


def authorized(repository: DynamoRepository, *, captured: int = 0) -> StoredPayment:
    """A manual authorization (captured: then captured by the authorization, as automatic capture does)."""
    payment_id = ids.new_payment_id(datetime.now(UTC))
    payment = Payment(
        id=payment_id,
        merchant_id="mer_a",
        status=PaymentStatus.CAPTURED if captured else PaymentStatus.AUTHORIZED,
        amount=1050,
        currency="GBP",
        reference="order-9",
        card=CardSummary("visa", VISA_AUTHORIZED[-4:], 4, 2030),
        authorization_code="A1B2C3",
        created_at=ids.created_at(payment_id),
        region=REGION,
        capture_method=CaptureMethod.AUTOMATIC if captured else CaptureMethod.MANUAL,
        amount_captured=captured,
        authorization_expires_at=None if captured else datetime.now(UTC) + timedelta(days=7),
    )
    stored = StoredPayment(payment, 1, payment_id)
    repository.save_pending(stored)
    return stored


def operation(
    stored: StoredPayment,
    kind: OperationKind,
    amount: int,
    status: OperationStatus = OperationStatus.PENDING,
    failure_reason: str | None = None,
) -> Operation:
    op_id = ids.new_operation_id(kind.value, datetime.now(UTC))
    return Operation(
        id=op_id,
        payment_id=stored.payment.id,
        merchant_id="mer_a",
        kind=kind,
        status=status,
        amount=amount,
        created_at=datetime.now(UTC).replace(microsecond=0),
        region=REGION,
        bank_reference=stored.bank_reference,
        refund_reference=f"{op_id}-ref" if kind is OperationKind.REFUND else None,
        failure_reason=failure_reason,
        due_at=datetime.now(UTC).timestamp() + 10 if status is OperationStatus.PENDING else None,
    )


def test_show_prints_the_payment_as_folded_and_each_operation_without_card_data(
    dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    repository = DynamoRepository(dynamodb, TABLE)
    stored = authorized(repository, captured=1050)
    refunds = [
        operation(stored, OperationKind.REFUND, 300, OperationStatus.SUCCEEDED),
        operation(stored, OperationKind.REFUND, 900, OperationStatus.FAILED, "exceeds_captured"),
        operation(stored, OperationKind.REFUND, 200),
    ]
    for op in refunds:
        repository.save_pending_operation(op)

    code, out, _ = run(capsys, "show", stored.payment.id, "--merchant-id", "mer_a")

    assert code == 0
    fields = dict(line.split(":", 1) for line in out.split("\n\n")[0].splitlines())
    assert {name: value.strip() for name, value in fields.items()} == {
        "payment_id": stored.payment.id,
        "merchant_id": "mer_a",
        "status": "captured",
        "capture_method": "automatic",
        "amount": "1050 GBP",
        "amount_captured": "1050",
        "amount_refunded": "300",  # the succeeded refund only
        "region": REGION,
        "created_at": fields["created_at"].strip(),
        "authorization_expires_at": "-",
    }
    header, *rows = out.split("\n\n")[1].splitlines()
    assert header.split() == ["KIND", "OPERATION_ID", "STATUS", "AMOUNT", "REGION", "CREATED", "FAILURE"]
    assert [row.split()[:5] for row in rows] == [
        ["refund", refunds[0].id, "succeeded", "300", REGION],
        ["refund", refunds[1].id, "failed", "900", REGION],
        ["refund", refunds[2].id, "pending", "200", REGION],
    ]
    assert [row.split()[-1] for row in rows] == ["-", "exceeds_captured", "-"]
    assert rows[0].split()[5].endswith("Z")  # created_at
    assert VISA_AUTHORIZED[-4:] not in out and "visa" not in out and "card" not in out


def test_show_a_payment_without_operations_or_of_another_merchant(
    dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    repository = DynamoRepository(dynamodb, TABLE)
    stored = authorized(repository)
    code, out, _ = run(capsys, "show", stored.payment.id, "--merchant-id", "mer_a")
    assert code == 0 and out.endswith("no captures, voids or refunds\n")
    assert "status:                   authorized\n" in out and "authorization_expires_at: 20" in out
    code, out, err = run(capsys, "show", stored.payment.id, "--merchant-id", "mer_b")
    assert (code, out) == (1, "") and err.startswith(f"error: No payment {stored.payment.id} of merchant mer_b")


def test_pending_lists_pending_operations_after_the_payments(dynamodb: Any, capsys: pytest.CaptureFixture[str]) -> None:
    repository = DynamoRepository(dynamodb, TABLE)
    stored = authorized(repository, captured=1050)
    settled = operation(stored, OperationKind.REFUND, 100, OperationStatus.SUCCEEDED)
    waiting = operation(stored, OperationKind.REFUND, 250)
    for op in (settled, waiting):
        repository.save_pending_operation(op)

    code, out, _ = run(capsys, "pending")

    lines = out.splitlines()
    assert code == 0 and lines[0] == f"no pending payments owned by {REGION}"
    assert lines[2] == f"pending captures, voids and refunds written by {REGION}:"
    assert lines[3].split() == ["OPERATION_ID", "KIND", "PAYMENT_ID", "AMOUNT", "CREATED", "DUE_IN_S", "FAILURES"]
    assert [line.split()[:4] for line in lines[4:]] == [[waiting.id, "refund", stored.payment.id, "250"]]
    assert run(capsys, "pending", "--owner-region", "us-east-1")[1] == "no pending payments owned by us-east-1\n"


def test_resolve_settles_a_pending_void_from_the_bank_under_the_same_reference(
    dynamodb: Any, bank: FaultBank, capsys: pytest.CaptureFixture[str]
) -> None:
    repository = DynamoRepository(dynamodb, TABLE)
    stored = authorized(repository)
    charge(bank, stored.bank_reference)  # authorized at the bank; the void's answer was lost before it was sent
    void = operation(stored, OperationKind.VOID, 1050)
    repository.save_pending_operation(void)

    code, out, _ = run(capsys, "resolve", void.id, "--bank-url", bank.url)

    assert (code, out) == (0, f"{void.id}: void succeeded\n")
    assert bank.reversals == [stored.bank_reference]  # released once, under the payment's own reference
    held = repository.get_operation("mer_a", stored.payment.id, void.id)
    assert held is not None and (held.status, held.due_at) == (OperationStatus.SUCCEEDED, None)
    assert "status:                   voided" in run(capsys, "show", stored.payment.id, "--merchant-id", "mer_a")[1]


def test_resolve_an_operation_fails_clearly_when_unknown_or_the_bank_is_unreachable(
    dynamodb: Any, bank: FaultBank, capsys: pytest.CaptureFixture[str]
) -> None:
    repository = DynamoRepository(dynamodb, TABLE)
    code, out, err = run(capsys, "resolve", "vd_01JD2Z3Y4X5W6V7T8S9R0QPNMK", "--bank-url", bank.url)
    assert (code, out) == (1, "") and err.startswith(
        "error: No pending payment or operation vd_01JD2Z3Y4X5W6V7T8S9R0QPNMK"
    )
    stored = authorized(repository)
    void = operation(stored, OperationKind.VOID, 1050)
    repository.save_pending_operation(void)
    bank.reachable = False

    code, out, err = run(capsys, "resolve", void.id, "--bank-url", bank.url)

    assert code == 1 and out == f"{void.id}: void pending\n" and "stays pending" in err
    held = repository.get_operation("mer_a", stored.payment.id, void.id)
    # Left as it was: the operator writes only an outcome; backing off is the resolver's (its region's writer).
    assert held is not None and held.status is OperationStatus.PENDING and held.resolve_failures == 0
    assert bank.reversals == []
