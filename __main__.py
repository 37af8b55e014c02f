"""The payment gateway in one region: `make deploy STACK=eu` (`pulumi up`, then the gradual rollout).

The primary stack (`primary: true`) owns the DynamoDB global table, its replicas and their KMS
keys; every other stack attaches to its region's replica. See docs/infrastructure.md.
"""

from __future__ import annotations

from pathlib import Path

import pulumi

from components.code_signing import CodeSigning, CodeSigningArgs
from components.config import load_stack_config
from components.deployments import DEPLOYMENT_STRATEGIES, LiveFunction, SafeDeployments, SafeDeploymentsArgs
from components.global_store import GlobalStore, GlobalStoreArgs
from components.monitoring import Monitoring, MonitoringArgs
from components.packaging import build_lambda_archive
from components.regional_gateway import (
    LIVE_ALIAS,
    RUNTIME_VERSION,
    BankSettings,
    CustomDomainArgs,
    LambdaSettings,
    RegionalGateway,
    RegionalGatewayArgs,
    ResolverSettings,
    route_functions,
    table_operations,
)
from handlers import routes

PROJECT_ROOT = Path(__file__).resolve().parent

config = load_stack_config()
archive = build_lambda_archive(PROJECT_ROOT, bytecode_for=RUNTIME_VERSION)
deployment_config = DEPLOYMENT_STRATEGIES[config.deployment_strategy]

signing = (
    CodeSigning(
        "signing",
        CodeSigningArgs(
            region=config.region,
            archive=pulumi.FileAsset(str(archive.path)),
            profile=config.code_signing_profile,
            name_prefix=config.name_prefix,
            tags=config.tags,
        ),
    )
    if config.code_signing_profile
    else None
)

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

gateway = RegionalGateway(
    "gateway",
    RegionalGatewayArgs(
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
            connect_timeout_ms=config.bank_connect_timeout_ms,
            read_timeout_ms=config.bank_read_timeout_ms,
        ),
        lambda_settings=LambdaSettings(
            memory_mb=config.lambda_memory_mb,
            timeout_seconds=config.lambda_timeout_seconds,
            reserved_concurrency=config.reserved_concurrency,
            log_level=config.log_level,
        ),
        log_retention_days=config.log_retention_days,
        allowed_currencies=config.allowed_currencies,
        metrics_namespace=config.metrics_namespace,
        authorizer_cache_seconds=config.authorizer_cache_seconds,
        throttle_rate_limit=config.throttle_rate_limit,
        throttle_burst_limit=config.throttle_burst_limit,
        waf_rate_limit=config.waf_rate_limit,
        waf_log_all_requests=config.waf_log_all_requests,
        domain=(
            CustomDomainArgs(domain_name=config.domain_name, hosted_zone_id=config.hosted_zone_id)
            if config.domain_name and config.hosted_zone_id
            else None
        ),
        resolver=ResolverSettings(
            unknown_outcome=config.unknown_outcome,
            interval_minutes=config.resolver_interval_minutes,
            peer_regions=config.regions,
            takeover_after_seconds=config.takeover_after_seconds,
        ),
        drain=config.drain_region,
        manage_api_gateway_account=config.manage_api_gateway_account,
        alias_moved_by_deployments=deployment_config is not None,
        code_signing=signing.code if signing else None,
        tags=config.tags,
    ),
)

monitoring = Monitoring(
    "monitoring",
    MonitoringArgs(
        region=config.region,
        api_name=gateway.rest_api_name,
        stage_name=gateway.stage_name,
        functions=gateway.function_names,
        responding_functions=[fn.name for fn in route_functions(routes.ROUTES)],
        rejecting_functions=[routes.AUTHORIZER.name],
        function_timeout_seconds=config.lambda_timeout_seconds,
        function_timeouts={routes.RESOLVER.name: ResolverSettings().timeout_seconds},
        table_name=store.table_name,
        table_operations=table_operations([*route_functions(routes.ROUTES), routes.AUTHORIZER, routes.RESOLVER]),
        replica_regions=config.other_regions,
        health_check_id=gateway.health_check_id,
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
live = {role: deployed for role, deployed in gateway.functions.items() if deployed.alias is not None}
deployments = (
    SafeDeployments(
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
    if deployment_config
    else None
)
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
pulumi.export("regionalApiUrl", gateway.regional_url)
if gateway.global_url is not None:
    pulumi.export("globalUrl", gateway.global_url)
pulumi.export("tableName", store.table_name)
pulumi.export("dashboardUrl", monitoring.dashboard_url)
