"""The bank simulator's ledger in the gateway's table: items `BANK#<reference>` / `BANK`.

Each operation is one conditional write, so concurrent authorizations of one reference charge
once and a reversal cannot interleave with an authorization. A write the SDK retries after a lost
answer finds its own item and returns it, which is the idempotent answer anyway. Other DynamoDB
failures propagate: the simulator then fails with a 5xx, as a bank whose own store failed would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from handlers.contract import schema
from handlers.domain.models import BankStatus
from handlers.simulator.ledger import LedgerEntry

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

_CONDITION_FAILED = "ConditionalCheckFailedException"
_OPTIONAL = ("authorization_code", "currency", "card_last4", "fingerprint")


def _key(reference: str) -> dict[str, Any]:
    return {schema.PARTITION_KEY: {"S": schema.bank_pk(reference)}, schema.SORT_KEY: {"S": schema.BANK_SORT}}


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
    return item


def from_item(item: dict[str, Any]) -> LedgerEntry:
    optional = {name: item[name]["S"] for name in _OPTIONAL if name in item}
    amount = int(item["amount"]["N"]) if "amount" in item else None
    return LedgerEntry(
        reference=item["reference"]["S"],
        status=BankStatus(item["status"]["S"]),
        amount=amount,
        created_at=item.get("created_at", {}).get("S", ""),
        **optional,
    )


def _old_item(error: ClientError) -> dict[str, Any] | None:
    if error.response.get("Error", {}).get("Code") != _CONDITION_FAILED:
        return None
    item: dict[str, Any] = error.response.get("Item") or {}  # type: ignore[assignment]
    return item


class DynamoLedger:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def get(self, reference: str) -> LedgerEntry | None:
        answer = self._client.get_item(TableName=self._table, Key=_key(reference), ConsistentRead=True)
        item = answer.get("Item")
        return from_item(item) if item else None

    def add(self, entry: LedgerEntry) -> LedgerEntry | None:
        try:
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
        except ClientError as error:  # declined or already reversed: final, returned as it is
            return self._existing(error, reference)
        return from_item(answer["Attributes"])

    def _existing(self, error: ClientError, reference: str) -> LedgerEntry:
        old = _old_item(error)
        if old is None:
            raise error
        entry = from_item(old) if old else self.get(reference)
        if entry is None:  # unreachable: a condition only fails on an existing item, never deleted
            raise error
        return entry
