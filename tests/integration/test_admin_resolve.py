"""`python -m handlers.admin pending` and `resolve <payment_id>`: the operator's view of the payments
whose outcome is not known yet, and settling one now, over moto and a real localhost bank."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from handlers.adapters.bank import HttpBank
from handlers.adapters.dynamo import DynamoRepository
from handlers.domain import ids
from handlers.domain.models import CardSummary, Payment, PaymentStatus, StoredPayment
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
