"""DynamoDB adapter: payments, idempotency claims and API keys in the one table of handlers.contract.schema.

Every write is a single-item conditional PutItem; ClientError codes become domain errors here.
"""

from __future__ import annotations

import copy
import functools
import itertools
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from handlers.adapters.attribute_values import from_item, to_item
from handlers.adapters.dynamo_deliveries import DeliveryItems
from handlers.adapters.dynamo_errors import translated_errors
from handlers.adapters.dynamo_events import conditional_put
from handlers.adapters.dynamo_http import DynamoHttpClient, tls_verification
from handlers.adapters.dynamo_operations import OperationItems, PageFolder
from handlers.adapters.dynamo_webhooks import WebhookItems
from handlers.contract import schema
from handlers.domain import ids
from handlers.domain.errors import ConditionFailed, StorageUnavailable
from handlers.domain.models import (
    Heartbeat,
    IdempotencyClaim,
    ListQuery,
    Merchant,
    Page,
    PaymentStatus,
    StoredPayment,
)
from handlers.domain.webhooks import NewEvent
from handlers.wire import converter

_MAX_QUERY_PAGES = 5  # a selective status filter may need several reads to fill one page
_MAX_GROUP_PAGES = 50  # a payment with very many refunds: read on to its own item (a list must progress)
_MIN_LIST_READ = 50  # items a list page reads at least: a payment's operations are items too
_MAX_PENDING_PAGES = 10
_MAX_REFERENCE_PAGES = 50  # 1 MB each: a busy merchant's few minutes of payments


def make_client(
    region: str, endpoint_url: str | None, *, timeout: float, attempts: int = 3, connect_timeout: float | None = None
) -> DynamoHttpClient:
    """A client whose worst case fits the function timeout after the bank's share: a write after the
    bank gets 3 attempts of 0.5 + 0.5 s (or ~3 s of throttling backoff), and still logs and answers.
    `connect_timeout` (default: `timeout`) lets the operator's command give up sooner on a dead endpoint.

    The lean client of dynamo_http (botocore's credentials, HTTP layer, retries and errors without its
    per-call pipeline): ~0.6 ms of CPU less per call and no service model to load at a cold start."""
    config = Config(
        connect_timeout=timeout if connect_timeout is None else connect_timeout,
        read_timeout=timeout,
        # total_max_attempts counts the first try; botocore's max_attempts counts only retries.
        retries={"mode": "standard", "total_max_attempts": attempts},
        tcp_keepalive=True,
        # Our requests are built by this module, not by callers: botocore's client-side validation
        # of them cost 12-14% of a payment's CPU (bench), and the lean client has none.
        parameter_validation=False,
    )
    session = _session()
    # A copy of the session's events per client, as botocore's clients get: moto's mock and the tests'
    # fault hooks answer at before-send.
    events = copy.copy(session.get_component("event_emitter"))
    verify = tls_verification(session.get_config_variable("ca_bundle"))
    return DynamoHttpClient(
        region, endpoint_url, credentials=session.get_credentials, events=events, config=config, verify=verify
    )


@functools.cache
def _session() -> botocore.session.Session:
    """botocore's own session, not boto3's: boto3 adds nothing here and its import (resources,
    s3transfer) costs a fifth of a cold start. One per process: it resolves and caches credentials."""
    return botocore.session.get_session()


def _marshal(item: Mapping[str, Any]) -> dict[str, Any]:
    return to_item(item)


def _unmarshal(item: Mapping[str, Any]) -> dict[str, Any]:
    return from_item(item)


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {schema.PARTITION_KEY: {"S": pk}, schema.SORT_KEY: {"S": sk}}


def _payment_keys(merchant_id: str, payment_id: str) -> dict[str, str]:
    return _key_values(schema.merchant_pk(merchant_id), schema.payment_sk(payment_id))


def _claim_keys(claim: IdempotencyClaim) -> dict[str, str]:
    return _key_values(schema.merchant_pk(claim.merchant_id), schema.idempotency_sk(claim.key))


class DynamoRepository(OperationItems, WebhookItems, DeliveryItems):
    """PaymentRepository, OperationRepository, EndpointRepository, EventRepository, the webhook API's
    EventLog and MerchantDirectory over one DynamoDB table."""

    def __init__(self, client: DynamoHttpClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    @property
    def client(self) -> DynamoHttpClient:
        return self._client

    # --- idempotency claims ----------------------------------------------------------------------

    def claim(self, claim: IdempotencyClaim, now: float) -> IdempotencyClaim | None:
        keys = _claim_keys(claim)
        try:
            with translated_errors():
                self._client.put_item(
                    TableName=self._table,
                    Item=_marshal(converter.claim_to_item(claim, keys)),
                    # TTL deletion lags by hours, so an expired claim counts as free; our own claim
                    # is there when the SDK retries a write whose answer was lost.
                    ConditionExpression="attribute_not_exists(#pk) OR #expires <= :now OR #owner = :owner",
                    ExpressionAttributeNames={
                        "#pk": schema.PARTITION_KEY,
                        "#expires": schema.TTL_ATTRIBUTE,
                        "#owner": "owner",
                    },
                    ExpressionAttributeValues={":now": {"N": str(int(now))}, ":owner": {"S": claim.owner}},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ConditionFailed as e:
            return converter.claim_from_item(_unmarshal(_old_item(e) or self._get(keys)))
        return None

    def take_over(self, claim: IdempotencyClaim) -> None:
        keys = _claim_keys(claim)
        with translated_errors():
            self._client.put_item(
                TableName=self._table,
                Item=_marshal(converter.claim_to_item(claim, keys)),
                ConditionExpression="attempt = :previous OR #owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={
                    ":previous": {"N": str(claim.attempt - 1)},
                    ":owner": {"S": claim.owner},
                },
            )

    # --- payments --------------------------------------------------------------------------------

    def save_pending(self, stored: StoredPayment) -> None:
        keys = _payment_keys(stored.payment.merchant_id, stored.payment.id)
        with translated_errors():
            self._client.put_item(
                TableName=self._table,
                Item=_marshal(converter.payment_to_item(stored, keys)),
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": schema.PARTITION_KEY},
            )

    def transition(
        self, stored: StoredPayment, previous: PaymentStatus, previous_attempt: int, *, event: NewEvent | None = None
    ) -> None:
        keys = _payment_keys(stored.payment.merchant_id, stored.payment.id)
        put = {
            "TableName": self._table,
            "Item": _marshal(converter.payment_to_item(stored, keys)),
            "ConditionExpression": "#status = :previous AND attempt = :attempt",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":previous": {"S": previous.value}, ":attempt": {"N": str(previous_attempt)}},
        }
        conditional_put(self._client, put, event=event)

    def due_payments(
        self, region: str, now: float, created_before: str, limit: int, *, after: str | None = None
    ) -> list[StoredPayment]:
        found: list[StoredPayment] = []
        for partition in schema.pending_partitions(region):
            request = self._pending_query(partition, schema.payment_sk(created_before), above=after)
            request["FilterExpression"] = "#due <= :now"  # a payment the resolver backed off is not due yet
            request["ExpressionAttributeNames"]["#due"] = schema.DUE_ATTRIBUTE
            request["ExpressionAttributeValues"][":now"] = {"N": repr(now)}
            beyond = (stored for stored in self._read_pending(request, limit) if stored.payment.id != after)
            found.extend(itertools.islice(beyond, limit))
        found.sort(key=lambda stored: stored.payment.id)
        return found[:limit]

    def _read_pending(self, request: dict[str, Any], limit: int) -> Iterator[StoredPayment]:
        # The filter applies after Limit: keep reading pages, or backed-off payments at the head of
        # a shard would hide the due ones behind them.
        for _ in range(_MAX_PENDING_PAGES):
            with translated_errors():
                answer = self._client.query(**request, Limit=limit)
            for item in answer.get("Items", []):
                yield converter.payment_from_item(_unmarshal(item))
            if not answer.get("LastEvaluatedKey"):
                return
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def pending_summary(self, region: str) -> tuple[int, str | None]:
        count, oldest = 0, None
        for partition in schema.pending_partitions(region):
            request = self._pending_query(partition, schema.PAYMENT_PREFIX + "\uffff")
            with translated_errors():
                first = self._client.query(**request, Limit=1, ProjectionExpression="#sk")
            count += self._count(request)
            for item in first.get("Items", []):
                payment_id = str(item[schema.SORT_KEY]["S"]).removeprefix(schema.PAYMENT_PREFIX)
                oldest = payment_id if oldest is None else min(oldest, payment_id)
        return count, oldest

    def _count(self, request: dict[str, Any]) -> int:
        """Select=COUNT reads at most 1 MB a page: follow the pages (a backlog can be larger)."""
        count, page = 0, dict(request, Select="COUNT")
        for _ in range(_MAX_PENDING_PAGES * 10):
            with translated_errors():
                answer = self._client.query(**page)
            count += int(answer.get("Count", 0))
            if not answer.get("LastEvaluatedKey"):
                break
            page["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        return count

    def _pending_query(self, partition: str, below: str, *, above: str | None = None) -> dict[str, Any]:
        """Oldest first (ids sort by creation time) within one shard of the sparse pending index,
        from `above` on (inclusive: BETWEEN; the caller drops that one payment)."""
        return {
            "TableName": self._table,
            "IndexName": schema.PENDING_INDEX,
            "KeyConditionExpression": "#ppk = :ppk AND #sk BETWEEN :low AND :high",
            "ExpressionAttributeNames": {"#ppk": schema.PENDING_PARTITION_KEY, "#sk": schema.SORT_KEY},
            "ExpressionAttributeValues": {
                ":ppk": {"S": partition},
                ":low": {"S": schema.PAYMENT_PREFIX if above is None else schema.payment_sk(above)},
                ":high": {"S": below},
            },
            "ScanIndexForward": True,
        }

    def payments_with_reference(
        self, merchant_id: str, bank_reference: str, created_from: datetime, created_to: datetime
    ) -> list[StoredPayment]:
        """A Query of the merchant's partition over the id range, filtered by reference: no index
        (it is asked rarely: a late authorization under the `reverse` policy, a key taken over)."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :low AND :high",
            # Operations carry their payment's reference too: only payments' items are wanted.
            "FilterExpression": "#reference = :reference AND attribute_not_exists(#kind)",
            "ExpressionAttributeNames": {
                "#pk": schema.PARTITION_KEY,
                "#sk": schema.SORT_KEY,
                "#reference": "bank_reference",
                "#kind": schema.OPERATION_KIND_ATTRIBUTE,
            },
            "ExpressionAttributeValues": {
                ":pk": {"S": schema.merchant_pk(merchant_id)},
                ":low": {"S": schema.payment_sk(ids.id_bound(created_from, upper=False))},
                ":high": {"S": schema.payment_sk(ids.id_bound(created_to, upper=True))},
                ":reference": {"S": bank_reference},
            },
        }
        found: list[StoredPayment] = []
        for _ in range(_MAX_REFERENCE_PAGES):
            with translated_errors():
                answer = self._client.query(**request)
            found.extend(converter.payment_from_item(_unmarshal(item)) for item in answer.get("Items", []))
            if not answer.get("LastEvaluatedKey"):
                return found
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        raise StorageUnavailable("Too many payments in the range to search them for a bank reference.")

    def record_heartbeat(self, region: str, beat: Heartbeat) -> None:
        item = {**_key_values(schema.HEARTBEAT_KEY, region), "at": beat.at, "alive_since": beat.alive_since}
        with translated_errors():
            self._client.put_item(TableName=self._table, Item=_marshal(item))

    def heartbeats(self) -> dict[str, Heartbeat]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": schema.PARTITION_KEY},
            "ExpressionAttributeValues": {":pk": {"S": schema.HEARTBEAT_KEY}},
        }
        with translated_errors():
            answer = self._client.query(**request)
        return {
            str(values[schema.SORT_KEY]): Heartbeat(float(values["at"]), float(values.get("alive_since", values["at"])))
            for values in map(_unmarshal, answer.get("Items", []))
        }

    def get_payment(self, merchant_id: str, payment_id: str) -> StoredPayment | None:
        item = self._get(_payment_keys(merchant_id, payment_id))
        return converter.payment_from_item(_unmarshal(item)) if item else None

    def list_payments(self, merchant_id: str, query: ListQuery) -> Page:
        low, high = _sort_key_range(query)
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :low AND :high",
            "ExpressionAttributeNames": {"#pk": schema.PARTITION_KEY, "#sk": schema.SORT_KEY},
            "ExpressionAttributeValues": {
                ":pk": {"S": schema.merchant_pk(merchant_id)},
                ":low": {"S": low},
                ":high": {"S": high},
            },
            "ScanIndexForward": False,  # ULID order = creation order: newest first
            # Operations are items too (each just before its payment): read a little more per page.
            "Limit": max(query.limit * 2 + 2, _MIN_LIST_READ),
        }
        if query.after_id is not None:
            after = schema.payment_sk(query.after_id)
            if after <= low:
                return Page((), None)
            if after <= high:  # DynamoDB refuses a start key outside the key condition
                request["ExclusiveStartKey"] = _key(schema.merchant_pk(merchant_id), after)
        if query.status is not None:
            # A payment's status is folded from its item and its operations (handlers.domain.lifecycle):
            # read the items that can fold to the wanted status, and every operation, then keep the match.
            stored = _STORED_STATUSES.get(query.status, (query.status,))
            names = {f":status{i}": {"S": status.value} for i, status in enumerate(stored)}
            request["FilterExpression"] = f"#status IN ({', '.join(names)}) OR attribute_exists(#kind)"
            request["ExpressionAttributeNames"] |= {"#status": "status", "#kind": schema.OPERATION_KIND_ATTRIBUTE}
            request["ExpressionAttributeValues"] |= names
        return self._collect_page(request, query)

    def _collect_page(self, request: dict[str, Any], query: ListQuery) -> Page:
        folder = PageFolder(query.status)
        last_key: dict[str, Any] | None = None
        for pages in itertools.count(1):
            with translated_errors():
                answer = self._client.query(**request)
            for item in answer.get("Items", []):
                folder.add(_unmarshal(item))
            last_key = answer.get("LastEvaluatedKey")
            # Past the budget only to finish a payment whose operations filled it (so a cursor moves on).
            out_of_budget = pages >= _MAX_QUERY_PAGES and not (folder.mid_payment and pages < _MAX_GROUP_PAGES)
            if len(folder.payments) > query.limit or not last_key or out_of_budget:
                break
            request["ExclusiveStartKey"] = last_key
        found = folder.payments
        if len(found) > query.limit:
            return Page(tuple(found[: query.limit]), found[query.limit - 1].id)
        if last_key:  # the read budget ran out first: resume where reading stopped
            return Page(tuple(found), _resume_after(last_key[schema.SORT_KEY]["S"]))
        return Page(tuple(found), None)

    def ping(self) -> None:
        self._get(_key_values(schema.HEALTH_KEY, schema.HEALTH_KEY))

    # --- merchants -------------------------------------------------------------------------------

    def merchant_for_key(self, key_hash: str) -> Merchant | None:
        item = self._get(_key_values(schema.api_key_pk(key_hash), schema.API_KEY_SORT), consistent=False)
        return _merchant(_unmarshal(item)) if item else None

    def add_key(self, key_hash: str, merchant: Merchant) -> None:
        item = {
            **_key_values(schema.api_key_pk(key_hash), schema.API_KEY_SORT),
            "merchant_id": merchant.id,
            "name": merchant.name,
            "active": merchant.active,
            **({"key_mode": merchant.key_mode} if merchant.key_mode else {}),
        }
        with translated_errors():
            self._client.put_item(
                TableName=self._table, Item=_marshal(item), ConditionExpression="attribute_not_exists(pk)"
            )

    def revoke_key(self, key_hash: str) -> None:
        with translated_errors():
            self._client.update_item(
                TableName=self._table,
                Key=_key(schema.api_key_pk(key_hash), schema.API_KEY_SORT),
                UpdateExpression="SET active = :false",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":false": {"BOOL": False}},
            )

    def api_keys(self) -> Iterator[tuple[str, Merchant]]:
        """Every key's hash and merchant, revoked ones too. A Scan of the whole table, payments included:
        acceptable for the operator's listing only (there is no index by merchant), never on a request's path."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "#sk = :sk",
            "ProjectionExpression": "#pk, #merchant, #name, #active, #mode",
            "ExpressionAttributeNames": {
                "#pk": schema.PARTITION_KEY,
                "#sk": schema.SORT_KEY,
                "#merchant": "merchant_id",
                "#name": "name",
                "#active": "active",
                "#mode": "key_mode",
            },
            "ExpressionAttributeValues": {":sk": {"S": schema.API_KEY_SORT}},
            "ConsistentRead": True,  # a key added or revoked a moment ago is listed as it now is
        }
        while True:
            with translated_errors():
                answer = self._client.scan(**request)
            for item in answer.get("Items", []):
                values = _unmarshal(item)
                yield values[schema.PARTITION_KEY].removeprefix(schema.API_KEY_PREFIX), _merchant(values)
            if "LastEvaluatedKey" not in answer:
                return
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def _get(self, keys: Mapping[str, str], *, consistent: bool = True) -> dict[str, Any]:
        with translated_errors():
            answer = self._client.get_item(
                TableName=self._table,
                Key=_key(keys[schema.PARTITION_KEY], keys[schema.SORT_KEY]),
                ConsistentRead=consistent,
            )
        item: dict[str, Any] = answer.get("Item", {})
        return item


# Which stored statuses can fold into a wanted one: a capture or void moves an `authorized` item.
_STORED_STATUSES = {
    PaymentStatus.CAPTURED: (PaymentStatus.CAPTURED, PaymentStatus.AUTHORIZED),
    PaymentStatus.VOIDED: (PaymentStatus.VOIDED, PaymentStatus.AUTHORIZED),
}


def _merchant(values: Mapping[str, Any]) -> Merchant:
    return Merchant(
        id=values["merchant_id"], name=values["name"], active=values["active"], key_mode=values.get("key_mode")
    )


def _key_values(pk: str, sk: str) -> dict[str, str]:
    return {schema.PARTITION_KEY: pk, schema.SORT_KEY: sk}


def _old_item(error: ConditionFailed) -> dict[str, Any] | None:
    cause = error.__cause__
    return cause.response.get("Item") if isinstance(cause, ClientError) else None  # type: ignore[return-value]


def _resume_after(sort_key: str) -> str:
    """The list's cursor (continue with payments below this id) for the last item read: after a payment,
    its id; after an operation of payment X (read before X, newest first), the id just above X, so the
    next page reads X's remaining operations and X itself."""
    payment_id, _, operation = sort_key.removeprefix(schema.PAYMENT_PREFIX).partition("#")
    return ids.successor(payment_id) if operation else payment_id


def _sort_key_range(query: ListQuery) -> tuple[str, str]:
    low = schema.PAYMENT_PREFIX
    high = schema.PAYMENT_PREFIX + "\uffff"
    if query.created_from is not None:
        low = schema.payment_sk(ids.id_bound(query.created_from, upper=False))
    if query.created_to is not None:  # exclusive: the last id is the previous millisecond's largest
        high = schema.payment_sk(ids.id_bound(query.created_to - timedelta(milliseconds=1), upper=True))
    return low, high
