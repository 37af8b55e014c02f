"""The bank simulator's ledger in the gateway's table: items `BANK#<reference>` / `BANK`, and each
refund as `BANK#<reference>` / `REFUND#<refund reference>`.

Each operation is one conditional write on the reference's entry, so concurrent authorizations of
one reference charge once, a reversal cannot interleave with an authorization, and of a capture and
a reversal racing exactly one wins. A refund is one TransactWriteItems: its own item (only if its
refund reference is new) and the entry's refunded sum (only if the entry is captured and has that
much left), both or neither. A write the SDK retries after a lost answer finds its own item and
returns it, which is the idempotent answer anyway. Other DynamoDB failures propagate: the simulator
then fails with a 5xx, as a bank whose own store failed would.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from handlers.contract import schema
from handlers.domain.models import BankStatus
from handlers.simulator.ledger import LedgerEntry, RefundEntry, RefundOutcome, refundable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

    from handlers.adapters.dynamo_http import DynamoHttpClient

_CONDITION_FAILED = "ConditionalCheckFailedException"
_CANCELLED = "TransactionCanceledException"
_OPTIONAL = ("authorization_code", "currency", "card_last4", "fingerprint")
# A condition cannot add: `refundable_amount` (captured - refunded) is what a refund's condition
# compares its amount with. Stored on captured entries only; it is not part of a LedgerEntry.
_REFUNDABLE = "refundable_amount"
# A refund whose transaction was cancelled while the books allowed it (a TransactionConflict with a
# concurrent write) is tried again, at most this many times in all.
_REFUND_ATTEMPTS = 8
_STRIPES = 64


def _key(reference: str) -> dict[str, Any]:
    return {schema.PARTITION_KEY: {"S": schema.bank_pk(reference)}, schema.SORT_KEY: {"S": schema.BANK_SORT}}


def _refund_key(reference: str, refund_reference: str) -> dict[str, Any]:
    return {
        schema.PARTITION_KEY: {"S": schema.bank_pk(reference)},
        schema.SORT_KEY: {"S": schema.bank_refund_sk(refund_reference)},
    }


def to_item(entry: LedgerEntry) -> dict[str, Any]:
    item: dict[str, Any] = {
        **_key(entry.reference),
        "reference": {"S": entry.reference},
        "status": {"S": entry.status.value},
        "created_at": {"S": entry.created_at},
    }
    for name in _OPTIONAL:
        value = getattr(entry, name)
        if value is not None:
            item[name] = {"S": value}
    if entry.amount is not None:
        item["amount"] = {"N": str(entry.amount)}
    if entry.status is BankStatus.CAPTURED:
        item["captured_amount"] = {"N": str(entry.captured_amount)}
        item["refunded_amount"] = {"N": str(entry.refunded_amount)}
        item[_REFUNDABLE] = {"N": str(entry.captured_amount - entry.refunded_amount)}
    return item


def from_item(item: dict[str, Any]) -> LedgerEntry:
    optional = {name: item[name]["S"] for name in _OPTIONAL if name in item}
    amount = int(item["amount"]["N"]) if "amount" in item else None
    return LedgerEntry(
        reference=item["reference"]["S"],
        status=BankStatus(item["status"]["S"]),
        amount=amount,
        created_at=item.get("created_at", {}).get("S", ""),
        captured_amount=int(item["captured_amount"]["N"]) if "captured_amount" in item else 0,
        refunded_amount=int(item["refunded_amount"]["N"]) if "refunded_amount" in item else 0,
        **optional,
    )


def refund_to_item(refund: RefundEntry) -> dict[str, Any]:
    return {
        **_refund_key(refund.reference, refund.refund_reference),
        "reference": {"S": refund.reference},
        "refund_reference": {"S": refund.refund_reference},
        "amount": {"N": str(refund.amount)},
        "created_at": {"S": refund.created_at},
    }


def refund_from_item(item: dict[str, Any]) -> RefundEntry:
    return RefundEntry(
        reference=item["reference"]["S"],
        refund_reference=item["refund_reference"]["S"],
        amount=int(item["amount"]["N"]),
        created_at=item.get("created_at", {}).get("S", ""),
    )


def _old_item(error: ClientError) -> dict[str, Any] | None:
    if error.response.get("Error", {}).get("Code") != _CONDITION_FAILED:
        return None
    item: dict[str, Any] = error.response.get("Item") or {}  # type: ignore[assignment]
    return item


class DynamoLedger:
    def __init__(self, client: DynamoHttpClient, table_name: str) -> None:
        self._client = client
        self._table = table_name
        # One write at a time per reference from this process (striped locks). DynamoDB needs no
        # help, but the local stack's moto checks a condition and writes in separate steps; there
        # one simulator process serves both regions and is the only writer of BANK# items, so this
        # makes its writes to one reference atomic too. Deployed, a Lambda instance serves one
        # request at a time: the locks are never contended.
        self._stripes = tuple(threading.Lock() for _ in range(_STRIPES))

    def _writing(self, reference: str) -> threading.Lock:
        return self._stripes[hash(reference) % _STRIPES]

    def get(self, reference: str) -> LedgerEntry | None:
        answer = self._client.get_item(TableName=self._table, Key=_key(reference), ConsistentRead=True)
        item = answer.get("Item")
        return from_item(item) if item else None

    def add(self, entry: LedgerEntry) -> LedgerEntry | None:
        try:
            with self._writing(entry.reference):
                self._client.put_item(
                    TableName=self._table,
                    Item=to_item(entry),
                    ConditionExpression="attribute_not_exists(#pk)",
                    ExpressionAttributeNames={"#pk": schema.PARTITION_KEY},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as error:
            return self._existing(error, entry.reference)
        return None

    def reverse(self, reference: str, created_at: str) -> LedgerEntry:
        # One update covers both moves: a missing item is created as the blocking entry, an
        # authorized one is flipped; created_at keeps the authorization's time if there is one.
        try:
            with self._writing(reference):
                answer = self._client.update_item(
                    TableName=self._table,
                    Key=_key(reference),
                    UpdateExpression="SET #status = :reversed, #reference = :reference, "
                    "#created = if_not_exists(#created, :now)",
                    ConditionExpression="attribute_not_exists(#pk) OR #status = :authorized",
                    ExpressionAttributeNames={
                        "#pk": schema.PARTITION_KEY,
                        "#status": "status",
                        "#reference": "reference",
                        "#created": "created_at",
                    },
                    ExpressionAttributeValues={
                        ":reversed": {"S": BankStatus.REVERSED.value},
                        ":authorized": {"S": BankStatus.AUTHORIZED.value},
                        ":reference": {"S": reference},
                        ":now": {"S": created_at},
                    },
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as error:  # declined, captured or already reversed: returned as it is
            return self._existing(error, reference)
        return from_item(answer["Attributes"])

    def capture(self, reference: str, amount: int) -> LedgerEntry | None:
        # One conditional update: of a capture and a reversal racing (both require `authorized`),
        # exactly one changes the entry; the loser gets the winner's entry back.
        try:
            with self._writing(reference):
                answer = self._client.update_item(
                    TableName=self._table,
                    Key=_key(reference),
                    UpdateExpression="SET #status = :captured, #captured = :amount, #refunded = :zero, "
                    "#refundable = :amount",
                    ConditionExpression="#status = :authorized AND #amount >= :amount",
                    ExpressionAttributeNames={
                        "#status": "status",
                        "#amount": "amount",
                        "#captured": "captured_amount",
                        "#refunded": "refunded_amount",
                        "#refundable": _REFUNDABLE,
                    },
                    ExpressionAttributeValues={
                        ":captured": {"S": BankStatus.CAPTURED.value},
                        ":authorized": {"S": BankStatus.AUTHORIZED.value},
                        ":amount": {"N": str(amount)},
                        ":zero": {"N": "0"},
                    },
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as error:  # missing, or not authorized, or too little authorized: unchanged
            old = _old_item(error)
            if old is None:
                raise
            return from_item(old) if old else self.get(reference)
        return from_item(answer["Attributes"])

    def refund(self, refund: RefundEntry) -> RefundOutcome:
        for _ in range(_REFUND_ATTEMPTS):
            try:
                with self._writing(refund.reference):
                    self._client.transact_write_items(TransactItems=self._refund_writes(refund))
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != _CANCELLED:
                    raise
                # Refund items are never deleted, and an entry's refundable amount only shrinks:
                # what is read now explains the cancellation, unless it was a conflict to retry.
                existing = self.get_refund(refund.reference, refund.refund_reference)
                if existing is not None:
                    return RefundOutcome(existing)
                entry = self.get(refund.reference)
                if not refundable(entry, refund.amount):
                    return RefundOutcome(None, entry)
                continue
            return RefundOutcome(refund)
        raise RuntimeError("The refund's transaction kept conflicting with concurrent writes.")

    def _refund_writes(self, refund: RefundEntry) -> list[TransactWriteItemTypeDef]:
        return [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": refund_to_item(refund),
                    "ConditionExpression": "attribute_not_exists(#pk)",
                    "ExpressionAttributeNames": {"#pk": schema.PARTITION_KEY},
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": _key(refund.reference),
                    "UpdateExpression": "SET #refunded = #refunded + :amount, #refundable = #refundable - :amount",
                    "ConditionExpression": "#status = :captured AND #refundable >= :amount",
                    "ExpressionAttributeNames": {
                        "#status": "status",
                        "#refunded": "refunded_amount",
                        "#refundable": _REFUNDABLE,
                    },
                    "ExpressionAttributeValues": {
                        ":captured": {"S": BankStatus.CAPTURED.value},
                        ":amount": {"N": str(refund.amount)},
                    },
                }
            },
        ]

    def get_refund(self, reference: str, refund_reference: str) -> RefundEntry | None:
        answer = self._client.get_item(
            TableName=self._table, Key=_refund_key(reference, refund_reference), ConsistentRead=True
        )
        item = answer.get("Item")
        return refund_from_item(item) if item else None

    def _existing(self, error: ClientError, reference: str) -> LedgerEntry:
        old = _old_item(error)
        if old is None:
            raise error
        entry = from_item(old) if old else self.get(reference)
        if entry is None:  # unreachable: a condition only fails on an existing item, never deleted
            raise error
        return entry
