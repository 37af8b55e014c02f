"""In-process stand-ins for DynamoDB and the bank, for cold-start and warm benchmarks.

The repository is tests.fakes.MemoryRepository: the repository contract suite checks it against
DynamoRepository, and its operations are O(1) or O(page). The bank is not tests.fakes.ScriptedBank,
which keeps every call for assertions, so its cost would grow during a run and be charged to the
handler.
"""

from __future__ import annotations

from typing import Any

from handlers.domain import ids
from handlers.domain.auth import hash_api_key
from handlers.domain.models import (
    BankDecision,
    BankRecord,
    BankStatus,
    CardSummary,
    Merchant,
    Payment,
    PaymentRequest,
    PaymentStatus,
    StoredPayment,
)
from tests.fakes import MemoryRepository

SEEDED_PAYMENT_ID = "pay_01JD2Z3Y4X5W6V7T8S9R0QPNMK"


class BenchRepository(MemoryRepository):
    """The tests' repository (contract-tested against DynamoRepository) with DynamoRepository's
    constructor, so the handlers' own composition (`handlers.entrypoints.wiring.repository`) still runs."""

    def __init__(self, client: object = None, table: str = "") -> None:
        super().__init__()
        self.client = client  # kept only so the handler's boto3 client is created and held, as on Lambda
        self.table = table


class BenchBank:
    """The simulator's rule (odd last digit: authorized) without HTTP; HttpBank's constructor."""

    def __init__(self, url: str = "", **_options: Any) -> None:
        self.url = url

    def authorize(self, payment_id: str, request: PaymentRequest, *, capture: bool = False) -> BankDecision:
        if int(request.card.number[-1]) % 2:
            return BankDecision(authorized=True, authorization_code="A1B2C3", captured=capture)
        return BankDecision(authorized=False, authorization_code=None)

    def inquire(self, reference: str) -> BankRecord | None:
        return None

    def reverse(self, reference: str) -> BankRecord:
        return BankRecord(BankStatus.REVERSED)


def seeded_repository(merchant_id: str, api_key: str, *, payment_id: str = SEEDED_PAYMENT_ID) -> BenchRepository:
    """A repository holding one merchant API key and one authorized payment."""
    repository = BenchRepository()
    repository.add_key(hash_api_key(api_key), Merchant(merchant_id, "Bench merchant"))
    payment = Payment(
        id=payment_id,
        merchant_id=merchant_id,
        status=PaymentStatus.AUTHORIZED,
        amount=1050,
        currency="GBP",
        reference="order-123",
        card=CardSummary("visa", "4291", 4, 2030),
        authorization_code="A1B2C3",
        created_at=ids.created_at(payment_id),
        region="eu-west-1",
    )
    repository.save_pending(StoredPayment(payment, attempt=1))  # the fake stores any status as given
    return repository
