"""The table's key schema, shared by the handlers and the infrastructure so they cannot drift.

One DynamoDB table holds these kinds of item (single-table design):

| item              | pk                    | sk                     |
|-------------------|-----------------------|------------------------|
| payment           | MERCHANT#<merchant>   | PAYMENT#<payment id>   |
| capture/void/refund | MERCHANT#<merchant> | PAYMENT#<payment id>#<operation id> |
| idempotency claim | MERCHANT#<merchant>   | IDEMPOTENCY#<HMAC key> |
| webhook event     | MERCHANT#<merchant>   | EVENT#<event id>       |
| webhook endpoint  | MERCHANT#<merchant>   | ENDPOINT#<endpoint id> |
| API key           | APIKEY#<sha256 of key>| APIKEY                 |
| health probe      | HEALTH                | HEALTH                 |
| resolver heartbeat| HEARTBEAT             | <region>               |
| bank ledger entry | BANK#<bank reference> | BANK                   |
| bank refund       | BANK#<bank reference> | REFUND#<refund ref>    |

Payments sort by id and ids are ULIDs, so a descending Query on one merchant's
partition lists newest first and a creation-time range is a sort-key range.

A `pending` payment also carries `pending_pk = PENDING#<owner region>#<shard>` and `due_at`:
the sparse index PENDING_INDEX holds only those items (a settled payment drops both), keyed by
shard and payment id, so each region's resolver finds its oldest pending payments with a few
Queries and never a scan. Shards spread the index's writes (two per payment) over partitions.
The same index holds, under other partition prefixes, pending operations
(`OPERATION#<region>#<shard>`, by the region that wrote them) and manual authorizations until
they are captured, voided or expire (`EXPIRY#<owner>#<shard>`, `due_at` = the expiry).
An operation sorts right after its payment, so one Query of the prefix `PAYMENT#<id>` reads a
payment with its operations, and a list reads them together.
Bank ledger entries and their refunds are the bank simulator's books (handlers.simulator.dynamo_ledger),
not the gateway's: a test deployment's acquirer keeps them in this table, under its own prefix.
This module imports nothing: the Pulumi program and the Lambda both load it.
"""

from __future__ import annotations

DEFAULT_TABLE_NAME = "payment-gateway"
PARTITION_KEY = "pk"
SORT_KEY = "sk"
KEY_ATTRIBUTES: tuple[tuple[str, str], ...] = ((PARTITION_KEY, "S"), (SORT_KEY, "S"))
# Epoch seconds; DynamoDB TTL deletes idempotency claims after it (at least 24 h).
TTL_ATTRIBUTE = "expires_at"

MERCHANT_PREFIX = "MERCHANT#"
PAYMENT_PREFIX = "PAYMENT#"
IDEMPOTENCY_PREFIX = "IDEMPOTENCY#"
API_KEY_PREFIX = "APIKEY#"
API_KEY_SORT = "APIKEY"
HEALTH_KEY = "HEALTH"
HEARTBEAT_KEY = "HEARTBEAT"

PENDING_INDEX = "pending-by-region"
PENDING_PARTITION_KEY = "pending_pk"
PENDING_INDEX_KEYS: tuple[tuple[str, str], ...] = ((PENDING_PARTITION_KEY, "S"), (SORT_KEY, "S"))
DUE_ATTRIBUTE = "due_at"
PENDING_PREFIX = "PENDING#"
# One partition takes ~1,000 writes/s; 8 shards keep a region's pending writes far below that.
PENDING_SHARDS = 8
OPERATION_PENDING_PREFIX = "OPERATION#"
# An event waiting for delivery is in its own sparse index, under the region that wrote it (its
# sender), `webhook_pk = WEBHOOK#<region>#<shard>`, sorted by `webhook_due_at`: the sender's Query reads
# exactly the due events, most overdue first (a filter after Limit could hide them behind events
# waiting for a retry days away). A delivered event drops both attributes.
WEBHOOK_INDEX = "webhooks-due"
WEBHOOK_PARTITION_KEY = "webhook_pk"
# Its own name, not `due_at`: an index key's type is checked on every item that has the attribute,
# and a payment's or operation's `due_at` may be written empty (NULL).
WEBHOOK_DUE_ATTRIBUTE = "webhook_due_at"
WEBHOOK_INDEX_KEYS: tuple[tuple[str, str], ...] = ((WEBHOOK_PARTITION_KEY, "S"), (WEBHOOK_DUE_ATTRIBUTE, "N"))
WEBHOOK_PENDING_PREFIX = "WEBHOOK#"
# Every secondary index (name, hash and range keys with their types): the infrastructure and the
# local stack create them from this.
SECONDARY_INDEXES: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (PENDING_INDEX, PENDING_INDEX_KEYS),
    (WEBHOOK_INDEX, WEBHOOK_INDEX_KEYS),
)
EVENT_PREFIX = "EVENT#"
ENDPOINT_PREFIX = "ENDPOINT#"
EVENT_RETENTION_SECONDS = 30 * 24 * 3600  # then DynamoDB's TTL deletes it (the events list's 30 days)
EXPIRY_PREFIX = "EXPIRY#"
# Only operation items carry it (the payment's own item never does): it tells the two apart.
OPERATION_KIND_ATTRIBUTE = "kind"


def merchant_pk(merchant_id: str) -> str:
    return MERCHANT_PREFIX + merchant_id


def payment_sk(payment_id: str) -> str:
    return PAYMENT_PREFIX + payment_id


def idempotency_sk(key: str) -> str:
    return IDEMPOTENCY_PREFIX + key


def api_key_pk(key_hash: str) -> str:
    return API_KEY_PREFIX + key_hash


def pending_pk(region: str, shard: int) -> str:
    return f"{PENDING_PREFIX}{region}#{shard}"


def pending_shard(payment_id: str) -> int:
    # The last character of a ULID is random: an even spread without importing a hash.
    return ord(payment_id[-1]) % PENDING_SHARDS


def pending_partitions(region: str, prefix: str = PENDING_PREFIX) -> tuple[str, ...]:
    return tuple(f"{prefix}{region}#{shard}" for shard in range(PENDING_SHARDS))


def webhook_partition(region: str, event_id: str) -> str:
    """The writer's partition of the webhooks index: that region's sender delivers the event."""
    return f"{WEBHOOK_PENDING_PREFIX}{region}#{pending_shard(event_id)}"


def index_attributes() -> tuple[tuple[str, str], ...]:
    """The table's and every index's key attributes, each once, with its type."""
    found = dict(KEY_ATTRIBUTES)
    for _, keys in SECONDARY_INDEXES:
        found.update(keys)
    return tuple(found.items())


def event_sk(event_id: str) -> str:
    return EVENT_PREFIX + event_id


def endpoint_sk(endpoint_id: str) -> str:
    return ENDPOINT_PREFIX + endpoint_id


def operation_sk(payment_id: str, operation_id: str) -> str:
    return f"{PAYMENT_PREFIX}{payment_id}#{operation_id}"


def table_definition(table_name: str) -> dict[str, object]:
    """CreateTable's arguments for an on-demand table with its secondary indexes, as the infrastructure
    declares it: the local stack and the tests create their tables from this."""
    return {
        "TableName": table_name,
        "KeySchema": [
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": kind} for name, kind in index_attributes()],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": keys[0][0], "KeyType": "HASH"},
                    {"AttributeName": keys[1][0], "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},  # the resolver and the sender need whole items
            }
            for index, keys in SECONDARY_INDEXES
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }


BANK_PREFIX = "BANK#"
BANK_SORT = "BANK"
REFUND_PREFIX = "REFUND#"


def bank_pk(reference: str) -> str:
    return BANK_PREFIX + reference


def bank_refund_sk(refund_reference: str) -> str:
    return REFUND_PREFIX + refund_reference
