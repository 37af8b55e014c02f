"""Another team's Pulumi program: the payment gateway in a third region, built from the
`payment-gateway` package (components and handlers), not from a checkout of its repository.

The table stays the payment gateway's: its primary stack owns the global table and must list
this region in its `regions` (a replica and its KMS key are created there); this program attaches
to that replica (GlobalStore attach mode) and adds the regional API, its functions and alarms under
its own names.

    pulumi config set aws:region ap-southeast-2
    pulumi config set --secret fingerprintKey <the same key as the other regions>
    pulumi config set --secret bankUrl https://acquirer.example/payments
    pulumi up
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pulumi

from components.global_store import GlobalStore, GlobalStoreArgs
from components.monitoring import LambdaMetrics, Monitoring, MonitoringArgs
from components.packaging import build_lambda_archive, handlers_source_root
from components.regional_gateway import (
    RUNTIME_VERSION,
    BankSettings,
    LambdaSettings,
    RegionalGateway,
    RegionalGatewayArgs,
    ResolverSettings,
    route_functions,
    table_operations,
)
from handlers.contract import routes

NAME_PREFIX = "payments-apac"
# Every region of the gateway, this one included: the resolvers watch each other's heartbeats.
PEER_REGIONS = ("eu-west-1", "us-east-1", "ap-southeast-2")

config = pulumi.Config()
region = pulumi.Config("aws").require("region")
tags = {"team": "apac-payments", "stack": pulumi.get_stack()}

# The handlers as installed with the package; the archive goes outside site-packages.
archive = build_lambda_archive(
    handlers_source_root(),
    Path(tempfile.gettempdir()) / f"{NAME_PREFIX}-build",
    bytecode_for=RUNTIME_VERSION,
)

store = GlobalStore("store", GlobalStoreArgs(region=region, attach=True, tags=tags))

gateway = RegionalGateway(
    "gateway",
    RegionalGatewayArgs(
        region=region,
        table_name=store.table_name,
        table_arn=store.table_arn,
        table_key_arn=store.key_arn,
        code=pulumi.FileArchive(str(archive.path)),
        source_code_hash=archive.sha256_base64,
        fingerprint_key=config.require_secret("fingerprintKey"),
        name_prefix=NAME_PREFIX,
        bank=BankSettings(url=config.require_secret("bankUrl")),
        resolver=ResolverSettings(peer_regions=PEER_REGIONS),
        # All-at-once, chosen: this program runs no gradual deployment (the gateway's own stacks add
        # SafeDeployments and `make deploy`), so Pulumi points each function's `live` alias at the
        # version every `pulumi up` publishes. With True and no deployment, new code would never go live.
        alias_moved_by_deployments=False,
        tags=tags,
    ),
)

monitoring = Monitoring(
    "monitoring",
    MonitoringArgs(
        region=region,
        source=LambdaMetrics(api_name=gateway.rest_api_name, stage_name=gateway.stage_name),
        functions=gateway.function_names,
        rejecting_functions=[routes.AUTHORIZER.name],
        # The functions' own timeouts (LambdaSettings' 5 s; the scheduled ones the resolver's 60 s): a
        # duration alarm is a share of them, so a larger figure here would make it unreachable.
        function_timeout_seconds=LambdaSettings().timeout_seconds,
        function_timeouts={
            routes.RESOLVER.name: ResolverSettings().timeout_seconds,
            routes.WEBHOOK_SENDER.name: ResolverSettings().timeout_seconds,
        },
        table_name=store.table_name,
        table_operations=table_operations([*route_functions(routes.ROUTES), routes.AUTHORIZER, routes.RESOLVER]),
        replica_regions=[r for r in PEER_REGIONS if r != region],
        health_check_id=gateway.health_check_id,
        name_prefix=NAME_PREFIX,
        tags=tags,
    ),
)

pulumi.export("regionalApiUrl", gateway.regional_url)
pulumi.export("dashboardUrl", monitoring.dashboard_url)
