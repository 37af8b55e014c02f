"""Random DynamoDB calls like the project's (tests/local: the partition index's and the embedded
server's differential tests): puts, updates, deletes and transactions on a few keys, and queries of
the base table and the pending index with every kind of sort-key condition, Limit, direction,
Select=COUNT, filters, projections and start keys. The lifecycle's shapes among them: a payment's
operations (sort keys PAYMENT#<id>#<operation id>, read with begins_with and ConsistentRead), the
index's OPERATION# and EXPIRY# partitions read with `due_at <= :now` and Limit, and the list's and
the reference search's filters on `status IN (...) OR attribute_exists(kind)` and
`... AND attribute_not_exists(kind)` (handlers.adapters.dynamo, dynamo_operations).
Each returns a call's arguments without its TableName, and its operation under `_operation` (the
writes) in botocore's snake_case.
"""

from __future__ import annotations

import random
from typing import Any

from handlers.contract.schema import PENDING_INDEX, PENDING_PARTITION_KEY

PARTITIONS = ("MERCHANT#a", "MERCHANT#b", "HEARTBEAT")
# A payment's captures, voids and refunds sort right after it (handlers.contract.schema.operation_sk).
OPERATION_SORT_KEYS = (
    *("PAYMENT#05#cp_01", "PAYMENT#05#re_01", "PAYMENT#05#re_02"),
    *("PAYMENT#12#vd_01", "PAYMENT#12#re_01"),
)
SORT_KEYS = (
    *(f"PAYMENT#{n:02d}" for n in range(24)),
    *OPERATION_SORT_KEYS,
    *(f"IDEMPOTENCY#{n}" for n in range(6)),
    "eu-west-1",
    "us-east-1",
)
PENDING = ("PENDING#eu#0", "PENDING#eu#1", "PENDING#us#0", "OPERATION#eu#0", "OPERATION#us#3", "EXPIRY#eu#0")
PREFIXES = ("PAYMENT#", "PAYMENT#0", "PAYMENT#1", "IDEMPOTENCY#", "P", "PAYMENT#99", "e", "PAYMENT#05", "PAYMENT#12#")
STATUSES = ("pending", "authorized", "declined", "captured", "succeeded")
KINDS = ("capture", "void", "refund")
REFERENCES = ("ref-1", "ref-2")


OWNERS = ("o1", "o2")


def item(pk: str, sk: str, pending: str | None, rng: random.Random | None = None) -> dict[str, Any]:
    attributes: dict[str, Any] = {"pk": {"S": pk}, "sk": {"S": sk}}
    if pending:
        attributes[PENDING_PARTITION_KEY] = {"S": pending}
    if rng is not None:
        attributes["status"] = {"S": rng.choice(STATUSES)}
        attributes["amount"] = {"N": str(rng.randint(1, 900))}
        attributes["attempt"] = {"N": str(rng.randint(1, 2))}
        if rng.random() < 0.5:  # an idempotency claim's
            attributes["owner"] = {"S": rng.choice(OWNERS)}
            attributes["expires_at"] = {"N": str(rng.randint(1, 9))}
        if rng.random() < 0.3:
            attributes["note"] = {"S": "x" * rng.randint(1, 300)}
        if sk in OPERATION_SORT_KEYS or rng.random() < 0.1:  # an operation's (the list's filters tell them apart)
            attributes["kind"] = {"S": rng.choice(KINDS)}
        if pending or rng.random() < 0.2:
            attributes["due_at"] = {"N": str(rng.randint(1, 9)) + rng.choice(("", ".25"))}
        if rng.random() < 0.6:
            attributes["bank_reference"] = {"S": rng.choice(REFERENCES)}
        if rng.random() < 0.4:  # a payment's card summary, and other kinds of values
            attributes["card"] = {"M": {"brand": {"S": "visa"}, "last4": {"S": "4242"}, "month": {"N": "12"}}}
            attributes["flags"] = {"L": [{"BOOL": rng.random() < 0.5}, {"NULL": True}, {"SS": ["a", "b"]}]}
    return attributes


def random_key(rng: random.Random) -> dict[str, Any]:
    return {"pk": {"S": rng.choice(PARTITIONS)}, "sk": {"S": rng.choice(SORT_KEYS)}}


def maybe_pending(rng: random.Random) -> str | None:
    return rng.choice(PENDING) if rng.random() < 0.6 else None


def put(rng: random.Random) -> dict[str, Any]:
    key = random_key(rng)
    call: dict[str, Any] = {
        "_operation": "put_item",
        "Item": item(key["pk"]["S"], key["sk"]["S"], maybe_pending(rng), rng),
    }
    condition = rng.random()
    if condition < 0.3:
        call["ConditionExpression"] = "attribute_not_exists(pk)"
    elif condition < 0.4:
        call["ConditionExpression"] = "#s = :s"
        call["ExpressionAttributeNames"] = {"#s": "status"}
        call["ExpressionAttributeValues"] = {":s": {"S": rng.choice(STATUSES)}}
    elif condition < 0.55:  # handlers.adapters.dynamo's claim
        call["ConditionExpression"] = "attribute_not_exists(#pk) OR #expires <= :now OR #owner = :owner"
        call["ExpressionAttributeNames"] = {"#pk": "pk", "#expires": "expires_at", "#owner": "owner"}
        call["ExpressionAttributeValues"] = {":now": {"N": str(rng.randint(1, 9))}, ":owner": {"S": rng.choice(OWNERS)}}
        call["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    elif condition < 0.7:  # handlers.adapters.dynamo's transition
        call["ConditionExpression"] = "#status = :previous AND attempt = :attempt"
        call["ExpressionAttributeNames"] = {"#status": "status"}
        call["ExpressionAttributeValues"] = {
            ":previous": {"S": rng.choice(STATUSES)},
            ":attempt": {"N": str(rng.randint(1, 2))},
        }
    return call


def update(rng: random.Random) -> dict[str, Any]:
    call: dict[str, Any] = {"_operation": "update_item", "Key": random_key(rng)}
    pending = maybe_pending(rng)
    if pending:
        call["UpdateExpression"] = "SET pending_pk = :p, #s = :s"
        call["ExpressionAttributeValues"] = {":p": {"S": pending}, ":s": {"S": rng.choice(STATUSES)}}
    else:
        call["UpdateExpression"] = "SET #s = :s REMOVE pending_pk"
        call["ExpressionAttributeValues"] = {":s": {"S": rng.choice(STATUSES)}}
    call["ExpressionAttributeNames"] = {"#s": "status"}
    if rng.random() < 0.5:
        call["ConditionExpression"] = "attribute_exists(pk)"
    elif rng.random() < 0.3:  # handlers.simulator.dynamo_ledger's reversal
        call["UpdateExpression"] = "SET #s = :reversed, note = :reference, #created = if_not_exists(#created, :now)"
        call["ConditionExpression"] = "attribute_not_exists(#pk) OR #s = :authorized"
        call["ExpressionAttributeNames"] = {"#s": "status", "#pk": "pk", "#created": "created_at"}
        call["ExpressionAttributeValues"] = {
            ":reversed": {"S": "reversed"},
            ":authorized": {"S": "authorized"},
            ":reference": {"S": "ref"},
            ":now": {"S": str(rng.randint(1, 9))},
        }
        call["ReturnValues"] = "ALL_NEW"
    return call


def get(rng: random.Random) -> dict[str, Any]:
    return {"_operation": "get_item", "Key": random_key(rng), "ConsistentRead": rng.random() < 0.5}


def scan(rng: random.Random) -> dict[str, Any]:
    """The operator's key listing (handlers.adapters.dynamo.api_keys) in shape: a filtered, projected Scan."""
    return {
        "_operation": "scan",
        "FilterExpression": "#s = :s",
        "ProjectionExpression": "pk, sk, #s",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {":s": {"S": rng.choice(STATUSES)}},
        "ConsistentRead": True,
    }


def delete(rng: random.Random) -> dict[str, Any]:
    call: dict[str, Any] = {"_operation": "delete_item", "Key": random_key(rng)}
    if rng.random() < 0.3:
        call["ConditionExpression"] = "attribute_exists(pending_pk)"
    return call


def transaction(rng: random.Random) -> dict[str, Any]:
    keys: dict[tuple[str, str], dict[str, Any]] = {}
    while len(keys) < rng.randint(1, 3):
        key = random_key(rng)
        keys[(key["pk"]["S"], key["sk"]["S"])] = key
    items = []
    for (pk, sk), key in keys.items():
        kind = rng.choice(("Put", "Update", "Delete"))
        if kind == "Put":
            operation: dict[str, Any] = {"Item": item(pk, sk, maybe_pending(rng), rng)}
        elif kind == "Update":
            changes = update(rng)
            kept = {name: value for name, value in changes.items() if name not in ("_operation", "ReturnValues")}
            operation = kept | {"Key": key}
        else:
            operation = {"Key": key}
        if kind != "Update" and rng.random() < 0.3:
            operation["ConditionExpression"] = "attribute_not_exists(pk)"
        items.append({kind: operation})
    return {"_operation": "transact_write_items", "TransactItems": items}


def _sort_condition(rng: random.Random, names: dict[str, str], values: dict[str, Any]) -> str:
    names["#sk"] = "sk"
    low, high = sorted(rng.sample(SORT_KEYS, 2))
    kind = rng.choice(("=", "<", "<=", ">", ">=", "between", "begins_with", "begins_with"))
    if kind == "between":
        values[":low"], values[":high"] = {"S": low}, {"S": high}
        return " AND #sk BETWEEN :low AND :high"
    if kind == "begins_with":
        values[":prefix"] = {"S": rng.choice(PREFIXES)}
        return " AND begins_with(#sk, :prefix)"
    values[":v"] = {"S": rng.choice((*SORT_KEYS, "PAYMENT#", "PAYMENT#\uffff", "A", "z"))}
    return f" AND #sk {kind} :v"


def _query_options(rng: random.Random, call: dict[str, Any]) -> dict[str, Any]:
    if rng.random() < 0.7:
        call["Limit"] = rng.randint(1, 6)
    call["ScanIndexForward"] = rng.random() < 0.5
    if rng.random() < 0.2:
        call["Select"] = "COUNT"
    elif rng.random() < 0.2:
        call["ProjectionExpression"] = "#sk, amount"
        call["ExpressionAttributeNames"]["#sk"] = "sk"
    if rng.random() < 0.5:
        _filter(rng, call)
    return call


def _filter(rng: random.Random, call: dict[str, Any]) -> None:
    """One of the project's filters (each applied after Limit, as DynamoDB does)."""
    names, values = call["ExpressionAttributeNames"], call["ExpressionAttributeValues"]
    kind = rng.choice(("status", "due", "statuses", "reference"))
    if kind == "status":
        call["FilterExpression"] = "#status = :status"
        names["#status"] = "status"
        values[":status"] = {"S": rng.choice(STATUSES)}
    elif kind == "due":  # the resolver's due operations and expiries (dynamo_operations._due_in)
        call["FilterExpression"] = "#due <= :now"
        names["#due"] = "due_at"
        values[":now"] = {"N": repr(rng.randint(0, 10) + rng.choice((0.0, 0.25, 0.5)))}
    elif kind == "statuses":  # the list by status: the payments that may fold to it, and every operation
        wanted = rng.sample(STATUSES, rng.randint(1, 3))
        placeholders = {f":status{n}": {"S": status} for n, status in enumerate(wanted)}
        call["FilterExpression"] = f"#status IN ({', '.join(placeholders)}) OR attribute_exists(#kind)"
        names |= {"#status": "status", "#kind": "kind"}
        values |= placeholders
    else:  # payments_with_reference: a payment's item, never its operations
        call["FilterExpression"] = "#reference = :reference AND attribute_not_exists(#kind)"
        names |= {"#reference": "bank_reference", "#kind": "kind"}
        values[":reference"] = {"S": rng.choice(REFERENCES)}


def base_query(rng: random.Random) -> dict[str, Any]:
    partition = rng.choice(PARTITIONS)
    names = {"#pk": "pk"}
    values: dict[str, Any] = {":pk": {"S": partition}}
    condition = "#pk = :pk" + (_sort_condition(rng, names, values) if rng.random() < 0.8 else "")
    call = {"KeyConditionExpression": condition, "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}
    if rng.random() < 0.25:
        call["ExclusiveStartKey"] = {"pk": {"S": partition}, "sk": {"S": rng.choice(SORT_KEYS)}}
    if rng.random() < 0.4:  # a payment with its operations is read strongly consistent
        call["ConsistentRead"] = True
    return _query_options(rng, call)


def operations_query(rng: random.Random) -> dict[str, Any]:
    """dynamo_operations.get_payment_with_operations: one payment and its operations, one Query."""
    return {
        "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :prefix)",
        "ExpressionAttributeNames": {"#pk": "pk", "#sk": "sk"},
        "ExpressionAttributeValues": {
            ":pk": {"S": rng.choice(PARTITIONS)},
            ":prefix": {"S": rng.choice(("PAYMENT#05", "PAYMENT#12", "PAYMENT#0", "PAYMENT#23"))},
        },
        "ConsistentRead": True,
    }


def due_query(rng: random.Random) -> dict[str, Any]:
    """dynamo_operations._due_in: one partition of the index, due items only, at most Limit read."""
    return {
        "IndexName": PENDING_INDEX,
        "KeyConditionExpression": "#ppk = :ppk",
        "FilterExpression": "#due <= :now",
        "ExpressionAttributeNames": {"#ppk": PENDING_PARTITION_KEY, "#due": "due_at"},
        "ExpressionAttributeValues": {
            ":ppk": {"S": rng.choice(PENDING)},
            ":now": {"N": repr(rng.randint(0, 10) + 0.5)},
        },
        "Limit": rng.randint(1, 4),
    }


def any_query(rng: random.Random) -> dict[str, Any]:
    """A random query of any of the kinds above."""
    return rng.choice((base_query, base_query, index_query, index_query, operations_query, due_query))(rng)


def index_query(rng: random.Random) -> dict[str, Any]:
    partition = rng.choice(PENDING)
    names = {"#ppk": PENDING_PARTITION_KEY}
    values: dict[str, Any] = {":ppk": {"S": partition}}
    condition = "#ppk = :ppk" + (_sort_condition(rng, names, values) if rng.random() < 0.6 else "")
    call = {
        "IndexName": PENDING_INDEX,
        "KeyConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }
    if rng.random() < 0.25:
        call["ExclusiveStartKey"] = {PENDING_PARTITION_KEY: {"S": partition}, **random_key(rng)}
    return _query_options(rng, call)
