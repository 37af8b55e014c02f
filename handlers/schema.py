"""The table's key schema, shared by the handlers and the infrastructure so they cannot drift.

One DynamoDB table holds these kinds of item (single-table design):

| item              | pk                    | sk                     |
|-------------------|-----------------------|------------------------|
| payment           | MERCHANT#<merchant>   | PAYMENT#<payment id>   |
| idempotency claim | MERCHANT#<merchant>   | IDEMPOTENCY#<HMAC key> |
| API key           | APIKEY#<sha256 of key>| APIKEY                 |
| health probe      | HEALTH                | HEALTH                 |
| bank ledger entry | BANK#<bank reference> | BANK                   |

Payments sort by id and ids are ULIDs, so a descending Query on one merchant's
partition lists newest first and a creation-time range is a sort-key range.
Bank ledger entries are the bank simulator's books (handlers.bank_ledger_dynamo), not the
gateway's: a test deployment's acquirer keeps them in this table, under its own prefix.
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


def merchant_pk(merchant_id: str) -> str:
    return MERCHANT_PREFIX + merchant_id


def payment_sk(payment_id: str) -> str:
    return PAYMENT_PREFIX + payment_id


def idempotency_sk(key: str) -> str:
    return IDEMPOTENCY_PREFIX + key


def api_key_pk(key_hash: str) -> str:
    return API_KEY_PREFIX + key_hash


BANK_PREFIX = "BANK#"
BANK_SORT = "BANK"


def bank_pk(reference: str) -> str:
    return BANK_PREFIX + reference
