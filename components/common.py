"""Helpers shared by the components: the type-token prefix, the account lookup, customer-managed keys,
encrypted log groups, and the options of a child that moved."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.policies import AccountContext, PolicyDocument

# Chosen once: changing it changes every child's URN, which means replacement unless aliased.
PACKAGE = "payment-gateway"


def type_token(module: str, name: str) -> str:
    """`payment-gateway:<module>:<Name>`, e.g. `payment-gateway:store:GlobalStore`."""
    return f"{PACKAGE}:{module}:{name}"


def account_context(parent: pulumi.Resource, region: str) -> pulumi.Output[AccountContext]:
    """Partition, DNS suffix and account of the provider the component (and its children) use."""
    opts = pulumi.InvokeOutputOptions(parent=parent)
    identity = aws.get_caller_identity_output(opts=opts)
    partition = aws.get_partition_output(opts=opts)

    def build(values: list[Any]) -> AccountContext:
        return AccountContext(partition=values[0], dns_suffix=values[1], account_id=values[2], region=region)

    return pulumi.Output.all(partition.partition, partition.dns_suffix, identity.account_id).apply(build)


def policy_json(
    ctx: pulumi.Output[AccountContext], build: Callable[[AccountContext], PolicyDocument]
) -> pulumi.Output[str]:
    """A policy document rendered once the account context is known."""
    return ctx.apply(lambda c: json.dumps(build(c), sort_keys=True))


def child_opts(parent: pulumi.Resource, **kwargs: Any) -> pulumi.ResourceOptions:
    """Options for a child: parented to the component (so it inherits its provider)."""
    return pulumi.ResourceOptions(parent=parent, **kwargs)


def moved_child_opts(
    parent: pulumi.Resource, former_parent: pulumi.Resource | None, **kwargs: Any
) -> pulumi.ResourceOptions:
    """Options for a child whose parent was `former_parent` before a refactor gave it a new one: an alias to
    its old URN, so `pulumi up` keeps it rather than replace it (None: it never moved). Its own children
    need none: the engine gives a child the aliases of its parent."""
    aliases = [pulumi.Alias(parent=former_parent)] if former_parent is not None else None
    return child_opts(parent, aliases=aliases, **kwargs)


@dataclass(frozen=True)
class EncryptedLogs:
    """A component's log groups: kept `retention_days`, encrypted with `key_arn` (its policy must admit
    them), tagged."""

    region: str
    retention_days: int
    key_arn: pulumi.Input[str]
    tags: Mapping[str, str]

    def group(
        self, name: str, log_group_name: pulumi.Input[str], opts: pulumi.ResourceOptions
    ) -> aws.cloudwatch.LogGroup:
        return aws.cloudwatch.LogGroup(
            name,
            aws.cloudwatch.LogGroupArgs(
                region=self.region,
                name=log_group_name,
                retention_in_days=self.retention_days,
                kms_key_id=self.key_arn,
                tags=dict(self.tags),
            ),
            opts,
        )


def block_public_access(
    name: str, region: str, bucket: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> aws.s3.BucketPublicAccessBlock:
    """All four public-access guards on a bucket the stack owns (logs, artifacts: never public)."""
    return aws.s3.BucketPublicAccessBlock(
        name,
        aws.s3.BucketPublicAccessBlockArgs(
            region=region,
            bucket=bucket,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        ),
        opts,
    )


def encrypt_with_s3_keys(
    name: str, region: str, bucket: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> aws.s3.BucketServerSideEncryptionConfiguration:
    """SSE-S3 (AES256) by default on a bucket the stack owns: what ELB access logs and code-signing
    artifacts both take (ELB log delivery supports no KMS key)."""
    return aws.s3.BucketServerSideEncryptionConfiguration(
        name,
        aws.s3.BucketServerSideEncryptionConfigurationInitArgs(
            region=region,
            bucket=bucket,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256"
                    )
                )
            ],
        ),
        opts,
    )


def customer_managed_key(
    owner: pulumi.Resource,
    names: tuple[str, str],
    *,
    region: pulumi.Input[str],
    description: pulumi.Input[str],
    alias: pulumi.Input[str],
    policy: pulumi.Input[str],
    tags: dict[str, str],
    deletion_window_days: pulumi.Input[int] = 30,
    former_parent: pulumi.Resource | None = None,
) -> aws.kms.Key:
    """A customer-managed KMS key with rotation on and its alias (a child of the key).

    `names` are the Pulumi resource names of the key and of its alias; they are part of the URNs.
    `former_parent`: the key's parent before a refactor moved it under `owner` (moved_child_opts).
    """
    key_name, alias_name = names
    key = aws.kms.Key(
        key_name,
        aws.kms.KeyArgs(
            region=region,
            description=description,
            enable_key_rotation=True,
            deletion_window_in_days=deletion_window_days,
            policy=policy,
            tags=tags,
        ),
        moved_child_opts(owner, former_parent),
    )
    aws.kms.Alias(
        alias_name,
        aws.kms.AliasArgs(region=region, name=alias, target_key_id=key.key_id),
        pulumi.ResourceOptions(parent=key),
    )
    return key
