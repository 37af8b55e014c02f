"""The stack configuration's reader: the only module that reads `pulumi.Config`.

`load_stack_config()` reads every key once, applies the defaults documented in
docs/infrastructure.md and validates them, so a mistake fails at `pulumi preview` with the
key's name rather than half-way through `pulumi up`. What it returns, the typed StackConfig, and the
keys it reads are components/stack_config.py.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import Any

import pulumi

from components import sizing, validation
from components.code_signing import CREATE_PROFILE, valid_profile
from components.container_service import (
    FARGATE_MEMORY,
    TaskSettings,
    allowed_memory,
    valid_recovery_window,
    valid_task_size,
)
from components.deployments import DEPLOYMENT_STRATEGIES
from components.global_store import CONSISTENCY_MODES, validate_topology
from components.lambda_settings import LOG_RETENTION_DAYS, MAX_AUTHORIZATION_TTL_SECONDS
from components.monitoring import AlarmThresholds
from components.stack_config import (
    API_GATEWAY_ONLY_KEYS,
    COMPUTE_OPTIONS,
    FARGATE_ONLY_KEYS,
    KEYS,
    PRIMARY_ONLY_KEYS,
    PROJECT,
    StackConfig,
)
from components.validation import (
    LOG_LEVELS,
    MAX_THROTTLE_RATE,
    MIN_FINGERPRINT_KEY_BYTES,
    PAYMENT_WRITE_BUDGET_MS,
)
from handlers.contract.resolution import UnknownOutcome

# StackConfig and its keys are components/stack_config.py; its readers import them from here too.
__all__ = [
    "KEYS",
    "LOG_LEVELS",
    "MAX_TASKS",
    "MAX_THROTTLE_RATE",
    "MIN_FINGERPRINT_KEY_BYTES",
    "PAYMENT_WRITE_BUDGET_MS",
    "PCI_LOG_RETENTION_DAYS",
    "PROJECT",
    "UNKNOWN_OUTCOMES",
    "ConfigError",
    "StackConfig",
    "load_stack_config",
]

UNKNOWN_OUTCOMES = tuple(outcome.value for outcome in UnknownOutcome)
# PCI DSS 4.0.1 10.5.1: audit log history kept for at least 12 months.
PCI_LOG_RETENTION_DAYS = 365
MAX_TASKS = 1000


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the key."""


class _DeclaredConfig(pulumi.Config):
    """The project's config, read only by the keys in KEYS: a key read here but not declared there would
    be refused as unknown at every `pulumi preview`, so it fails at its first read instead (in the tests)."""

    def full_key(self, key: str) -> str:
        if key not in KEYS:
            raise AssertionError(f"components.config reads {key!r}, which KEYS does not declare")
        return super().full_key(key)


def _configured_keys() -> set[str]:
    """Every fully qualified key set for this program run. The CLI's language host passes the stack's
    config in $PULUMI_CONFIG (public: get_config_env) and loads it with set_all_config; the Automation
    API and the unit-test mocks call set_all_config alone, which fills pulumi.runtime.config.CONFIG."""
    return set(pulumi.runtime.get_config_env()) | set(pulumi.runtime.config.CONFIG.get())


def _refuse_unknown_keys() -> None:
    """A misspelt key would otherwise be ignored, and its setting silently left at the default. Only the
    project's namespace is ours: aws:region and other providers' keys are not refused."""
    prefix = f"{PROJECT}:"
    unknown = sorted(k.removeprefix(prefix) for k in _configured_keys() if k.startswith(prefix))
    unknown = [key for key in unknown if key not in KEYS]
    if not unknown:
        return
    by_lower = {key.lower(): key for key in KEYS}  # logretentiondays is as close to logRetentionDays as it looks

    def hint(key: str) -> str:
        close = difflib.get_close_matches(key.lower(), by_lower, n=1)
        return f"did you mean {by_lower[close[0]]}?" if close else "no known key is close"

    named = "; ".join(f"{prefix}{key} ({hint(key)})" for key in unknown)
    raise ConfigError(f"unknown config key: {named}. The README's Configuration table lists every key")


def _regions(config: pulumi.Config, region: str) -> tuple[str, ...]:
    raw: Any = config.get_object("regions")
    if raw is None:
        return (region,)
    if not isinstance(raw, list) or not all(isinstance(r, str) and r for r in raw):
        raise ConfigError("regions must be a list of AWS region names")
    regions = tuple(raw)
    _checked(validation.aws_region_list, "regions", regions)
    if len(set(regions)) != len(regions):
        raise ConfigError(f"regions {regions} lists a region twice")
    if region not in regions:
        raise ConfigError(f"regions {regions} must include this stack's aws:region {region}")
    return regions


def _alarms(config: pulumi.Config) -> AlarmThresholds:
    """Every threshold positive (at 0 the alarm is always on); a percentage above 100 never fires."""
    defaults = AlarmThresholds()

    def number(key: str, default: float) -> float:
        return _float_between(config, key, default, 0.0, math.inf)

    def percent(key: str, default: float) -> float:
        return _float_between(config, key, default, 0.0, 100.0)

    return AlarmThresholds(
        api_5xx_rate_percent=percent("alarm5xxRatePercent", defaults.api_5xx_rate_percent),
        api_4xx_rate_percent=percent("alarm4xxRatePercent", defaults.api_4xx_rate_percent),
        api_p99_latency_ms=number("alarmLatencyP99Ms", defaults.api_p99_latency_ms),
        lambda_errors=number("alarmLambdaErrors", defaults.lambda_errors),
        lambda_throttles=number("alarmLambdaThrottles", defaults.lambda_throttles),
        lambda_duration_percent_of_timeout=percent(
            "alarmDurationPercentOfTimeout", defaults.lambda_duration_percent_of_timeout
        ),
        dynamodb_throttled_requests=number("alarmDynamoThrottledRequests", defaults.dynamodb_throttled_requests),
        dynamodb_system_errors=number("alarmDynamoSystemErrors", defaults.dynamodb_system_errors),
        replication_latency_ms=number("alarmReplicationLatencyMs", defaults.replication_latency_ms),
        oldest_pending_seconds=number("alarmOldestPendingSeconds", defaults.oldest_pending_seconds),
        oldest_undelivered_seconds=number("alarmOldestUndeliveredSeconds", defaults.oldest_undelivered_seconds),
        resolver_failures=number("alarmResolverFailures", defaults.resolver_failures),
        heartbeat_age_seconds=number("alarmHeartbeatAgeSeconds", defaults.heartbeat_age_seconds),
        fargate_cpu_percent=percent("alarmFargateCpuPercent", defaults.fargate_cpu_percent),
        fargate_memory_percent=percent("alarmFargateMemoryPercent", defaults.fargate_memory_percent),
    )


def _default(name: str) -> Any:
    """A StackConfig field's default: each default is written once, on the field."""
    default = next(f.default for f in fields(StackConfig) if f.name == name)
    assert default is not MISSING, name
    return default


def _int(config: pulumi.Config, key: str, default: int, low: int, high: int) -> int:
    value = config.get_int(key)
    value = default if value is None else value
    if not low <= value <= high:
        raise ConfigError(f"{key} must be between {low} and {high}, not {value}")
    return value


def _retention(config: pulumi.Config) -> int:
    """One of CloudWatch Logs' retention periods; 0 (never expire) is refused, not turned into the default.
    Under PCI DSS 10.5.1's 12 months only with a written reason, repeated at every preview."""
    value = config.get_int("logRetentionDays")
    value = _default("log_retention_days") if value is None else value
    if value not in LOG_RETENTION_DAYS:
        raise ConfigError(f"logRetentionDays must be one of {sorted(LOG_RETENTION_DAYS)}, not {value}")
    reason = config.get("logRetentionOverrideReason")
    if value >= PCI_LOG_RETENTION_DAYS:
        if reason is not None:  # a reason that overrides nothing would be read as if it did
            raise ConfigError(
                f"logRetentionOverrideReason applies only to a logRetentionDays under {PCI_LOG_RETENTION_DAYS}, "
                f"not {value}: remove it"
            )
        return value
    if not (reason and reason.strip()):
        raise ConfigError(
            f"logRetentionDays {value} is under the {PCI_LOG_RETENTION_DAYS} days of audit log history PCI DSS "
            f"10.5.1 asks for: use {PCI_LOG_RETENTION_DAYS} or more, or say why in logRetentionOverrideReason "
            '(e.g. "test stack, no card data")'
        )
    pulumi.log.warn(f"logRetentionDays {value}, under PCI DSS 10.5.1's {PCI_LOG_RETENTION_DAYS} days: {reason}")
    return value


def _optional_int(config: pulumi.Config, key: str, low: int, high: int) -> int | None:
    value = config.get_int(key)
    if value is not None and not low <= value <= high:
        raise ConfigError(f"{key} must be between {low} and {high}, not {value}")
    return value


def _currencies(config: pulumi.Config) -> str:
    return config.get("allowedCurrencies") or str(_default("allowed_currencies"))


def _checked(check: Callable[[str, Any], None], key: str, value: Any) -> Any:
    """The components' own check of a value (components.validation), refused under the stack key's name."""
    try:
        check(key, value)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return value


def _float_between(config: pulumi.Config, key: str, default: float, above: float, high: float) -> float:
    """A number in (above, high]."""
    value = config.get_float(key)
    value = default if value is None else value
    if not above < value <= high:
        limit = "" if high == math.inf else f" and at most {high:g}"
        raise ConfigError(f"{key} must be more than {above:g}{limit}, not {value:g}")
    return value


def _choice(config: pulumi.Config, key: str, default: str, choices: tuple[str, ...]) -> str:
    value = config.get(key) or default
    if value not in choices:
        raise ConfigError(f"{key} must be one of {choices}, not {value!r}")
    return value


def _require_bank_call_within_function(config: pulumi.Config) -> None:
    """The bank call and then the payment write, with its retries, must end before the function does:
    otherwise Lambda kills a payment after the charge, before it is stored or even logged."""
    timeout_ms = 1000 * _int(config, "lambdaTimeoutSeconds", _default("lambda_timeout_seconds"), 1, 29)
    bank_ms = _int(config, "bankConnectTimeoutMs", _default("bank_connect_timeout_ms"), 1, 10000) + _int(
        config, "bankReadTimeoutMs", _default("bank_read_timeout_ms"), 1, 28000
    )
    if bank_ms + PAYMENT_WRITE_BUDGET_MS >= timeout_ms:
        raise ConfigError(
            f"bankConnectTimeoutMs + bankReadTimeoutMs ({bank_ms}) must leave the payment write's "
            f"{PAYMENT_WRITE_BUDGET_MS} ms within lambdaTimeoutSeconds ({timeout_ms} ms)"
        )


def _fingerprint_key(config: pulumi.Config) -> pulumi.Output[str]:
    """The HMAC key, checked for length (never echoed) and kept a secret output."""
    key = config.require("fingerprintKey")
    if len(key.encode()) < MIN_FINGERPRINT_KEY_BYTES:
        raise ConfigError(
            f"fingerprintKey must be at least {MIN_FINGERPRINT_KEY_BYTES} bytes (e.g. `openssl rand -base64 48`), "
            f"not {len(key.encode())}"
        )
    return pulumi.Output.secret(key)


def _refuse_ignored_settings(config: pulumi.Config, primary: bool, domain_name: str | None, others: int) -> None:
    """Settings this stack would silently ignore: refused, naming the key, so nobody relies on them."""
    if not primary:
        for key in PRIMARY_ONLY_KEYS:
            if config.get(key) is not None:
                raise ConfigError(f"{key} applies only to the primary stack (primary: true), which owns the table")
    if config.get_bool("drainRegion") and not domain_name:
        raise ConfigError("drainRegion needs domainName and hostedZoneId: without them there is no DNS record to drain")
    if config.get("alarmReplicationLatencyMs") is not None and not others:
        raise ConfigError("alarmReplicationLatencyMs needs another region in regions: there is no replication to watch")


def _code_signing_profile(config: pulumi.Config) -> str | None:
    profile = config.get("codeSigningProfile")
    if profile is not None and not valid_profile(profile):
        raise ConfigError(
            f"codeSigningProfile must be {CREATE_PROFILE!r} or an AWS Signer profile name "
            f"(2-64 letters, digits or underscores), not {profile!r}"
        )
    return profile


def _refuse_other_computes_settings(config: pulumi.Config, compute: str, domain_name: str | None) -> None:
    """Each compute option refuses the other's keys; fargate needs a domain (TLS needs a name)."""
    ignored = FARGATE_ONLY_KEYS if compute == "lambda" else API_GATEWAY_ONLY_KEYS
    for key in ignored:
        if config.get(key) is not None:
            raise ConfigError(f"{key} does not apply to compute: {compute}")
    if compute == "fargate" and not domain_name:
        raise ConfigError(
            "compute: fargate needs domainName and hostedZoneId: the load balancer serves HTTPS only, "
            "and its certificate needs a name"
        )


def _fargate(config: pulumi.Config) -> TaskSettings:
    """Task size, fleet and scaling targets; the defaults carry the design load in one region (components.sizing)."""
    defaults = TaskSettings()
    cpu = _int(config, "fargateCpu", defaults.cpu, min(FARGATE_MEMORY), max(FARGATE_MEMORY))
    if cpu not in FARGATE_MEMORY:
        raise ConfigError(f"fargateCpu must be one of {sorted(FARGATE_MEMORY)} (CPU units, 1024 = 1 vCPU), not {cpu}")
    memory = _int(config, "fargateMemoryMb", max(defaults.memory_mb, FARGATE_MEMORY[cpu][0]), 512, 30720)
    if not valid_task_size(cpu, memory):
        raise ConfigError(f"fargateMemoryMb must be {allowed_memory(cpu)} with fargateCpu {cpu}, not {memory}")
    min_tasks = _int(config, "fargateMinTasks", defaults.min_tasks, sizing.MIN_TASKS, MAX_TASKS)
    return TaskSettings(
        cpu=cpu,
        memory_mb=memory,
        min_tasks=min_tasks,
        max_tasks=_int(config, "fargateMaxTasks", max(defaults.max_tasks, min_tasks), min_tasks, MAX_TASKS),
        cpu_target_percent=_float_between(config, "fargateCpuTargetPercent", defaults.cpu_target_percent, 0.0, 90.0),
        requests_per_target=_int(config, "fargateRequestsPerTarget", defaults.requests_per_target, 1, 1_000_000),
    )


def _authorization_ttl(config: pulumi.Config) -> int:
    """Whole seconds, more than 0 and at most 30 days. Parsed here, not with get_int, so "1.5" or
    "7d" is refused with the key's name and its range rather than a type error."""
    raw = config.get("authorizationTtl")
    if raw is None:
        return int(_default("authorization_ttl_seconds"))
    text = raw.strip()
    if not text.lstrip("-").isdigit() or not text.isascii():
        raise ConfigError(f"authorizationTtl must be a whole number of seconds (e.g. 604800 for 7 days), not {raw!r}")
    value = int(text)
    if value <= 0:
        raise ConfigError(f"authorizationTtl must be more than 0 seconds, not {value}")
    if value > MAX_AUTHORIZATION_TTL_SECONDS:
        raise ConfigError(
            f"authorizationTtl must be at most {MAX_AUTHORIZATION_TTL_SECONDS} seconds (30 days), not {value}: "
            "no card scheme holds an uncaptured authorization longer, so the payment would stay `authorized` "
            "after its money was released"
        )
    return value


def _secret_recovery_window(config: pulumi.Config) -> int:
    value = config.get_int("secretRecoveryWindowDays")
    value = _default("secret_recovery_window_days") if value is None else value
    if not valid_recovery_window(value):
        raise ConfigError(f"secretRecoveryWindowDays must be 0 (delete at once) or 7-30 (Secrets Manager), not {value}")
    return value


def _topology(region: str, regions: tuple[str, ...], mode: str, witness_region: str | None) -> None:
    """The primary's table layout (GlobalStore's own check), refused here with the keys named."""
    try:
        validate_topology(region, [r for r in regions if r != region], mode, witness_region)
    except ValueError as e:
        raise ConfigError(f"regions, consistencyMode and witnessRegion: {e}") from e


def _bank(config: pulumi.Config) -> tuple[pulumi.Output[str] | None, bool, bool]:
    """Exactly one of a real acquirer (the bankUrl secret) or, explicitly, the simulator: a stack
    that forgot its bankUrl must not send merchants' payments to a simulator that approves them.
    bankSandbox: the acquirer at bankUrl is its test environment (the stack then takes test keys)."""
    url = config.get_secret("bankUrl")
    simulator = config.get_bool("bankSimulator") or False
    sandbox = config.get_bool("bankSandbox") or False
    if (url is None) == (not simulator):
        raise ConfigError(
            "set bankUrl (a secret: the acquirer's URL) or, for a test deployment where no money moves, "
            "bankSimulator: true; not both"
        )
    if sandbox and url is None:
        raise ConfigError("bankSandbox: true says the acquirer at bankUrl is a test one: it needs bankUrl")
    return url, simulator, sandbox


def load_stack_config() -> StackConfig:
    """Read and validate this stack's configuration (`payment-gateway:*` and `aws:region`)."""
    _refuse_unknown_keys()  # first: a misspelt key may be what makes a later check fail
    config = _DeclaredConfig(PROJECT)
    region = _checked(validation.aws_region, "aws:region", pulumi.Config("aws").require("region"))
    regions = _regions(config, region)
    primary = config.get_bool("primary") or False
    domain_name = config.get("domainName")
    hosted_zone_id = config.get("hostedZoneId")
    if bool(domain_name) != bool(hosted_zone_id):
        raise ConfigError("domainName and hostedZoneId must be set together")
    _refuse_ignored_settings(config, primary, domain_name, len(regions) - 1)
    compute = _choice(config, "compute", _default("compute"), COMPUTE_OPTIONS)
    _refuse_other_computes_settings(config, compute, domain_name)
    _require_bank_call_within_function(config)
    bank_url, bank_simulator, bank_sandbox = _bank(config)
    consistency_mode = _choice(config, "consistencyMode", _default("consistency_mode"), CONSISTENCY_MODES)
    witness_region = config.get("witnessRegion")
    if primary:
        _topology(region, regions, consistency_mode, witness_region)
    return StackConfig(
        region=region,
        regions=regions,
        primary=primary,
        fingerprint_key=_fingerprint_key(config),
        bank_url=bank_url,
        bank_simulator=bank_simulator,
        bank_sandbox=bank_sandbox,
        name_prefix=config.get("namePrefix") or _default("name_prefix"),
        table_name=config.get("tableName") or _default("table_name"),
        deletion_protection=config.get_bool("deletionProtection") is not False,
        consistency_mode="STRONG" if consistency_mode == "STRONG" else "EVENTUAL",
        witness_region=witness_region,
        lambda_memory_mb=_int(config, "lambdaMemoryMb", _default("lambda_memory_mb"), 128, 10240),
        lambda_timeout_seconds=_int(config, "lambdaTimeoutSeconds", _default("lambda_timeout_seconds"), 1, 29),
        # 0 would throttle every function, /health included: Route 53 would drop the region.
        reserved_concurrency=_optional_int(config, "reservedConcurrency", 1, 10000),
        snap_start=config.get_bool("snapStart") is not False,
        log_retention_days=_retention(config),
        log_level=_choice(config, "logLevel", _default("log_level"), LOG_LEVELS),
        metrics_namespace=config.get("metricsNamespace") or _default("metrics_namespace"),
        allowed_currencies=_checked(validation.currency_list, "allowedCurrencies", _currencies(config)),
        bank_connect_timeout_ms=_int(config, "bankConnectTimeoutMs", _default("bank_connect_timeout_ms"), 1, 10000),
        bank_read_timeout_ms=_int(config, "bankReadTimeoutMs", _default("bank_read_timeout_ms"), 1, 28000),
        authorizer_cache_seconds=_int(config, "authorizerCacheSeconds", _default("authorizer_cache_seconds"), 0, 3600),
        throttle_rate_limit=_float_between(
            config, "throttleRateLimit", _default("throttle_rate_limit"), 0.0, MAX_THROTTLE_RATE
        ),
        throttle_burst_limit=_int(config, "throttleBurstLimit", _default("throttle_burst_limit"), 1, 5000),
        waf_rate_limit=_int(config, "wafRateLimit", _default("waf_rate_limit"), 10, 2_000_000_000),
        waf_log_all_requests=config.get_bool("wafLogAllRequests") or False,
        domain_name=domain_name,
        hosted_zone_id=hosted_zone_id,
        alarm_email=config.get("alarmEmail"),
        drain_region=config.get_bool("drainRegion") or False,
        manage_api_gateway_account=config.get_bool("manageApiGatewayAccount") is not False,
        unknown_outcome=_choice(config, "unknownOutcome", _default("unknown_outcome"), UNKNOWN_OUTCOMES),
        resolver_interval_minutes=_int(config, "resolverIntervalMinutes", _default("resolver_interval_minutes"), 1, 60),
        authorization_ttl_seconds=_authorization_ttl(config),
        deployment_strategy=_choice(
            config, "deploymentStrategy", _default("deployment_strategy"), tuple(DEPLOYMENT_STRATEGIES)
        ),
        code_signing_profile=_code_signing_profile(config),
        compute=compute,
        fargate=_fargate(config) if compute == "fargate" else TaskSettings(),
        alb_deletion_protection=config.get_bool("albDeletionProtection") is not False,
        secret_recovery_window_days=_secret_recovery_window(config),
        alarms=_alarms(config),
    )
