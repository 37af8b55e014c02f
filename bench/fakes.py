"""In-process stand-ins for DynamoDB and the bank, for cold-start and warm benchmarks.

Why not tests.fakes: those are built for assertions, not for thousands of calls. `ScriptedBank`
keeps every call in a list and `MemoryRepository.list_payments` sorts the merchant's whole
history on each call, so their cost would grow during a run and be charged to the handler.
Here every operation is O(1) or O(page): the figures measure the handler, not the fake.

`BenchRepository(client, table)` has DynamoRepository's constructor, so the handlers' own
composition (`handlers.api._repository`) still runs, creating its boto3 client as on Lambda.
"""

from __future__ import annotations

import bisect
from typing import Any

from handlers import ids
from handlers.auth import hash_api_key
from handlers.errors import ConditionFailed
from handlers.models import (
    BankDecision,
    CardSummary,
    IdempotencyClaim,
    ListQuery,
    Merchant,
    Page,
    Payment,
    PaymentRequest,
    PaymentStatus,
    StoredPayment,
)

SEEDED_PAYMENT_ID = "pay_01JD2Z3Y4X5W6V7T8S9R0QPNMK"


class BenchRepository:
    """PaymentRepository and MerchantDirectory over dicts, with DynamoRepository's write conditions."""

    def __init__(self, client: object = None, table: str = "") -> None:
        self.client = client  # kept only so the handler's boto3 client is created and held, as on Lambda
        self.table = table
        self.payments: dict[tuple[str, str], StoredPayment] = {}
        self.claims: dict[tuple[str, str], IdempotencyClaim] = {}
        self.keys: dict[str, Merchant] = {}
        self._ids_by_merchant: dict[str, list[str]] = {}

    def claim(self, claim: IdempotencyClaim, now: float) -> IdempotencyClaim | None:
        held = self.claims.get((claim.merchant_id, claim.key))
        if held is not None and held.expires_at > now:
            return held
        self.claims[(claim.merchant_id, claim.key)] = claim
        return None

    def take_over(self, claim: IdempotencyClaim) -> None:
        held = self.claims.get((claim.merchant_id, claim.key))
        if held is None or held.attempt != claim.attempt - 1:
            raise ConditionFailed("attempt changed")
        self.claims[(claim.merchant_id, claim.key)] = claim

    def save_payment(self, stored: StoredPayment) -> None:
        key = (stored.payment.merchant_id, stored.payment.id)
        old = self.payments.get(key)
        if old is not None and old.payment.status is not PaymentStatus.FAILED:
            raise ConditionFailed("final outcome stored")
        if old is None:
            bisect.insort(self._ids_by_merchant.setdefault(stored.payment.merchant_id, []), stored.payment.id)
        self.payments[key] = stored

    def get_payment(self, merchant_id: str, payment_id: str) -> StoredPayment | None:
        return self.payments.get((merchant_id, payment_id))

    def list_payments(self, merchant_id: str, query: ListQuery) -> Page:
        """Newest first, reading only as far as the page needs (like a DynamoDB Query with Limit)."""
        found: list[Payment] = []
        for payment_id in reversed(self._ids_by_merchant.get(merchant_id, [])):
            if query.after_id is not None and payment_id >= query.after_id:
                continue
            payment = self.payments[(merchant_id, payment_id)].payment
            if query.status is not None and payment.status is not query.status:
                continue
            found.append(payment)
            if len(found) > query.limit:
                return Page(tuple(found[: query.limit]), found[query.limit - 1].id)
        return Page(tuple(found), None)

    def ping(self) -> None:
        return None

    def merchant_for_key(self, key_hash: str) -> Merchant | None:
        return self.keys.get(key_hash)

    def add_key(self, key_hash: str, merchant: Merchant) -> None:
        if key_hash in self.keys:
            raise ConditionFailed("key exists")
        self.keys[key_hash] = merchant

    def revoke_key(self, key_hash: str) -> None:
        old = self.keys[key_hash]
        self.keys[key_hash] = Merchant(old.id, old.name, active=False)


class BenchBank:
    """The simulator's rule (odd last digit: authorized) without HTTP; HttpBank's constructor."""

    def __init__(self, url: str = "", **_options: Any) -> None:
        self.url = url

    def authorize(self, payment_id: str, request: PaymentRequest) -> BankDecision:
        if int(request.card.number[-1]) % 2:
            return BankDecision(authorized=True, authorization_code="A1B2C3")
        return BankDecision(authorized=False, authorization_code=None)


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
    repository.save_payment(StoredPayment(payment, attempt=1))
    return repository
