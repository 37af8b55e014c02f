"""API_KEY_MODE follows the acquirer: a stack with the bank simulator takes test keys (sk_test_), a stack with
a real acquirer (bankUrl) live keys (sk_live_). Only the authorizer gets it, on both compute options (the
container runs the authorizer in its own process), and the handlers read it back."""

from __future__ import annotations

import pulumi
import pytest

from components.config import ConfigError, load_stack_config
from components.lambda_settings import BankSettings
from handlers.contract import routes
from handlers.domain.auth import KeyMode
from handlers.entrypoints.settings import Settings
from tests.infra.conftest import FARGATE
from tests.infra.helpers import FUNCTION, TASK_DEFINITION
from tests.infra.program import ProgramRun, run_program

REAL_BANK = {"payment-gateway:bankUrl": "https://acquirer.example/payments"}
AUTHORIZER = f"payment-gateway-{routes.AUTHORIZER.name}"


def _lambda_environments(run: ProgramRun) -> dict[str, dict[str, str]]:
    return {f.plain["name"]: f.plain["environment"]["variables"] for f in run.of_type(FUNCTION)}


@pytest.mark.parametrize(("bank", "mode"), [({}, KeyMode.TEST), (REAL_BANK, KeyMode.LIVE)], ids=["simulator", "real"])
def test_the_authorizer_takes_the_keys_of_its_acquirer_and_no_other_function_is_told(
    bank: dict[str, str], mode: KeyMode
) -> None:
    run = run_program("eu", bank)
    environments = _lambda_environments(run)
    assert {name for name, env in environments.items() if "API_KEY_MODE" in env} == {AUTHORIZER}
    env = environments[AUTHORIZER]
    assert Settings.from_env({"AWS_REGION": run.region, **env}).require_api_key_mode() is mode


@pytest.mark.parametrize(("bank", "mode"), [({}, "test"), (REAL_BANK, "live")], ids=["simulator", "real"])
def test_the_container_takes_the_keys_of_its_acquirer(bank: dict[str, str], mode: str) -> None:
    run = run_program("us", {**FARGATE, **bank})
    [definition] = run.one(TASK_DEFINITION).json("containerDefinitions")
    environment = {e["name"]: e["value"] for e in definition["environment"]}
    assert environment["API_KEY_MODE"] == mode


def test_an_acquirers_sandbox_takes_test_keys() -> None:
    """A staging stack in front of an acquirer's test environment must not need live keys."""
    run = run_program("eu", {**REAL_BANK, "payment-gateway:bankSandbox": "true"})
    assert _lambda_environments(run)[AUTHORIZER]["API_KEY_MODE"] == "test"


def test_a_sandbox_needs_an_acquirer() -> None:
    with pytest.raises(ValueError, match="needs url"):
        BankSettings(simulator=True, sandbox=True)
    pulumi.runtime.set_all_config(
        {
            "aws:region": "eu-west-1",
            "payment-gateway:fingerprintKey": "k" * 32,
            "payment-gateway:bankSimulator": "true",
            "payment-gateway:bankSandbox": "true",
        },
        ["payment-gateway:fingerprintKey"],
    )
    with pytest.raises(ConfigError, match="bankSandbox"):
        load_stack_config()
