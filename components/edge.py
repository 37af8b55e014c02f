"""RegionalEdge: how the world reaches one region, whatever serves it.

The web ACL (per-IP rate limit, body size, AWS managed rule sets; its rules and logging settings are
components/waf.py) and its logging, associated with the origin (a REST API stage or an ALB); and, with
a custom domain, the ACM certificate for `<region>.<domain>` and `<domain>`, a Route 53 alias record
for the regional name, the health check on it and the latency record for the shared name (withdrawn
to drain the region).

Both compute options take the same edge; only the origin differs. An origin says what WAF protects
and how a host name reaches it: an API Gateway stage through a custom domain name per host, an
ALB directly (its HTTPS listener takes `certificate_arn`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import pulumi
import pulumi_aws as aws

from components.common import EncryptedLogs, type_token
from components.waf import (
    WAF_LOG_GROUP_PREFIX,
    WAF_LOGGED_ACTIONS,
    custom_response_bodies,
    waf_logging_filter,
    waf_redacted_fields,
    web_acl_rules,
)
from handlers.contract.gateway_errors import WAF_RATE_LIMITED, WafError, waf_body_too_large
from handlers.contract.limits import (
    API_GATEWAY_BODY_INSPECTION_BYTES,
    LOAD_BALANCER_BODY_INSPECTION_BYTES,
    MAX_BODY_BYTES,
)

HEALTH_CHECK_INTERVAL_SECONDS = 10
HEALTH_CHECK_FAILURES = 3


@dataclass(frozen=True)
class CustomDomainArgs:
    """The API's own domain name and its Route 53 zone: a certificate, DNS records and a health check."""

    domain_name: str
    """The shared name (api.example.com); this region also gets `<region>.<domain_name>`."""
    hosted_zone_id: pulumi.Input[str]
    """The Route 53 hosted zone of `domain_name`: the certificate's validation records, the regional alias
    record and the latency record go into it."""


@dataclass(frozen=True)
class EdgeSettings:
    """The edge's configuration, the same for both compute options."""

    domain: CustomDomainArgs | None = None
    """A custom domain: certificate, DNS, health check and latency record. None: no DNS failover."""
    waf_rate_limit: int = 100_000
    """Requests per client IP per 5 minutes before WAF blocks it (at least 10)."""
    waf_log_all_requests: bool = False
    """Log every request WAF inspects, not only those it blocks or counts (costs ingestion per request)."""
    drain: bool = False
    """Planned failover: withdraw this region's latency record (the origin keeps running); without `domain`
    there is none to withdraw."""

    def __post_init__(self) -> None:
        if self.waf_rate_limit < 10:
            raise ValueError("the WAF rate limit must be at least 10 requests per 5 minutes")


@dataclass(frozen=True)
class AliasTarget:
    """Where a Route 53 alias record points."""

    name: pulumi.Input[str]
    zone_id: pulumi.Input[str]


class EdgeOrigin(Protocol):
    """What serves the region behind the edge."""

    @property
    def protected_arn(self) -> pulumi.Input[str]:
        """What the web ACL is associated with."""
        ...

    @property
    def body_inspection_limit(self) -> int:
        """The bytes of a body WAF inspects in front of this origin."""
        ...

    def alias_target(
        self, edge: RegionalEdge, role: str, host: str, certificate_arn: pulumi.Input[str]
    ) -> AliasTarget: ...


@dataclass(frozen=True)
class ApiGatewayOrigin:
    """A REST API stage: each host gets an API Gateway custom domain name (TLS 1.2) mapped to it."""

    rest_api_id: pulumi.Input[str]
    """The REST API each host's base path mapping points at."""
    stage_name: pulumi.Input[str]
    """The stage each host's base path mapping serves."""
    stage_arn: pulumi.Input[str]
    """What the web ACL is associated with."""

    @property
    def protected_arn(self) -> pulumi.Input[str]:
        return self.stage_arn

    @property
    def body_inspection_limit(self) -> int:
        return API_GATEWAY_BODY_INSPECTION_BYTES

    def alias_target(self, edge: RegionalEdge, role: str, host: str, certificate_arn: pulumi.Input[str]) -> AliasTarget:
        domain = aws.apigateway.DomainName(
            edge.child_name(f"domain-{role}"),
            aws.apigateway.DomainNameArgs(
                region=edge.region,
                domain_name=host,
                regional_certificate_arn=certificate_arn,
                endpoint_configuration=aws.apigateway.DomainNameEndpointConfigurationArgs(types="REGIONAL"),
                security_policy="TLS_1_2",
                tags=edge.tags,
            ),
            edge.child_opts(f"domain-{role}"),
        )
        aws.apigateway.BasePathMapping(
            edge.child_name(f"mapping-{role}"),
            aws.apigateway.BasePathMappingArgs(
                region=edge.region,
                rest_api=self.rest_api_id,
                stage_name=self.stage_name,
                domain_name=domain.domain_name,
            ),
            edge.child_opts(f"mapping-{role}"),
        )
        return AliasTarget(domain.regional_domain_name, domain.regional_zone_id)


@dataclass(frozen=True)
class LoadBalancerOrigin:
    """An application load balancer: it terminates TLS itself, for every host."""

    arn: pulumi.Input[str]
    """The load balancer's ARN: what the web ACL is associated with."""
    dns_name: pulumi.Input[str]
    """Its DNS name: the target of the regional and latency alias records."""
    zone_id: pulumi.Input[str]
    """Its canonical hosted zone, for those alias records."""

    @property
    def protected_arn(self) -> pulumi.Input[str]:
        return self.arn

    @property
    def body_inspection_limit(self) -> int:
        return LOAD_BALANCER_BODY_INSPECTION_BYTES

    def alias_target(self, edge: RegionalEdge, role: str, host: str, certificate_arn: pulumi.Input[str]) -> AliasTarget:
        return AliasTarget(self.dns_name, self.zone_id)


@dataclass(frozen=True)
class MovedFrom:
    """Where the edge's children lived before the edge was its own component: each gets an alias to
    its old URN (`<prefix>-<role>` under `parent`), so existing stacks keep them instead of replacing them."""

    parent: pulumi.Resource
    """The component the children were declared under (RegionalGateway)."""
    prefix: str
    """The name their old resource names began with (`<prefix>-<role>`)."""


@dataclass(frozen=True)
class RegionalEdgeArgs:
    """What the edge fronts and how: the origin, the key for WAF's logs and the edge's settings.
    Fields: docs/components.md."""

    region: str
    """The region of the web ACL, the certificate and the latency record: an AWS region name."""
    origin: EdgeOrigin
    """What serves the region: ApiGatewayOrigin (a REST API stage) or LoadBalancerOrigin (an ALB). WAF is
    associated with it, and it limits the body size WAF lets through to what WAF can inspect in front of it."""
    logs_key_arn: pulumi.Input[str]
    """Encrypts the WAF log group (the key's policy admits this region's log groups)."""
    settings: EdgeSettings = field(default_factory=EdgeSettings)
    """Domain, WAF rate limit and logging, drain."""
    name_prefix: str = "payment-gateway"
    """Names the web ACL's metric (`<prefix>-waf`), its log group (`aws-waf-logs-<prefix>`) and the health
    check (its Name tag, `<prefix>-<region>`)."""
    log_retention_days: int = 365
    """Retention of the WAF log group, days (one of the values CloudWatch accepts)."""
    health_path: str = "/health"
    """The path Route 53's health check requests over HTTPS on `<region>.<domain>`, every 10 s; 3 failures
    take the region out of DNS."""
    moved_from: MovedFrom | None = None
    """Where the edge's children were before it was a component (each aliased); None for a new edge."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on the web ACL, log group, certificate, custom domain names and health check."""


def body_limit(origin: EdgeOrigin) -> int:
    """The largest body the edge lets through: the API's own limit, or less where WAF inspects less
    (an ALB), so that no byte of a body reaches the origin uninspected."""
    return min(MAX_BODY_BYTES, origin.body_inspection_limit)


def waf_errors(origin: EdgeOrigin) -> tuple[WafError, ...]:
    """The web ACL's custom responses in front of `origin`, in the API's error shape."""
    return WAF_RATE_LIMITED, waf_body_too_large(body_limit(origin))


class RegionalEdge(pulumi.ComponentResource):
    """WAF, certificate, DNS and health check of one region, in front of an origin."""

    web_acl_arn: pulumi.Output[str]
    certificate_arn: pulumi.Output[str] | None
    """The validated certificate for `<region>.<domain>` and `<domain>` (None without a domain)."""
    regional_url: pulumi.Output[str] | None
    global_url: pulumi.Output[str] | None
    health_check_id: pulumi.Output[str] | None

    def __init__(self, name: str, args: RegionalEdgeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("edge", "RegionalEdge"), name, None, opts)
        self._name = name
        self._args = args
        self.web_acl_arn = self._waf()
        self.certificate_arn = self.regional_url = self.global_url = self.health_check_id = None
        if args.settings.domain is not None:
            self._custom_domain(args.settings.domain)
        self.register_outputs(
            {
                "web_acl_arn": self.web_acl_arn,
                "certificate_arn": self.certificate_arn,
                "regional_url": self.regional_url,
                "global_url": self.global_url,
                "health_check_id": self.health_check_id,
            }
        )

    # --- for origins, which create their host bindings as the edge's children ---------------------

    @property
    def region(self) -> str:
        return self._args.region

    @property
    def tags(self) -> dict[str, str]:
        return dict(self._args.tags)

    def child_name(self, role: str) -> str:
        return f"{self._name}-{role}"

    def child_opts(self, role: str, **kwargs: object) -> pulumi.ResourceOptions:
        """Parented to the edge, with an alias to where the child used to be (see MovedFrom)."""
        moved = self._args.moved_from
        aliases = [pulumi.Alias(name=f"{moved.prefix}-{role}", parent=moved.parent)] if moved else None
        return pulumi.ResourceOptions(parent=self, aliases=aliases, **kwargs)  # type: ignore[arg-type]

    # --- WAF ---------------------------------------------------------------------------------------

    def _waf(self) -> pulumi.Output[str]:
        """The web ACL (its rules: components/waf.py) on the origin, and its logging."""
        args, prefix = self._args, self._args.name_prefix
        rate_limited, too_large = errors = waf_errors(args.origin)
        rules = web_acl_rules(args.settings.waf_rate_limit, body_limit(args.origin), rate_limited, too_large)
        acl = aws.wafv2.WebAcl(
            self.child_name("waf"),
            aws.wafv2.WebAclArgs(
                region=args.region,
                scope="REGIONAL",
                description=f"{prefix} API in {args.region}",
                default_action=aws.wafv2.WebAclDefaultActionArgs(allow=aws.wafv2.WebAclDefaultActionAllowArgs()),
                custom_response_bodies=custom_response_bodies(errors),
                rules=rules,
                visibility_config=aws.wafv2.WebAclVisibilityConfigArgs(
                    cloudwatch_metrics_enabled=True, sampled_requests_enabled=True, metric_name=f"{prefix}-waf"
                ),
                tags=self.tags,
            ),
            self.child_opts("waf"),
        )
        aws.wafv2.WebAclAssociation(
            self.child_name("waf-association"),
            aws.wafv2.WebAclAssociationArgs(
                region=args.region, resource_arn=args.origin.protected_arn, web_acl_arn=acl.arn
            ),
            self.child_opts("waf-association"),
        )
        self._waf_logging(acl)
        return acl.arn

    def _waf_logging(self, acl: aws.wafv2.WebAcl) -> aws.wafv2.WebAclLoggingConfiguration:
        """WAF's records to an encrypted, retained log group."""
        args = self._args
        logs = EncryptedLogs(args.region, args.log_retention_days, args.logs_key_arn, args.tags)
        log_group = logs.group(
            self.child_name("waf-logs"), f"{WAF_LOG_GROUP_PREFIX}{args.name_prefix}", self.child_opts("waf-logs")
        )
        return aws.wafv2.WebAclLoggingConfiguration(
            self.child_name("waf-logging"),
            aws.wafv2.WebAclLoggingConfigurationArgs(
                region=args.region,
                resource_arn=acl.arn,
                log_destination_configs=[log_group.arn],
                redacted_fields=waf_redacted_fields(),
                logging_filter=None if args.settings.waf_log_all_requests else waf_logging_filter(WAF_LOGGED_ACTIONS),
            ),
            self.child_opts("waf-logging"),
        )

    # --- custom domain, DNS and health check -----------------------------------------------------

    def _validation_record(
        self, cert: aws.acm.Certificate, domain: CustomDomainArgs, host: str, role: str, shared: bool
    ) -> aws.route53.Record:
        option = cert.domain_validation_options.apply(lambda options: next(o for o in options if o.domain_name == host))
        return aws.route53.Record(
            self.child_name(f"cert-validation-{role}"),
            aws.route53.RecordArgs(
                zone_id=domain.hosted_zone_id,
                name=option.apply(lambda o: o.resource_record_name or ""),
                type=option.apply(lambda o: o.resource_record_type or "CNAME"),
                records=[option.apply(lambda o: o.resource_record_value or "")],
                ttl=60,
                # Every region validates the shared name with the same record: tolerate it existing,
                # and keep it when one region's stack is destroyed (the others' renewals need it).
                allow_overwrite=True,
            ),
            self.child_opts(f"cert-validation-{role}", retain_on_delete=shared),
        )

    def _certificate(self, domain: CustomDomainArgs, regional_host: str) -> pulumi.Output[str]:
        cert = aws.acm.Certificate(
            self.child_name("cert"),
            aws.acm.CertificateArgs(
                region=self.region,
                domain_name=regional_host,
                subject_alternative_names=[domain.domain_name],
                validation_method="DNS",
                tags=self.tags,
            ),
            self.child_opts("cert"),
        )
        records = [
            self._validation_record(cert, domain, regional_host, "regional", shared=False),
            self._validation_record(cert, domain, domain.domain_name, "global", shared=True),
        ]
        validation = aws.acm.CertificateValidation(
            self.child_name("cert-validation"),
            aws.acm.CertificateValidationArgs(
                region=self.region, certificate_arn=cert.arn, validation_record_fqdns=[r.fqdn for r in records]
            ),
            self.child_opts("cert-validation"),
        )
        return validation.certificate_arn

    def _custom_domain(self, domain: CustomDomainArgs) -> None:
        regional_host = f"{self.region}.{domain.domain_name}"
        self.certificate_arn = self._certificate(domain, regional_host)
        origin = self._args.origin
        regional = origin.alias_target(self, "regional", regional_host, self.certificate_arn)
        shared = origin.alias_target(self, "global", domain.domain_name, self.certificate_arn)
        self._dns(domain, regional_host, regional, shared)
        self.global_url = pulumi.Output.from_input(f"https://{domain.domain_name}")
        self.regional_url = pulumi.Output.from_input(f"https://{regional_host}")

    def _alias(self, target: AliasTarget) -> list[aws.route53.RecordAliasArgs]:
        return [aws.route53.RecordAliasArgs(name=target.name, zone_id=target.zone_id, evaluate_target_health=True)]

    def _dns(self, domain: CustomDomainArgs, regional_host: str, regional: AliasTarget, shared: AliasTarget) -> None:
        aws.route53.Record(
            self.child_name("dns-regional"),
            aws.route53.RecordArgs(
                zone_id=domain.hosted_zone_id, name=regional_host, type="A", aliases=self._alias(regional)
            ),
            self.child_opts("dns-regional"),
        )
        # This region's own hostname, so a failure here is seen here; 3 x 10 s -> out of DNS in ~30-60 s.
        health_check = aws.route53.HealthCheck(
            self.child_name("health-check"),
            aws.route53.HealthCheckArgs(
                type="HTTPS",
                fqdn=regional_host,
                port=443,
                resource_path=self._args.health_path,
                request_interval=HEALTH_CHECK_INTERVAL_SECONDS,
                failure_threshold=HEALTH_CHECK_FAILURES,
                enable_sni=True,
                tags={**self.tags, "Name": f"{self._args.name_prefix}-{self.region}"},
            ),
            self.child_opts("health-check"),
        )
        self.health_check_id = health_check.id
        if self._args.settings.drain:
            return
        aws.route53.Record(
            self.child_name("dns-latency"),
            aws.route53.RecordArgs(
                zone_id=domain.hosted_zone_id,
                name=domain.domain_name,
                type="A",
                set_identifier=self.region,
                latency_routing_policies=[aws.route53.RecordLatencyRoutingPolicyArgs(region=self.region)],
                health_check_id=health_check.id,
                aliases=self._alias(shared),
            ),
            self.child_opts("dns-latency"),
        )
