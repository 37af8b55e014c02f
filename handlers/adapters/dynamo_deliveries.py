"""DynamoDB adapter for the webhook sender (handlers.domain.delivery.SenderStore): the events due in a
region's partitions of the sparse index, an event's version-conditioned rewrite, and what the sender
needs of a merchant's endpoints (read them; write their health unless the merchant changed them).

An event item (handlers.wire.converter.event_to_item writes it with its change) gains here its
`deliveries` (one map per endpoint), its `attempts` and a `version`: every write after the first checks
and moves it. While a delivery is due the item keeps `pending_pk = WEBHOOK#<writer region>#<shard>` and
`due_at`; once every delivery is finished both are dropped and the item leaves the index.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from handlers.adapters.attribute_values import from_item, to_item
from handlers.adapters.dynamo_errors import translated_errors
from handlers.contract import schema
from handlers.domain.webhooks import Attempt, Delivery, Endpoint, EventType, StoredEvent
from handlers.wire import converter

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

_MAX_DUE_PAGES = 10
VERSION_ATTRIBUTE = "version"
_ENDPOINT_KEYS = (schema.PARTITION_KEY, schema.SORT_KEY)


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {schema.PARTITION_KEY: {"S": pk}, schema.SORT_KEY: {"S": sk}}


def webhook_partition(region: str, event_id: str) -> str:
    return f"{schema.WEBHOOK_PENDING_PREFIX}{region}#{schema.pending_shard(event_id)}"


def stored_event_to_item(event: StoredEvent) -> dict[str, Any]:
    created = event.created_at.timestamp()
    item: dict[str, Any] = {
        schema.PARTITION_KEY: schema.merchant_pk(event.merchant_id),
        schema.SORT_KEY: schema.event_sk(event.id),
        "id": event.id,
        "type": event.type.value,
        "created_at": converter.format_timestamp(event.created_at),
        "region": event.region,
        "subject_id": json.loads(event.body)["data"]["id"],
        "body": event.body,
        "deliveries": [_delivery_to_map(delivery) for delivery in event.deliveries],
        "attempts": [_attempt_to_map(attempt) for attempt in event.attempts],
        VERSION_ATTRIBUTE: event.version,
        schema.TTL_ATTRIBUTE: int(created) + schema.EVENT_RETENTION_SECONDS,
    }
    if event.due_at is not None:  # still to deliver: in the sparse index under its writer's region
        item[schema.PENDING_PARTITION_KEY] = webhook_partition(event.region, event.id)
        item[schema.DUE_ATTRIBUTE] = event.due_at
    return item


def stored_event_from_item(item: Mapping[str, Any]) -> StoredEvent:
    due = item.get(schema.DUE_ATTRIBUTE)
    return StoredEvent(
        id=item["id"],
        merchant_id=item[schema.PARTITION_KEY].removeprefix(schema.MERCHANT_PREFIX),
        type=EventType(item["type"]),
        created_at=datetime.fromisoformat(item["created_at"]),
        region=item["region"],
        body=item["body"],
        due_at=float(due) if due is not None and schema.PENDING_PARTITION_KEY in item else None,
        deliveries=tuple(_delivery_from_map(value) for value in item.get("deliveries", ())),
        attempts=tuple(_attempt_from_map(value) for value in item.get("attempts", ())),
        version=int(item.get(VERSION_ATTRIBUTE, 0)),
    )


def _delivery_to_map(delivery: Delivery) -> dict[str, Any]:
    values: dict[str, Any] = {
        "endpoint_id": delivery.endpoint_id,
        "attempts": delivery.attempts,
        "delivered": delivery.delivered,
    }
    if delivery.next_at is not None:
        values["next_at"] = delivery.next_at
    return values


def _delivery_from_map(values: Mapping[str, Any]) -> Delivery:
    next_at = values.get("next_at")
    return Delivery(
        endpoint_id=values["endpoint_id"],
        attempts=int(values.get("attempts", 0)),
        next_at=None if next_at is None else float(next_at),
        delivered=bool(values.get("delivered", False)),
    )


def _attempt_to_map(attempt: Attempt) -> dict[str, Any]:
    return {
        "endpoint_id": attempt.endpoint_id,
        "at": converter.format_timestamp(attempt.at),
        "status": attempt.status,
        "error": attempt.error,
        "duration_ms": attempt.duration_ms,
    }


def _attempt_from_map(values: Mapping[str, Any]) -> Attempt:
    status = values.get("status")
    return Attempt(
        endpoint_id=values["endpoint_id"],
        at=datetime.fromisoformat(values["at"]),
        status=None if status is None else int(status),
        error=values.get("error"),
        duration_ms=int(values.get("duration_ms", 0)),
    )


def endpoint_to_item(endpoint: Endpoint) -> dict[str, Any]:
    """An endpoint item: its fields by name (datetimes as the API's timestamps, enums as their values)."""
    values: dict[str, Any] = converter.CONVERTER.unstructure(endpoint)
    values["events"] = list(values["events"])
    keys = {
        schema.PARTITION_KEY: schema.merchant_pk(endpoint.merchant_id),
        schema.SORT_KEY: schema.endpoint_sk(endpoint.id),
    }
    return {**values, **keys}


def endpoint_from_item(item: Mapping[str, Any]) -> Endpoint:
    values = {name: value for name, value in item.items() if name not in _ENDPOINT_KEYS}
    return converter.CONVERTER.structure(values, Endpoint)


class DeliveryItems:
    """Mixed into DynamoRepository: the same client and table."""

    _client: DynamoDBClient
    _table: str

    # --- events ------------------------------------------------------------------------------------

    def due_events(self, region: str, now: float, limit: int, *, after: str | None = None) -> list[StoredEvent]:
        """Each shard's due events, oldest first (ids sort by creation), above `after`: a few Queries."""
        found: list[StoredEvent] = []
        for partition in schema.pending_partitions(region, schema.WEBHOOK_PENDING_PREFIX):
            request = self._webhook_query(partition, after)
            request["FilterExpression"] = "#due <= :now"  # a retry later on the schedule is not due yet
            request["ExpressionAttributeNames"]["#due"] = schema.DUE_ATTRIBUTE
            request["ExpressionAttributeValues"][":now"] = {"N": repr(float(now))}
            for count, event in enumerate(self._read_due(request, limit)):
                if count >= limit:
                    break
                found.append(event)
        found.sort(key=lambda event: event.id)
        return found[:limit]

    def _webhook_query(self, partition: str, after: str | None) -> dict[str, Any]:
        low = schema.event_sk(after) + "\x00" if after is not None else schema.EVENT_PREFIX
        return {
            "TableName": self._table,
            "IndexName": schema.PENDING_INDEX,
            "KeyConditionExpression": "#ppk = :ppk AND #sk BETWEEN :low AND :high",
            "ExpressionAttributeNames": {"#ppk": schema.PENDING_PARTITION_KEY, "#sk": schema.SORT_KEY},
            "ExpressionAttributeValues": {
                ":ppk": {"S": partition},
                ":low": {"S": low},
                ":high": {"S": schema.EVENT_PREFIX + "\uffff"},
            },
            "ScanIndexForward": True,
        }

    def _read_due(self, request: dict[str, Any], limit: int) -> Iterator[StoredEvent]:
        # The filter applies after Limit: read on, or events waiting for a later retry at the head of
        # a shard would hide the due ones behind them.
        for _ in range(_MAX_DUE_PAGES):
            with translated_errors():
                answer = self._client.query(**request, Limit=limit)
            for item in answer.get("Items", []):
                yield stored_event_from_item(from_item(item))
            if not answer.get("LastEvaluatedKey"):
                return
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def oldest_undelivered(self, region: str) -> str | None:
        oldest: str | None = None
        for partition in schema.pending_partitions(region, schema.WEBHOOK_PENDING_PREFIX):
            request = self._webhook_query(partition, None)
            with translated_errors():
                answer = self._client.query(**request, Limit=1, ProjectionExpression="#sk")
            for item in answer.get("Items", []):
                event_id = str(item[schema.SORT_KEY]["S"]).removeprefix(schema.EVENT_PREFIX)
                oldest = event_id if oldest is None else min(oldest, event_id)
        return oldest

    def get_event(self, merchant_id: str, event_id: str) -> StoredEvent | None:
        with translated_errors():
            answer = self._client.get_item(
                TableName=self._table,
                Key=_key(schema.merchant_pk(merchant_id), schema.event_sk(event_id)),
                ConsistentRead=True,
            )
        item = answer.get("Item")
        return stored_event_from_item(from_item(item)) if item else None

    def replace_event(self, event: StoredEvent, previous_version: int) -> None:
        """The whole item, only if it exists (TTL may have deleted it) and still holds `previous_version`
        (the first write finds none: the change's transaction wrote the event without one)."""
        condition = "#v = :previous"
        if previous_version == 0:
            condition = "attribute_exists(#pk) AND (attribute_not_exists(#v) OR #v = :previous)"
        with translated_errors():
            self._client.put_item(
                TableName=self._table,
                Item=to_item(stored_event_to_item(event)),
                ConditionExpression=condition,
                ExpressionAttributeNames={
                    "#v": VERSION_ATTRIBUTE,
                    **({"#pk": schema.PARTITION_KEY} if previous_version == 0 else {}),
                },
                ExpressionAttributeValues={":previous": {"N": str(previous_version)}},
            )

    # --- endpoints, as the sender needs them ---------------------------------------------------------

    def endpoints(self, merchant_id: str) -> list[Endpoint]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :prefix)",
            "ExpressionAttributeNames": {"#pk": schema.PARTITION_KEY, "#sk": schema.SORT_KEY},
            "ExpressionAttributeValues": {
                ":pk": {"S": schema.merchant_pk(merchant_id)},
                ":prefix": {"S": schema.ENDPOINT_PREFIX},
            },
            "ConsistentRead": True,
        }
        found: list[Endpoint] = []
        while True:
            with translated_errors():
                answer = self._client.query(**request)
            found.extend(endpoint_from_item(from_item(item)) for item in answer.get("Items", []))
            if not answer.get("LastEvaluatedKey"):
                return found
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def update_endpoint(self, endpoint: Endpoint, previous: Endpoint) -> None:
        """PutItem (the sender's IAM has no UpdateItem) conditioned on what the merchant can change: a
        rotation (secret), an enable or disable (status), a deletion (the item)."""
        with translated_errors():
            self._client.put_item(
                TableName=self._table,
                Item=to_item(endpoint_to_item(endpoint)),
                ConditionExpression="#secret = :secret AND #status = :status",
                ExpressionAttributeNames={"#secret": "secret", "#status": "status"},
                ExpressionAttributeValues={
                    ":secret": {"S": previous.secret},
                    ":status": {"S": previous.status.value},
                },
            )
