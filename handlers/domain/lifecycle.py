"""The payment as merchants see it, folded from its authorization and its operations. Plain Python.

A payment's item records the authorization (and, written by its owner region only, an automatic
capture, an expiry or what it learnt from the bank). Each capture, void and refund is an item of its
own, written only by the region that received the request: conditional writes are checked in the
local replica only, so an item with two writing regions could lose a write to last-writer-wins.
The bank's single record per reference decides between regions (of a capture and a void racing in
two regions, it accepts one; it refuses refunds above the captured amount), and every region folds
the same items into the same payment once they have replicated.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

from handlers.domain.errors import AmountTooLarge, InvalidState
from handlers.domain.models import Operation, OperationKind, OperationStatus, Payment, PaymentStatus


def succeeded(operations: Iterable[Operation], kind: OperationKind) -> list[Operation]:
    return [op for op in operations if op.kind is kind and op.status is OperationStatus.SUCCEEDED]


def distinct_refunds(operations: Iterable[Operation]) -> list[Operation]:
    """Refunds, one per refund reference (oldest first). A refund retried with its Idempotency-Key in
    the other region during the replication lag has an item in each region but one bank reference:
    the bank refunded it once, and it counts once. Of its items, the one that knows most tells its
    outcome: `succeeded` (the bank holds it), then `pending`, then `failed` (the other item's request
    may have been refused while this one's went through); it keeps the oldest item's id."""
    chosen: dict[str, Operation] = {}
    for op in sorted(operations, key=lambda op: op.id):
        if op.kind is not OperationKind.REFUND:
            continue
        key = op.refund_reference or op.id
        held = chosen.get(key)
        if held is None:
            chosen[key] = op
        elif _RANK[op.status] > _RANK[held.status]:
            chosen[key] = attrs.evolve(op, id=held.id, created_at=held.created_at)
    return sorted(chosen.values(), key=lambda op: op.id)


_RANK = {OperationStatus.FAILED: 0, OperationStatus.PENDING: 1, OperationStatus.SUCCEEDED: 2}


def fold(payment: Payment, operations: Sequence[Operation]) -> Payment:
    """The payment with its captures, voids and refunds applied."""
    if payment.status is PaymentStatus.AUTHORIZED:
        captures = succeeded(operations, OperationKind.CAPTURE)
        if captures:  # one capture per reference at the bank: every succeeded capture has its amount
            payment = attrs.evolve(payment, status=PaymentStatus.CAPTURED, amount_captured=captures[0].amount)
        elif succeeded(operations, OperationKind.VOID):
            payment = attrs.evolve(payment, status=PaymentStatus.VOIDED)
    if payment.status is not PaymentStatus.CAPTURED:
        return payment
    refunded = sum(op.amount for op in distinct_refunds(operations) if op.status is OperationStatus.SUCCEEDED)
    return attrs.evolve(payment, amount_refunded=min(refunded, payment.amount_captured))


def refundable(payment: Payment, operations: Sequence[Operation]) -> int:
    """What may still be refunded: the captured amount less every refund that did not fail."""
    taken = sum(op.amount for op in distinct_refunds(operations) if op.status is not OperationStatus.FAILED)
    return max(0, payment.amount_captured - taken)


def pending_modification(operations: Sequence[Operation]) -> Operation | None:
    """A capture or void whose outcome is not known yet: another one must wait for it."""
    return next(
        (op for op in operations if op.kind is not OperationKind.REFUND and op.status is OperationStatus.PENDING),
        None,
    )


def check_allowed(view: Payment, kind: OperationKind) -> None:
    """Capture and void only from `authorized`, a refund only from `captured` (409 naming the status)."""
    required = PaymentStatus.CAPTURED if kind is OperationKind.REFUND else PaymentStatus.AUTHORIZED
    if view.status is not required:
        only = _article(required.value).lower()
        raise InvalidState(
            f"{_article(view.status.value)} payment cannot be {_PAST[kind]}: only {only} one can.", view.status.value
        )


def operation_amount(view: Payment, operations: Sequence[Operation], kind: OperationKind, asked: int | None) -> int:
    """The amount to send: what was asked, or the default (the whole amount to capture, what is left
    to refund); AmountTooLarge naming the maximum when it is above what the payment allows now."""
    if kind is OperationKind.VOID:
        return view.amount
    maximum = view.amount if kind is OperationKind.CAPTURE else refundable(view, operations)
    amount = maximum if asked is None else asked
    if amount > maximum or amount < 1:
        what = "captured" if kind is OperationKind.CAPTURE else "refunded"
        raise AmountTooLarge(f"At most {maximum} can be {what} now.", maximum)
    return amount


_PAST = {OperationKind.CAPTURE: "captured", OperationKind.VOID: "voided", OperationKind.REFUND: "refunded"}


def _article(word: str) -> str:
    return f"{'An' if word[0] in 'aeiou' else 'A'} {word}"
