"""In-memory stand-ins for the ports, with the same conditional-write semantics as handlers.dynamo
(tests/integration/test_repository_contract.py runs one suite against both)."""

from __future__ import annotations

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

    def get_payment(self, merchant_id: str, payment_id: str) -> StoredPayment | None:
        return self.payments.get((merchant_id, payment_id))

    def list_payments(self, merchant_id: str, query: ListQuery) -> Page:
        mine = sorted(
            (s.payment for (m, _), s in self.payments.items() if m == merchant_id), key=lambda p: p.id, reverse=True
        )
        selected = [
            p
            for p in mine
            if (query.after_id is None or p.id < query.after_id)
            and (query.status is None or p.status is query.status)
            and (query.created_from is None or p.id >= ids.id_bound(query.created_from, upper=False))
            and (query.created_to is None or p.id < ids.id_bound(query.created_to, upper=False))
        ]
        page = selected[: query.limit]
        return Page(tuple(page), page[-1].id if len(selected) > query.limit else None)

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
