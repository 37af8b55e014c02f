"""DynamoDB adapter for the merchant's webhook API: endpoints (handlers.domain.ports.EndpointRepository),
the event log's reads, and a resend's requeue (handlers.domain.webhook_api.EventLog). Items as in
handlers.contract.schema: an endpoint is MERCHANT#<merchant> / ENDPOINT#<id>, an event MERCHANT#<merchant> /
EVENT#<id>, so every read and write is inside the merchant's own partition."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from handlers.adapters.attribute_values import from_item, to_attribute, to_item
from handlers.adapters.dynamo_errors import translated_errors
from handlers.contract import schema
from handlers.domain import ids
from handlers.domain.webhook_pages import EndpointPage, EndpointQuery, EventPage, EventQuery
from handlers.domain.webhooks import EVENT_PREFIX, Endpoint, StoredEvent
from handlers.wire import webhooks as wire

if TYPE_CHECKING:
    from handlers.adapters.dynamo_http import DynamoHttpClient

_MAX_ENDPOINT_PAGES = 5  # 1 MB each; a merchant has at most 16 endpoints
_MAX_EVENT_PAGES = 5  # a selective `type` filter may need several reads to fill one page
_MIN_EVENT_READ = 50
# Written by the region that created the endpoint or rotated it; the sender writes only its state.
_MUTABLE_ENDPOINT_FIELDS = (
    "url",
    "events",
    "status",
    "secret",
    "previous_secret",
    "previous_secret_until",
    "disabled_reason",
    "failing_since",
    "last_failure_at",
)


def _key(keys: dict[str, str]) -> dict[str, Any]:
    return {name: {"S": value} for name, value in keys.items()}


def _event_key(merchant_id: str, event_id: str) -> dict[str, Any]:
    return _key({schema.PARTITION_KEY: schema.merchant_pk(merchant_id), schema.SORT_KEY: schema.event_sk(event_id)})


class WebhookItems:
    """Mixed into DynamoRepository: the same client and table."""

    _client: DynamoHttpClient
    _table: str

    # --- endpoints -------------------------------------------------------------------------------

    def save_endpoint(self, endpoint: Endpoint) -> None:
        with translated_errors():
            self._client.put_item(
                TableName=self._table,
                Item=to_item(wire.endpoint_to_item(endpoint)),
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": schema.PARTITION_KEY},
            )

    def get_endpoint(self, merchant_id: str, endpoint_id: str) -> Endpoint | None:
        with translated_errors():
            answer = self._client.get_item(
                TableName=self._table, Key=_key(wire.endpoint_keys(merchant_id, endpoint_id)), ConsistentRead=True
            )
        item = answer.get("Item")
        return wire.endpoint_from_item(from_item(item)) if item else None

    def endpoints(self, merchant_id: str) -> list[Endpoint]:
        """Every endpoint of the merchant, oldest first (ids are ULIDs)."""
        return list(self._endpoints_from(merchant_id, None, None))

    def list_endpoints(self, merchant_id: str, query: EndpointQuery) -> EndpointPage:
        found = list(self._endpoints_from(merchant_id, query.after_id, query.limit + 1))
        if len(found) > query.limit:
            return EndpointPage(tuple(found[: query.limit]), found[query.limit - 1].id)
        return EndpointPage(tuple(found), None)

    def _endpoints_from(self, merchant_id: str, after_id: str | None, limit: int | None) -> Iterator[Endpoint]:
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
        if limit is not None:
            request["Limit"] = limit
        if after_id is not None:
            request["ExclusiveStartKey"] = _key(wire.endpoint_keys(merchant_id, after_id))
        count = 0
        for _ in range(_MAX_ENDPOINT_PAGES):
            with translated_errors():
                answer = self._client.query(**request)
            for item in answer.get("Items", []):
                yield wire.endpoint_from_item(from_item(item))
                count += 1
            last = answer.get("LastEvaluatedKey")
            if not last or (limit is not None and count >= limit):
                return
            request["ExclusiveStartKey"] = last

    def replace_endpoint(self, endpoint: Endpoint, previous: Endpoint) -> None:
        """The fields that differ from `previous` (set or removed), never its keys, id or creation, nor
        a field this change did not touch (the sender's health notes stay the sender's); ConditionFailed
        if it is gone or its secret or status is no longer `previous`'s (the sender checks the same)."""
        values, before = wire.endpoint_to_item(endpoint), wire.endpoint_to_item(previous)
        changed = [name for name in _MUTABLE_ENDPOINT_FIELDS if values.get(name) != before.get(name)]
        if not changed:
            return
        present = [name for name in changed if name in values]
        absent = [name for name in changed if name not in values]
        clauses = [f"SET {', '.join(f'#{name} = :{name}' for name in present)}"] if present else []
        clauses += [f"REMOVE {', '.join(f'#{name}' for name in absent)}"] if absent else []
        names = {f"#{name}": name for name in {*changed, "secret", "status"}} | {"#pk": schema.PARTITION_KEY}
        with translated_errors():
            self._client.update_item(
                TableName=self._table,
                Key=_key(wire.endpoint_keys(endpoint.merchant_id, endpoint.id)),
                UpdateExpression=" ".join(clauses),
                ConditionExpression="attribute_exists(#pk) AND #secret = :read_secret AND #status = :read_status",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={f":{name}": to_attribute(values[name]) for name in present}
                | {":read_secret": {"S": previous.secret}, ":read_status": {"S": previous.status.value}},
            )

    def delete_endpoint(self, merchant_id: str, endpoint_id: str) -> None:
        """ConditionFailed if there is no such endpoint."""
        with translated_errors():
            self._client.delete_item(
                TableName=self._table,
                Key=_key(wire.endpoint_keys(merchant_id, endpoint_id)),
                ConditionExpression="attribute_exists(#pk)",
                ExpressionAttributeNames={"#pk": schema.PARTITION_KEY},
            )

    # --- events ----------------------------------------------------------------------------------

    def get_event(self, merchant_id: str, event_id: str) -> StoredEvent | None:
        with translated_errors():
            answer = self._client.get_item(
                TableName=self._table, Key=_event_key(merchant_id, event_id), ConsistentRead=True
            )
        item = answer.get("Item")
        return wire.stored_event_from_item(from_item(item)) if item else None

    def list_events(self, merchant_id: str, query: EventQuery, created_from: datetime) -> EventPage:
        """Newest first, from the sort key's range of ids created since `created_from` (ULIDs sort by
        creation), so events past the retention are not listed even before DynamoDB's TTL deletes them."""
        low = schema.event_sk(EVENT_PREFIX + ids.id_bound(created_from, upper=False).removeprefix(ids.PAYMENT_PREFIX))
        high = schema.event_sk(EVENT_PREFIX + "\uffff")
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :low AND :high",
            "ExpressionAttributeNames": {"#pk": schema.PARTITION_KEY, "#sk": schema.SORT_KEY},
            "ExpressionAttributeValues": {
                ":pk": {"S": schema.merchant_pk(merchant_id)},
                ":low": {"S": low},
                ":high": {"S": high},
            },
            "ScanIndexForward": False,
            "Limit": max(query.limit + 1, _MIN_EVENT_READ) if query.type else query.limit + 1,
        }
        if query.after_id is not None:
            after = schema.event_sk(query.after_id)
            if after <= low:
                return EventPage((), None)
            if after <= high:  # DynamoDB refuses a start key outside the key condition
                request["ExclusiveStartKey"] = _event_key(merchant_id, query.after_id)
        if query.type is not None:
            request["FilterExpression"] = "#type = :type"
            request["ExpressionAttributeNames"]["#type"] = "type"
            request["ExpressionAttributeValues"][":type"] = {"S": query.type.value}
        return self._collect_events(request, query.limit)

    def _collect_events(self, request: dict[str, Any], limit: int) -> EventPage:
        found: list[StoredEvent] = []
        last_key: dict[str, Any] | None = None
        for pages in itertools.count(1):
            with translated_errors():
                answer = self._client.query(**request)
            found.extend(wire.stored_event_from_item(from_item(item)) for item in answer.get("Items", []))
            last_key = answer.get("LastEvaluatedKey")
            if len(found) > limit or not last_key or pages >= _MAX_EVENT_PAGES:
                break
            request["ExclusiveStartKey"] = last_key
        if len(found) > limit:
            return EventPage(tuple(found[:limit]), found[limit - 1].id)
        if last_key:  # the read budget ran out first (a filter matching little): resume where reading stopped
            return EventPage(tuple(found), last_key[schema.SORT_KEY]["S"].removeprefix(schema.EVENT_PREFIX))
        return EventPage(tuple(found), None)

    def requeue_event(self, event: StoredEvent, previous_version: int) -> None:
        """The event's deliveries and due time, and its writer's WEBHOOK# partition of the webhooks index
        (the writer's sender delivers it); its body, type and region are never touched. Conditioned on
        the version read (absent: 0), so a sender's write in between makes this ConditionFailed."""
        if event.due_at is None:  # an index key is never written empty: DynamoDB refuses the write
            raise ValueError("a requeued event is due at some time")
        with translated_errors():
            self._client.update_item(
                TableName=self._table,
                Key=_event_key(event.merchant_id, event.id),
                UpdateExpression="SET #deliveries = :deliveries, #due = :due, #pending = :pending, #version = :version",
                ConditionExpression="attribute_exists(#pk) AND "
                + (
                    "(attribute_not_exists(#version) OR #version = :previous)"
                    if previous_version == 0
                    else "#version = :previous"
                ),
                ExpressionAttributeNames={
                    "#pk": schema.PARTITION_KEY,
                    "#deliveries": "deliveries",
                    "#due": schema.WEBHOOK_DUE_ATTRIBUTE,
                    "#pending": schema.WEBHOOK_PARTITION_KEY,
                    "#version": "version",
                },
                ExpressionAttributeValues={
                    ":deliveries": to_attribute(wire.deliveries_to_item(event.deliveries)),
                    ":due": to_attribute(event.due_at),
                    ":pending": {"S": wire.event_pending_partition(event)},
                    ":version": {"N": str(event.version)},
                    ":previous": {"N": str(previous_version)},
                },
            )
