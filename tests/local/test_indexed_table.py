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

from handlers.contract.schema import (
    PENDING_INDEX,
    PENDING_PARTITION_KEY,
    WEBHOOK_DUE_ATTRIBUTE,
    WEBHOOK_INDEX,
    WEBHOOK_PARTITION_KEY,
    table_definition,
)
from local_gateway import indexed_table
from local_gateway.indexed_table import IndexedTable
from tests.local import dynamodb_calls as calls

PLAIN, INDEXED = "plain", "indexed"
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
        calls.put,
        calls.put,
        calls.put,
        calls.update,
        calls.update,
        calls.delete,
        calls.transaction,
    ]
    for step in range(220):
        if rng.random() < 0.45:
            call = calls.any_query(rng)
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
        pending = {PENDING_PARTITION_KEY: {"S": calls.PENDING[n % 2]}} if n % 3 else {}
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
        ExpressionAttributeValues={":p": {"S": calls.PENDING[0]}},
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
            {"Put": {"TableName": INDEXED, "Item": calls.item("MERCHANT#a", "PAYMENT#02", calls.PENDING[0])}},
            {
                "Update": {
                    "TableName": INDEXED,
                    "Key": {"pk": {"S": "MERCHANT#a"}, "sk": {"S": "PAYMENT#01"}},
                    "UpdateExpression": "SET pending_pk = :p",
                    "ConditionExpression": "attribute_not_exists(pk)",
                    "ExpressionAttributeValues": {":p": {"S": calls.PENDING[0]}},
                }
            },
        ]
    }
    with pytest.raises(ClientError):
        client.transact_write_items(**refused)
    client.put_item(TableName=INDEXED, Item=calls.item("MERCHANT#a", "PAYMENT#03", calls.PENDING[0]))

    answer = client.query(
        TableName=INDEXED,
        IndexName=PENDING_INDEX,
        KeyConditionExpression="pending_pk = :p",
        ExpressionAttributeValues={":p": {"S": calls.PENDING[0]}},
    )
    assert [item["sk"]["S"] for item in answer["Items"]] == ["PAYMENT#03"]


# Numbers as DynamoDB accepts them, equal ones in several notations: the index orders them by value, as moto does.
DUE_NUMBERS = ("0", "0.5", "1", "1.0", "1e0", "10", "9.75", "-3", "-0.25", "2E1", "100", "003")
DUE_PARTITIONS = ("WEBHOOK#eu#0", "WEBHOOK#eu#1")


@pytest.mark.parametrize("seed", range(4))
def test_a_numeric_index_key_orders_as_plain_moto(client: Client, seed: int, caplog: pytest.LogCaptureFixture) -> None:
    """The webhooks' index sorts by a number (the other views by strings): random writes, moves and
    deletes of due events, then queries with every comparison, Limit, direction and page."""
    rng = random.Random(seed)
    for step in range(160):
        key = {"pk": {"S": "MERCHANT#a"}, "sk": {"S": f"EVENT#{rng.randrange(30):02d}"}}
        if rng.random() < 0.15:
            _same_answer(client, "delete_item", {"Key": key}, f"seed {seed} step {step}")
        elif rng.random() < 0.55:
            due = {
                WEBHOOK_PARTITION_KEY: {"S": rng.choice(DUE_PARTITIONS)},
                WEBHOOK_DUE_ATTRIBUTE: {"N": rng.choice(DUE_NUMBERS)},
            }
            _same_answer(
                client, "put_item", {"Item": {**key, **(due if rng.random() < 0.8 else {})}}, f"seed {seed} step {step}"
            )
        else:
            _same_pages(client, _due_query(rng), f"seed {seed} step {step}")
    assert not [record for record in caplog.records if record.name == indexed_table.log.name]


def _due_query(rng: random.Random) -> dict[str, Any]:
    comparison = rng.choice(
        (
            "",
            " AND webhook_due_at <= :a",
            " AND webhook_due_at < :a",
            " AND webhook_due_at >= :a",
            " AND webhook_due_at > :a",
            " AND webhook_due_at = :a",
            " AND webhook_due_at BETWEEN :a AND :b",
        )
    )
    values: dict[str, Any] = {":p": {"S": rng.choice(DUE_PARTITIONS)}}
    low, high = sorted((rng.choice(DUE_NUMBERS), rng.choice(DUE_NUMBERS)), key=float)
    if ":a" in comparison:
        values[":a"] = {"N": low}
    if ":b" in comparison:
        values[":b"] = {"N": high}
    call: dict[str, Any] = {
        "IndexName": WEBHOOK_INDEX,
        "KeyConditionExpression": "webhook_pk = :p" + comparison,
        "ExpressionAttributeValues": values,
        "ScanIndexForward": rng.random() < 0.5,
    }
    if rng.random() < 0.7:
        call["Limit"] = rng.randint(1, 6)
    return call


@pytest.mark.parametrize("odd_first", [False, True], ids=["after other writes", "as the first write"])
def test_a_key_value_of_an_undeclared_type_hands_the_table_back_to_moto(
    client: Client, caplog: pytest.LogCaptureFixture, odd_first: bool
) -> None:
    """moto stores an index key of another type than declared (DynamoDB would refuse it); the index
    cannot order it, so that table's queries take moto's own path from then on, and answer as it does.
    As the table's first write, the index is built around it (and cannot be): the write still succeeds."""
    odd = {
        "pk": {"S": "MERCHANT#b"},
        "sk": {"S": "EVENT#1"},
        WEBHOOK_PARTITION_KEY: {"S": "W"},
        WEBHOOK_DUE_ATTRIBUTE: {"S": "soon"},
    }
    plain = [{"pk": {"S": "MERCHANT#a"}, "sk": {"S": f"PAYMENT#{n:02d}"}} for n in range(5)]
    for item in [odd, *plain] if odd_first else [*plain, odd]:
        _same_answer(client, "put_item", {"Item": item}, f"put {item['sk']}")
    _same_answer(client, "put_item", {"Item": {"pk": {"S": "MERCHANT#a"}, "sk": {"S": "PAYMENT#09"}}}, "")

    page = {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": {"S": "MERCHANT#a"}}, "Limit": 4}
    _same_pages(client, page, "after the odd item")
    assert any(
        "partition index" in record.getMessage() for record in caplog.records if record.name == indexed_table.log.name
    )


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
