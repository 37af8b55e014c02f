"""The embedded DynamoDB's partition index (local_gateway.indexed_table) answers as moto does.

Differential: one moto backend holds a plain table and an indexed one, both from handlers.contract.schema;
random sequences of puts, updates, deletes, transactions and queries (the base table and each
index, with key conditions, Limit, ExclusiveStartKey, Select=COUNT, filters, projections, both
directions, every page) go to both, and every answer (items, counts, LastEvaluatedKey, errors)
must be the same.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models.table import Table

from handlers.contract.schema import PENDING_INDEX, PENDING_PARTITION_KEY, table_definition
from local_gateway import indexed_table
from local_gateway.indexed_table import IndexedTable

PLAIN, INDEXED = "plain", "indexed"
PARTITIONS = ("MERCHANT#a", "MERCHANT#b", "HEARTBEAT")
SORT_KEYS = (
    *(f"PAYMENT#{n:02d}" for n in range(24)),
    *(f"IDEMPOTENCY#{n}" for n in range(6)),
    "eu-west-1",
    "us-east-1",
)
PENDING = ("PENDING#eu#0", "PENDING#eu#1", "PENDING#us#0")
PREFIXES = ("PAYMENT#", "PAYMENT#0", "PAYMENT#1", "IDEMPOTENCY#", "P", "PAYMENT#99", "e")
STATUSES = ("pending", "authorized", "declined")
Client = Any


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="eu-west-1")
        dynamodb.create_table(**table_definition(PLAIN))  # type: ignore[arg-type]
        for target, name, value in indexed_table.patches():
            monkeypatch.setattr(target, name, value)
        dynamodb.create_table(**table_definition(INDEXED))  # type: ignore[arg-type]
        yield dynamodb


def test_the_patch_makes_only_the_new_table_indexed(client: Client) -> None:
    from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415

    tables = dynamodb_backends["123456789012"]["eu-west-1"].tables
    assert type(tables[PLAIN]) is Table
    assert isinstance(tables[INDEXED], IndexedTable)


@pytest.mark.parametrize("seed", range(8))
def test_random_writes_and_queries_answer_as_plain_moto(
    client: Client, seed: int, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    whole_table_reads = _count_whole_table_reads(monkeypatch)
    rng = random.Random(seed)
    operations: list[Callable[[random.Random], dict[str, Any]]] = [
        _put,
        _put,
        _put,
        _update,
        _update,
        _delete,
        _transaction,
    ]
    for step in range(220):
        if rng.random() < 0.45:
            call = _base_query(rng) if rng.random() < 0.5 else _index_query(rng)
            _same_pages(client, call, f"seed {seed} step {step}")
        else:
            arguments = rng.choice(operations)(rng)
            name = arguments.pop("_operation")
            _same_answer(client, name, arguments, f"seed {seed} step {step}")
    assert whole_table_reads == []  # the index answered every query itself
    assert not [record for record in caplog.records if record.name == indexed_table.log.name]


def _count_whole_table_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """moto's whole-table read, each time the indexed table falls back on it."""
    reads: list[str] = []
    moto_all_items = Table.all_items

    def counted(self: Table) -> list[Any]:
        if isinstance(self, IndexedTable):
            reads.append(self.name)
        return moto_all_items(self)

    monkeypatch.setattr(Table, "all_items", counted)
    return reads


def test_a_query_reads_only_its_partition_and_page(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """The point of the index: moto's whole-table read is never taken, and a page of 3 hands moto 4 items."""
    for n in range(60):
        pending = {PENDING_PARTITION_KEY: {"S": PENDING[n % 2]}} if n % 3 else {}
        client.put_item(TableName=INDEXED, Item={"pk": {"S": "MERCHANT#a"}, "sk": {"S": f"PAYMENT#{n:03d}"}, **pending})
        client.put_item(TableName=INDEXED, Item={"pk": {"S": "MERCHANT#b"}, "sk": {"S": f"PAYMENT#{n:03d}"}})
    whole_table_reads = _count_whole_table_reads(monkeypatch)
    handed: list[int] = []
    indexed_all_items = IndexedTable.all_items

    def counted(self: IndexedTable) -> list[Any]:
        items = indexed_all_items(self)
        handed.append(len(items))
        return items

    monkeypatch.setattr(IndexedTable, "all_items", counted)

    page = client.query(
        TableName=INDEXED,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
        ExpressionAttributeValues={":pk": {"S": "MERCHANT#a"}, ":p": {"S": "PAYMENT#"}},
        ScanIndexForward=False,
        Limit=3,
    )
    pending = client.query(
        TableName=INDEXED,
        IndexName=PENDING_INDEX,
        KeyConditionExpression="pending_pk = :p",
        ExpressionAttributeValues={":p": {"S": PENDING[0]}},
        Select="COUNT",
    )

    assert [item["sk"]["S"] for item in page["Items"]] == ["PAYMENT#059", "PAYMENT#058", "PAYMENT#057"]
    assert page["LastEvaluatedKey"]["sk"]["S"] == "PAYMENT#057"
    assert pending["Count"] == len([n for n in range(60) if n % 3 and n % 2 == 0])
    assert whole_table_reads == []
    assert handed == [4, pending["Count"]]


def test_a_transaction_rolled_back_leaves_the_index_right(client: Client) -> None:
    """moto rolls a failed transaction back by restoring a deep copy of the table: its index too."""
    client.put_item(TableName=INDEXED, Item={"pk": {"S": "MERCHANT#a"}, "sk": {"S": "PAYMENT#01"}})
    refused = {
        "TransactItems": [
            {"Put": {"TableName": INDEXED, "Item": _item("MERCHANT#a", "PAYMENT#02", PENDING[0])}},
            {
                "Update": {
                    "TableName": INDEXED,
                    "Key": {"pk": {"S": "MERCHANT#a"}, "sk": {"S": "PAYMENT#01"}},
                    "UpdateExpression": "SET pending_pk = :p",
                    "ConditionExpression": "attribute_not_exists(pk)",
                    "ExpressionAttributeValues": {":p": {"S": PENDING[0]}},
                }
            },
        ]
    }
    with pytest.raises(ClientError):
        client.transact_write_items(**refused)
    client.put_item(TableName=INDEXED, Item=_item("MERCHANT#a", "PAYMENT#03", PENDING[0]))

    answer = client.query(
        TableName=INDEXED,
        IndexName=PENDING_INDEX,
        KeyConditionExpression="pending_pk = :p",
        ExpressionAttributeValues={":p": {"S": PENDING[0]}},
    )
    assert [item["sk"]["S"] for item in answer["Items"]] == ["PAYMENT#03"]


# --- the random operations ------------------------------------------------------------------------


def _item(pk: str, sk: str, pending: str | None, rng: random.Random | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"pk": {"S": pk}, "sk": {"S": sk}}
    if pending:
        item[PENDING_PARTITION_KEY] = {"S": pending}
    if rng is not None:
        item["status"] = {"S": rng.choice(STATUSES)}
        item["amount"] = {"N": str(rng.randint(1, 900))}
        if rng.random() < 0.3:
            item["note"] = {"S": "x" * rng.randint(1, 300)}
    return item


def _key(rng: random.Random) -> dict[str, Any]:
    return {"pk": {"S": rng.choice(PARTITIONS)}, "sk": {"S": rng.choice(SORT_KEYS)}}


def _maybe_pending(rng: random.Random) -> str | None:
    return rng.choice(PENDING) if rng.random() < 0.6 else None


def _put(rng: random.Random) -> dict[str, Any]:
    key = _key(rng)
    call: dict[str, Any] = {
        "_operation": "put_item",
        "Item": _item(key["pk"]["S"], key["sk"]["S"], _maybe_pending(rng), rng),
    }
    if rng.random() < 0.3:
        call["ConditionExpression"] = "attribute_not_exists(pk)"
    elif rng.random() < 0.2:
        call["ConditionExpression"] = "#s = :s"
        call["ExpressionAttributeNames"] = {"#s": "status"}
        call["ExpressionAttributeValues"] = {":s": {"S": rng.choice(STATUSES)}}
    return call


def _update(rng: random.Random) -> dict[str, Any]:
    call: dict[str, Any] = {"_operation": "update_item", "Key": _key(rng)}
    pending = _maybe_pending(rng)
    if pending:
        call["UpdateExpression"] = "SET pending_pk = :p, #s = :s"
        call["ExpressionAttributeValues"] = {":p": {"S": pending}, ":s": {"S": rng.choice(STATUSES)}}
    else:
        call["UpdateExpression"] = "SET #s = :s REMOVE pending_pk"
        call["ExpressionAttributeValues"] = {":s": {"S": rng.choice(STATUSES)}}
    call["ExpressionAttributeNames"] = {"#s": "status"}
    if rng.random() < 0.5:
        call["ConditionExpression"] = "attribute_exists(pk)"
    return call


def _delete(rng: random.Random) -> dict[str, Any]:
    call: dict[str, Any] = {"_operation": "delete_item", "Key": _key(rng)}
    if rng.random() < 0.3:
        call["ConditionExpression"] = "attribute_exists(pending_pk)"
    return call


def _transaction(rng: random.Random) -> dict[str, Any]:
    keys: dict[tuple[str, str], dict[str, Any]] = {}
    while len(keys) < rng.randint(1, 3):
        key = _key(rng)
        keys[(key["pk"]["S"], key["sk"]["S"])] = key
    items = []
    for (pk, sk), key in keys.items():
        kind = rng.choice(("Put", "Update", "Delete"))
        if kind == "Put":
            operation: dict[str, Any] = {"Item": _item(pk, sk, _maybe_pending(rng), rng)}
        elif kind == "Update":
            update = _update(rng)
            operation = {name: value for name, value in update.items() if name != "_operation"} | {"Key": key}
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
    if rng.random() < 0.25:
        call["FilterExpression"] = "#status = :status"
        call["ExpressionAttributeNames"]["#status"] = "status"
        call["ExpressionAttributeValues"][":status"] = {"S": rng.choice(STATUSES)}
    return call


def _base_query(rng: random.Random) -> dict[str, Any]:
    partition = rng.choice(PARTITIONS)
    names = {"#pk": "pk"}
    values: dict[str, Any] = {":pk": {"S": partition}}
    condition = "#pk = :pk" + (_sort_condition(rng, names, values) if rng.random() < 0.8 else "")
    call = {"KeyConditionExpression": condition, "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}
    if rng.random() < 0.25:
        call["ExclusiveStartKey"] = {"pk": {"S": partition}, "sk": {"S": rng.choice(SORT_KEYS)}}
    return _query_options(rng, call)


def _index_query(rng: random.Random) -> dict[str, Any]:
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
        call["ExclusiveStartKey"] = {PENDING_PARTITION_KEY: {"S": partition}, **_key(rng)}
    return _query_options(rng, call)


# --- comparing the two tables ---------------------------------------------------------------------


def _answer(client: Client, operation: str, arguments: dict[str, Any], table: str) -> object:
    arguments = _on_table(arguments, table)
    try:
        answer = getattr(client, operation)(**arguments)
    except ClientError as error:
        return (
            "error",
            error.response["Error"]["Code"],
            str(error.response["Error"].get("Message")).replace(table, "T"),
        )
    answer.pop("ResponseMetadata", None)
    answer.pop("ConsumedCapacity", None)  # names the table
    return answer


def _on_table(arguments: dict[str, Any], table: str) -> dict[str, Any]:
    if "TransactItems" in arguments:
        return {
            "TransactItems": [
                {kind: {**operation, "TableName": table} for kind, operation in entry.items()}
                for entry in arguments["TransactItems"]
            ]
        }
    return {**arguments, "TableName": table}


def _same_answer(client: Client, operation: str, arguments: dict[str, Any], where: str) -> None:
    plain = _answer(client, operation, arguments, PLAIN)
    indexed = _answer(client, operation, arguments, INDEXED)
    assert indexed == plain, f"{where}: {operation} {arguments}"


def _same_pages(client: Client, call: dict[str, Any], where: str) -> None:
    for page in range(40):
        plain = _answer(client, "query", call, PLAIN)
        indexed = _answer(client, "query", call, INDEXED)
        assert indexed == plain, f"{where} page {page}: query {call}"
        if not isinstance(plain, dict) or "LastEvaluatedKey" not in plain:
            return
        call = {**call, "ExclusiveStartKey": plain["LastEvaluatedKey"]}
