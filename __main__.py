"""The payment gateway in one region: `make deploy STACK=eu` (`pulumi up`, then the gradual rollout).

The primary stack (`primary: true`) owns the DynamoDB global table, its replicas and their KMS
keys; every other stack attaches to its region's replica. `compute` chooses what serves the API:
`lambda` (API Gateway + Lambda) or `fargate` (ALB + ECS Fargate), behind the same edge (WAF,
certificate, DNS, health check). See docs/infrastructure.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi

from components.code_signing import CodeSigning, CodeSigningArgs, SignedCode
from components.config import StackConfig, load_stack_config
from components.container_service import ContainerService, ContainerServiceArgs
from components.deployments import DEPLOYMENT_STRATEGIES, LiveFunction, SafeDeployments, SafeDeploymentsArgs
from components.edge import CustomDomainArgs, EdgeSettings
from components.global_store import GlobalStore, GlobalStoreArgs
from components.monitoring import ContainerMetrics, LambdaMetrics, MetricsSource, Monitoring, MonitoringArgs
from components.network import Network, NetworkArgs
from components.packaging import LambdaArchive, build_lambda_archive
from components.policies import TableAccess
from components.regional_gateway import (
    LIVE_ALIAS,
    RUNTIME_VERSION,
    BankSettings,
    DeployedFunction,
    FunctionsArgs,
    LambdaSettings,
    RegionalGateway,
    RegionalGatewayArgs,
    RegionalResolver,
    ResolverSettings,
    route_functions,
    table_operations,
)
from handlers.contract import routes

PROJECT_ROOT = Path(__file__).resolve().parent
# What the API serves; the resolver and the webhook sender run on a schedule in both options.
SERVED = [*route_functions(routes.ROUTES), routes.AUTHORIZER]
SCHEDULED = [routes.RESOLVER, routes.WEBHOOK_SENDER]


@dataclass(frozen=True)
class Front:
    """What serves the API in this region, as the exports and the monitoring see it."""

    regional_url: pulumi.Output[str]
    global_url: pulumi.Output[str] | None
    health_check_id: pulumi.Output[str] | None
    functions: dict[str, DeployedFunction]
    """Every Lambda function of the region, by role (the route functions only with compute: lambda)."""
    metrics: MetricsSource

    @property
    def function_names(self) -> dict[str, pulumi.Output[str]]:
        return {role: deployed.function.name for role, deployed in self.functions.items()}

    @property
    def responding_functions(self) -> list[str]:
        """The roles that answer the API's requests on Lambda: none when a container serves them."""
        return [fn.name for fn in route_functions(routes.ROUTES) if fn.name in self.functions]


def code_signing(config: StackConfig, archive: LambdaArchive) -> SignedCode | None:
    """With codeSigningProfile, the archive signed (every Lambda function, whichever compute option)."""
    if not config.code_signing_profile:
        return None
    signing = CodeSigning(
        "signing",
        CodeSigningArgs(
            region=config.region,
            archive=pulumi.FileAsset(str(archive.path)),
            profile=config.code_signing_profile,
            name_prefix=config.name_prefix,
            tags=config.tags,
        ),
    )
    return signing.code


def functions_args(
    config: StackConfig, store: GlobalStore, archive: LambdaArchive, deployment_config: str | None
) -> FunctionsArgs:
    return FunctionsArgs(
        region=config.region,
        table_name=store.table_name,
        table_arn=store.table_arn,
        table_key_arn=store.key_arn,
        code=pulumi.FileArchive(str(archive.path)),
        source_code_hash=archive.sha256_base64,
        fingerprint_key=config.fingerprint_key,
        name_prefix=config.name_prefix,
        bank=BankSettings(
            url=config.bank_url,
            simulator=config.bank_simulator,
            sandbox=config.bank_sandbox,
            connect_timeout_ms=config.bank_connect_timeout_ms,
            read_timeout_ms=config.bank_read_timeout_ms,
        ),
        lambda_settings=LambdaSettings(
            memory_mb=config.lambda_memory_mb,
            timeout_seconds=config.lambda_timeout_seconds,
            reserved_concurrency=config.reserved_concurrency,
            log_level=config.log_level,
            snap_start=config.snap_start,
        ),
        log_retention_days=config.log_retention_days,
        allowed_currencies=config.allowed_currencies,
        metrics_namespace=config.metrics_namespace,
        resolver=ResolverSettings(
            unknown_outcome=config.unknown_outcome,
            interval_minutes=config.resolver_interval_minutes,
            peer_regions=config.regions,
            takeover_after_seconds=config.takeover_after_seconds,
        ),
        authorization_ttl_seconds=config.authorization_ttl_seconds,
        alias_moved_by_deployments=deployment_config is not None,
        code_signing=code_signing(config, archive),
        tags=config.tags,
    )


def domain(config: StackConfig) -> CustomDomainArgs | None:
    if config.domain_name and config.hosted_zone_id:
        return CustomDomainArgs(domain_name=config.domain_name, hosted_zone_id=config.hosted_zone_id)
    return None


def lambda_api(config: StackConfig, functions: FunctionsArgs) -> Front:
    gateway = RegionalGateway(
        "gateway",
        RegionalGatewayArgs(
            **vars(functions),
            authorizer_cache_seconds=config.authorizer_cache_seconds,
            throttle_rate_limit=config.throttle_rate_limit,
            throttle_burst_limit=config.throttle_burst_limit,
            waf_rate_limit=config.waf_rate_limit,
            waf_log_all_requests=config.waf_log_all_requests,
            domain=domain(config),
            drain=config.drain_region,
            manage_api_gateway_account=config.manage_api_gateway_account,
        ),
    )
    return Front(
        gateway.regional_url,
        gateway.global_url,
        gateway.health_check_id,
        gateway.functions,
        metrics=LambdaMetrics(api_name=gateway.rest_api_name, stage_name=gateway.stage_name),
    )


def container_api(config: StackConfig, functions: FunctionsArgs, store: GlobalStore) -> Front:
    # Imported here: only this option needs the Docker build provider (pulumi-docker-build).
    from components.image import ContainerImage, ContainerImageArgs  # noqa: PLC0415

    resolver = RegionalResolver("functions", functions)
    network = Network(
        "network",
        NetworkArgs(
            region=config.region,
            logs_key_arn=resolver.key_arn,
            name_prefix=config.name_prefix,
            log_retention_days=config.log_retention_days,
            tags=config.tags,
        ),
    )
    image = ContainerImage(
        "image",
        ContainerImageArgs(
            region=config.region,
            context=PROJECT_ROOT,
            repository_name=f"{config.name_prefix}-api",
            kms_key_arn=resolver.key_arn,
            tags=config.tags,
        ),
    )
    service = ContainerService(
        "service",
        ContainerServiceArgs(
            region=config.region,
            network=network,
            image_ref=image.image_ref,
            repository_arn=image.repository_arn,
            table_arn=store.table_arn,
            table_key_arn=store.key_arn,
            table_access=TableAccess.union([(f.table_actions, f.leading_keys, f.indexes) for f in SERVED]),
            key_arn=resolver.key_arn,
            environment=resolver.environment(SERVED),
            edge=EdgeSettings(domain(config), config.waf_rate_limit, config.waf_log_all_requests, config.drain_region),
            task=config.fargate,
            alb_deletion_protection=config.alb_deletion_protection,
            secret_recovery_window_days=config.secret_recovery_window_days,
            name_prefix=config.name_prefix,
            log_retention_days=config.log_retention_days,
            tags=config.tags,
        ),
    )
    return Front(
        service.regional_url,
        service.global_url,
        service.health_check_id,
        resolver.functions,
        metrics=ContainerMetrics(
            load_balancer=service.load_balancer_arn_suffix,
            target_group=service.target_group_arn_suffix,
            cluster_name=service.cluster_name,
            service_name=service.service_name,
            min_tasks=config.fargate.min_tasks,
        ),
    )


def safe_deployments(
    config: StackConfig, deployment_config: str | None, live: dict[str, DeployedFunction], monitoring: Monitoring
) -> SafeDeployments | None:
    """A CodeDeploy group for each published function (the container's rollback is the ECS deployment
    circuit breaker's); nothing to shift when all-at-once."""
    if deployment_config is None:
        return None
    return SafeDeployments(
        "deployments",
        SafeDeploymentsArgs(
            region=config.region,
            deployment_config=deployment_config,
            functions={
                role: LiveFunction(deployed.function.name, LIVE_ALIAS, monitoring.rollback_alarms(role))
                for role, deployed in live.items()
            },
            name_prefix=config.name_prefix,
            tags=config.tags,
        ),
    )


config = load_stack_config()
archive = build_lambda_archive(PROJECT_ROOT, bytecode_for=RUNTIME_VERSION, simulator=config.bank_simulator)
deployment_config = DEPLOYMENT_STRATEGIES[config.deployment_strategy]
store = GlobalStore(
    "store",
    GlobalStoreArgs(
        region=config.region,
        attach=not config.primary,
        replica_regions=config.other_regions if config.primary else (),
        table_name=config.table_name,
        deletion_protection=config.deletion_protection,
        consistency_mode=config.consistency_mode,
        witness_region=config.witness_region if config.primary else None,
        tags=config.tags,
    ),
)
functions = functions_args(config, store, archive, deployment_config)
front = lambda_api(config, functions) if config.compute == "lambda" else container_api(config, functions, store)

monitoring = Monitoring(
    "monitoring",
    MonitoringArgs(
        region=config.region,
        source=front.metrics,
        functions=front.function_names,
        responding_functions=front.responding_functions,
        rejecting_functions=[routes.AUTHORIZER.name],
        function_timeout_seconds=config.lambda_timeout_seconds,
        function_timeouts={fn.name: ResolverSettings().timeout_seconds for fn in SCHEDULED},
        table_name=store.table_name,
        table_operations=table_operations([*SERVED, *SCHEDULED]),
        replica_regions=config.other_regions,
        health_check_id=front.health_check_id,
        alarm_email=config.alarm_email,
        metrics_namespace=config.metrics_namespace,
        name_prefix=config.name_prefix,
        thresholds=config.alarms,
        tags=config.tags,
        watched_keys=[store.key_arn],
    ),
)

# What `python -m deploy` rolls out: every published function, the version `pulumi up` just
# published, and where CodeDeploy shifts it (nothing to shift when all-at-once).
live = {role: deployed for role, deployed in front.functions.items() if deployed.alias is not None}
deployments = safe_deployments(config, deployment_config, live, monitoring)
pulumi.export(
    "deployment",
    {
        "strategy": config.deployment_strategy,
        "deploymentConfig": deployment_config,
        "application": deployments.application_name if deployments else None,
        "functions": {
            role: {
                "functionName": deployed.function.name,
                "alias": LIVE_ALIAS,
                "version": deployed.function.version,
                "deploymentGroup": deployments.group_names[role] if deployments else None,
                "alarms": monitoring.rollback_alarms(role),
            }
            for role, deployed in live.items()
        },
    },
)
pulumi.export("region", config.region)
pulumi.export("regionalApiUrl", front.regional_url)
if front.global_url is not None:
    pulumi.export("globalUrl", front.global_url)
pulumi.export("tableName", store.table_name)
pulumi.export("dashboardUrl", monitoring.dashboard_url)
