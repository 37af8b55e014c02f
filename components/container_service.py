"""ContainerService: the payment API on ECS Fargate behind an application load balancer, in one region.

It composes, as pulumi-awsx's `lb.ApplicationLoadBalancer` and `ecs.FargateService` do, one part per concern:
- `LoadBalancer` (components/load_balancer.py): the ALB in the public subnets, its access logs, the
  target group;
- the same `RegionalEdge` as the Lambda option (WAF on the ALB, certificate, DNS, health check);
- the listeners, here because they join the two: HTTPS only (TLS 1.2+, TLS 1.3 preferred) with the
  edge's certificate, HTTP redirected to it;
- `FargateService` (components/fargate_service.py): cluster, task, roles, secrets, the service and its
  auto scaling, in the private subnets;
- the security groups, here because each rule names two parties: internet -> ALB on 443/80;
  ALB -> tasks on the service port only; tasks -> 443.

The parts' resources were this component's own children before the split: they keep their names and
carry aliases to those URNs (`former_parent`), so an existing stack updates in place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.common import child_opts, type_token
from components.edge import EdgeSettings, LoadBalancerOrigin, RegionalEdge, RegionalEdgeArgs
from components.fargate_service import (
    DEFAULT_SECRET_RECOVERY_WINDOW_DAYS,
    FARGATE_MEMORY,
    FargateService,
    FargateServiceArgs,
    TaskSettings,
    allowed_memory,
    require_recovery_window,
    valid_recovery_window,
    valid_task_size,
)
from components.load_balancer import LoadBalancer, LoadBalancerArgs
from components.network import Network
from components.policies import TableAccess
from container import spec

# What components.config reads from here (the task's settings and limits live with the service).
__all__ = [
    "DEFAULT_SECRET_RECOVERY_WINDOW_DAYS",
    "FARGATE_MEMORY",
    "TLS_POLICY",
    "ContainerService",
    "ContainerServiceArgs",
    "TaskSettings",
    "allowed_memory",
    "valid_recovery_window",
    "valid_task_size",
]

TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


@dataclass(frozen=True)
class ContainerServiceArgs:
    """The image, its access and environment, the edge and the task settings of the container option.
    Fields: docs/components.md."""

    region: str
    """The region of everything it creates: an AWS region name."""
    network: Network
    """The VPC: the load balancer in its public subnets, the tasks in its private ones."""
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
    """Encrypts the log groups and the secrets (the key the Lambda functions' logs and environment use)."""
    environment: Mapping[str, pulumi.Input[str]]
    """The handlers' variables; SECRET_VARIABLES among them go to Secrets Manager."""
    edge: EdgeSettings
    """WAF, DNS and drain, as for the Lambda option; `domain` is required (the HTTPS listener's certificate)."""
    task: TaskSettings = field(default_factory=TaskSettings)
    """Task size, task counts and auto scaling targets."""
    alb_deletion_protection: bool = True
    """The load balancer's deletion protection; set False and apply it before destroying the stack."""
    name_prefix: str = "payment-gateway"
    """Names the WAF resources, the cluster, service, log group and secrets (see FargateServiceArgs)."""
    log_retention_days: int = 365
    """Retention of the log groups (container, WAF) and of the ALB's access logs, days."""
    secret_recovery_window_days: int = DEFAULT_SECRET_RECOVERY_WINDOW_DAYS
    """How long a deleted secret stays recoverable (and its name taken), days: 0, or 7-30."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on every resource created."""

    def __post_init__(self) -> None:
        require_recovery_window(self.secret_recovery_window_days)
        # TLS needs a name: without a domain there is no certificate for the HTTPS listener.
        if self.edge.domain is None:
            raise ValueError("the container service needs a custom domain (EdgeSettings.domain) for its certificate")


class ContainerService(pulumi.ComponentResource):
    """The API on Fargate in one region: a LoadBalancer, its RegionalEdge, the listeners (HTTPS with the
    edge's certificate, HTTP redirected), the security groups and a FargateService."""

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
        alb_sg, task_sg = self._security_groups()
        # The parts take this component's name: their children keep the names (and URNs, aliased) they had here.
        lb = LoadBalancer(
            name,
            LoadBalancerArgs(
                region=args.region,
                network=args.network,
                security_group_id=alb_sg.id,
                deletion_protection=args.alb_deletion_protection,
                log_retention_days=args.log_retention_days,
                tags=args.tags,
                former_parent=self,
            ),
            child_opts(self),
        )
        edge = RegionalEdge(
            f"{name}-edge",
            RegionalEdgeArgs(
                region=args.region,
                origin=LoadBalancerOrigin(arn=lb.arn, dns_name=lb.dns_name, zone_id=lb.zone_id),
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
        https = self._listeners(lb, edge.certificate_arn)
        service = FargateService(
            name,
            FargateServiceArgs(
                region=args.region,
                network=args.network,
                security_group_id=task_sg.id,
                image_ref=args.image_ref,
                repository_arn=args.repository_arn,
                table_arn=args.table_arn,
                table_key_arn=args.table_key_arn,
                table_access=args.table_access,
                key_arn=args.key_arn,
                environment=args.environment,
                target_group_arn=lb.target_group_arn,
                request_count_label=lb.request_count_label,
                listener=https,
                task=args.task,
                name_prefix=args.name_prefix,
                log_retention_days=args.log_retention_days,
                secret_recovery_window_days=args.secret_recovery_window_days,
                tags=args.tags,
                former_parent=self,
            ),
            child_opts(self),
        )

        self.regional_url = edge.regional_url
        self.global_url = edge.global_url
        self.health_check_id = edge.health_check_id
        self.web_acl_arn = edge.web_acl_arn
        self.cluster_name = service.cluster_name
        self.service_name = service.service_name
        self.load_balancer_arn_suffix = lb.arn_suffix
        self.target_group_arn_suffix = lb.target_group_arn_suffix
        self.log_group_name = service.log_group_name
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

    def _listeners(self, lb: LoadBalancer, certificate_arn: pulumi.Input[str]) -> aws.lb.Listener:
        """HTTPS to the target group; HTTP redirected to it. Here, not in the LoadBalancer: the certificate
        is the edge's, and the edge needs the load balancer first."""
        region, tags = self._args.region, dict(self._args.tags)
        https = aws.lb.Listener(
            f"{self._name}-https",
            aws.lb.ListenerArgs(
                region=region,
                load_balancer_arn=lb.arn,
                port=443,
                protocol="HTTPS",
                ssl_policy=TLS_POLICY,
                certificate_arn=certificate_arn,
                default_actions=[
                    aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=lb.target_group_arn)
                ],
                tags=tags,
            ),
            child_opts(self),
        )
        aws.lb.Listener(
            f"{self._name}-http",
            aws.lb.ListenerArgs(
                region=region,
                load_balancer_arn=lb.arn,
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
