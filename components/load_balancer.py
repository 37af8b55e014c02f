"""LoadBalancer: the payment API's application load balancer and target group, in one region.

In the public subnets, behind the security group it is given: invalid header fields dropped, access
logs to an encrypted (SSE-S3), private, versioned, expiring bucket, deletion protection. The target
group takes the Fargate tasks by IP and checks their shallow liveness path. Its listeners are the
ContainerService's: the HTTPS one needs the edge's certificate, and the edge needs this load balancer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.common import account_context, block_public_access, encrypt_with_s3_keys, moved_child_opts, type_token
from components.network import Network
from components.policies import AccountContext, alb_logs_bucket_policy
from container import spec

ACCESS_LOGS_PREFIX = "alb"
# Longer than any request (the handlers' budget is ~4 s), far shorter than the default 300 s.
DEREGISTRATION_DELAY_SECONDS = 30


@dataclass(frozen=True)
class LoadBalancerArgs:
    """Where the load balancer goes and what guards it. Fields: docs/components.md."""

    region: str
    """The region of the load balancer and its access-log bucket: an AWS region name."""
    network: Network
    """The VPC: the load balancer takes its public subnets, the target group its VPC."""
    security_group_id: pulumi.Input[str]
    """The load balancer's security group (ContainerService's: internet in on 443 and 80, out to the tasks)."""
    deletion_protection: bool = True
    """ELB deletion protection; set False and apply it before destroying the stack."""
    log_retention_days: int = 365
    """How long access logs (and their overwritten versions) are kept, days."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on the load balancer, its bucket and the target group."""
    former_parent: pulumi.Resource | None = None
    """The component its resources were children of before this one existed (ContainerService): each
    gets an alias to its URN there, so `pulumi up` keeps them (the bucket's own children follow: the
    engine gives a child the aliases of its parent)."""


class LoadBalancer(pulumi.ComponentResource):
    """The internet-facing ALB in the public subnets, its access-log bucket, and the target group (tasks by
    IP, shallow liveness check). Its listeners are ContainerService's."""

    arn: pulumi.Output[str]
    arn_suffix: pulumi.Output[str]
    dns_name: pulumi.Output[str]
    zone_id: pulumi.Output[str]
    target_group_arn: pulumi.Output[str]
    target_group_arn_suffix: pulumi.Output[str]
    request_count_label: pulumi.Output[str]
    """ALBRequestCountPerTarget's resource label: `<load balancer ARN suffix>/<target group ARN suffix>`."""

    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("container", "LoadBalancer"), name, None, opts)
        self._name = name
        self._args = args
        self._ctx = account_context(self, args.region)
        alb = self._load_balancer()
        target_group = self._target_group()

        self.arn = alb.arn
        self.arn_suffix = alb.arn_suffix
        self.dns_name = alb.dns_name
        self.zone_id = alb.zone_id
        self.target_group_arn = target_group.arn
        self.target_group_arn_suffix = target_group.arn_suffix
        self.request_count_label = pulumi.Output.concat(alb.arn_suffix, "/", target_group.arn_suffix)
        self.register_outputs({"arn": self.arn, "dns_name": self.dns_name, "target_group_arn": self.target_group_arn})

    def _opts(self, **kwargs: Any) -> pulumi.ResourceOptions:
        return moved_child_opts(self, self._args.former_parent, **kwargs)

    def _access_logs_bucket(self) -> tuple[aws.s3.Bucket, aws.s3.BucketPolicy]:
        """ALB access logs support SSE-S3 only (not KMS); private, TLS-only, expired after the retention."""
        args = self._args
        bucket = aws.s3.Bucket(
            f"{self._name}-alb-logs", aws.s3.BucketArgs(region=args.region, tags=dict(args.tags)), self._opts()
        )
        owned = pulumi.ResourceOptions(parent=bucket)
        aws.s3.BucketOwnershipControls(
            f"{self._name}-alb-logs-ownership",
            aws.s3.BucketOwnershipControlsArgs(
                region=args.region,
                bucket=bucket.id,
                rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            ),
            owned,
        )
        public_access = block_public_access(f"{self._name}-alb-logs-public-access", args.region, bucket.id, owned)
        # Audit logs: an overwritten or deleted log object stays recoverable (PCI DSS 10.3.3, audit
        # log files protected from modification). The lifecycle rule expires noncurrent versions too.
        aws.s3.BucketVersioning(
            f"{self._name}-alb-logs-versioning",
            aws.s3.BucketVersioningInitArgs(
                region=args.region,
                bucket=bucket.id,
                versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            ),
            owned,
        )
        encrypt_with_s3_keys(f"{self._name}-alb-logs-encryption", args.region, bucket.id, owned)
        aws.s3.BucketLifecycleConfiguration(
            f"{self._name}-alb-logs-lifecycle",
            aws.s3.BucketLifecycleConfigurationArgs(
                region=args.region,
                bucket=bucket.id,
                rules=[
                    aws.s3.BucketLifecycleConfigurationRuleArgs(
                        id="expire-access-logs",
                        status="Enabled",
                        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=f"{ACCESS_LOGS_PREFIX}/"),
                        expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=args.log_retention_days),
                        noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                            noncurrent_days=args.log_retention_days
                        ),
                        abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                            days_after_initiation=1
                        ),
                    )
                ],
            ),
            owned,
        )
        inputs = pulumi.Output.all(bucket.arn, self._ctx)

        def render(values: list[Any]) -> str:
            bucket_arn, ctx = values
            assert isinstance(ctx, AccountContext)
            return json.dumps(alb_logs_bucket_policy(str(bucket_arn), ACCESS_LOGS_PREFIX, ctx), sort_keys=True)

        policy = aws.s3.BucketPolicy(
            f"{self._name}-alb-logs-policy",
            aws.s3.BucketPolicyArgs(region=args.region, bucket=bucket.id, policy=inputs.apply(render)),
            pulumi.ResourceOptions(parent=bucket, depends_on=[public_access]),
        )
        return bucket, policy

    def _load_balancer(self) -> aws.lb.LoadBalancer:
        args = self._args
        bucket, policy = self._access_logs_bucket()
        return aws.lb.LoadBalancer(
            f"{self._name}-alb",
            aws.lb.LoadBalancerArgs(
                region=args.region,
                load_balancer_type="application",
                internal=False,
                subnets=args.network.public_subnet_ids,
                security_groups=[args.security_group_id],
                drop_invalid_header_fields=True,
                enable_deletion_protection=args.deletion_protection,
                access_logs=aws.lb.LoadBalancerAccessLogsArgs(
                    bucket=bucket.id, prefix=ACCESS_LOGS_PREFIX, enabled=True
                ),
                tags=dict(args.tags),
            ),
            # ELB checks it may write to the bucket when logging is switched on; an internet-facing load
            # balancer needs the VPC's internet gateway attached, which nothing in its inputs names.
            self._opts(depends_on=[policy, args.network.internet_gateway]),
        )

    def _target_group(self) -> aws.lb.TargetGroup:
        args = self._args
        return aws.lb.TargetGroup(
            f"{self._name}-targets",
            aws.lb.TargetGroupArgs(
                region=args.region,
                vpc_id=args.network.vpc_id,
                target_type="ip",
                protocol="HTTP",
                port=spec.PORT,
                deregistration_delay=DEREGISTRATION_DELAY_SECONDS,
                # Shallow: the deep check stays Route 53's (the edge's health_path), see spec.LIVENESS_PATH.
                health_check=aws.lb.TargetGroupHealthCheckArgs(
                    path=spec.LIVENESS_PATH,
                    protocol="HTTP",
                    port="traffic-port",
                    matcher="200",
                    interval=10,
                    timeout=5,
                    healthy_threshold=2,
                    unhealthy_threshold=3,
                ),
                tags=dict(args.tags),
            ),
            self._opts(),
        )
