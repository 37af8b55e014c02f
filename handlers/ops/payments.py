"""The operator's payment commands (python -m handlers.admin, see handlers.ops.admin): `show` a payment
with its captures, voids and refunds, list what is `pending` (payments and operations), and `resolve`
one of them now from the bank's record. Card data is never printed: the table holds none beyond the
brand and last 4 digits, and these commands print neither."""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime

from handlers.adapters.bank import HttpBank
from handlers.adapters.dynamo import DynamoRepository
from handlers.contract.resolution import UnknownOutcome
from handlers.domain import ids
from handlers.domain.lifecycle import fold
from handlers.domain.models import Operation, OperationStatus, PaymentStatus, StoredPayment
from handlers.domain.operation_settlement import OperationSettlement
from handlers.domain.ports import Bank
from handlers.domain.settlement import ResolutionPolicy, Settlement
from handlers.ops.cli import AdminError, Command, argument, default_region
from handlers.wire.converter import format_timestamp

_FAR_FUTURE = 32_503_680_000.0  # year 3000: "due or not"
_MAX_LISTED = 1000


def _pending_payments(repository: DynamoRepository, region: str) -> list[StoredPayment]:
    # Due or not: every pending payment the region owns, from the sparse index (never a scan).
    return repository.due_payments(region, _FAR_FUTURE, ids.PAYMENT_PREFIX + "\uffff", _MAX_LISTED)


def _pending_operations(repository: DynamoRepository, region: str) -> list[Operation]:
    # Due or not: every capture, void and refund the region wrote and has not settled (the same index).
    return repository.due_operations(region, _FAR_FUTURE, _MAX_LISTED)


def _due_in(due_at: float | None, now: float) -> str:
    return f"{(due_at or now) - now:.0f}"


def _pending(repository: DynamoRepository, args: argparse.Namespace) -> None:
    region = args.owner_region or default_region(args.region)
    found, operations = _pending_payments(repository, region), _pending_operations(repository, region)
    now = datetime.now(UTC).timestamp()
    if not found:
        print(f"no pending payments owned by {region}")
    else:
        print("PAYMENT_ID                      MERCHANT_ID  AMOUNT       CREATED                   DUE_IN_S  FAILURES")
    for stored in found:
        payment = stored.payment
        amount = f"{payment.amount} {payment.currency}"
        due_in = _due_in(stored.due_at, now)
        created = format_timestamp(payment.created_at)
        print(f"{payment.id}  {payment.merchant_id}  {amount:<11}  {created}  {due_in:>8}  {stored.resolve_failures}")
    if not operations:  # nothing more to say: the output is as before the lifecycle when none is pending
        return
    print(f"\npending captures, voids and refunds written by {region}:")
    print(f"{'OPERATION_ID':<29}  {'KIND':<7}  {'PAYMENT_ID':<30}  {'AMOUNT':>6}  {'CREATED':<24}  DUE_IN_S  FAILURES")
    for op in operations:
        created = format_timestamp(op.created_at)
        due_in = _due_in(op.due_at, now)
        failures = op.resolve_failures
        print(f"{op.id}  {op.kind.value:<7}  {op.payment_id}  {op.amount:>6}  {created}  {due_in:>8}  {failures}")


def _bank(args: argparse.Namespace) -> Bank:
    bank_url = args.bank_url or os.environ.get("BANK_URL")
    if not bank_url:
        raise AdminError("Give the bank's URL with --bank-url or $BANK_URL (pulumi config get bankUrl).")
    return HttpBank(bank_url, connect_timeout=5.0, read_timeout=10.0)


def _resolve(repository: DynamoRepository, args: argparse.Namespace) -> None:
    region = args.owner_region or default_region(args.region)
    if not args.payment_id.startswith(ids.PAYMENT_PREFIX):
        _resolve_operation(repository, args, region)
        return
    stored = next((s for s in _pending_payments(repository, region) if s.payment.id == args.payment_id), None)
    if stored is None:
        raise AdminError(f"No pending payment {args.payment_id} owned by {region} (see the pending command).")
    settlement = Settlement(
        payments=repository,
        bank=_bank(args),
        region=region,
        policy=ResolutionPolicy(unknown_outcome=UnknownOutcome(args.unknown_outcome)),
    )
    final = settlement.settle(stored)
    code = f" (authorization {final.payment.authorization_code})" if final.payment.authorization_code else ""
    print(f"{final.payment.id}: {final.status.value}{code}")
    if final.status is PaymentStatus.PENDING:
        raise AdminError(
            "The bank could not be reached, or the payment's shared reference (Idempotency-Key) may still be "
            "sent by a request: the payment stays pending, and the resolver retries it."
        )


def _resolve_operation(repository: DynamoRepository, args: argparse.Namespace, region: str) -> None:
    """A pending capture, void or refund: ask the bank by its reference, finish it under the same one."""
    op = next((o for o in _pending_operations(repository, region) if o.id == args.payment_id), None)
    if op is None:
        raise AdminError(
            f"No pending payment or operation {args.payment_id} written by {region} (see the pending command)."
        )
    # As for payments: the operator writes only an outcome, never a reschedule (the resolver owns those).
    settlement = OperationSettlement(
        operations=repository, payments=repository, bank=_bank(args), policy=ResolutionPolicy()
    )
    final = settlement.settle(op, reschedule=False)
    reason = f" ({final.failure_reason})" if final.failure_reason else ""
    print(f"{final.id}: {final.kind.value} {final.status.value}{reason}")
    if final.status is OperationStatus.PENDING:
        raise AdminError("The bank could not be reached: the operation stays pending, and the resolver retries it.")


def _show(repository: DynamoRepository, args: argparse.Namespace) -> None:
    found = repository.get_payment_with_operations(args.merchant_id, args.payment_id)
    if found is None:
        raise AdminError(f"No payment {args.payment_id} of merchant {args.merchant_id}.")
    stored, operations = found
    view = fold(stored.payment, operations)
    expires = view.authorization_expires_at
    rows = [
        ("payment_id", view.id),
        ("merchant_id", view.merchant_id),
        ("status", view.status.value + (f" (stored: {stored.status.value})" if view.status != stored.status else "")),
        ("capture_method", view.capture_method.value),
        ("amount", f"{view.amount} {view.currency}"),
        ("amount_captured", str(view.amount_captured)),
        ("amount_refunded", str(view.amount_refunded)),
        ("region", view.region),
        ("created_at", format_timestamp(view.created_at)),
        ("authorization_expires_at", format_timestamp(expires) if expires else "-"),
    ]
    for name, value in rows:
        print(f"{name + ':':<26}{value}")
    if not operations:
        print("no captures, voids or refunds")
        return
    print(f"\n{'KIND':<7}  {'OPERATION_ID':<29}  {'STATUS':<9}  {'AMOUNT':>6}  {'REGION':<9}  {'CREATED':<24}  FAILURE")
    for op in operations:
        created = format_timestamp(op.created_at)
        failure = op.failure_reason or "-"
        print(
            f"{op.kind.value:<7}  {op.id}  {op.status.value:<9}  {op.amount:>6}  {op.region:<9}  {created}  {failure}"
        )


PAYMENT_COMMANDS: dict[str, Command] = {
    "show": Command(
        "show one payment as the merchant sees it, with its captures, voids and refunds (no card data)",
        _show,
        (
            argument("payment_id", help="the payment (pay_...)"),
            argument("--merchant-id", required=True, help="its merchant: the table keeps payments per merchant"),
        ),
    ),
    "pending": Command(
        "list the payments, then the captures, voids and refunds, whose outcome is not known yet, oldest first"
        " (from the pending index)",
        _pending,
        (argument("--owner-region", help="the region that owns them (default: --region)"),),
    ),
    "resolve": Command(
        "settle one pending payment, capture, void or refund now from the bank's record",
        _resolve,
        (
            argument(
                "payment_id",
                help="the payment (pay_...) or operation (cp_..., vd_..., re_...), as the pending command lists it",
            ),
            argument("--owner-region", help="the region that owns it or wrote it (default: --region)"),
            argument("--bank-url", help="the acquirer (default: $BANK_URL)"),
            argument(
                "--unknown-outcome",
                choices=[o.value for o in UnknownOutcome],
                default=UnknownOutcome.SETTLE.value,
                help="reverse: reverse an authorization found late, as the stack's unknownOutcome (default settle)",
            ),
        ),
    ),
}
