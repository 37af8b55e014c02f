"""The bank simulator's books: one entry per reference and its refunds, behind a small interface.

Two implementations keep the same contract: `MemoryLedger` (one process: unit tests, an
in-process fake bank) and `handlers.simulator.dynamo_ledger.DynamoLedger` (the local stack and test
deployments). Every write is atomic: of racing operations on one reference, the entry as it is
decides (a capture and a reversal: one wins; concurrent refunds never exceed the captured amount).
An entry never holds a card number or a CVV, and a refund holds no card data: a card-data audit
scans the table.
"""

from __future__ import annotations

import threading
from typing import Protocol

import attrs

from handlers.domain.models import BankRecord, BankStatus


@attrs.frozen
class LedgerEntry:
    reference: str
    status: BankStatus
    authorization_code: str | None = None
    amount: int | None = None
    currency: str | None = None
    card_last4: str | None = None
    # Of the authorize body, to tell a retry from a reused reference (handlers.simulator.bank.body_fingerprint).
    fingerprint: str | None = None
    created_at: str = ""  # ISO 8601, UTC
    captured_amount: int = 0  # set once, by a capturing authorization or the one capture
    refunded_amount: int = 0  # the sum of the reference's refunds, never above captured_amount

    def record(self) -> BankRecord:
        """What the bank tells a client about the reference (inquiry and reversal answers)."""
        return BankRecord(
            self.status,
            self.authorization_code,
            self.amount,
            self.currency,
            captured_amount=self.captured_amount,
            refunded_amount=self.refunded_amount,
        )


@attrs.frozen
class RefundEntry:
    """One refund of a captured reference, idempotent per `refund_reference` (within the reference)."""

    reference: str
    refund_reference: str
    amount: int
    created_at: str = ""  # ISO 8601, UTC


@attrs.frozen
class RefundOutcome:
    """`refund`: the refund stored under the refund reference (the new one, or an earlier one with
    that reference); when there is none, `entry` is the reference's entry that refused it (None:
    no such reference)."""

    refund: RefundEntry | None
    entry: LedgerEntry | None = None


class Ledger(Protocol):
    def get(self, reference: str) -> LedgerEntry | None: ...

    def add(self, entry: LedgerEntry) -> LedgerEntry | None:
        """Record `entry` if its reference has no entry yet and return None; otherwise change
        nothing and return the existing entry. Atomic: of concurrent adds of one reference, one wins."""

    def reverse(self, reference: str, created_at: str) -> LedgerEntry:
        """Atomically: an authorized entry becomes reversed (keeping its code, amount and currency);
        a missing one becomes a blocking reversed entry without code, amount or currency; a declined,
        captured or reversed one stays as it is. Return the entry as it is afterwards."""

    def capture(self, reference: str, amount: int) -> LedgerEntry | None:
        """Atomically: an authorized entry whose amount is at least `amount` becomes captured with
        captured_amount = amount; any other entry stays as it is. Return the entry as it is
        afterwards, None if the reference has none."""

    def refund(self, refund: RefundEntry) -> RefundOutcome:
        """Atomically: record `refund` and add its amount to the entry's refunded_amount, if no refund
        has its refund reference yet, the entry is captured and the refunded sum stays at most the
        captured amount; otherwise change nothing."""

    def get_refund(self, reference: str, refund_reference: str) -> RefundEntry | None: ...


def blocking_entry(reference: str, created_at: str) -> LedgerEntry:
    """A reversal that came before any authorization: nothing was charged, and nothing will be."""
    return LedgerEntry(reference, BankStatus.REVERSED, created_at=created_at)


def refundable(entry: LedgerEntry | None, amount: int) -> bool:
    """Whether `amount` more can be refunded from the entry now."""
    return (
        entry is not None
        and entry.status is BankStatus.CAPTURED
        and entry.refunded_amount + amount <= entry.captured_amount
    )


class MemoryLedger:
    def __init__(self) -> None:
        self._entries: dict[str, LedgerEntry] = {}
        self._refunds: dict[tuple[str, str], RefundEntry] = {}
        self._lock = threading.Lock()

    def get(self, reference: str) -> LedgerEntry | None:
        with self._lock:
            return self._entries.get(reference)

    def add(self, entry: LedgerEntry) -> LedgerEntry | None:
        with self._lock:
            existing = self._entries.get(entry.reference)
            if existing is None:
                self._entries[entry.reference] = entry
            return existing

    def reverse(self, reference: str, created_at: str) -> LedgerEntry:
        with self._lock:
            existing = self._entries.get(reference)
            if existing is None:
                existing = self._entries[reference] = blocking_entry(reference, created_at)
            elif existing.status is BankStatus.AUTHORIZED:
                existing = self._entries[reference] = attrs.evolve(existing, status=BankStatus.REVERSED)
            return existing

    def capture(self, reference: str, amount: int) -> LedgerEntry | None:
        with self._lock:
            existing = self._entries.get(reference)
            if (
                existing is not None
                and existing.status is BankStatus.AUTHORIZED
                and existing.amount is not None
                and amount <= existing.amount
            ):
                existing = self._entries[reference] = attrs.evolve(
                    existing, status=BankStatus.CAPTURED, captured_amount=amount, refunded_amount=0
                )
            return existing

    def refund(self, refund: RefundEntry) -> RefundOutcome:
        key = (refund.reference, refund.refund_reference)
        with self._lock:
            existing = self._refunds.get(key)
            if existing is not None:
                return RefundOutcome(existing)
            entry = self._entries.get(refund.reference)
            if entry is None or not refundable(entry, refund.amount):
                return RefundOutcome(None, entry)
            self._refunds[key] = refund
            self._entries[refund.reference] = attrs.evolve(entry, refunded_amount=entry.refunded_amount + refund.amount)
            return RefundOutcome(refund)

    def get_refund(self, reference: str, refund_reference: str) -> RefundEntry | None:
        with self._lock:
            return self._refunds.get((reference, refund_reference))

    def entries(self) -> list[LedgerEntry]:
        """Every entry, for tests (how many charges, what is stored)."""
        with self._lock:
            return list(self._entries.values())

    def refunds(self) -> list[RefundEntry]:
        """Every refund, for tests."""
        with self._lock:
            return list(self._refunds.values())
