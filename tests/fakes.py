"""In-memory stand-ins for the ports, with the same conditional-write semantics as handlers.dynamo
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

from handlers import ids
from handlers.errors import BankUnavailable, ConditionFailed
from handlers.models import (
    BankDecision,
    IdempotencyClaim,
    ListQuery,
    Merchant,
    Page,
    Payment,
    PaymentRequest,
    PaymentStatus,
    StoredPayment,
)


class MemoryRepository:
    def __init__(self) -> None:
        self.payments: dict[tuple[str, str], StoredPayment] = {}
        self.claims: dict[tuple[str, str], IdempotencyClaim] = {}
        self.keys: dict[str, Merchant] = {}
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

    def save_payment(self, stored: StoredPayment) -> None:
        with self._lock:
            key = (stored.payment.merchant_id, stored.payment.id)
            old = self.payments.get(key)
            if old is not None and old.payment.status is not PaymentStatus.FAILED:
                raise ConditionFailed("final outcome stored")
            self.writes += 1
            self.payments[key] = stored
            if old is None:
                bisect.insort(self._ids_by_merchant.setdefault(stored.payment.merchant_id, []), stored.payment.id)

    def get_payment(self, merchant_id: str, payment_id: str) -> StoredPayment | None:
        return self.payments.get((merchant_id, payment_id))

    def list_payments(self, merchant_id: str, query: ListQuery) -> Page:
        """Newest first, reading only as far as the page needs (a Query with a key range and Limit)."""
        with self._lock:  # a concurrent save shifts the index
            merchant_ids = self._ids_by_merchant.get(merchant_id, [])
            lower, upper = self._id_range(merchant_ids, query)
            found: list[Payment] = []
            for index in range(upper - 1, lower - 1, -1):
                payment = self.payments[(merchant_id, merchant_ids[index])].payment
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
    """Answers by the card's last digit like the simulator, or raises what `fail_with` says."""

    calls: list[tuple[str, PaymentRequest]] = attrs.field(factory=list)
    fail_with: Exception | None = None
    before_answer: Callable[[], None] | None = None

    def authorize(self, payment_id: str, request: PaymentRequest) -> BankDecision:
        self.calls.append((payment_id, request))
        if self.before_answer:
            self.before_answer()
        if self.fail_with is not None:
            raise self.fail_with
        last = int(request.card.number[-1])
        if last == 0:
            raise BankUnavailable("The bank answered HTTP 503.")
        if last % 2:
            return BankDecision(authorized=True, authorization_code=f"AUTH{len(self.calls)}")
        return BankDecision(authorized=False, authorization_code=None)


@attrs.define
class FakeClock:
    now: datetime = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
