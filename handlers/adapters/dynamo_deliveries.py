"""DynamoDB adapter for the webhook sender (handlers.domain.delivery.SenderStore): the events due in a
region's partitions of the webhooks index, an event's version-conditioned update, and what the sender
needs of a merchant's endpoints (read them; write their health unless the merchant changed them).

An event item (handlers.wire.converter.event_to_item writes it with its change) gains here its
`deliveries` (one map per endpoint), its `attempts` and a `version`: every write after the first checks
and moves it; the body is written back as it was read. While a delivery is due the item keeps
`webhook_pk = WEBHOOK#<writer region>#<shard>` and `due_at` (the webhooks index's keys); once every
delivery is finished both are dropped and the item leaves the index.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from handlers.adapters.attribute_values import from_item, to_item
from handlers.adapters.dynamo_errors import translated_errors
from handlers.contract import schema
from handlers.domain.webhook_pages import DueCursor, DuePage
from handlers.domain.webhooks import Endpoint, StoredEvent
from handlers.wire import webhooks as wire

if TYPE_CHECKING:
    from handlers.adapters.dynamo_http import DynamoHttpClient

VERSION_ATTRIBUTE = "version"
_INDEX_NAMES = {"#wpk": schema.WEBHOOK_PARTITION_KEY, "#due": schema.WEBHOOK_DUE_ATTRIBUTE}


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {schema.PARTITION_KEY: {"S": pk}, schema.SORT_KEY: {"S": sk}}


class DeliveryItems:
    """Mixed into DynamoRepository: the same client and table."""

    _client: DynamoHttpClient
    _table: str

    # --- events ------------------------------------------------------------------------------------

    def due_events(self, region: str, now: float, limit: int, cursor: DueCursor | None = None) -> DuePage:
        """The region's events due by `now`: from each shard an equal share of `limit`, in due order (the
        index sorts a shard by due time, so it reads only due ones), after where `cursor` left it. The
        cursor holds each shard's LastEvaluatedKey; a shard read to its end is left out of it."""
        share = -(-limit // schema.PENDING_SHARDS)
        found: list[StoredEvent] = []
        left: dict[str, Any] = {}
        for partition in schema.pending_partitions(region, schema.WEBHOOK_PENDING_PREFIX):
            if cursor is not None and partition not in cursor:
                continue  # read to its end in this pass
            request: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": schema.WEBHOOK_INDEX,
                "KeyConditionExpression": "#wpk = :wpk AND #due <= :now",
                "ExpressionAttributeNames": _INDEX_NAMES,
                "ExpressionAttributeValues": {":wpk": {"S": partition}, ":now": {"N": repr(float(now))}},
                "ScanIndexForward": True,
                "Limit": share,
            }
            if cursor is not None:
                request["ExclusiveStartKey"] = cursor[partition]
            with translated_errors():
                answer = self._client.query(**request)
            found.extend(wire.stored_event_from_item(from_item(item)) for item in answer.get("Items", []))
            if answer.get("LastEvaluatedKey"):
                left[partition] = answer["LastEvaluatedKey"]
        found.sort(key=lambda event: (event.due_at or 0.0, event.id))
        return DuePage(tuple(found), left or None)

    def get_event(self, merchant_id: str, event_id: str) -> StoredEvent | None:
        with translated_errors():
            answer = self._client.get_item(
                TableName=self._table,
                Key=_key(schema.merchant_pk(merchant_id), schema.event_sk(event_id)),
                ConsistentRead=True,
            )
        item = answer.get("Item")
        return wire.stored_event_from_item(from_item(item)) if item else None

    def replace_event(self, event: StoredEvent, previous_version: int) -> None:
        """The whole item, only if it exists (TTL may have deleted it) and still holds `previous_version`
        (the first write finds none: the change's transaction wrote the event without one). A PutItem,
        not an UpdateItem: the local stack's moto parses an update expression on every call (a quarter
        of its CPU under the design load when this was one), and a condition only once."""
        condition = "#v = :previous"
        names = {"#v": VERSION_ATTRIBUTE}
        if previous_version == 0:
            condition = "attribute_exists(#pk) AND (attribute_not_exists(#v) OR #v = :previous)"
            names["#pk"] = schema.PARTITION_KEY
        with translated_errors():
            self._client.put_item(
                TableName=self._table,
                Item=to_item(wire.stored_event_to_item(event)),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={":previous": {"N": str(previous_version)}},
            )

    # --- endpoints, as the sender needs them ---------------------------------------------------------
    # endpoints(merchant_id): WebhookItems' (handlers.adapters.dynamo_webhooks), on the same repository.

    def update_endpoint(self, endpoint: Endpoint, previous: Endpoint) -> None:
        """PutItem conditioned on what the merchant can change: a
        rotation (secret), an enable or disable (status), a deletion (the item)."""
        with translated_errors():
            self._client.put_item(
                TableName=self._table,
                Item=to_item(wire.endpoint_to_item(endpoint)),
                ConditionExpression="#secret = :secret AND #status = :status",
                ExpressionAttributeNames={"#secret": "secret", "#status": "status"},
                ExpressionAttributeValues={
                    ":secret": {"S": previous.secret},
                    ":status": {"S": previous.status.value},
                },
            )
