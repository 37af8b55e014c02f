"""GlobalStore on its own: owner mode, attach mode, consistency modes, reuse elsewhere."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pytest

from components.global_store import GlobalStore, GlobalStoreArgs, key_alias, validate_topology
from handlers.contract import schema
from tests.infra.conftest import run
from tests.infra.helpers import ALIAS, KEY, TABLE, duplicates, key_policy
from tests.infra.mocks import RecordingMocks


def owner(name: str = "store", **overrides: object) -> GlobalStore:
    args: dict[str, object] = {"region": "eu-west-1", "replica_regions": ["us-east-1"]} | overrides
    return GlobalStore(name, GlobalStoreArgs(**args))  # type: ignore[arg-type]


def test_owner_creates_one_table_with_the_shared_key_schema(mocks: RecordingMocks) -> None:
    run(lambda: owner().table_arn)
    table = mocks.one(TABLE).plain
    assert table["name"] == schema.DEFAULT_TABLE_NAME
    assert table["region"] == "eu-west-1"
    assert table["hashKey"] == schema.PARTITION_KEY
    assert table["rangeKey"] == schema.SORT_KEY
    expected = (
        *schema.KEY_ATTRIBUTES,
        (schema.PENDING_PARTITION_KEY, "S"),
        (schema.WEBHOOK_PARTITION_KEY, "S"),
        (schema.WEBHOOK_DUE_ATTRIBUTE, "N"),
    )
    assert tuple((a["name"], a["type"]) for a in table["attributes"]) == expected
    pending, webhooks = table["globalSecondaryIndexes"]
    assert pending["name"] == schema.PENDING_INDEX and pending["projectionType"] == "ALL"
    assert [(k["attributeName"], k["keyType"]) for k in pending["keySchemas"]] == [
        (schema.PENDING_PARTITION_KEY, "HASH"),
        (schema.SORT_KEY, "RANGE"),
    ]
    assert webhooks["name"] == schema.WEBHOOK_INDEX and webhooks["projectionType"] == "ALL"
    assert [(k["attributeName"], k["keyType"]) for k in webhooks["keySchemas"]] == [
        (schema.WEBHOOK_PARTITION_KEY, "HASH"),
        (schema.WEBHOOK_DUE_ATTRIBUTE, "RANGE"),
    ]
    # The same indexes the handlers and the local stack create their tables with.
    local = schema.table_definition("t")["GlobalSecondaryIndexes"]
    deployed = [[k["attributeName"] for k in index["keySchemas"]] for index in (pending, webhooks)]
    assert [[k["AttributeName"] for k in index["KeySchema"]] for index in local] == deployed  # type: ignore[attr-defined]
    assert table["billingMode"] == "PAY_PER_REQUEST"
    assert table["ttl"] == {"attributeName": schema.TTL_ATTRIBUTE, "enabled": True}
    assert (table["streamEnabled"], table["streamViewType"]) == (True, "NEW_AND_OLD_IMAGES")
    assert table["pointInTimeRecovery"]["enabled"] is True
    assert table["deletionProtectionEnabled"] is True
    assert duplicates(mocks) == []


def test_owner_has_a_rotating_key_per_region_used_by_table_and_replica(mocks: RecordingMocks) -> None:
    store = owner(replica_regions=["us-east-1", "ap-southeast-2"])
    run(lambda: store.table_arn)
    keys = {k.region: k for k in mocks.of_type(KEY)}
    assert set(keys) == {"eu-west-1", "us-east-1", "ap-southeast-2"}
    assert all(k.plain["enableKeyRotation"] is True for k in keys.values())
    assert all(key_policy(k)["Statement"] for k in keys.values())
    arns = {region: k.outputs["arn"] for region, k in keys.items()}
    table = mocks.one(TABLE).plain
    assert table["serverSideEncryption"] == {"enabled": True, "kmsKeyArn": arns["eu-west-1"]}
    replicas = {r["regionName"]: r for r in table["replicas"]}
    assert set(replicas) == {"us-east-1", "ap-southeast-2"}
    for region, replica in replicas.items():
        assert replica["kmsKeyArn"] == arns[region]
        assert replica["pointInTimeRecovery"] is True
        assert replica["deletionProtectionEnabled"] is True
        assert "consistencyMode" not in replica  # EVENTUAL is the default
    aliases = {(a.region, a.plain["name"]) for a in mocks.of_type(ALIAS)}
    assert aliases == {(region, key_alias(schema.DEFAULT_TABLE_NAME)) for region in arns}
    assert run(lambda: store.key_arns["us-east-1"]) == arns["us-east-1"]


def test_table_name_and_deletion_protection_are_overridable(mocks: RecordingMocks) -> None:
    run(lambda: owner(table_name="payments-dev", deletion_protection=False).table_name)
    table = mocks.one(TABLE).plain
    assert table["name"] == "payments-dev"
    assert table["deletionProtectionEnabled"] is False
    assert {r["deletionProtectionEnabled"] for r in table["replicas"]} == {False}
    assert {a.plain["name"] for a in mocks.of_type(ALIAS)} == {"alias/payments-dev-table"}


def test_replicas_and_their_keys_do_not_claim_the_primarys_region(mocks: RecordingMocks) -> None:
    """Replicas copy the table's tags (propagate_tags), so the table carries no `region` tag; each
    key is tagged with its own region."""
    tags = {"project": "payment-gateway", "stack": "eu", "region": "eu-west-1"}
    run(lambda: owner(replica_regions=["us-east-1", "ap-southeast-2"], tags=tags).table_arn)
    table = mocks.one(TABLE).plain
    assert table["tags"] == {"project": "payment-gateway", "stack": "eu", "primary-region": "eu-west-1"}
    assert {r["propagateTags"] for r in table["replicas"]} == {True}
    keys = mocks.of_type(KEY)
    assert {k.region for k in keys} == {"eu-west-1", "us-east-1", "ap-southeast-2"}
    for key in keys:
        assert key.plain["tags"] == tags | {"region": key.region}


def test_attach_mode_creates_nothing_and_looks_up_its_region(mocks: RecordingMocks) -> None:
    store = GlobalStore("store", GlobalStoreArgs(region="us-east-1", attach=True))
    values = run(lambda: {"table": store.table_arn, "key": store.key_arn, "name": store.table_name})
    assert mocks.custom() == []
    lookups = {token: args for token, args in mocks.calls if token.startswith(("aws:dynamodb", "aws:kms"))}
    assert lookups["aws:dynamodb/getTable:getTable"] == {"name": "payment-gateway", "region": "us-east-1"}
    assert lookups["aws:kms/getAlias:getAlias"] == {"name": "alias/payment-gateway-table", "region": "us-east-1"}
    assert values["table"] == "arn:aws:dynamodb:us-east-1:123456789012:table/payment-gateway"
    assert values["key"].startswith("arn:aws:kms:us-east-1:")
    assert values["name"] == "payment-gateway"


def test_attach_mode_refuses_replicas() -> None:
    with pytest.raises(ValueError, match="manages no replicas"):
        GlobalStoreArgs(region="us-east-1", attach=True, replica_regions=["eu-west-1"])


def test_strong_consistency_with_three_regions(mocks: RecordingMocks) -> None:
    run(lambda: owner(replica_regions=["eu-west-2", "eu-west-3"], consistency_mode="STRONG").table_arn)
    table = mocks.one(TABLE).plain
    assert {r["consistencyMode"] for r in table["replicas"]} == {"STRONG"}
    assert "globalTableWitness" not in table


def test_strong_consistency_with_two_regions_and_a_witness(mocks: RecordingMocks) -> None:
    run(
        lambda: owner(replica_regions=["eu-west-2"], consistency_mode="STRONG", witness_region="eu-central-1").table_arn
    )
    table = mocks.one(TABLE).plain
    assert [r["consistencyMode"] for r in table["replicas"]] == ["STRONG"]
    assert table["globalTableWitness"] == {"regionName": "eu-central-1"}
    assert {k.region for k in mocks.of_type(KEY)} == {"eu-west-1", "eu-west-2"}  # no key for the witness


@pytest.mark.parametrize(
    ("replicas", "mode", "witness", "message"),
    [
        (["us-east-1"], "STRONG", None, "exactly three regions"),
        (["us-east-1", "us-east-2"], "STRONG", None, "one MRSC region set"),
        (["eu-west-2", "eu-west-3"], "STRONG", "eu-central-1", "exactly three regions"),
        (["us-east-1"], "EVENTUAL", "us-east-2", "only exists with consistency_mode STRONG"),
        (["eu-west-1"], "EVENTUAL", None, "distinct and exclude"),
        (["us-east-1"], "SOMETIMES", None, "consistency_mode must be one of"),
    ],
)
def test_invalid_topologies_are_refused(replicas: list[str], mode: str, witness: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_topology("eu-west-1", replicas, mode, witness)


def test_reused_with_another_provider_and_region_puts_every_child_there(mocks: RecordingMocks) -> None:
    def program() -> pulumi.Output[str]:
        provider = aws.Provider("apac", region="ap-southeast-2")
        store = GlobalStore(
            "apac-store",
            GlobalStoreArgs(region="ap-southeast-2", replica_regions=["ap-northeast-1"], table_name="other"),
            pulumi.ResourceOptions(provider=provider),
        )
        return store.table_arn

    run(program)
    children = mocks.custom()
    assert children
    assert all(r.provider.endswith("::apac::apac-id") for r in children), [(r.name, r.provider) for r in children]
    assert mocks.one(TABLE).region == "ap-southeast-2"
    home_key = [k for k in mocks.of_type(KEY) if k.name == "apac-store-key-ap-southeast-2"]
    assert [k.region for k in home_key] == ["ap-southeast-2"]
