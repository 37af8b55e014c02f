"""`authorizationTtl`: read and checked once (components/config.py), checked again by FunctionsArgs, and
given as AUTHORIZATION_TTL_SECONDS to exactly the functions that need it, on both compute options."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from components.config import ConfigError, StackConfig, load_stack_config
from components.lambda_settings import (
    DEFAULT_AUTHORIZATION_TTL_SECONDS,
    MAX_AUTHORIZATION_TTL_SECONDS,
    BankSettings,
    FunctionsArgs,
)
from handlers.contract import routes
from handlers.entrypoints.settings import Settings
from tests.infra.conftest import FARGATE
from tests.infra.helpers import FUNCTION, TASK_DEFINITION
from tests.infra.mocks import RecordingMocks
from tests.infra.program import SECRET_KEYS, ProgramRun, run_program

BASE = {
    "aws:region": "eu-west-1",
    "payment-gateway:fingerprintKey": "k" * 32,
    "payment-gateway:bankSimulator": "true",
}
DAY = 24 * 3600
# create-payment writes authorization_expires_at; the resolver expires. Nobody else reads it.
NEEDS_IT = {f"payment-gateway-{routes.CREATE_PAYMENT.name}", f"payment-gateway-{routes.RESOLVER.name}"}


def load(**values: str) -> StackConfig:
    config = BASE | {f"payment-gateway:{key}": value for key, value in values.items()}
    pulumi.runtime.set_all_config(config, list(SECRET_KEYS))
    return load_stack_config()


def functions_args(**overrides: Any) -> FunctionsArgs:
    return FunctionsArgs(
        region="eu-west-1",
        table_name="payment-gateway",
        table_arn="arn:aws:dynamodb:eu-west-1:123456789012:table/payment-gateway",
        table_key_arn="arn:aws:kms:eu-west-1:123456789012:key/k",
        code=pulumi.AssetArchive({}),
        source_code_hash="aGFzaA==",
        fingerprint_key="hmac-key-" + "k" * 32,
        bank=BankSettings(simulator=True),
        **overrides,
    )


# --- the stack config ------------------------------------------------------------------------------


def test_the_default_is_seven_days(mocks: RecordingMocks) -> None:
    assert DEFAULT_AUTHORIZATION_TTL_SECONDS == 604_800 == 7 * DAY
    assert load().authorization_ttl_seconds == 604_800


@pytest.mark.parametrize("value", ["1", "86400", str(30 * DAY)])
def test_whole_seconds_up_to_thirty_days_are_accepted(mocks: RecordingMocks, value: str) -> None:
    assert load(authorizationTtl=value).authorization_ttl_seconds == int(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "authorizationTtl must be more than 0 seconds, not 0"),
        ("-60", "authorizationTtl must be more than 0 seconds, not -60"),
        ("1.5", "authorizationTtl must be a whole number of seconds"),
        ("7d", "authorizationTtl must be a whole number of seconds"),
        ("true", "authorizationTtl must be a whole number of seconds"),
        ("", "authorizationTtl must be a whole number of seconds"),
        (str(30 * DAY + 1), r"authorizationTtl must be at most 2592000 seconds \(30 days\), not 2592001"),
        (str(365 * DAY), "authorizationTtl must be at most 2592000 seconds"),
    ],
)
def test_other_values_are_refused_naming_the_key(mocks: RecordingMocks, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(authorizationTtl=value)


# --- the component Args ------------------------------------------------------------------------------


@pytest.mark.parametrize("ttl", [0, -1, MAX_AUTHORIZATION_TTL_SECONDS + 1, 1.5, True, "604800"])
def test_the_functions_args_refuse_what_the_loader_refuses(ttl: Any) -> None:
    with pytest.raises(ValueError, match="authorization TTL"):
        functions_args(authorization_ttl_seconds=ttl)


def test_only_create_payment_and_the_resolver_get_it() -> None:
    args = functions_args(authorization_ttl_seconds=3600)
    for fn in [*{r.function for r in routes.ROUTES}, routes.AUTHORIZER, routes.RESOLVER, routes.BANK_SIMULATOR]:
        env = args.environment(fn, "https://bank.example")
        expected = fn in (routes.CREATE_PAYMENT, routes.RESOLVER)
        assert ("AUTHORIZATION_TTL_SECONDS" in env) == expected, fn.name
        if expected:
            assert env["AUTHORIZATION_TTL_SECONDS"] == "3600"


# --- deployed, and read back by the handlers ------------------------------------------------------------


def _lambda_environments(run: ProgramRun) -> dict[str, dict[str, str]]:
    return {f.plain["name"]: f.plain["environment"]["variables"] for f in run.of_type(FUNCTION)}


def test_the_stack_default_reaches_the_functions(eu: ProgramRun) -> None:
    environments = _lambda_environments(eu)
    assert {name for name, env in environments.items() if "AUTHORIZATION_TTL_SECONDS" in env} == NEEDS_IT
    assert {environments[name]["AUTHORIZATION_TTL_SECONDS"] for name in NEEDS_IT} == {"604800"}


def test_a_configured_ttl_reaches_the_functions_and_the_handlers_read_it() -> None:
    run = run_program("us", {"payment-gateway:authorizationTtl": "172800"})
    environments = _lambda_environments(run)
    for name in NEEDS_IT:
        env = environments[name]
        assert env["AUTHORIZATION_TTL_SECONDS"] == "172800"
        settings = Settings.from_env({"TABLE_NAME": "t", "AWS_REGION": run.region, **env})
        assert settings.resolution().authorization_ttl_seconds == 2 * DAY


@pytest.mark.parametrize("stack", ["eu", "us"])
def test_the_container_gets_it_with_the_resolver_on_lambda(stack: str) -> None:
    run = run_program(stack, {**FARGATE, "payment-gateway:authorizationTtl": "3600"})
    [definition] = run.one(TASK_DEFINITION).json("containerDefinitions")
    environment = {e["name"]: e["value"] for e in definition["environment"]}
    assert environment["AUTHORIZATION_TTL_SECONDS"] == "3600"  # the container serves create-payment
    resolver = _lambda_environments(run)[f"payment-gateway-{routes.RESOLVER.name}"]
    assert resolver["AUTHORIZATION_TTL_SECONDS"] == "3600"
