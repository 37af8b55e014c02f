"""The bank simulator's books: one entry per reference, behind a small interface.

Two implementations keep the same contract: `MemoryLedger` (one process: unit tests, an
in-process fake bank) and `handlers.simulator.dynamo_ledger.DynamoLedger` (the local stack and test
deployments). An entry never holds a card number or a CVV: a card-data audit scans the table.
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

    def record(self) -> BankRecord:
        """What the bank tells a client about the reference (inquiry and reversal answers)."""
        return BankRecord(self.status, self.authorization_code, self.amount, self.currency)


class Ledger(Protocol):
    def get(self, reference: str) -> LedgerEntry | None: ...

    def add(self, entry: LedgerEntry) -> LedgerEntry | None:
        """Record `entry` if its reference has no entry yet and return None; otherwise change
        nothing and return the existing entry. Atomic: of concurrent adds of one reference, one wins."""

    def reverse(self, reference: str, created_at: str) -> LedgerEntry:
        """Atomically: an authorized entry becomes reversed (keeping its code, amount and currency);
        a missing one becomes a blocking reversed entry without code, amount or currency; a declined
        or reversed one stays as it is. Return the entry as it is afterwards."""


def blocking_entry(reference: str, created_at: str) -> LedgerEntry:
    """A reversal that came before any authorization: nothing was charged, and nothing will be."""
    return LedgerEntry(reference, BankStatus.REVERSED, created_at=created_at)


class MemoryLedger:
    def __init__(self) -> None:
        self._entries: dict[str, LedgerEntry] = {}
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

    def entries(self) -> list[LedgerEntry]:
        """Every entry, for tests (how many charges, what is stored)."""
        with self._lock:
            return list(self._entries.values())
