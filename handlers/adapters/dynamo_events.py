"""Writing a state change together with the webhook event that reports it: one TransactWriteItems of the
changed item (with its condition) and the event's new item, so neither is ever written without the other."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from handlers.adapters.attribute_values import to_item
from handlers.adapters.dynamo_errors import translated_errors
from handlers.contract import schema
from handlers.domain.webhooks import NewEvent
from handlers.wire import converter

if TYPE_CHECKING:
    from handlers.adapters.dynamo_http import DynamoHttpClient


def conditional_put(client: DynamoHttpClient, put: dict[str, Any], *, event: NewEvent | None) -> None:
    """PutItem with its condition (`put`: PutItem's arguments), or with `event` a transaction of both
    writes. The event's id is the transaction's idempotency token: the SDK's retry of a transaction
    whose answer was lost succeeds instead of failing its own condition."""
    with translated_errors():
        if event is None:
            client.put_item(**put)
            return
        event_put: dict[str, Any] = {
            "TableName": put["TableName"],
            "Item": to_item(converter.event_to_item(event)),
            "ConditionExpression": "attribute_not_exists(#pk)",
            "ExpressionAttributeNames": {"#pk": schema.PARTITION_KEY},
        }
        writes: Any = [{"Put": put}, {"Put": event_put}]  # PutItem's arguments are a transaction's Put
        client.transact_write_items(TransactItems=writes, ClientRequestToken=event.id)
