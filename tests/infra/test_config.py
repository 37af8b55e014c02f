"""The stack files, the typed config loader, and the config reference in the README."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from typing import Any

import pulumi
import pytest
import yaml

from components import config as config_module
from components.config import KEYS, PAYMENT_WRITE_BUDGET_MS, PROJECT, ConfigError, StackConfig, load_stack_config
from handlers.adapters.dynamo import make_client
from handlers.contract import routes, schema
from handlers.entrypoints.settings import Settings
from tests.infra.mocks import RecordingMocks
from tests.infra.program import ROOT, SECRET_KEYS, stack_file_config

DOCS = ROOT / "README.md"
BASE = {"aws:region": "eu-west-1", "payment-gateway:fingerprintKey": "k" * 32}


def load(**values: str) -> StackConfig:
    """The loader over BASE and `values`; with the simulator unless a bank is named in `values`."""
    bank = {} if {"bankUrl", "bankSimulator"} & set(values) else {"payment-gateway:bankSimulator": "true"}
    config = BASE | bank | {f"payment-gateway:{key}": value for key, value in values.items()}
    pulumi.runtime.set_all_config(config, list(SECRET_KEYS))
    return load_stack_config()


def documented_defaults() -> dict[str, str]:
    """`key` -> default cell of the configuration table (the README's other tables are not config)."""
    section = DOCS.read_text().split("### Configuration", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| `([A-Za-z0-9:]+)` \| (.+?) \|", section, flags=re.MULTILINE)
    return dict(rows)


def keys_read_by_the_loader() -> set[str]:
    source = (ROOT / "components" / "config.py").read_text()
    # First arguments that are bare keys: config.get("x"), _int(config, "x", ...), number("x", ...);
    # `Config("aws").require("region")` is documented as aws:region.
    calls = set(re.findall(r'\(\s*(?:config,\s*)?"([a-z][A-Za-z0-9]+)"', source)) - {"aws", "region"}
    return calls | {"aws:region"}


def test_project_file_uses_the_repository_virtualenv() -> None:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == "payment-gateway"
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}


def test_stack_files_name_one_primary_and_the_same_regions() -> None:
    eu, us = stack_file_config("eu"), stack_file_config("us")
    assert (eu["aws:region"], us["aws:region"]) == ("eu-west-1", "us-east-1")
    assert (eu["payment-gateway:primary"], us.get("payment-gateway:primary", "false")) == ("true", "false")
    assert eu["payment-gateway:regions"] == us["payment-gateway:regions"] == '["eu-west-1", "us-east-1"]'


@pytest.mark.parametrize("stack", ["eu", "us"])
def test_stack_files_hold_no_plaintext_secret(stack: str) -> None:
    config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    for key in SECRET_KEYS:
        assert key not in config or set(config[key]) == {"secure"}


def test_every_config_key_is_documented_with_a_default() -> None:
    read = keys_read_by_the_loader()
    assert len(read) > 30  # the regex found the loader's keys
    assert read <= KEYS | {"aws:region"}  # the table of known keys holds every key the source names
    assert set(documented_defaults()) == KEYS | {"aws:region"}  # and the README documents exactly those


def test_the_loader_reads_every_declared_key(mocks: RecordingMocks, monkeypatch: pytest.MonkeyPatch) -> None:
    """A declared key nobody reads would be accepted and do nothing: the silent ignore KEYS exists to stop."""
    read: set[str] = set()
    full_key = config_module._DeclaredConfig.full_key

    def recording(self: pulumi.Config, key: str) -> str:
        read.add(key)
        return full_key(self, key)

    monkeypatch.setattr(config_module._DeclaredConfig, "full_key", recording)
    load(primary="true")
    load(**FARGATE)
    assert read == KEYS


def test_reading_an_undeclared_key_fails_at_once(mocks: RecordingMocks) -> None:
    """Otherwise a key the loader reads could be missing from KEYS and refused as unknown at deploy."""
    with pytest.raises(AssertionError, match="notDeclared"):
        config_module._DeclaredConfig(PROJECT).get("notDeclared")


DEFAULTS: dict[str, Callable[[StackConfig], Any]] = {
    "primary": lambda c: str(c.primary).lower(),
    "namePrefix": lambda c: c.name_prefix,
    "tableName": lambda c: c.table_name,
    "deletionProtection": lambda c: str(c.deletion_protection).lower(),
    "consistencyMode": lambda c: c.consistency_mode,
    "lambdaMemoryMb": lambda c: c.lambda_memory_mb,
    "lambdaTimeoutSeconds": lambda c: c.lambda_timeout_seconds,
    "snapStart": lambda c: str(c.snap_start).lower(),
    "logRetentionDays": lambda c: c.log_retention_days,
    "logLevel": lambda c: c.log_level,
    "metricsNamespace": lambda c: c.metrics_namespace,
    "allowedCurrencies": lambda c: c.allowed_currencies,
    "bankConnectTimeoutMs": lambda c: c.bank_connect_timeout_ms,
    "bankReadTimeoutMs": lambda c: c.bank_read_timeout_ms,
    "authorizerCacheSeconds": lambda c: c.authorizer_cache_seconds,
    "throttleRateLimit": lambda c: f"{c.throttle_rate_limit:g}",
    "throttleBurstLimit": lambda c: c.throttle_burst_limit,
    "wafRateLimit": lambda c: c.waf_rate_limit,
    "wafLogAllRequests": lambda c: str(c.waf_log_all_requests).lower(),
    "drainRegion": lambda c: str(c.drain_region).lower(),
    "manageApiGatewayAccount": lambda c: str(c.manage_api_gateway_account).lower(),
    "alarm5xxRatePercent": lambda c: f"{c.alarms.api_5xx_rate_percent:g}",
    "alarm4xxRatePercent": lambda c: f"{c.alarms.api_4xx_rate_percent:g}",
    "alarmLatencyP99Ms": lambda c: f"{c.alarms.api_p99_latency_ms:g}",
    "alarmLambdaErrors": lambda c: f"{c.alarms.lambda_errors:g}",
    "alarmLambdaThrottles": lambda c: f"{c.alarms.lambda_throttles:g}",
    "alarmDurationPercentOfTimeout": lambda c: f"{c.alarms.lambda_duration_percent_of_timeout:g}",
    "alarmDynamoThrottledRequests": lambda c: f"{c.alarms.dynamodb_throttled_requests:g}",
    "alarmDynamoSystemErrors": lambda c: f"{c.alarms.dynamodb_system_errors:g}",
    "alarmReplicationLatencyMs": lambda c: f"{c.alarms.replication_latency_ms:g}",
    "authorizationTtl": lambda c: c.authorization_ttl_seconds,
    "deploymentStrategy": lambda c: c.deployment_strategy,
    "compute": lambda c: c.compute,
    "fargateCpu": lambda c: c.fargate.cpu,
    "fargateMemoryMb": lambda c: c.fargate.memory_mb,
    "fargateMinTasks": lambda c: c.fargate.min_tasks,
    "fargateMaxTasks": lambda c: c.fargate.max_tasks,
    "fargateCpuTargetPercent": lambda c: f"{c.fargate.cpu_target_percent:g}",
    "fargateRequestsPerTarget": lambda c: c.fargate.requests_per_target,
    "albDeletionProtection": lambda c: str(c.alb_deletion_protection).lower(),
    "secretRecoveryWindowDays": lambda c: c.secret_recovery_window_days,
    "alarmFargateCpuPercent": lambda c: f"{c.alarms.fargate_cpu_percent:g}",
    "alarmFargateMemoryPercent": lambda c: f"{c.alarms.fargate_memory_percent:g}",
}


def test_documented_defaults_are_the_loaders(mocks: RecordingMocks) -> None:
    config = load()
    documented = documented_defaults()
    for key, value in DEFAULTS.items():
        assert documented[key] == f"`{value(config)}`", key


def test_defaults_for_a_minimal_stack(mocks: RecordingMocks) -> None:
    config = load()
    assert (config.region, config.regions, config.primary, config.other_regions) == (
        "eu-west-1",
        ("eu-west-1",),
        False,
        (),
    )
    assert config.table_name == schema.DEFAULT_TABLE_NAME
    assert config.authorizer_cache_seconds == routes.AUTHORIZER_CACHE_SECONDS
    assert (config.bank_url, config.domain_name, config.alarm_email, config.reserved_concurrency) == (None,) * 4
    assert (config.lambda_memory_mb, config.lambda_timeout_seconds) == (512, 5)
    assert config.alarms.api_p99_latency_ms == 1000


def test_secrets_are_secret_outputs(mocks: RecordingMocks) -> None:
    config = load(bankUrl="https://bank.example")
    assert config.bank_url is not None
    loop = mocks.loop
    assert loop is not None
    assert loop.run_until_complete(config.fingerprint_key.is_secret())
    assert loop.run_until_complete(config.bank_url.is_secret())


def test_values_are_parsed(mocks: RecordingMocks) -> None:
    config = load(
        regions='["eu-west-2", "eu-west-1", "eu-west-3"]',  # one MRSC region set
        primary="true",
        lambdaMemoryMb="1024",
        reservedConcurrency="50",
        domainName="pay.example.com",
        hostedZoneId="Z1",
        alarm5xxRatePercent="0.5",
        consistencyMode="STRONG",
    )
    assert config.other_regions == ("eu-west-2", "eu-west-3")
    assert (config.primary, config.lambda_memory_mb, config.reserved_concurrency) == (True, 1024, 50)
    assert (config.domain_name, config.hosted_zone_id) == ("pay.example.com", "Z1")
    assert (config.alarms.api_5xx_rate_percent, config.consistency_mode) == (0.5, "STRONG")


def test_snap_start_is_on_unless_turned_off(mocks: RecordingMocks) -> None:
    assert load().snap_start is True
    assert load(snapStart="false").snap_start is False


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"regions": '["us-east-1"]'}, "regions"),
        ({"regions": '["eu-west-1", "eu-west-1"]'}, "regions"),
        ({"domainName": "pay.example.com"}, "hostedZoneId"),
        ({"logRetentionDays": "42"}, "logRetentionDays"),
        ({"lambdaTimeoutSeconds": "30"}, "lambdaTimeoutSeconds"),
        ({"lambdaMemoryMb": "64"}, "lambdaMemoryMb"),
        ({"consistencyMode": "SOMETIMES"}, "consistencyMode"),
        ({"logLevel": "CHATTY"}, "logLevel"),
        ({"authorizerCacheSeconds": "7200"}, "authorizerCacheSeconds"),
        ({"wafRateLimit": "5"}, "wafRateLimit"),
        ({"throttleRateLimit": "0"}, "throttleRateLimit"),
        ({"reservedConcurrency": "-1"}, "reservedConcurrency"),
        ({"reservedConcurrency": "0"}, "reservedConcurrency"),  # throttles everything, /health too
        ({"bankReadTimeoutMs": "1750"}, "bankReadTimeoutMs"),  # + 250 connect + 3000 write = the 5 s function
        ({"lambdaTimeoutSeconds": "3"}, "lambdaTimeoutSeconds"),  # 850 ms bank + 3000 ms write
        ({"logRetentionDays": "0"}, "logRetentionDays"),  # not "never expire", nor silently the default
        ({"logRetentionDays": "-1"}, "logRetentionDays"),
        ({"logRetentionDays": "4000"}, "logRetentionDays"),
        ({"fingerprintKey": "k" * 31}, "fingerprintKey"),  # shorter than HMAC-SHA256's 32 bytes
        ({"throttleRateLimit": "10001"}, "throttleRateLimit"),  # above the account's default quota
        ({"throttleBurstLimit": "5001"}, "throttleBurstLimit"),
        ({"alarm5xxRatePercent": "150"}, "alarm5xxRatePercent"),  # a rate never exceeds 100%: never fires
        ({"alarm4xxRatePercent": "0"}, "alarm4xxRatePercent"),  # always fires
        ({"alarmDurationPercentOfTimeout": "120"}, "alarmDurationPercentOfTimeout"),  # Lambda stops at 100%
        ({"alarmLambdaErrors": "0"}, "alarmLambdaErrors"),
        ({"alarmLatencyP99Ms": "-5"}, "alarmLatencyP99Ms"),
        ({"alarmOldestUndeliveredSeconds": "0"}, "alarmOldestUndeliveredSeconds"),  # always fires
        ({"alarmOldestUndeliveredSeconds": "-60"}, "alarmOldestUndeliveredSeconds"),
        ({"deploymentStrategy": "blue-green"}, "deploymentStrategy"),
        ({"deploymentStrategy": "CodeDeployDefault.LambdaCanary10Percent5Minutes"}, "deploymentStrategy"),
        ({"deploymentStrategy": "canary-10-percent-7-minutes"}, "deploymentStrategy"),  # no such preset
        ({"codeSigningProfile": "my-profile"}, "codeSigningProfile"),  # Signer names have no hyphens
        ({"codeSigningProfile": ""}, "codeSigningProfile"),
        ({"codeSigningProfile": "p" * 65}, "codeSigningProfile"),
    ],
)
def test_invalid_values_name_the_key(mocks: RecordingMocks, values: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        load(**values)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("consistencyMode", "EVENTUAL"),  # even the default: set here, it would be read as meaning something
        ("consistencyMode", "STRONG"),
        ("witnessRegion", "eu-west-3"),
        ("deletionProtection", "false"),
        ("deletionProtection", "true"),
    ],
)
def test_table_settings_on_a_stack_that_does_not_own_the_table_are_refused(
    mocks: RecordingMocks, key: str, value: str
) -> None:
    """Only the primary's GlobalStore reads them: elsewhere they would silently do nothing."""
    with pytest.raises(ConfigError, match=rf"{key} applies only to the primary stack"):
        load(regions='["eu-west-1", "us-east-1"]', **{key: value})


def test_table_settings_on_the_primary_are_accepted(mocks: RecordingMocks) -> None:
    config = load(primary="true", deletionProtection="false", consistencyMode="EVENTUAL")
    assert (config.deletion_protection, config.consistency_mode) == (False, "EVENTUAL")


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"consistencyMode": "STRONG"}, "consistencyMode"),  # eu-west-1 + us-east-1: not one MRSC region set
        ({"witnessRegion": "eu-west-3"}, "witnessRegion"),  # a witness without STRONG
    ],
)
def test_a_table_layout_dynamodb_refuses_is_refused_at_load(
    mocks: RecordingMocks, values: dict[str, str], key: str
) -> None:
    with pytest.raises(ConfigError, match=key):
        load(primary="true", regions='["eu-west-1", "us-east-1"]', **values)


def test_drain_without_a_domain_is_refused(mocks: RecordingMocks) -> None:
    """Draining withdraws the latency record; without a domain there is none, and nothing would happen."""
    with pytest.raises(ConfigError, match="drainRegion needs domainName"):
        load(drainRegion="true")
    assert not load(drainRegion="false").drain_region
    assert load(drainRegion="true", domainName="pay.example.com", hostedZoneId="Z1").drain_region


def test_a_replication_threshold_without_another_region_is_refused(mocks: RecordingMocks) -> None:
    with pytest.raises(ConfigError, match="alarmReplicationLatencyMs needs another region"):
        load(alarmReplicationLatencyMs="5000")
    assert load(alarmReplicationLatencyMs="5000", regions='["eu-west-1", "us-east-1"]').alarms.replication_latency_ms


def test_deployment_and_signing_settings_are_parsed(mocks: RecordingMocks) -> None:
    config = load(deploymentStrategy="linear-10-percent-every-3-minutes", codeSigningProfile="create")
    assert (config.deployment_strategy, config.code_signing_profile) == ("linear-10-percent-every-3-minutes", "create")
    assert load(codeSigningProfile="security_team_lambda").code_signing_profile == "security_team_lambda"
    assert load().code_signing_profile is None
    assert load(deploymentStrategy="all-at-once").deployment_strategy == "all-at-once"


def test_the_fingerprint_key_error_does_not_echo_the_key(mocks: RecordingMocks) -> None:
    short = "short-secret-hmac-key"
    with pytest.raises(ConfigError) as raised:
        load(fingerprintKey=short)
    assert short not in str(raised.value) and str(len(short)) in str(raised.value)


def test_edge_values_are_accepted(mocks: RecordingMocks) -> None:
    config = load(
        fingerprintKey="k" * 32,
        logRetentionDays="1",
        logRetentionOverrideReason="test stack, no card data",
        throttleRateLimit="10000",
        alarm5xxRatePercent="100",
        alarmDurationPercentOfTimeout="100",
    )
    assert (config.log_retention_days, config.throttle_rate_limit) == (1, 10_000)
    assert (config.alarms.api_5xx_rate_percent, config.alarms.lambda_duration_percent_of_timeout) == (100, 100)


@pytest.mark.parametrize(
    "bank", [{"bankSimulator": "false"}, {"bankUrl": "https://acquirer.example", "bankSimulator": "true"}]
)
def test_a_stack_names_exactly_one_bank(mocks: RecordingMocks, bank: dict[str, str]) -> None:
    """Neither: a forgotten bankUrl would send real payments to the approving simulator."""
    with pytest.raises(ConfigError, match=r"bankUrl .* bankSimulator"):
        load(**bank)


def test_the_simulator_is_deployed_only_when_asked_for(mocks: RecordingMocks) -> None:
    assert load(bankSimulator="true").bank_simulator
    assert not load(bankUrl="https://acquirer.example").bank_simulator


def test_fingerprint_key_is_required(mocks: RecordingMocks) -> None:
    pulumi.runtime.set_all_config({"aws:region": "eu-west-1", "payment-gateway:bankSimulator": "true"}, [])
    with pytest.raises(pulumi.ConfigMissingError):
        load_stack_config()


def test_the_payment_write_budget_is_the_handlers_worst_case() -> None:
    attempts = inspect.signature(make_client).parameters["attempts"].default
    per_attempt_ms = 2 * 1000 * Settings.from_env({}).dynamodb_timeout  # connect + read
    assert attempts * per_attempt_ms == PAYMENT_WRITE_BUDGET_MS


def test_a_bank_budget_that_leaves_the_write_its_time_is_accepted(mocks: RecordingMocks) -> None:
    config = load(bankReadTimeoutMs="1700")  # 250 + 1700 + 3000 < 5000
    assert config.bank_read_timeout_ms == 1700


# --- compute: fargate ----------------------------------------------------------------------------

FARGATE = {"compute": "fargate", "domainName": "pay.example.com", "hostedZoneId": "Z1"}


def test_fargate_without_a_domain_is_refused(mocks: RecordingMocks) -> None:
    """TLS needs a name: without one there is no certificate for the load balancer's HTTPS listener."""
    with pytest.raises(ConfigError, match="compute: fargate needs domainName and hostedZoneId"):
        load(compute="fargate")
    assert load(**FARGATE).compute == "fargate"


def test_an_unknown_compute_option_is_refused(mocks: RecordingMocks) -> None:
    with pytest.raises(ConfigError, match="compute must be one of"):
        load(compute="kubernetes")


@pytest.mark.parametrize(
    "key", ["fargateMinTasks", "albDeletionProtection", "secretRecoveryWindowDays", "alarmFargateCpuPercent"]
)
def test_fargate_keys_on_a_lambda_stack_are_refused(mocks: RecordingMocks, key: str) -> None:
    with pytest.raises(ConfigError, match=f"{key} does not apply to compute: lambda"):
        load(**{key: "3"})


@pytest.mark.parametrize("key", ["throttleRateLimit", "authorizerCacheSeconds", "manageApiGatewayAccount"])
def test_api_gateway_keys_on_a_fargate_stack_are_refused(mocks: RecordingMocks, key: str) -> None:
    with pytest.raises(ConfigError, match=f"{key} does not apply to compute: fargate"):
        load(**FARGATE, **{key: "1"})


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"fargateCpu": "768"}, "fargateCpu"),
        ({"fargateMemoryMb": "512"}, "fargateMemoryMb"),  # 512 CPU units need 1024-4096 MB
        ({"fargateCpu": "2048", "fargateMemoryMb": "2048"}, "fargateMemoryMb"),
        ({"fargateCpu": "256", "fargateMemoryMb": "1536"}, "fargateMemoryMb"),  # 256: 512, 1024 or 2048 only
        ({"fargateMinTasks": "1"}, "fargateMinTasks"),  # one AZ down would take the region with it
        ({"fargateMinTasks": "4", "fargateMaxTasks": "3"}, "fargateMaxTasks"),
        ({"fargateCpuTargetPercent": "95"}, "fargateCpuTargetPercent"),
        ({"fargateRequestsPerTarget": "0"}, "fargateRequestsPerTarget"),
        ({"alarmFargateMemoryPercent": "0"}, "alarmFargateMemoryPercent"),
        # Secrets Manager's recovery window: 0 (delete at once) or 7-30 days.
        ({"secretRecoveryWindowDays": "3"}, "secretRecoveryWindowDays"),
        ({"secretRecoveryWindowDays": "31"}, "secretRecoveryWindowDays"),
        ({"secretRecoveryWindowDays": "-1"}, "secretRecoveryWindowDays"),
    ],
)
def test_invalid_fargate_values_name_the_key(mocks: RecordingMocks, values: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        load(**FARGATE, **values)


def test_fargate_values_are_parsed(mocks: RecordingMocks) -> None:
    config = load(
        **FARGATE,
        fargateCpu="1024",
        fargateMemoryMb="3072",
        fargateMinTasks="3",
        fargateMaxTasks="12",
        fargateCpuTargetPercent="40",
        fargateRequestsPerTarget="2500",
        albDeletionProtection="false",
    )
    task = config.fargate
    assert (task.cpu, task.memory_mb, task.min_tasks, task.max_tasks) == (1024, 3072, 3, 12)
    assert (task.cpu_target_percent, task.requests_per_target, config.alb_deletion_protection) == (40, 2500, False)
    assert [load(**FARGATE, secretRecoveryWindowDays=d).secret_recovery_window_days for d in ["0", "7", "30"]] == [
        0,
        7,
        30,
    ]
    # A larger task size moves the default memory to the smallest that size allows.
    assert load(**FARGATE, fargateCpu="2048").fargate.memory_mb == 4096


# --- keys this stack does not know ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "closest"),
    [
        ("logRetentionDay", "logRetentionDays"),
        ("logretentiondays", "logRetentionDays"),  # the case wrong
        ("alarm5xxRatePercnt", "alarm5xxRatePercent"),
        ("bankSimulater", "bankSimulator"),
    ],
)
def test_a_misspelt_key_is_refused_naming_the_closest_known_key(mocks: RecordingMocks, key: str, closest: str) -> None:
    with pytest.raises(ConfigError, match=rf"payment-gateway:{key} \(did you mean {closest}\?\)"):
        load(**{key: "30"})


def test_a_key_close_to_none_is_refused_too(mocks: RecordingMocks) -> None:
    with pytest.raises(ConfigError, match=r"payment-gateway:zzz \(no known key is close\)"):
        load(zzz="1")


def test_every_unknown_key_is_named_at_once(mocks: RecordingMocks) -> None:
    with pytest.raises(ConfigError) as raised:
        load(namePrefx="pg", wafRateLimt="300")
    assert "payment-gateway:namePrefx" in str(raised.value) and "payment-gateway:wafRateLimt" in str(raised.value)


def test_an_unknown_key_is_refused_before_the_checks_it_would_mislead(mocks: RecordingMocks) -> None:
    """A misspelt bankSimulator would otherwise be reported as "no bank named"."""
    pulumi.runtime.set_all_config(BASE | {f"{PROJECT}:bankSimulater": "true"}, [])
    with pytest.raises(ConfigError, match="did you mean bankSimulator"):
        load_stack_config()


def test_other_namespaces_are_not_ours_to_refuse(mocks: RecordingMocks) -> None:
    config = BASE | {
        f"{PROJECT}:bankSimulator": "true",
        "aws:profile": "payments",
        "aws:defaultTags": '{"tags": {"team": "payments"}}',
        "pulumi:disable-default-providers": '["kubernetes"]',
        "payment-gateway-extras:anything": "x",  # a prefix of ours, not our namespace
    }
    pulumi.runtime.set_all_config(config, [])
    assert load_stack_config().region == "eu-west-1"


def test_keys_passed_the_way_the_cli_does_are_checked(mocks: RecordingMocks, monkeypatch: pytest.MonkeyPatch) -> None:
    """`pulumi up`'s language host hands the stack's config to the program in $PULUMI_CONFIG."""
    config = BASE | {f"{PROJECT}:bankSimulator": "true"}
    pulumi.runtime.set_all_config({}, [])
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config))
    assert load_stack_config().bank_simulator
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config | {f"{PROJECT}:tableNme": "payments"}))
    with pytest.raises(ConfigError, match=r"payment-gateway:tableNme \(did you mean tableName\?\)"):
        load_stack_config()


# --- log retention and PCI DSS 10.5.1 ------------------------------------------------------------------


@pytest.mark.parametrize("days", ["1", "30", "180"])
def test_a_retention_under_a_year_is_refused_without_a_reason(mocks: RecordingMocks, days: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load(logRetentionDays=days)
    message = str(raised.value)
    assert f"logRetentionDays {days}" in message and "PCI DSS 10.5.1" in message
    assert "logRetentionOverrideReason" in message


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_blank_reason_is_no_reason(mocks: RecordingMocks, reason: str) -> None:
    with pytest.raises(ConfigError, match="logRetentionOverrideReason"):
        load(logRetentionDays="30", logRetentionOverrideReason=reason)


def test_a_retention_under_a_year_with_a_reason_is_accepted_and_warned_about(
    mocks: RecordingMocks, monkeypatch: pytest.MonkeyPatch
) -> None:
    warned: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *_, **__: warned.append(message))
    config = load(logRetentionDays="30", logRetentionOverrideReason="test stack, no card data")
    assert config.log_retention_days == 30
    assert warned == ["logRetentionDays 30, under PCI DSS 10.5.1's 365 days: test stack, no card data"]


@pytest.mark.parametrize("days", [None, "365", "400"])
def test_a_reason_that_overrides_nothing_is_refused(mocks: RecordingMocks, days: str | None) -> None:
    values = {"logRetentionOverrideReason": "test stack"} | ({"logRetentionDays": days} if days else {})
    with pytest.raises(ConfigError, match="logRetentionOverrideReason applies only to a logRetentionDays under 365"):
        load(**values)


def test_a_year_or_more_needs_no_reason(mocks: RecordingMocks) -> None:
    assert (load().log_retention_days, load(logRetentionDays="365").log_retention_days) == (365, 365)
    assert load(logRetentionDays="731").log_retention_days == 731


def test_the_components_checks_are_refused_under_the_stack_keys_names(mocks: RecordingMocks) -> None:
    """components.validation judges the values; the stack config names its own keys in the refusal."""
    assert load(allowedCurrencies="GBP, EUR").allowed_currencies == "GBP, EUR"  # spaces, as the handlers read it
    with pytest.raises(ConfigError, match="allowedCurrencies"):
        load(allowedCurrencies="gbp;xx")
    with pytest.raises(ConfigError, match="regions"):
        load(regions=json.dumps(["eu-west-1", "eu-wset-1"]))
    pulumi.runtime.set_all_config({**BASE, "aws:region": "eu-wset-1", "payment-gateway:bankSimulator": "true"})
    with pytest.raises(ConfigError, match="aws:region"):
        load_stack_config()
