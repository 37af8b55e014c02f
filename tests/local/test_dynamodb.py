"""The table from handlers.contract.schema, on the embedded moto server that both regions share."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from handlers.contract.schema import (
    KEY_ATTRIBUTES,
    PENDING_INDEX,
    PENDING_PARTITION_KEY,
    SORT_KEY,
    TTL_ATTRIBUTE,
    WEBHOOK_DUE_ATTRIBUTE,
    WEBHOOK_INDEX,
    WEBHOOK_PARTITION_KEY,
)
from local_gateway.dynamodb import create_table, dynamodb_client
from local_gateway.moto_server import make_dynamodb_server
from local_gateway.runner import Options, prepare_table
from local_gateway.topology import local_environment


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = make_dynamodb_server(0)
    threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_the_table_follows_the_schema(endpoint: str) -> None:
    client = dynamodb_client(endpoint, "eu-west-1")

    create_table(client, "schema-table")

    table = client.describe_table(TableName="schema-table")["Table"]
    attributes = [(a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]]
    assert attributes == [
        *KEY_ATTRIBUTES,
        (PENDING_PARTITION_KEY, "S"),
        (WEBHOOK_PARTITION_KEY, "S"),
        (WEBHOOK_DUE_ATTRIBUTE, "N"),
    ]
    assert [k["KeyType"] for k in table["KeySchema"]] == ["HASH", "RANGE"]
    pending, webhooks = table["GlobalSecondaryIndexes"]
    assert pending["IndexName"] == PENDING_INDEX and pending["Projection"] == {"ProjectionType": "ALL"}
    assert [(k["AttributeName"], k["KeyType"]) for k in pending["KeySchema"]] == [
        (PENDING_PARTITION_KEY, "HASH"),
        (SORT_KEY, "RANGE"),
    ]
    assert webhooks["IndexName"] == WEBHOOK_INDEX and webhooks["Projection"] == {"ProjectionType": "ALL"}
    assert [(k["AttributeName"], k["KeyType"]) for k in webhooks["KeySchema"]] == [
        (WEBHOOK_PARTITION_KEY, "HASH"),
        (WEBHOOK_DUE_ATTRIBUTE, "RANGE"),
    ]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = client.describe_time_to_live(TableName="schema-table")["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", TTL_ATTRIBUTE)


def test_an_emulator_without_a_ttl_api_still_gets_its_table(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """dynalite has no TimeToLive operations; the handlers do not need TTL to be correct."""
    client = dynamodb_client(endpoint, "eu-west-1")

    def unknown(**_: object) -> None:
        error = {"Error": {"Code": "UnknownOperationException", "Message": ""}}
        raise ClientError(error, "DescribeTimeToLive")  # type: ignore[arg-type]

    monkeypatch.setattr(client, "describe_time_to_live", unknown)
    create_table(client, "no-ttl")
    assert client.describe_table(TableName="no-ttl")["Table"]["TableStatus"] == "ACTIVE"


def test_other_ttl_errors_are_not_swallowed(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    client = dynamodb_client(endpoint, "eu-west-1")

    def denied(**_: object) -> None:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": ""}}, "DescribeTimeToLive")  # type: ignore[arg-type]

    monkeypatch.setattr(client, "describe_time_to_live", denied)
    with pytest.raises(ClientError):
        create_table(client, "denied")


def test_creating_it_again_is_harmless(endpoint: str) -> None:
    """The second call finds the table and leaves it, and what it holds, as it was."""
    client = dynamodb_client(endpoint, "eu-west-1")
    create_table(client, "twice")
    item = {"pk": {"S": "MERCHANT#m"}, "sk": {"S": "PAYMENT#p"}}
    client.put_item(TableName="twice", Item=item)
    before = client.describe_table(TableName="twice")["Table"]

    create_table(client, "twice")

    after = client.describe_table(TableName="twice")["Table"]
    assert (after["TableArn"], after["CreationDateTime"]) == (before["TableArn"], before["CreationDateTime"])
    assert after["TableStatus"] == "ACTIVE"
    assert client.get_item(TableName="twice", Key=item).get("Item") == item
    ttl = client.describe_time_to_live(TableName="twice")["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", TTL_ATTRIBUTE)


def test_both_regions_see_one_table_as_a_global_table_would(endpoint: str) -> None:
    eu, us = dynamodb_client(endpoint, "eu-west-1"), dynamodb_client(endpoint, "us-east-1")
    create_table(us, "shared")
    item = {"pk": {"S": "MERCHANT#m"}, "sk": {"S": "PAYMENT#p"}}

    eu.put_item(TableName="shared", Item=item)

    assert us.get_item(TableName="shared", Key=item).get("Item") == item


def test_seeding_the_same_merchants_twice_keeps_them(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An external table outlives the stack; starting again with the same --merchant must work."""
    for name, value in local_environment("eu-west-1").items():
        monkeypatch.setenv(name, value)
    options = Options(merchants=(("m_seed", "sk_test_seed-key"),), table_name="seeded")

    first = prepare_table(options, endpoint)
    second = prepare_table(options, endpoint)

    assert first == second == [("m_seed", "sk_test_seed-key")]


def test_dynamodb_calls_go_straight_to_moto_s_dynamodb_app(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's dispatcher (a service lookup per request, under one lock) only sees the rest: /moto-api."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication  # noqa: PLC0415

    dispatched: list[str] = []
    original = DomainDispatcherApplication.get_application

    def recorded(self: DomainDispatcherApplication, environ: dict[str, object]) -> object:
        dispatched.append(str(environ.get("PATH_INFO")))
        return original(self, environ)

    monkeypatch.setattr(DomainDispatcherApplication, "get_application", recorded)
    client = dynamodb_client(endpoint, "eu-west-1")
    create_table(client, "direct")
    client.put_item(TableName="direct", Item={"pk": {"S": "a"}, "sk": {"S": "b"}})
    assert client.get_item(TableName="direct", Key={"pk": {"S": "a"}, "sk": {"S": "b"}})["Item"]["sk"] == {"S": "b"}
    assert dispatched == []

    with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=10) as answer:
        assert answer.status == 200
    assert dispatched == ["/moto-api/data.json"]
