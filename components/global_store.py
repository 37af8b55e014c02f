"""GlobalStore: the payment table as a DynamoDB global table, one customer-managed KMS key per region.

Two modes, so that exactly one stack owns the table:

- owner (`attach=False`, the primary stack): creates one KMS key per region (rotation on, alias
  `alias/<table>-table` in every region), the table in its own region and a replica in every
  other region, each replica with its own region's key and point-in-time recovery;
- attach (`attach=True`, every other regional stack): creates nothing and looks the replica and
  the key up in its region by their deterministic names. The lookup fails at preview if the
  owner has not been deployed yet, which is the deploy-order check.

The key schema, the pending index, the TTL attribute and the default name come from
`handlers.contract.schema`, the module the Lambda code uses too, so the two cannot drift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_aws as aws

from components.common import account_context, child_opts, customer_managed_key, policy_json, type_token
from components.policies import table_key_policy
from handlers.contract import schema

ConsistencyMode = Literal["EVENTUAL", "STRONG"]
CONSISTENCY_MODES: tuple[ConsistencyMode, ...] = ("EVENTUAL", "STRONG")
# Multi-Region strong consistency works only inside one of these Region sets (DynamoDB documentation).
MRSC_REGION_SETS: tuple[frozenset[str], ...] = (
    frozenset({"us-east-1", "us-east-2", "us-west-2"}),
    frozenset({"eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1"}),
    frozenset({"ap-northeast-1", "ap-northeast-2", "ap-northeast-3"}),
)
MRSC_REGIONS = 3


def key_alias(table_name: str) -> str:
    """The table key's alias; the same name in every region (aliases are regional)."""
    return f"alias/{table_name}-table"


def replicated_tags(tags: Mapping[str, str], home_region: str) -> dict[str, str]:
    """The table's tags, which every replica copies (`propagate_tags`): a `region` tag would make
    each replica claim the home region, so it becomes `primary-region`, true of them all."""
    replicated = {key: value for key, value in tags.items() if key != "region"}
    return replicated | {"primary-region": home_region}


def regional_tags(tags: Mapping[str, str], region: str) -> dict[str, str]:
    """Tags for a resource this stack creates in `region`: its `region` tag, if any, names `region`."""
    return {**tags, "region": region} if "region" in tags else dict(tags)


def validate_topology(
    region: str, replica_regions: Sequence[str], mode: str, witness_region: str | None
) -> tuple[str, ...]:
    """Check the region layout; returns the replica regions. Raises ValueError naming the problem."""
    replicas = tuple(replica_regions)
    if region in replicas or len(set(replicas)) != len(replicas):
        raise ValueError(f"replica regions {replicas} must be distinct and exclude the table's region {region}")
    if mode not in CONSISTENCY_MODES:
        raise ValueError(f"consistency_mode must be one of {CONSISTENCY_MODES}, not {mode!r}")
    if mode == "EVENTUAL":
        if witness_region is not None:
            raise ValueError("a witness region only exists with consistency_mode STRONG")
        return replicas
    members = {region, *replicas} | ({witness_region} if witness_region else set())
    if witness_region in {region, *replicas}:
        raise ValueError("the witness region must differ from the table's regions")
    if len(members) != MRSC_REGIONS or (witness_region is not None and len(replicas) != 1):
        raise ValueError("consistency_mode STRONG needs exactly three regions: three replicas, or two plus a witness")
    if not any(members <= region_set for region_set in MRSC_REGION_SETS):
        raise ValueError(f"consistency_mode STRONG needs all regions in one MRSC region set, got {sorted(members)}")
    return replicas


@dataclass(frozen=True)
class GlobalStoreArgs:
    """The table's regions and consistency, and whether this stack owns the table or attaches to a replica.
    Fields: docs/components.md."""

    region: str
    """This stack's region: the table's home (owner) or the replica to attach to."""
    replica_regions: Sequence[str] = ()
    """Owner only: the other regions that get a replica (and a KMS key); distinct, without `region`."""
    table_name: str = schema.DEFAULT_TABLE_NAME
    """The table's name (in every region), and its keys' alias `alias/<table_name>-table`."""
    attach: bool = False
    """Create nothing: look up this region's replica and key, which the owner stack created (the lookup
    fails at preview until it has). Refuses `replica_regions` and `witness_region`."""
    deletion_protection: pulumi.Input[bool] = True
    """DynamoDB deletion protection on the table and every replica (owner only)."""
    consistency_mode: ConsistencyMode = "EVENTUAL"
    """EVENTUAL (MREC, last writer wins) or STRONG (MRSC: 3 regions, or 2 + `witness_region`)."""
    witness_region: str | None = None
    """STRONG with one replica: the region of the MRSC witness, not one of the table's, in their region set."""
    key_deletion_window_days: pulumi.Input[int] = 30
    """Days a deleted table key waits before KMS deletes it (KMS accepts 7-30; not checked here)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on the keys and the table; replicas copy the table's, with `region` renamed `primary-region`."""

    def __post_init__(self) -> None:
        if self.attach:
            if self.replica_regions or self.witness_region:
                raise ValueError("an attached GlobalStore manages no replicas: the owning stack does")
            return
        validate_topology(self.region, self.replica_regions, self.consistency_mode, self.witness_region)


class GlobalStore(pulumi.ComponentResource):
    """The global table (owner mode) or a handle on this region's replica (attach mode)."""

    table_name: pulumi.Output[str]
    table_arn: pulumi.Output[str]
    """ARN of the table in `args.region` (the replica there, in attach mode)."""
    key_arn: pulumi.Output[str]
    """ARN of `args.region`'s table key."""
    stream_arn: pulumi.Output[str]
    regions: tuple[str, ...]
    key_arns: dict[str, pulumi.Output[str]]
    """Owner mode: every region's table key; attach mode: this region's only."""

    def __init__(self, name: str, args: GlobalStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("store", "GlobalStore"), name, None, opts)
        self.regions = (args.region, *args.replica_regions)
        if args.attach:
            self._attach(args)
        else:
            self._create(name, args)
        self.register_outputs(
            {
                "table_name": self.table_name,
                "table_arn": self.table_arn,
                "key_arn": self.key_arn,
                "stream_arn": self.stream_arn,
            }
        )

    def _attach(self, args: GlobalStoreArgs) -> None:
        opts = pulumi.InvokeOutputOptions(parent=self)
        table = aws.dynamodb.get_table_output(name=args.table_name, region=args.region, opts=opts)
        alias = aws.kms.get_alias_output(name=key_alias(args.table_name), region=args.region, opts=opts)
        self.table_name = table.name
        self.table_arn = table.arn
        self.stream_arn = table.stream_arn
        self.key_arn = alias.target_key_arn
        self.key_arns = {args.region: self.key_arn}

    def _create(self, name: str, args: GlobalStoreArgs) -> None:
        ctx = account_context(self, args.region)
        self.key_arns = {}
        for region in self.regions:
            key = customer_managed_key(
                self,
                (f"{name}-key-{region}", f"{name}-key-alias-{region}"),
                region=region,
                description=f"Encrypts the {args.table_name} DynamoDB table in {region}",
                alias=key_alias(args.table_name),
                policy=policy_json(ctx, table_key_policy),
                tags=regional_tags(args.tags, region),
                deletion_window_days=args.key_deletion_window_days,
            )
            self.key_arns[region] = key.arn

        strong = args.consistency_mode == "STRONG"
        table = aws.dynamodb.Table(
            f"{name}-table",
            aws.dynamodb.TableArgs(
                region=args.region,
                name=args.table_name,
                billing_mode="PAY_PER_REQUEST",
                hash_key=schema.PARTITION_KEY,
                range_key=schema.SORT_KEY,
                attributes=[
                    aws.dynamodb.TableAttributeArgs(name=name, type=kind) for name, kind in schema.index_attributes()
                ],
                # Sparse: only pending payments and undelivered events carry their keys. An index added
                # to a global table is created in every replica by DynamoDB itself.
                global_secondary_indexes=[
                    aws.dynamodb.TableGlobalSecondaryIndexArgs(
                        name=index,
                        key_schemas=[
                            aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgs(attribute_name=key, key_type=kind)
                            for (key, _), kind in zip(keys, ("HASH", "RANGE"), strict=True)
                        ],
                        projection_type="ALL",
                    )
                    for index, keys in schema.SECONDARY_INDEXES
                ],
                ttl=aws.dynamodb.TableTtlArgs(attribute_name=schema.TTL_ATTRIBUTE, enabled=True),
                # Global tables replicate through the stream; replicas fail to update without it.
                stream_enabled=True,
                stream_view_type="NEW_AND_OLD_IMAGES",
                point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
                server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(
                    enabled=True, kms_key_arn=self.key_arns[args.region]
                ),
                deletion_protection_enabled=args.deletion_protection,
                replicas=[
                    aws.dynamodb.TableReplicaArgs(
                        region_name=region,
                        kms_key_arn=self.key_arns[region],
                        point_in_time_recovery=True,
                        deletion_protection_enabled=args.deletion_protection,
                        propagate_tags=True,
                        consistency_mode="STRONG" if strong else None,
                    )
                    for region in args.replica_regions
                ],
                global_table_witness=(
                    aws.dynamodb.TableGlobalTableWitnessArgs(region_name=args.witness_region)
                    if args.witness_region
                    else None
                ),
                tags=replicated_tags(args.tags, args.region),
            ),
            child_opts(self),
        )
        self.table_name = table.name
        self.table_arn = table.arn
        self.stream_arn = table.stream_arn
        self.key_arn = self.key_arns[args.region]
