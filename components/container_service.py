"""ContainerService: the payment API on ECS Fargate behind an application load balancer, in one region.

- ALB in the public subnets: HTTPS only (TLS 1.2+, TLS 1.3 preferred), HTTP redirected to it, invalid
  header fields dropped, access logs to an encrypted (SSE-S3), private, expiring bucket, deletion
  protection; the same RegionalEdge as the Lambda option (WAF on the ALB, certificate, DNS, health check).
- Fargate service (arm64) in the private subnets, no public IP, at least two tasks over the zones,
  target-tracking auto scaling on CPU and requests per target, the deployment circuit breaker with
  rollback; the container runs as a non-root user on a read-only root filesystem (a scratch /tmp).
- Security groups: internet -> ALB on 443/80; ALB -> tasks on the service port only; tasks -> 443.
- Roles: the task role has exactly the table access of the functions it serves (the union of their
  `handlers.contract.routes` actions and leading keys); the execution role pulls this image, reads these secrets
  and writes this log group. FINGERPRINT_KEY and BANK_URL come from Secrets Manager, never the environment.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components import sizing
from components.common import account_context, block_public_access, child_opts, policy_json, type_token
from components.edge import EdgeSettings, LoadBalancerOrigin, RegionalEdge, RegionalEdgeArgs
from components.network import Network
from components.policies import (
    AccountContext,
    ExecutionAccess,
    TableAccess,
    alb_logs_bucket_policy,
    execution_role_policy,
    source_account_assume_role_policy,
    task_policy,
)
from container import spec

CONTAINER_NAME = "api"
# Numeric, so it needs no /etc/passwd entry; the placeholder Dockerfile's USER is the same.
CONTAINER_USER = "10001:10001"
# Variables the task gets from Secrets Manager, never as plain environment values.
SECRET_VARIABLES = ("FINGERPRINT_KEY", "BANK_URL")
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
ACCESS_LOGS_PREFIX = "alb"
# Longer than any request (the handlers' budget is ~4 s), far shorter than the default 300 s.
DEREGISTRATION_DELAY_SECONDS = 30
# Fargate's CPU units and the memory each allows (MB).
FARGATE_MEMORY: dict[int, range] = {
    256: range(512, 2049, 512),
    512: range(1024, 4097, 1024),
    1024: range(2048, 8193, 1024),
    2048: range(4096, 16385, 1024),
    4096: range(8192, 30721, 1024),
}


def valid_task_size(cpu: int, memory_mb: int) -> bool:
    return memory_mb in FARGATE_MEMORY.get(cpu, range(0))


# What Secrets Manager allows for a deleted secret: 7-30 days of recovery, or 0 to delete at once.
# The secrets have fixed names (`<namePrefix>/<variable>`): while one is scheduled for deletion no
# secret of that name can be created, so a stack destroyed and re-created within the window fails.
# Test stacks use 0 (Secrets Manager API reference, DeleteSecret: RecoveryWindowInDays, ForceDeleteWithoutRecovery).
DEFAULT_SECRET_RECOVERY_WINDOW_DAYS = 7
SECRET_RECOVERY_WINDOW_DAYS = range(7, 31)


def valid_recovery_window(days: int) -> bool:
    return days == 0 or days in SECRET_RECOVERY_WINDOW_DAYS


@dataclass(frozen=True)
class TaskSettings:
    cpu: int = sizing.TASK_CPU_UNITS
    memory_mb: int = sizing.TASK_MEMORY_MB
    min_tasks: int = sizing.DEFAULT_MIN_TASKS
    max_tasks: int = sizing.DEFAULT_MAX_TASKS
    cpu_target_percent: float = sizing.TARGET_CPU_PERCENT
    requests_per_target: int = sizing.DEFAULT_REQUESTS_PER_TARGET
    """ALBRequestCountPerTarget's target: requests per task per minute."""

    def __post_init__(self) -> None:
        if not valid_task_size(self.cpu, self.memory_mb):
            raise ValueError(f"Fargate has no task size of {self.cpu} CPU units with {self.memory_mb} MB")
        if not sizing.MIN_TASKS <= self.min_tasks <= self.max_tasks:
            raise ValueError(f"tasks: {sizing.MIN_TASKS} <= min ({self.min_tasks}) <= max ({self.max_tasks})")


@dataclass(frozen=True)
class ContainerServiceArgs:
    region: str
    network: Network
    image_ref: pulumi.Input[str]
    """`<repository>@sha256:...` (components.image)."""
    repository_arn: pulumi.Input[str]
    table_arn: pulumi.Input[str]
    table_key_arn: pulumi.Input[str]
    table_access: TableAccess
    """What the served functions may do to the table (TableAccess.union of their routes.Function)."""
    key_arn: pulumi.Input[str]
    """Encrypts the log groups and the secrets (the key the Lambda functions' logs and environment use)."""
    environment: Mapping[str, pulumi.Input[str]]
    """The handlers' variables; SECRET_VARIABLES among them go to Secrets Manager."""
    edge: EdgeSettings
    task: TaskSettings = field(default_factory=TaskSettings)
    alb_deletion_protection: bool = True
    name_prefix: str = "payment-gateway"
    log_retention_days: int = 365
    secret_recovery_window_days: int = DEFAULT_SECRET_RECOVERY_WINDOW_DAYS
    """How long a deleted secret stays recoverable (and its name taken): 0, or 7-30."""
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not valid_recovery_window(self.secret_recovery_window_days):
            days = self.secret_recovery_window_days
            raise ValueError(f"secret_recovery_window_days must be 0 or 7-30 (Secrets Manager), not {days}")
        # TLS needs a name: without a domain there is no certificate for the HTTPS listener.
        if self.edge.domain is None:
            raise ValueError("the container service needs a custom domain (EdgeSettings.domain) for its certificate")


def container_definitions(
    image: str,
    environment: Mapping[str, str],
    secrets: Mapping[str, str],
    log_group: str,
    region: str,
) -> str:
    """The one container, as ECS takes it (JSON). `secrets` maps a variable to its secret's ARN."""
    definition: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": image,
        "essential": True,
        "portMappings": [{"containerPort": spec.PORT, "protocol": "tcp"}],
        "environment": [{"name": k, "value": v} for k, v in sorted(environment.items())],
        "secrets": [{"name": k, "valueFrom": v} for k, v in sorted(secrets.items())],
        "user": CONTAINER_USER,
        "readonlyRootFilesystem": True,
        "mountPoints": [
            {"sourceVolume": "scratch", "containerPath": path, "readOnly": False} for path in spec.SCRATCH_PATHS
        ],
        "linuxParameters": {"initProcessEnabled": True, "capabilities": {"drop": ["ALL"]}},
        "stopTimeout": 30,
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group,
                "awslogs-region": region,
                "awslogs-stream-prefix": CONTAINER_NAME,
                # A slow CloudWatch must not block a request; 25 MB of lines are buffered meanwhile.
                "mode": "non-blocking",
                "max-buffer-size": "25m",
            },
        },
    }
    return json.dumps([definition], sort_keys=True)


class ContainerService(pulumi.ComponentResource):
    regional_url: pulumi.Output[str]
    global_url: pulumi.Output[str]
    health_check_id: pulumi.Output[str]
    web_acl_arn: pulumi.Output[str]
    cluster_name: pulumi.Output[str]
    service_name: pulumi.Output[str]
    load_balancer_arn_suffix: pulumi.Output[str]
    target_group_arn_suffix: pulumi.Output[str]
    log_group_name: pulumi.Output[str]

    def __init__(self, name: str, args: ContainerServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("container", "ContainerService"), name, None, opts)
        self._name = name
        self._args = args
        self._ctx = account_context(self, args.region)
        alb_sg, task_sg = self._security_groups()
        alb = self._load_balancer(alb_sg)
        target_group = self._target_group()
        edge = RegionalEdge(
            f"{name}-edge",
            RegionalEdgeArgs(
                region=args.region,
                origin=LoadBalancerOrigin(arn=alb.arn, dns_name=alb.dns_name, zone_id=alb.zone_id),
                logs_key_arn=args.key_arn,
                settings=args.edge,
                name_prefix=args.name_prefix,
                log_retention_days=args.log_retention_days,
                health_path=spec.HEALTH_PATH,
                tags=args.tags,
            ),
            child_opts(self),
        )
        # With a domain (required above) the edge has all of these.
        assert edge.certificate_arn is not None and edge.regional_url is not None
        assert edge.global_url is not None and edge.health_check_id is not None
        https = self._listeners(alb, target_group, edge.certificate_arn)
        cluster = aws.ecs.Cluster(
            f"{name}-cluster",
            aws.ecs.ClusterArgs(
                region=args.region,
                name=args.name_prefix,
                settings=[aws.ecs.ClusterSettingArgs(name="containerInsights", value="enabled")],
                tags=dict(args.tags),
            ),
            child_opts(self),
        )
        task_definition = self._task_definition()
        service = self._service(cluster, task_definition, target_group, task_sg, https)
        self._auto_scaling(cluster, service, alb, target_group)

        self.regional_url = edge.regional_url
        self.global_url = edge.global_url
        self.health_check_id = edge.health_check_id
        self.web_acl_arn = edge.web_acl_arn
        self.cluster_name = cluster.name
        self.service_name = service.name
        self.load_balancer_arn_suffix = alb.arn_suffix
        self.target_group_arn_suffix = target_group.arn_suffix
        self.register_outputs(
            {
                "regional_url": self.regional_url,
                "global_url": self.global_url,
                "cluster_name": self.cluster_name,
                "service_name": self.service_name,
                "load_balancer_arn_suffix": self.load_balancer_arn_suffix,
            }
        )

    # --- network access ----------------------------------------------------------------------------

    def _security_groups(self) -> tuple[aws.ec2.SecurityGroup, aws.ec2.SecurityGroup]:
        args, vpc_id = self._args, self._args.network.vpc_id
        alb = aws.ec2.SecurityGroup(
            f"{self._name}-alb-sg",
            aws.ec2.SecurityGroupArgs(
                region=args.region, vpc_id=vpc_id, description="Payment API load balancer", tags=dict(args.tags)
            ),
            child_opts(self),
        )
        tasks = aws.ec2.SecurityGroup(
            f"{self._name}-task-sg",
            aws.ec2.SecurityGroupArgs(
                region=args.region, vpc_id=vpc_id, description="Payment API tasks", tags=dict(args.tags)
            ),
            child_opts(self),
        )
        for port, why in ((443, "HTTPS from merchants"), (80, "HTTP, redirected to HTTPS")):
            self._rule(f"alb-in-{port}", alb, port, why, cidr="0.0.0.0/0", egress=False)
        self._rule("alb-out-tasks", alb, spec.PORT, "To the tasks' service port only", peer=tasks, egress=True)
        self._rule("task-in-alb", tasks, spec.PORT, "From the load balancer only", peer=alb, egress=False)
        # The bank is a URL: its addresses are not ours to pin, and a security group takes no host
        # names. So: HTTPS only, through the NAT gateways (also ECR, CloudWatch Logs, Secrets Manager).
        self._rule("task-out-https", tasks, 443, "HTTPS: the bank and AWS APIs via NAT", cidr="0.0.0.0/0", egress=True)
        prefix_list = args.network.dynamodb_prefix_list_id
        self._rule("task-out-dynamodb", tasks, 443, "DynamoDB gateway endpoint", prefix_list=prefix_list, egress=True)
        return alb, tasks

    def _rule(
        self,
        role: str,
        group: aws.ec2.SecurityGroup,
        port: int,
        description: str,
        *,
        cidr: str | None = None,
        prefix_list: pulumi.Input[str] | None = None,
        peer: aws.ec2.SecurityGroup | None = None,
        egress: bool,
    ) -> None:
        """One TCP port to or from one peer: a CIDR, a prefix list or another security group."""
        fields: dict[str, Any] = {
            "region": self._args.region,
            "security_group_id": group.id,
            "ip_protocol": "tcp",
            "from_port": port,
            "to_port": port,
            "cidr_ipv4": cidr,
            "prefix_list_id": prefix_list,
            "referenced_security_group_id": peer.id if peer is not None else None,
            "description": description,
        }
        if egress:
            aws.vpc.SecurityGroupEgressRule(
                f"{self._name}-{role}", aws.vpc.SecurityGroupEgressRuleArgs(**fields), child_opts(self)
            )
        else:
            aws.vpc.SecurityGroupIngressRule(
                f"{self._name}-{role}", aws.vpc.SecurityGroupIngressRuleArgs(**fields), child_opts(self)
            )

    # --- load balancer -----------------------------------------------------------------------------

    def _access_logs_bucket(self) -> tuple[aws.s3.Bucket, aws.s3.BucketPolicy]:
        """ALB access logs support SSE-S3 only (not KMS); private, TLS-only, expired after the retention."""
        args = self._args
        bucket = aws.s3.Bucket(
            f"{self._name}-alb-logs", aws.s3.BucketArgs(region=args.region, tags=dict(args.tags)), child_opts(self)
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
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{self._name}-alb-logs-encryption",
            aws.s3.BucketServerSideEncryptionConfigurationInitArgs(
                region=args.region,
                bucket=bucket.id,
                rules=[
                    aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                        apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                            sse_algorithm="AES256"
                        )
                    )
                ],
            ),
            owned,
        )
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

    def _load_balancer(self, group: aws.ec2.SecurityGroup) -> aws.lb.LoadBalancer:
        args = self._args
        bucket, policy = self._access_logs_bucket()
        return aws.lb.LoadBalancer(
            f"{self._name}-alb",
            aws.lb.LoadBalancerArgs(
                region=args.region,
                load_balancer_type="application",
                internal=False,
                subnets=args.network.public_subnet_ids,
                security_groups=[group.id],
                drop_invalid_header_fields=True,
                enable_deletion_protection=args.alb_deletion_protection,
                access_logs=aws.lb.LoadBalancerAccessLogsArgs(
                    bucket=bucket.id, prefix=ACCESS_LOGS_PREFIX, enabled=True
                ),
                tags=dict(args.tags),
            ),
            # ELB checks it may write to the bucket when logging is switched on; an internet-facing load
            # balancer needs the VPC's internet gateway attached, which nothing in its inputs names.
            child_opts(self, depends_on=[policy, args.network.internet_gateway]),
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
            child_opts(self),
        )

    def _listeners(
        self, alb: aws.lb.LoadBalancer, target_group: aws.lb.TargetGroup, certificate_arn: pulumi.Input[str]
    ) -> aws.lb.Listener:
        region, tags = self._args.region, dict(self._args.tags)
        https = aws.lb.Listener(
            f"{self._name}-https",
            aws.lb.ListenerArgs(
                region=region,
                load_balancer_arn=alb.arn,
                port=443,
                protocol="HTTPS",
                ssl_policy=TLS_POLICY,
                certificate_arn=certificate_arn,
                default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=target_group.arn)],
                tags=tags,
            ),
            child_opts(self),
        )
        aws.lb.Listener(
            f"{self._name}-http",
            aws.lb.ListenerArgs(
                region=region,
                load_balancer_arn=alb.arn,
                port=80,
                protocol="HTTP",
                default_actions=[
                    aws.lb.ListenerDefaultActionArgs(
                        type="redirect",
                        redirect=aws.lb.ListenerDefaultActionRedirectArgs(
                            protocol="HTTPS", port="443", status_code="HTTP_301"
                        ),
                    )
                ],
                tags=tags,
            ),
            child_opts(self),
        )
        return https

    # --- the task ----------------------------------------------------------------------------------

    def _secrets(self, environment: Mapping[str, pulumi.Input[str]]) -> dict[str, pulumi.Output[str]]:
        """Each SECRET_VARIABLES value in its own Secrets Manager secret (KMS): variable -> secret ARN."""
        args, arns = self._args, {}
        for variable in SECRET_VARIABLES:
            if variable not in environment:
                continue
            slug = variable.lower().replace("_", "-")
            secret = aws.secretsmanager.Secret(
                f"{self._name}-{slug}",
                aws.secretsmanager.SecretArgs(
                    region=args.region,
                    name=f"{args.name_prefix}/{slug}",
                    description=f"{variable} of the {args.name_prefix} API tasks",
                    kms_key_id=args.key_arn,
                    recovery_window_in_days=args.secret_recovery_window_days,
                    tags=dict(args.tags),
                ),
                child_opts(self),
            )
            aws.secretsmanager.SecretVersion(
                f"{self._name}-{slug}-value",
                aws.secretsmanager.SecretVersionArgs(
                    region=args.region,
                    secret_id=secret.id,
                    secret_string=pulumi.Output.secret(environment[variable]),
                ),
                pulumi.ResourceOptions(parent=secret),
            )
            arns[variable] = secret.arn
        return arns

    def _role(self, role: str, description: str, policy: pulumi.Input[str]) -> aws.iam.Role:
        resource = aws.iam.Role(
            f"{self._name}-{role}-role",
            aws.iam.RoleArgs(
                assume_role_policy=policy_json(
                    self._ctx, lambda c: source_account_assume_role_policy(c.service("ecs-tasks"), c)
                ),
                description=description,
                tags=dict(self._args.tags),
            ),
            child_opts(self),
        )
        aws.iam.RolePolicy(
            f"{self._name}-{role}-policy",
            aws.iam.RolePolicyArgs(role=resource.id, policy=policy),
            pulumi.ResourceOptions(parent=resource),
        )
        return resource

    def _task_role(self) -> aws.iam.Role:
        args = self._args
        inputs = pulumi.Output.all(args.table_arn, args.table_key_arn, self._ctx)

        def render(values: list[Any]) -> str:
            table_arn, key_arn, ctx = values
            return json.dumps(task_policy(args.table_access, str(table_arn), str(key_arn), ctx), sort_keys=True)

        return self._role("task", f"{args.name_prefix} API tasks in {args.region}", inputs.apply(render))

    def _execution_role(
        self, secrets: Mapping[str, pulumi.Output[str]], log_group_arn: pulumi.Input[str]
    ) -> aws.iam.Role:
        args = self._args
        inputs = pulumi.Output.all(args.repository_arn, args.key_arn, log_group_arn, self._ctx, *secrets.values())

        def render(values: list[Any]) -> str:
            repository_arn, key_arn, group_arn, ctx, *secret_arns = values
            access = ExecutionAccess(str(repository_arn), [str(a) for a in secret_arns], str(key_arn), str(group_arn))
            return json.dumps(execution_role_policy(access, ctx), sort_keys=True)

        return self._role(
            "execution", f"ECS starts {args.name_prefix} API tasks in {args.region}", inputs.apply(render)
        )

    def _task_definition(self) -> aws.ecs.TaskDefinition:
        args = self._args
        log_group = aws.cloudwatch.LogGroup(
            f"{self._name}-logs",
            aws.cloudwatch.LogGroupArgs(
                region=args.region,
                name=f"/ecs/{args.name_prefix}/{CONTAINER_NAME}",
                retention_in_days=args.log_retention_days,
                kms_key_id=args.key_arn,
                tags=dict(args.tags),
            ),
            child_opts(self),
        )
        self.log_group_name = log_group.name
        secrets = self._secrets(args.environment)
        plain = {k: v for k, v in args.environment.items() if k not in SECRET_VARIABLES} | {"AWS_REGION": args.region}
        execution_role = self._execution_role(secrets, log_group.arn)
        names = sorted(plain)
        definitions = pulumi.Output.all(
            args.image_ref, log_group.name, *(plain[k] for k in names), *(secrets[k] for k in sorted(secrets))
        ).apply(
            lambda values: container_definitions(
                image=str(values[0]),
                environment=dict(zip(names, map(str, values[2 : 2 + len(names)]), strict=True)),
                secrets=dict(zip(sorted(secrets), map(str, values[2 + len(names) :]), strict=True)),
                log_group=str(values[1]),
                region=args.region,
            )
        )
        return aws.ecs.TaskDefinition(
            f"{self._name}-task",
            aws.ecs.TaskDefinitionArgs(
                region=args.region,
                family=f"{args.name_prefix}-{CONTAINER_NAME}",
                requires_compatibilities=["FARGATE"],
                network_mode="awsvpc",
                cpu=str(args.task.cpu),
                memory=str(args.task.memory_mb),
                runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
                    operating_system_family="LINUX", cpu_architecture="ARM64"
                ),
                execution_role_arn=execution_role.arn,
                task_role_arn=self._task_role().arn,
                container_definitions=definitions,
                volumes=[aws.ecs.TaskDefinitionVolumeArgs(name="scratch")],
                tags=dict(args.tags),
            ),
            child_opts(self),
        )

    def _service(
        self,
        cluster: aws.ecs.Cluster,
        task_definition: aws.ecs.TaskDefinition,
        target_group: aws.lb.TargetGroup,
        group: aws.ec2.SecurityGroup,
        listener: aws.lb.Listener,
    ) -> aws.ecs.Service:
        args = self._args
        return aws.ecs.Service(
            f"{self._name}-service",
            aws.ecs.ServiceArgs(
                region=args.region,
                name=f"{args.name_prefix}-{CONTAINER_NAME}",
                cluster=cluster.arn,
                task_definition=task_definition.arn,
                launch_type="FARGATE",
                platform_version="LATEST",
                desired_count=args.task.min_tasks,
                # ECS spreads a service's tasks over the subnets' zones; rebalancing keeps them spread.
                availability_zone_rebalancing="ENABLED",
                network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                    subnets=args.network.private_subnet_ids, security_groups=[group.id], assign_public_ip=False
                ),
                load_balancers=[
                    aws.ecs.ServiceLoadBalancerArgs(
                        target_group_arn=target_group.arn, container_name=CONTAINER_NAME, container_port=spec.PORT
                    )
                ],
                health_check_grace_period_seconds=30,
                deployment_minimum_healthy_percent=100,
                deployment_maximum_percent=200,
                deployment_circuit_breaker=aws.ecs.ServiceDeploymentCircuitBreakerArgs(enable=True, rollback=True),
                enable_execute_command=False,
                propagate_tags="SERVICE",
                wait_for_steady_state=True,
                tags=dict(args.tags),
            ),
            # The target group must be behind a listener before a service can use it; the first tasks
            # pull their image and secrets through the NAT gateways, so the private default routes must
            # exist; auto scaling owns the desired count once the service exists.
            child_opts(
                self, depends_on=[listener, *args.network.private_default_routes], ignore_changes=["desiredCount"]
            ),
        )

    def _auto_scaling(
        self,
        cluster: aws.ecs.Cluster,
        service: aws.ecs.Service,
        alb: aws.lb.LoadBalancer,
        target_group: aws.lb.TargetGroup,
    ) -> None:
        args, task = self._args, self._args.task
        target = aws.appautoscaling.Target(
            f"{self._name}-scaling",
            aws.appautoscaling.TargetArgs(
                region=args.region,
                service_namespace="ecs",
                scalable_dimension="ecs:service:DesiredCount",
                resource_id=pulumi.Output.concat("service/", cluster.name, "/", service.name),
                min_capacity=task.min_tasks,
                max_capacity=task.max_tasks,
                tags=dict(args.tags),
            ),
            child_opts(self),
        )
        request_label = pulumi.Output.concat(alb.arn_suffix, "/", target_group.arn_suffix)
        for role, metric, value, label in (
            ("cpu", "ECSServiceAverageCPUUtilization", task.cpu_target_percent, None),
            ("requests", "ALBRequestCountPerTarget", float(task.requests_per_target), request_label),
        ):
            aws.appautoscaling.Policy(
                f"{self._name}-scale-on-{role}",
                aws.appautoscaling.PolicyArgs(
                    region=args.region,
                    policy_type="TargetTrackingScaling",
                    service_namespace=target.service_namespace,
                    scalable_dimension=target.scalable_dimension,
                    resource_id=target.resource_id,
                    target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                        target_value=value,
                        predefined_metric_specification=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                            predefined_metric_type=metric, resource_label=label
                        ),
                        scale_out_cooldown=60,
                        scale_in_cooldown=300,
                    ),
                ),
                child_opts(self),
            )
