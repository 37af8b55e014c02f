"""The stack configuration as the program uses it: StackConfig, typed, each default written once on
its field, and the vocabulary of `payment-gateway:` keys that may set it. components/config.py reads
and validates the keys into a StackConfig (the only module that reads `pulumi.Config`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from components.container_service import DEFAULT_SECRET_RECOVERY_WINDOW_DAYS, TaskSettings
from components.deployments import DEFAULT_STRATEGY
from components.global_store import ConsistencyMode
from components.lambda_settings import DEFAULT_AUTHORIZATION_TTL_SECONDS
from components.monitoring import AlarmThresholds
from handlers.contract import routes, schema
from handlers.contract.resolution import takeover_after

PROJECT = "payment-gateway"
# Keys only the primary stack's GlobalStore reads: elsewhere they would be silently ignored.
PRIMARY_ONLY_KEYS = ("consistencyMode", "witnessRegion", "deletionProtection")
COMPUTE_OPTIONS = "lambda", "fargate"
# Keys only one compute option reads: the other refuses them rather than ignore them.
FARGATE_ONLY_KEYS = (
    "fargateCpu",
    "fargateMemoryMb",
    "fargateMinTasks",
    "fargateMaxTasks",
    "fargateCpuTargetPercent",
    "fargateRequestsPerTarget",
    "albDeletionProtection",
    "secretRecoveryWindowDays",
    "alarmFargateCpuPercent",
    "alarmFargateMemoryPercent",
)
API_GATEWAY_ONLY_KEYS = ("throttleRateLimit", "throttleBurstLimit", "authorizerCacheSeconds", "manageApiGatewayAccount")
ALARM_KEYS = (
    "alarm5xxRatePercent",
    "alarm4xxRatePercent",
    "alarmLatencyP99Ms",
    "alarmLambdaErrors",
    "alarmLambdaThrottles",
    "alarmDurationPercentOfTimeout",
    "alarmDynamoThrottledRequests",
    "alarmDynamoSystemErrors",
    "alarmReplicationLatencyMs",
    "alarmOldestPendingSeconds",
    "alarmOldestUndeliveredSeconds",
    "alarmResolverFailures",
    "alarmHeartbeatAgeSeconds",
)
# Every key components/config.py takes under the project's namespace; any other is refused as a likely
# typo. The reader can read no key missing here (its _DeclaredConfig), so this table cannot fall behind it.
KEYS = frozenset(
    {
        *PRIMARY_ONLY_KEYS,
        *FARGATE_ONLY_KEYS,
        *API_GATEWAY_ONLY_KEYS,
        *ALARM_KEYS,
        "regions",
        "primary",
        "fingerprintKey",
        "bankUrl",
        "bankSimulator",
        "bankSandbox",
        "namePrefix",
        "tableName",
        "lambdaMemoryMb",
        "lambdaTimeoutSeconds",
        "snapStart",
        "reservedConcurrency",
        "logRetentionDays",
        "logRetentionOverrideReason",
        "logLevel",
        "metricsNamespace",
        "allowedCurrencies",
        "bankConnectTimeoutMs",
        "bankReadTimeoutMs",
        "wafRateLimit",
        "wafLogAllRequests",
        "domainName",
        "hostedZoneId",
        "alarmEmail",
        "drainRegion",
        "unknownOutcome",
        "resolverIntervalMinutes",
        "authorizationTtl",
        "deploymentStrategy",
        "codeSigningProfile",
        "compute",
    }
)


@dataclass(frozen=True)
class StackConfig:
    region: str
    regions: tuple[str, ...]
    primary: bool
    fingerprint_key: pulumi.Output[str]
    bank_url: pulumi.Output[str] | None = None
    bank_simulator: bool = False
    bank_sandbox: bool = False
    name_prefix: str = PROJECT
    table_name: str = schema.DEFAULT_TABLE_NAME
    deletion_protection: bool = True
    consistency_mode: ConsistencyMode = "EVENTUAL"
    witness_region: str | None = None
    lambda_memory_mb: int = 512
    lambda_timeout_seconds: int = 5
    reserved_concurrency: int | None = None
    snap_start: bool = True
    log_retention_days: int = 365
    log_level: str = "INFO"
    metrics_namespace: str = "PaymentGateway"
    allowed_currencies: str = "GBP,EUR,USD"
    bank_connect_timeout_ms: int = 250
    bank_read_timeout_ms: int = 600
    authorizer_cache_seconds: int = routes.AUTHORIZER_CACHE_SECONDS
    # After a failover one region carries the whole design load (167 req/s, ~100 on payments):
    # per-method limits with 5x headroom. Merchants call from a few server IPs: the WAF rule stops
    # floods (twice the whole design peak from one IP), not a large merchant.
    throttle_rate_limit: float = 500.0
    throttle_burst_limit: int = 1000
    waf_rate_limit: int = 100_000
    waf_log_all_requests: bool = False
    domain_name: str | None = None
    hosted_zone_id: str | None = None
    alarm_email: str | None = None
    drain_region: bool = False
    manage_api_gateway_account: bool = True
    unknown_outcome: str = "settle"
    resolver_interval_minutes: int = 1
    authorization_ttl_seconds: int = DEFAULT_AUTHORIZATION_TTL_SECONDS
    """authorizationTtl: seconds a manual authorization waits for its capture before the resolver expires it."""
    deployment_strategy: str = DEFAULT_STRATEGY
    code_signing_profile: str | None = None
    compute: str = "lambda"
    """lambda: API Gateway + Lambda; fargate: ALB + ECS Fargate (the same handlers, table and contract)."""
    fargate: TaskSettings = field(default_factory=TaskSettings)
    alb_deletion_protection: bool = True
    secret_recovery_window_days: int = DEFAULT_SECRET_RECOVERY_WINDOW_DAYS
    """The container's secrets: days a deleted one stays recoverable, its fixed name taken (0 or 7-30)."""
    alarms: AlarmThresholds = field(default_factory=AlarmThresholds)

    @property
    def other_regions(self) -> tuple[str, ...]:
        """Every configured region except this stack's own."""
        return tuple(r for r in self.regions if r != self.region)

    @property
    def takeover_after_seconds(self) -> float:
        """When another region's silent resolver is taken over (handlers.domain.resolver.takeover_after):
        two missed runs, plus the replication-latency alarm's threshold (replication slower than
        that pages), plus the idempotency lease (twice the function timeout)."""
        return takeover_after(
            60.0 * self.resolver_interval_minutes,
            self.alarms.replication_latency_ms / 1000,
            2.0 * self.lambda_timeout_seconds,
        )

    @property
    def tags(self) -> dict[str, str]:
        return {"project": PROJECT, "stack": pulumi.get_stack(), "region": self.region}
