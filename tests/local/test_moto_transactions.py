"""local_gateway.moto_transactions answers TransactWriteItems exactly as moto 5.2.5 does (the error, its
cancellation reasons, what the table holds afterwards), without copying the table: checked by running
each case on moto as shipped and with the patch, on tables holding the same items."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb import models as moto_models

from handlers.contract import schema
from local_gateway import moto_transactions

TABLE = "tx-test"


def put(pk: str, condition: str | None = None, **attributes: str) -> dict[str, Any]:
    item = {"pk": {"S": pk}, "sk": {"S": "x"}, **{k: {"S": v} for k, v in attributes.items()}}
    operation: dict[str, Any] = {"TableName": TABLE, "Item": item}
    if condition:
        operation["ConditionExpression"] = condition
    return {"Put": operation}


CASES: dict[str, list[dict[str, Any]]] = {
    "two new items": [put("A", "attribute_not_exists(pk)"), put("B", "attribute_not_exists(pk)")],
    "the second condition fails: the first is undone": [
        put("new", "attribute_not_exists(pk)", v="1"),
        put("held", "attribute_not_exists(pk)"),
    ],
    "a replaced item comes back on failure": [
        put("held", "attribute_exists(pk)", v="changed"),
        put("held2", "attribute_not_exists(pk)"),
    ],
    "an update and a condition check": [
        {
            "Update": {
                "TableName": TABLE,
                "Key": {"pk": {"S": "held"}, "sk": {"S": "x"}},
                "UpdateExpression": "SET v = :v",
                "ExpressionAttributeValues": {":v": {"S": "2"}},
            }
        },
        {
            "ConditionCheck": {
                "TableName": TABLE,
                "Key": {"pk": {"S": "held2"}, "sk": {"S": "x"}},
                "ConditionExpression": "attribute_exists(pk)",
            }
        },
    ],
    "the old item on a failed condition": [
        {
            "Put": {
                **put("held", "attribute_not_exists(pk)")["Put"],
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
    ],
    "two operations on one item": [put("A"), put("A")],
}


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="eu-west-1")
        dynamodb.create_table(**schema.table_definition(TABLE))
        for pk in ("held", "held2"):
            dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": pk}, "sk": {"S": "x"}, "v": {"S": "0"}})
        yield dynamodb


def outcome(client: Any, items: list[dict[str, Any]]) -> tuple[Any, list[dict[str, Any]]]:
    try:
        client.transact_write_items(TransactItems=items)
        error: Any = None
    except ClientError as e:
        error = (e.response["Error"]["Code"], e.response.get("CancellationReasons"))
    table = sorted(client.scan(TableName=TABLE)["Items"], key=lambda item: item["pk"]["S"])
    return error, table


def run(patched: bool, items: list[dict[str, Any]], client_factory: Callable[[], Any]) -> Any:
    (moto_transactions.install if patched else moto_transactions.uninstall)()
    try:
        return outcome(client_factory(), items)
    finally:
        moto_transactions.install()  # as the suites' conftest leaves it


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_patch_answers_as_moto_does(case: str) -> None:
    answers = []
    for patched in (False, True):
        with mock_aws():
            dynamodb = boto3.client("dynamodb", region_name="eu-west-1")
            dynamodb.create_table(**schema.table_definition(TABLE))
            for pk in ("held", "held2"):
                dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": pk}, "sk": {"S": "x"}, "v": {"S": "0"}})
            answers.append(run(patched, CASES[case], lambda dynamodb=dynamodb: dynamodb))
    assert answers[0] == answers[1]


def test_a_transaction_copies_no_table(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's own deep-copies every table a transaction names (its cost grows with the table)."""
    copied: list[str] = []
    real = moto_models.copy.deepcopy

    def counting(value: Any, *args: Any) -> Any:
        copied.append(type(value).__name__)
        return real(value, *args)

    monkeypatch.setattr(moto_models.copy, "deepcopy", counting)
    moto_transactions.install()
    client.transact_write_items(TransactItems=[put("n1", "attribute_not_exists(pk)"), put("held", v="9")])
    assert "Table" not in copied
    moto_transactions.uninstall()
    try:
        client.transact_write_items(TransactItems=[put("n2", "attribute_not_exists(pk)")])
    finally:
        moto_transactions.install()
    assert "Table" in copied  # the measure sees moto's copy when it happens
