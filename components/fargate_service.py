"""FargateService: the payment API's tasks on ECS Fargate (arm64), in one region.

- Cluster with Container Insights; the service in the private subnets, no public IP, at least two
  tasks over the zones, behind the target group it is given, target-tracking auto scaling on CPU and
  requests per target, the deployment circuit breaker with rollback.
- The container runs as a non-root user on a read-only root filesystem (a scratch /tmp).
- Roles: the task role has exactly the table access of the functions it serves (the union of their
  `handlers.contract.routes` actions and leading keys); the execution role pulls this image, reads these secrets
  and writes this log group. FINGERPRINT_KEY, BANK_URL and CURSOR_KEY come from Secrets Manager, never the
  environment.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components import sizing
from components.common import account_context, moved_child_opts, policy_json, type_token
from components.network import Network
from components.policies import (
    ExecutionAccess,
    TableAccess,
    execution_role_policy,
    source_account_assume_role_policy,
    task_policy,
)
from container import spec

CONTAINER_NAME = "api"
# Numeric, so it needs no /etc/passwd entry; the placeholder Dockerfile's USER is the same.
CONTAINER_USER = "10001:10001"
# Variables the task gets from Secrets Manager, never as plain environment values.
SECRET_VARIABLES = ("FINGERPRINT_KEY", "BANK_URL", "CURSOR_KEY")
# Fargate's CPU units and the memory each allows (MB), as RegisterTaskDefinition's reference lists them:
# 256 takes 512, 1024 or 2048 (not 1536); the others a range in steps of 1024.
FARGATE_MEMORY: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
}


def allowed_memory(cpu: int) -> str:
    """The memory sizes Fargate allows with `cpu`, in words, for a refusal's message."""
    sizes = FARGATE_MEMORY[cpu]
    if len(sizes) <= 4:
        return ", ".join(map(str, sizes))
    return f"{sizes[0]}-{sizes[-1]} in steps of {sizes[1] - sizes[0]}"


def valid_task_size(cpu: int, memory_mb: int) -> bool:
    return memory_mb in FARGATE_MEMORY.get(cpu, ())


# What Secrets Manager allows for a deleted secret: 7-30 days of recovery, or 0 to delete at once.
# The secrets have fixed names (`<namePrefix>/<variable>`): while one is scheduled for deletion no
# secret of that name can be created, so a stack destroyed and re-created within the window fails.
# Test stacks use 0 (Secrets Manager API reference, DeleteSecret: RecoveryWindowInDays, ForceDeleteWithoutRecovery).
DEFAULT_SECRET_RECOVERY_WINDOW_DAYS = 7
SECRET_RECOVERY_WINDOW_DAYS = range(7, 31)


def valid_recovery_window(days: int) -> bool:
    return days == 0 or days in SECRET_RECOVERY_WINDOW_DAYS


def require_recovery_window(days: int) -> None:
    if not valid_recovery_window(days):
        raise ValueError(f"secret_recovery_window_days must be 0 or 7-30 (Secrets Manager), not {days}")


@dataclass(frozen=True)
class TaskSettings:
    """The size of a task and how many run: the service's desired count and its auto scaling."""

    cpu: int = sizing.TASK_CPU_UNITS
    """CPU units of a task (256, 512, 1024, 2048, 4096; 1024 = one vCPU)."""
    memory_mb: int = sizing.TASK_MEMORY_MB
    """Memory of a task, MB: a size Fargate offers with `cpu` (512 CPU units: 1024-4096 in steps of 1024)."""
    min_tasks: int = sizing.DEFAULT_MIN_TASKS
    """Tasks at least (at least 2, at most `max_tasks`): the desired count at creation and auto scaling's
    minimum. The default carries the whole design load in one region after a failover (components.sizing)."""
    max_tasks: int = sizing.DEFAULT_MAX_TASKS
    """Tasks at most: auto scaling's maximum (three times the design load in one region by default)."""
    cpu_target_percent: float = sizing.TARGET_CPU_PERCENT
    """Auto scaling keeps the service's average CPU near this, %."""
    requests_per_target: int = sizing.DEFAULT_REQUESTS_PER_TARGET
    """ALBRequestCountPerTarget's target: requests per task per minute."""

    def __post_init__(self) -> None:
        if not valid_task_size(self.cpu, self.memory_mb):
            raise ValueError(f"Fargate has no task size of {self.cpu} CPU units with {self.memory_mb} MB")
        if not sizing.MIN_TASKS <= self.min_tasks <= self.max_tasks:
            raise ValueError(f"tasks: {sizing.MIN_TASKS} <= min ({self.min_tasks}) <= max ({self.max_tasks})")


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


@dataclass(frozen=True)
class FargateServiceArgs:
    """What the tasks run, where, with which access, behind which target group. Fields: docs/components.md."""

    region: str
    """The region of the cluster, service, secrets and log group: an AWS region name."""
    network: Network
    """The VPC: the tasks run in its private subnets and wait for its NAT routes."""
    security_group_id: pulumi.Input[str]
    """The tasks' security group (ContainerService's: in from the load balancer only, out on 443)."""
    image_ref: pulumi.Input[str]
    """`<repository>@sha256:...` (components.image)."""
    repository_arn: pulumi.Input[str]
    """The ECR repository the execution role may pull the image from."""
    table_arn: pulumi.Input[str]
    """This region's table (replica) ARN, for the task role."""
    table_key_arn: pulumi.Input[str]
    """This region's table KMS key ARN, for the task role (through DynamoDB only)."""
    table_access: TableAccess
    """What the served functions may do to the table (TableAccess.union of their routes.Function)."""
    key_arn: pulumi.Input[str]
    """Encrypts the log group and the secrets."""
    environment: Mapping[str, pulumi.Input[str]]
    """The handlers' variables; SECRET_VARIABLES among them go to Secrets Manager."""
    target_group_arn: pulumi.Input[str]
    """The load balancer's target group the service registers its tasks in (by IP)."""
    request_count_label: pulumi.Input[str]
    """ALBRequestCountPerTarget's resource label (LoadBalancer.request_count_label)."""
    listener: pulumi.Resource
    """The listener that forwards to the target group: a service can use a target group only behind one."""
    task: TaskSettings = field(default_factory=TaskSettings)
    """Task size, task counts and auto scaling targets."""
    name_prefix: str = "payment-gateway"
    """Names the cluster, the service and task family (`<prefix>-api`), the log group and the secrets
    (`<prefix>/<variable>`)."""
    log_retention_days: int = 365
    """Retention of the container's log group, days (one of the values CloudWatch accepts)."""
    secret_recovery_window_days: int = DEFAULT_SECRET_RECOVERY_WINDOW_DAYS
    """How long a deleted secret stays recoverable (and its name taken), days: 0, or 7-30."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on every resource created; the service propagates them to its tasks."""
    former_parent: pulumi.Resource | None = None
    """The component its resources were children of before this one existed (ContainerService): each
    gets an alias to its URN there, so `pulumi up` keeps them (the secrets' versions and the roles'
    policies follow: the engine gives a child the aliases of its parent)."""

    def __post_init__(self) -> None:
        require_recovery_window(self.secret_recovery_window_days)


class FargateService(pulumi.ComponentResource):
    """The ECS cluster, the task definition and its roles, the secrets, the log group, the service in the
    private subnets behind the target group, and its auto scaling on CPU and requests per target."""

    cluster_name: pulumi.Output[str]
    service_name: pulumi.Output[str]
    log_group_name: pulumi.Output[str]

    def __init__(self, name: str, args: FargateServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("container", "FargateService"), name, None, opts)
        self._name = name
        self._args = args
        self._ctx = account_context(self, args.region)
        # What a task needs before it starts: its secrets' values and its roles' policies. The task
        # definition names only the secrets' and roles' ARNs, which exist before them (and a role's ARN
        # does not change with its policy), so the engine must be told to wait for them.
        self._task_prerequisites: list[pulumi.Resource] = []
        cluster = aws.ecs.Cluster(
            f"{name}-cluster",
            aws.ecs.ClusterArgs(
                region=args.region,
                name=args.name_prefix,
                settings=[aws.ecs.ClusterSettingArgs(name="containerInsights", value="enabled")],
                tags=dict(args.tags),
            ),
            self._opts(),
        )
        task_definition, log_group = self._task_definition()
        service = self._service(cluster, task_definition)
        self._auto_scaling(cluster, service)

        self.cluster_name = cluster.name
        self.service_name = service.name
        self.log_group_name = log_group.name
        self.register_outputs({"cluster_name": self.cluster_name, "service_name": self.service_name})

    def _opts(self, **kwargs: Any) -> pulumi.ResourceOptions:
        return moved_child_opts(self, self._args.former_parent, **kwargs)

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
                self._opts(),
            )
            value = aws.secretsmanager.SecretVersion(
                f"{self._name}-{slug}-value",
                aws.secretsmanager.SecretVersionArgs(
                    region=args.region,
                    secret_id=secret.id,
                    secret_string=pulumi.Output.secret(environment[variable]),
                ),
                pulumi.ResourceOptions(parent=secret),
            )
            self._task_prerequisites.append(value)
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
            self._opts(),
        )
        granted = aws.iam.RolePolicy(
            f"{self._name}-{role}-policy",
            aws.iam.RolePolicyArgs(role=resource.id, policy=policy),
            pulumi.ResourceOptions(parent=resource),
        )
        self._task_prerequisites.append(granted)
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

    def _task_definition(self) -> tuple[aws.ecs.TaskDefinition, aws.cloudwatch.LogGroup]:
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
            self._opts(),
        )
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
        task_definition = aws.ecs.TaskDefinition(
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
            self._opts(depends_on=self._task_prerequisites),
        )
        return task_definition, log_group

    def _service(self, cluster: aws.ecs.Cluster, task_definition: aws.ecs.TaskDefinition) -> aws.ecs.Service:
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
                    subnets=args.network.private_subnet_ids,
                    security_groups=[args.security_group_id],
                    assign_public_ip=False,
                ),
                load_balancers=[
                    aws.ecs.ServiceLoadBalancerArgs(
                        target_group_arn=args.target_group_arn, container_name=CONTAINER_NAME, container_port=spec.PORT
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
            self._opts(
                depends_on=[args.listener, *args.network.private_default_routes], ignore_changes=["desiredCount"]
            ),
        )

    def _auto_scaling(self, cluster: aws.ecs.Cluster, service: aws.ecs.Service) -> None:
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
            self._opts(),
        )
        for role, metric, value, label in (
            ("cpu", "ECSServiceAverageCPUUtilization", task.cpu_target_percent, None),
            ("requests", "ALBRequestCountPerTarget", float(task.requests_per_target), args.request_count_label),
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
                self._opts(),
            )
