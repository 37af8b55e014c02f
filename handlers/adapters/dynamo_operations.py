"""DynamoDB adapter for captures, voids and refunds (handlers.domain.ports.OperationRepository), and the
reads that return a payment with its operations. Items and index as in handlers.contract.schema."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from handlers.adapters.attribute_values import from_item, to_item
from handlers.adapters.dynamo_errors import translated_errors
from handlers.adapters.dynamo_events import conditional_put
from handlers.contract import schema
from handlers.domain import ids
from handlers.domain.lifecycle import fold
from handlers.domain.models import Operation, OperationStatus, Payment, StoredPayment
from handlers.domain.webhooks import NewEvent
from handlers.wire import converter

if TYPE_CHECKING:
    from handlers.adapters.dynamo_http import DynamoHttpClient

_MAX_PENDING_PAGES = 10
_MAX_OPERATION_PAGES = 10  # a payment's operations: 1 MB a page, far more refunds than any payment has


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {schema.PARTITION_KEY: {"S": pk}, schema.SORT_KEY: {"S": sk}}


def _operation_keys(operation: Operation) -> dict[str, str]:
    return {
        schema.PARTITION_KEY: schema.merchant_pk(operation.merchant_id),
        schema.SORT_KEY: schema.operation_sk(operation.payment_id, operation.id),
    }


class OperationItems:
    """Mixed into DynamoRepository: the same client and table."""

    _client: DynamoHttpClient
    _table: str

    def save_pending_operation(self, operation: Operation) -> None:
        with translated_errors():
            self._client.put_item(
                TableName=self._table,
                Item=to_item(converter.operation_to_item(operation, _operation_keys(operation))),
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": schema.PARTITION_KEY},
            )

    def transition_operation(
        self, operation: Operation, previous: OperationStatus, *, event: NewEvent | None = None
    ) -> None:
        put = {
            "TableName": self._table,
            "Item": to_item(converter.operation_to_item(operation, _operation_keys(operation))),
            "ConditionExpression": "#status = :previous",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":previous": {"S": previous.value}},
        }
        conditional_put(self._client, put, event=event)

    def get_operation(self, merchant_id: str, payment_id: str, operation_id: str) -> Operation | None:
        with translated_errors():
            answer = self._client.get_item(
                TableName=self._table,
                Key=_key(schema.merchant_pk(merchant_id), schema.operation_sk(payment_id, operation_id)),
                ConsistentRead=True,
            )
        item = answer.get("Item")
        return converter.operation_from_item(from_item(item)) if item else None

    def get_payment_with_operations(
        self, merchant_id: str, payment_id: str
    ) -> tuple[StoredPayment, tuple[Operation, ...]] | None:
        """One Query of the prefix PAYMENT#<id>: the payment's item, then its operations (oldest first)."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :prefix)",
            "ExpressionAttributeNames": {"#pk": schema.PARTITION_KEY, "#sk": schema.SORT_KEY},
            "ExpressionAttributeValues": {
                ":pk": {"S": schema.merchant_pk(merchant_id)},
                ":prefix": {"S": schema.payment_sk(payment_id)},
            },
            "ConsistentRead": True,
        }
        stored, operations = None, []
        for values in self._query_all(request, _MAX_OPERATION_PAGES):
            if converter.is_operation_item(values):
                operations.append(converter.operation_from_item(values))
            else:
                stored = converter.payment_from_item(values)
        if stored is None:
            return None
        return stored, tuple(sorted(operations, key=lambda op: op.id))

    def due_operations(self, region: str, now: float, limit: int, *, after: str | None = None) -> list[Operation]:
        """In the index's order (by payment, then operation), from `after` (an operation_key) on."""
        above = None if after is None else schema.PAYMENT_PREFIX + after
        found = [
            converter.operation_from_item(values)
            for partition in schema.pending_partitions(region, schema.OPERATION_PENDING_PREFIX)
            for values in self._due_in(partition, now, limit, above)
        ]
        return sorted(found, key=operation_key)[:limit]

    def due_expiries(self, region: str, now: float, limit: int, *, after: str | None = None) -> list[StoredPayment]:
        above = None if after is None else schema.payment_sk(after)
        found = [
            converter.payment_from_item(values)
            for partition in schema.pending_partitions(region, schema.EXPIRY_PREFIX)
            for values in self._due_in(partition, now, limit, above)
        ]
        return sorted(found, key=lambda stored: stored.payment.id)[:limit]

    def pending_operations_summary(self, region: str) -> tuple[int, str | None]:
        operations = [
            converter.operation_from_item(values)
            for partition in schema.pending_partitions(region, schema.OPERATION_PENDING_PREFIX)
            for values in self._query_all(self._index_query(partition), _MAX_PENDING_PAGES)
        ]
        oldest = min((op.id for op in operations), key=ids.creation_order, default=None)
        return len(operations), oldest

    def _due_in(self, partition: str, now: float, limit: int, above: str | None) -> Iterator[dict[str, Any]]:
        request = self._index_query(partition)
        if above is not None:  # the next batch starts after the last item tried
            request["KeyConditionExpression"] += " AND #sk > :above"
            request["ExpressionAttributeNames"]["#sk"] = schema.SORT_KEY
            request["ExpressionAttributeValues"][":above"] = {"S": above}
        request["FilterExpression"] = "#due <= :now"
        request["ExpressionAttributeNames"]["#due"] = schema.DUE_ATTRIBUTE
        request["ExpressionAttributeValues"][":now"] = {"N": repr(now)}
        request["Limit"] = limit
        # The filter applies after Limit: read on, or backed-off items would hide the due ones.
        yield from itertools.islice(self._query_all(request, _MAX_PENDING_PAGES), limit)

    def _query_all(self, request: dict[str, Any], max_pages: int) -> Iterator[dict[str, Any]]:
        for _ in range(max_pages):
            with translated_errors():
                answer = self._client.query(**request)
            yield from (from_item(item) for item in answer.get("Items", []))
            if not answer.get("LastEvaluatedKey"):
                return
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def _index_query(self, partition: str) -> dict[str, Any]:
        """One partition of the sparse index, oldest first."""
        return {
            "TableName": self._table,
            "IndexName": schema.PENDING_INDEX,
            "KeyConditionExpression": "#ppk = :ppk",
            "ExpressionAttributeNames": {"#ppk": schema.PENDING_PARTITION_KEY},
            "ExpressionAttributeValues": {":ppk": {"S": partition}},
        }


def operation_key(operation: Operation) -> str:
    """Where an operation sits in the index (its sort key after PAYMENT#): the resolver's cursor."""
    return schema.operation_sk(operation.payment_id, operation.id).removeprefix(schema.PAYMENT_PREFIX)


class PageFolder:
    """Folds a descending Query of a merchant's payments and operations into payments: an operation's
    sort key is above its payment's, so a payment's operations come just before it."""

    def __init__(self, wanted: Any = None) -> None:
        self._wanted = wanted  # a PaymentStatus to keep, or None for every payment
        self._operations: list[Operation] = []
        self._operations_of: str | None = None
        self.payments: list[Payment] = []

    @property
    def mid_payment(self) -> bool:
        """Operations were read whose payment's own item has not been yet."""
        return bool(self._operations)

    def add(self, values: dict[str, Any]) -> None:
        if converter.is_operation_item(values):
            operation = converter.operation_from_item(values)
            if operation.payment_id != self._operations_of:
                self._operations, self._operations_of = [], operation.payment_id
            self._operations.append(operation)
            return
        payment = converter.payment_from_item(values).payment
        mine = self._operations if self._operations_of == payment.id else []
        self._operations, self._operations_of = [], None
        view = fold(payment, sorted(mine, key=lambda op: op.id))
        if self._wanted is None or view.status is self._wanted:
            self.payments.append(view)
