"""Network: the VPC the container option runs in, in one region.

Per availability zone (two by default): a public subnet for the load balancer and a NAT gateway, and
a private subnet for the tasks, which get no public address. The tasks reach DynamoDB (and S3, where
ECR keeps image layers) through free gateway endpoints; the bank, an internet URL, and the other AWS
APIs they need (ECR, CloudWatch Logs, Secrets Manager) through their zone's NAT gateway. The NAT is
needed for the bank anyway, and at this traffic it costs less than interface endpoints for those
APIs (docs/cost.md). The default security group is emptied; VPC flow logs (every accepted and
rejected flow) go to an encrypted, retained log group.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.common import account_context, child_opts, policy_json, type_token
from components.policies import flow_logs_policy, source_account_assume_role_policy

PUBLIC_PREFIX = 24  # the ALB and a NAT gateway per zone: a few addresses
PRIVATE_PREFIX = 20  # one address per task: room for thousands
GATEWAY_ENDPOINTS = ("dynamodb", "s3")


@dataclass(frozen=True)
class NetworkArgs:
    """The VPC's address block, zones and flow logs. Fields: docs/components.md."""

    region: str
    """The region of the VPC: an AWS region name."""
    logs_key_arn: pulumi.Input[str]
    """Encrypts the flow-log group (the key's policy admits this region's log groups)."""
    cidr_block: str = "10.20.0.0/16"
    """The VPC's IPv4 block, a /18 or larger: a public /24 per zone from its start, a private /20 per zone
    after its first /20."""
    availability_zones: int = 2
    """Zones used (at least 2), the region's first available ones: a public and a private subnet and a NAT
    gateway in each."""
    name_prefix: str = "payment-gateway"
    """The `Name` tag of each resource (`<prefix>-<region>-<role>`) and the flow-log group's name."""
    log_retention_days: int = 365
    """Retention of the flow-log group, days (one of the values CloudWatch accepts)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on every resource created."""

    def __post_init__(self) -> None:
        if self.availability_zones < 2:
            raise ValueError("the tasks need at least two availability zones")
        network = ipaddress.ip_network(self.cidr_block)
        if network.prefixlen > PRIVATE_PREFIX - 2:
            raise ValueError(f"{self.cidr_block} is too small for the subnets (a /{PRIVATE_PREFIX - 2} at least)")


def subnet_cidrs(cidr_block: str, zones: int) -> tuple[list[str], list[str]]:
    """(public, private) CIDRs: public /24s from the start of the block, private /20s after the first /20."""
    network = ipaddress.ip_network(cidr_block)
    public = [str(net) for _, net in zip(range(zones), network.subnets(new_prefix=PUBLIC_PREFIX), strict=False)]
    private_blocks = list(network.subnets(new_prefix=PRIVATE_PREFIX))[1 : zones + 1]
    if len(private_blocks) < zones:
        raise ValueError(f"{cidr_block} holds fewer than {zones} private /{PRIVATE_PREFIX} subnets")
    return public, [str(net) for net in private_blocks]


class Network(pulumi.ComponentResource):
    """The VPC: per zone a public subnet (ALB, NAT gateway) and a private one (tasks), DynamoDB and S3
    gateway endpoints, the default security group emptied, flow logs to an encrypted log group."""

    vpc_id: pulumi.Output[str]
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]
    dynamodb_prefix_list_id: pulumi.Output[str]
    """The DynamoDB gateway endpoint's prefix list (for the tasks' egress rule)."""
    internet_gateway: aws.ec2.InternetGateway
    """Attached to the VPC (vpc_id): what NAT gateways and an internet-facing load balancer wait for."""
    private_default_routes: list[aws.ec2.Route]
    """Each private subnet's way out through its NAT gateway: tasks need it to pull their image."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("network", "Network"), name, None, opts)
        self._name = name
        self._args = args
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            aws.ec2.VpcArgs(
                region=args.region,
                cidr_block=args.cidr_block,
                enable_dns_support=True,
                enable_dns_hostnames=True,
                tags=self._tags("vpc"),
            ),
            child_opts(self),
        )
        self.vpc_id = vpc.id
        # No rules: nothing uses the default group, and nothing attached to it by mistake talks.
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg",
            aws.ec2.DefaultSecurityGroupArgs(region=args.region, vpc_id=vpc.id, tags=self._tags("default")),
            child_opts(self),
        )
        zones = aws.get_availability_zones_output(
            region=args.region, state="available", opts=pulumi.InvokeOutputOptions(parent=self)
        )
        public_cidrs, private_cidrs = subnet_cidrs(args.cidr_block, args.availability_zones)
        public_table = self._public_route_table(vpc)
        self.public_subnet_ids, self.private_subnet_ids = [], []
        self.private_default_routes = []
        private_tables = []
        for index in range(args.availability_zones):
            zone = zones.names[index]
            public = self._subnet(vpc, f"public-{index}", public_cidrs[index], zone, public_table)
            nat = self._nat_gateway(index, public)
            private_tables.append(self._private_route_table(vpc, index, nat))
            self._subnet(vpc, f"private-{index}", private_cidrs[index], zone, private_tables[-1])
        endpoints = {service: self._gateway_endpoint(vpc, service, private_tables) for service in GATEWAY_ENDPOINTS}
        self.dynamodb_prefix_list_id = endpoints["dynamodb"].prefix_list_id
        self._flow_logs(vpc)
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
            }
        )

    def _tags(self, role: str) -> dict[str, str]:
        return {**self._args.tags, "Name": f"{self._args.name_prefix}-{self._args.region}-{role}"}

    def _public_route_table(self, vpc: aws.ec2.Vpc) -> aws.ec2.RouteTable:
        region = self._args.region
        gateway = aws.ec2.InternetGateway(
            f"{self._name}-igw",
            aws.ec2.InternetGatewayArgs(region=region, vpc_id=vpc.id, tags=self._tags("igw")),
            child_opts(self),
        )
        self.internet_gateway = gateway
        table = aws.ec2.RouteTable(
            f"{self._name}-public-routes",
            aws.ec2.RouteTableArgs(region=region, vpc_id=vpc.id, tags=self._tags("public")),
            child_opts(self),
        )
        aws.ec2.Route(
            f"{self._name}-public-default-route",
            aws.ec2.RouteArgs(
                region=region, route_table_id=table.id, destination_cidr_block="0.0.0.0/0", gateway_id=gateway.id
            ),
            child_opts(self),
        )
        return table

    def _subnet(
        self,
        vpc: aws.ec2.Vpc,
        role: str,
        cidr: str,
        zone: pulumi.Input[str],
        table: aws.ec2.RouteTable,
    ) -> aws.ec2.Subnet:
        region = self._args.region
        subnet = aws.ec2.Subnet(
            f"{self._name}-{role}",
            aws.ec2.SubnetArgs(
                region=region,
                vpc_id=vpc.id,
                cidr_block=cidr,
                availability_zone=zone,
                # Nothing here gets a public address by default: the ALB and the NAT gateways have their own.
                map_public_ip_on_launch=False,
                tags=self._tags(role),
            ),
            child_opts(self),
        )
        aws.ec2.RouteTableAssociation(
            f"{self._name}-{role}-routes",
            aws.ec2.RouteTableAssociationArgs(region=region, subnet_id=subnet.id, route_table_id=table.id),
            child_opts(self),
        )
        (self.public_subnet_ids if role.startswith("public") else self.private_subnet_ids).append(subnet.id)
        return subnet

    def _nat_gateway(self, index: int, public: aws.ec2.Subnet) -> aws.ec2.NatGateway:
        """One per zone, so that a zone's failure leaves the other zone's tasks their way to the bank."""
        region = self._args.region
        address = aws.ec2.Eip(
            f"{self._name}-nat-ip-{index}",
            aws.ec2.EipArgs(region=region, domain="vpc", tags=self._tags(f"nat-{index}")),
            child_opts(self),
        )
        # Nothing in its inputs names the internet gateway, so the engine would create both at once; a
        # NAT gateway created before the gateway is attached fails (Gateway.NotAttached) or cannot route
        # (VPC user guide, NAT gateways: a public NAT gateway needs an internet gateway attached).
        return aws.ec2.NatGateway(
            f"{self._name}-nat-{index}",
            aws.ec2.NatGatewayArgs(
                region=region, subnet_id=public.id, allocation_id=address.id, tags=self._tags(f"nat-{index}")
            ),
            child_opts(self, depends_on=[self.internet_gateway]),
        )

    def _private_route_table(self, vpc: aws.ec2.Vpc, index: int, nat: aws.ec2.NatGateway) -> aws.ec2.RouteTable:
        region = self._args.region
        table = aws.ec2.RouteTable(
            f"{self._name}-private-routes-{index}",
            aws.ec2.RouteTableArgs(region=region, vpc_id=vpc.id, tags=self._tags(f"private-{index}")),
            child_opts(self),
        )
        route = aws.ec2.Route(
            f"{self._name}-private-default-route-{index}",
            aws.ec2.RouteArgs(
                region=region, route_table_id=table.id, destination_cidr_block="0.0.0.0/0", nat_gateway_id=nat.id
            ),
            child_opts(self),
        )
        self.private_default_routes.append(route)
        return table

    def _gateway_endpoint(
        self, vpc: aws.ec2.Vpc, service: str, tables: list[aws.ec2.RouteTable]
    ) -> aws.ec2.VpcEndpoint:
        region = self._args.region
        return aws.ec2.VpcEndpoint(
            f"{self._name}-{service}-endpoint",
            aws.ec2.VpcEndpointArgs(
                region=region,
                vpc_id=vpc.id,
                service_name=f"com.amazonaws.{region}.{service}",
                vpc_endpoint_type="Gateway",
                route_table_ids=[table.id for table in tables],
                tags=self._tags(f"{service}-endpoint"),
            ),
            child_opts(self),
        )

    def _flow_logs(self, vpc: aws.ec2.Vpc) -> aws.ec2.FlowLog:
        args = self._args
        log_group = aws.cloudwatch.LogGroup(
            f"{self._name}-flow-logs",
            aws.cloudwatch.LogGroupArgs(
                region=args.region,
                name=f"/vpc/{args.name_prefix}/flow-logs",
                retention_in_days=args.log_retention_days,
                kms_key_id=args.logs_key_arn,
                tags=dict(args.tags),
            ),
            child_opts(self),
        )
        ctx = account_context(self, args.region)
        role = aws.iam.Role(
            f"{self._name}-flow-logs-role",
            aws.iam.RoleArgs(
                assume_role_policy=policy_json(
                    ctx, lambda c: source_account_assume_role_policy(c.service("vpc-flow-logs"), c)
                ),
                description=f"VPC flow logs of {args.name_prefix} in {args.region}",
                tags=dict(args.tags),
            ),
            child_opts(self),
        )
        aws.iam.RolePolicy(
            f"{self._name}-flow-logs-policy",
            aws.iam.RolePolicyArgs(
                role=role.id, policy=log_group.arn.apply(lambda arn: json.dumps(flow_logs_policy(arn), sort_keys=True))
            ),
            pulumi.ResourceOptions(parent=role),
        )
        return aws.ec2.FlowLog(
            f"{self._name}-flow-log",
            aws.ec2.FlowLogArgs(
                region=args.region,
                vpc_id=vpc.id,
                traffic_type="ALL",
                log_destination_type="cloud-watch-logs",
                log_destination=log_group.arn,
                iam_role_arn=role.arn,
                max_aggregation_interval=600,
                tags=dict(args.tags),
            ),
            child_opts(self),
        )
