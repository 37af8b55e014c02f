"""The small interfaces the domain needs; handlers.adapters.dynamo and handlers.adapters.bank implement them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from handlers.domain.models import (
    BankDecision,
    BankRecord,
    Heartbeat,
    IdempotencyClaim,
    ListQuery,
    Merchant,
    Operation,
    OperationStatus,
    Page,
    PaymentRequest,
    PaymentStatus,
    StoredPayment,
)
from handlers.domain.webhooks import Endpoint, NewEvent, StoredEvent


class PaymentRepository(Protocol):
    def claim(self, claim: IdempotencyClaim, now: float) -> IdempotencyClaim | None:
        """Take the key if it is free, expired or already this owner's; otherwise return the holder."""

    def take_over(self, claim: IdempotencyClaim) -> None:
        """Replace the claim whose attempt is `claim.attempt - 1` (or that this owner already wrote);
        ConditionFailed if someone else changed it."""

    def save_pending(self, stored: StoredPayment) -> None:
        """Write a new `pending` payment before the bank is called; ConditionFailed if the id exists."""

    def transition(
        self, stored: StoredPayment, previous: PaymentStatus, previous_attempt: int, *, event: NewEvent | None = None
    ) -> None:
        """Replace the payment only if it still has `previous` status and attempt (a pending one may be
        rewritten pending, to reschedule it); ConditionFailed otherwise. With `event`, the event that
        reports the change is written in the same transaction: both or neither."""

    def due_payments(
        self, region: str, now: float, created_before: str, limit: int, *, after: str | None = None
    ) -> Sequence[StoredPayment]:
        """Pending payments owned by `region` with `due_at <= now` and an id below `created_before`
        (and above `after`, to page on), oldest first, from the sparse pending index (never a scan)."""

    def payments_with_reference(
        self, merchant_id: str, bank_reference: str, created_from: datetime, created_to: datetime
    ) -> Sequence[StoredPayment]:
        """The merchant's payments sent to the bank under `bank_reference` and created in the range
        (inclusive): a key's reference is shared by one payment per region. StorageUnavailable when
        the range is too large to read whole (absence must be proven, never assumed)."""

    def pending_summary(self, region: str) -> tuple[int, str | None]:
        """How many payments `region` owns that are pending, and the oldest one's id."""

    def record_heartbeat(self, region: str, beat: Heartbeat) -> None:
        """This region's resolver is alive (and the table replicates what it writes)."""

    def heartbeats(self) -> Mapping[str, Heartbeat]:
        """Each region's last heartbeat, as this region's replica sees it."""

    def get_payment(self, merchant_id: str, payment_id: str) -> StoredPayment | None: ...

    def get_payment_with_operations(
        self, merchant_id: str, payment_id: str
    ) -> tuple[StoredPayment, tuple[Operation, ...]] | None:
        """The payment and its captures, voids and refunds (oldest first), read together."""

    def list_payments(self, merchant_id: str, query: ListQuery) -> Page: ...

    def ping(self) -> None:
        """Answer a read quickly or raise StorageUnavailable."""


class OperationRepository(Protocol):
    """Captures, voids and refunds: one item each, beside their payment, written only by `op.region`."""

    def save_pending_operation(self, operation: Operation) -> None:
        """Write a new `pending` operation before the bank is called; ConditionFailed if the id exists."""

    def transition_operation(
        self, operation: Operation, previous: OperationStatus, *, event: NewEvent | None = None
    ) -> None:
        """Replace the operation only if it still has `previous` status (pending may be rewritten
        pending, to reschedule it); ConditionFailed otherwise. With `event`: both or neither."""

    def get_operation(self, merchant_id: str, payment_id: str, operation_id: str) -> Operation | None: ...

    def due_operations(self, region: str, now: float, limit: int, *, after: str | None = None) -> Sequence[Operation]:
        """Pending operations written by `region` with `due_at <= now`, from the sparse pending index,
        by payment then operation (`"<payment id>#<operation id>"`, the cursor `after` pages on)."""

    def pending_operations_summary(self, region: str) -> tuple[int, str | None]:
        """How many operations `region` wrote that are pending, and the oldest one's id."""

    def due_expiries(self, region: str, now: float, limit: int, *, after: str | None = None) -> Sequence[StoredPayment]:
        """Manual authorizations owned by `region` whose `authorization_expires_at` has passed, by
        payment id (above `after`, to page on)."""


class EventRepository(Protocol):
    """Webhook events (written with their changes: PaymentRepository.transition and the operations')."""

    def get_event(self, merchant_id: str, event_id: str) -> StoredEvent | None: ...

    def replace_event(self, event: StoredEvent, previous_version: int) -> None:
        """Write the event's deliveries; ConditionFailed unless the table holds `previous_version`."""


class EndpointRepository(Protocol):
    def save_endpoint(self, endpoint: Endpoint) -> None:
        """A new endpoint; ConditionFailed if the id exists."""

    def get_endpoint(self, merchant_id: str, endpoint_id: str) -> Endpoint | None: ...

    def endpoints(self, merchant_id: str) -> Sequence[Endpoint]:
        """The merchant's endpoints, oldest first."""

    def replace_endpoint(self, endpoint: Endpoint, previous: Endpoint) -> None:
        """Write an existing endpoint's new state (rotation, enable) over `previous`, as read; ConditionFailed
        if it is gone or its secret or status changed since (another rotation, the sender's disable)."""

    def delete_endpoint(self, merchant_id: str, endpoint_id: str) -> None: ...


class MerchantDirectory(Protocol):
    def merchant_for_key(self, key_hash: str) -> Merchant | None: ...

    def add_key(self, key_hash: str, merchant: Merchant) -> None: ...

    def revoke_key(self, key_hash: str) -> None: ...

    def api_keys(self) -> Iterable[tuple[str, Merchant]]:
        """Every key's hash and merchant, revoked ones too; for the operator's command, not for requests."""


class Bank(Protocol):
    """The acquirer's protocol (docs/bank.md). The same reference with the same body is never charged twice."""

    def authorize(self, reference: str, request: PaymentRequest, *, capture: bool = False) -> BankDecision:
        """Ask for an authorization (and with `capture`, take the money in the same message). Raise
        BankNotProcessed when the bank provably did not process it (never sent, or an explicit
        not-processed answer), BankOutcomeUnknown when it may have."""

    def inquire(self, reference: str) -> BankRecord | None:
        """The bank's record of this reference, None if it has none; BankUnreachable on any failure."""

    def reverse(self, reference: str) -> BankRecord:
        """Reverse (idempotently) and block any later authorization of the reference: this is also
        the void. BankRefusal("already_captured") after a capture; BankUnreachable on any failure."""

    def capture(self, reference: str, amount: int) -> int:
        """Capture `amount` of the reference's authorization (one capture per reference: the same
        amount again gets the same answer); returns the captured amount. BankRefusal with the bank's
        error (already_captured, reference_reversed, not_found, ...) when it refused; BankNotProcessed
        when it provably did not process the request; BankOutcomeUnknown when it may have."""

    def refund(self, reference: str, refund_reference: str, amount: int) -> None:
        """Refund `amount` of the reference's capture, idempotently per `refund_reference`. Errors as
        for `capture` (refusals: exceeds_captured, not_captured, refund_reference_reused, ...)."""

    def refund_status(self, reference: str, refund_reference: str) -> int | None:
        """The amount the bank refunded under `refund_reference`, None if it has no such refund;
        BankUnreachable on any failure."""
