"""The small interfaces the domain needs; handlers.dynamo and handlers.bank implement them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from handlers.models import BankDecision, IdempotencyClaim, ListQuery, Merchant, Page, PaymentRequest, StoredPayment


class PaymentRepository(Protocol):
    def claim(self, claim: IdempotencyClaim, now: float) -> IdempotencyClaim | None:
        """Take the key if it is free, expired or already this owner's; otherwise return the holder."""

    def take_over(self, claim: IdempotencyClaim) -> None:
        """Replace the claim whose attempt is `claim.attempt - 1` (or that this owner already wrote);
        ConditionFailed if someone else changed it."""

    def save_payment(self, stored: StoredPayment) -> None:
        """Write a new payment or replace a `failed` one; ConditionFailed if a final outcome is stored."""

    def get_payment(self, merchant_id: str, payment_id: str) -> StoredPayment | None: ...

    def list_payments(self, merchant_id: str, query: ListQuery) -> Page: ...

    def ping(self) -> None:
        """Answer a read quickly or raise StorageUnavailable."""


class MerchantDirectory(Protocol):
    def merchant_for_key(self, key_hash: str) -> Merchant | None: ...

    def add_key(self, key_hash: str, merchant: Merchant) -> None: ...

    def revoke_key(self, key_hash: str) -> None: ...

    def api_keys(self) -> Iterable[tuple[str, Merchant]]:
        """Every key's hash and merchant, revoked ones too; for the operator's command, not for requests."""


class Bank(Protocol):
    def authorize(self, reference: str, request: PaymentRequest) -> BankDecision:
        """Ask the acquirer; raise BankUnavailable on any failure or unusable answer. The same
        reference on a retry lets a deduplicating acquirer answer without charging again."""
