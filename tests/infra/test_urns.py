"""Both stacks' URNs, both compute options, stay those of the snapshot in tests/infra/urns (or are aliased to them).

A changed URN without an alias is a replacement at the next `pulumi up`: the table, the API, the functions
deleted and created again. See tests/infra/urn_snapshot.py for how to write the snapshot after an intended change.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from tests.infra.mocks import RecordingMocks, close_runtime, fresh_runtime
from tests.infra.urn_snapshot import VARIANTS, missing, read_snapshot, run_variant, unaliased


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_resource_keeps_its_urn_or_names_it_in_an_alias(variant: str) -> None:
    new = unaliased(run_variant(variant).mocks.urns, read_snapshot(variant))
    assert not new, f"new URNs with no alias to the snapshot (replacements at the next pulumi up): {new}"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_no_resource_of_the_snapshot_disappears(variant: str) -> None:
    gone = missing(run_variant(variant).mocks.urns, read_snapshot(variant))
    assert not gone, f"resources of the snapshot no longer declared (deletions at the next pulumi up): {gone}"


class _Part(pulumi.ComponentResource):
    def __init__(self, token: str, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(token, name, None, opts)
        self.register_outputs({})


def _move_a_topic(with_alias: bool) -> RecordingMocks:
    """A topic once a child of `old`, now of `new` (itself a child of `old`), under the mocks."""
    mocks = fresh_runtime("eu", {"aws:region": "eu-west-1"})

    def program() -> None:
        old = _Part("payment-gateway:test:Old", "old")
        new = _Part("payment-gateway:test:New", "new", pulumi.ResourceOptions(parent=old))
        aliases = [pulumi.Alias(parent=old)] if with_alias else None
        aws.sns.Topic("moved", opts=pulumi.ResourceOptions(parent=new, aliases=aliases))

    try:
        pulumi.runtime.test(program)()  # type: ignore[no-untyped-call]
    finally:
        close_runtime(mocks)
    return mocks


OLD_URN = "urn:pulumi:eu::payment-gateway::payment-gateway:test:Old$aws:sns/topic:Topic::moved"
NEW_URN = "urn:pulumi:eu::payment-gateway::payment-gateway:test:Old$payment-gateway:test:New$aws:sns/topic:Topic::moved"


def test_a_child_moved_under_another_parent_gets_the_engines_urn_with_the_whole_type_chain() -> None:
    mocks = _move_a_topic(with_alias=False)
    assert NEW_URN in mocks.urns
    assert set(unaliased(mocks.urns, {OLD_URN})) == {
        "urn:pulumi:eu::payment-gateway::payment-gateway:test:Old::old",
        "urn:pulumi:eu::payment-gateway::payment-gateway:test:Old$payment-gateway:test:New::new",
        NEW_URN,
    }
    assert missing(mocks.urns, {OLD_URN}) == [OLD_URN]


def test_a_moved_resources_children_keep_their_urns_through_its_alias_as_the_engine_gives_them() -> None:
    """The engine multiplies a parent's aliases out to its children (step_generator.go, generateAliases):
    a bucket's policy follows the bucket, keeping the `<parent>-x` naming under the alias."""
    mocks = fresh_runtime("eu", {"aws:region": "eu-west-1"})

    def program() -> None:
        old = _Part("payment-gateway:test:Old", "old")
        new = _Part("payment-gateway:test:New", "new", pulumi.ResourceOptions(parent=old))
        bucket = aws.s3.Bucket("moved", opts=pulumi.ResourceOptions(parent=new, aliases=[pulumi.Alias(parent=old)]))
        aws.s3.BucketPolicy("moved-policy", bucket=bucket.id, policy="{}", opts=pulumi.ResourceOptions(parent=bucket))

    try:
        pulumi.runtime.test(program)()  # type: ignore[no-untyped-call]
    finally:
        close_runtime(mocks)
    stack, chain = "urn:pulumi:eu::payment-gateway::", "aws:s3/bucket:Bucket$aws:s3/bucketPolicy:BucketPolicy"
    old_policy = f"{stack}payment-gateway:test:Old${chain}::moved-policy"
    new_policy = f"{stack}payment-gateway:test:Old$payment-gateway:test:New${chain}::moved-policy"
    assert old_policy in mocks.urns[new_policy]
    old_bucket = f"{stack}payment-gateway:test:Old$aws:s3/bucket:Bucket::moved"
    assert missing(mocks.urns, {old_bucket, old_policy}) == []
    assert new_policy not in unaliased(mocks.urns, {old_bucket, old_policy})


def test_an_alias_to_the_old_parent_names_the_old_urn() -> None:
    mocks = _move_a_topic(with_alias=True)
    registered: dict[str, Any] = mocks.urns
    assert registered[NEW_URN] == [OLD_URN]
    assert NEW_URN not in unaliased(registered, {OLD_URN})
    assert missing(registered, {OLD_URN}) == []
