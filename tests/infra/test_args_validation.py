"""Every program that uses the components gets the same refusals as this repository's stack config:
each Args class checks its own fields and names the one at fault (issue 20's list of values that were
accepted)."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from components.lambda_settings import BankSettings, FunctionsArgs, LambdaSettings, ResolverSettings
from components.regional_gateway import RegionalGatewayArgs
from components.rest_api import ApiSettings

KEY = "k" * 48


def base(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "region": "eu-west-1",
        "table_name": "payment-gateway",
        "table_arn": "arn:aws:dynamodb:eu-west-1:123456789012:table/payment-gateway",
        "table_key_arn": "arn:aws:kms:eu-west-1:123456789012:key/k",
        "code": pulumi.AssetArchive({}),
        "source_code_hash": "aGFzaA==",
        "fingerprint_key": KEY,
        "bank": BankSettings(simulator=True),
    }
    return values | overrides


def test_the_defaults_and_plain_good_values_pass() -> None:
    FunctionsArgs(**base())
    RegionalGatewayArgs(**base(region="us-east-1", allowed_currencies="GBP", throttle_rate_limit=0.5))
    FunctionsArgs(**base(region="mx-central-1", allowed_currencies="GBP, EUR"))  # any region pulumi-aws knows
    FunctionsArgs(
        **base(bank=BankSettings(simulator=True, read_timeout_ms=1000), fingerprint_key=pulumi.Output.secret("x"))
    )


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: FunctionsArgs(**base(bank=BankSettings(simulator=True, read_timeout_ms=20000))), "timeout"),
        (lambda: BankSettings(simulator=True, read_timeout_ms=-1), "read_timeout_ms"),
        (lambda: BankSettings(simulator=True, connect_timeout_ms=1.5), "connect_timeout_ms"),
        (lambda: FunctionsArgs(**base(region="eu-wset-1")), "region"),
        (lambda: FunctionsArgs(**base(region=["eu-west-1"])), "region"),
        (lambda: FunctionsArgs(**base(allowed_currencies="gbp;xx")), "allowed_currencies"),
        (lambda: FunctionsArgs(**base(allowed_currencies="GBP,GBP")), "allowed_currencies"),
        (lambda: FunctionsArgs(**base(allowed_currencies=["GBP"])), "allowed_currencies"),
        (lambda: RegionalGatewayArgs(**base(throttle_rate_limit=-5)), "throttle_rate_limit"),
        (lambda: ApiSettings(throttle_burst_limit=-1), "throttle_burst_limit"),
        (lambda: ApiSettings(throttle_rate_limit=0), "throttle_rate_limit"),  # would refuse /health too
        (lambda: ApiSettings(throttle_burst_limit=0), "throttle_burst_limit"),
        (
            lambda: FunctionsArgs(**base(resolver=ResolverSettings(peer_regions="eu-west-1"))),
            "peer_regions must be a list",
        ),
        (lambda: LambdaSettings(log_level="LOUD"), "log_level"),
        (lambda: LambdaSettings(reserved_concurrency=0), "reserved_concurrency"),
        (lambda: LambdaSettings(timeout_seconds=30), "timeout_seconds"),
        (lambda: FunctionsArgs(**base(fingerprint_key="short")), "fingerprint_key"),
        (lambda: FunctionsArgs(**base(log_retention_days=10)), "log_retention_days"),
    ],
)
def test_a_wrong_value_is_refused_naming_its_field(make: Any, field: str) -> None:
    with pytest.raises(ValueError, match=field) as refused:
        make()
    assert "'short'" not in str(refused.value)  # a secret is never echoed


def test_a_bank_call_that_would_outlive_the_function_is_refused_however_it_is_split() -> None:
    """connect + read + the payment write's 3 s must end inside the function's timeout (5 s by default)."""
    with pytest.raises(ValueError, match=r"lambda_settings\.timeout_seconds"):
        FunctionsArgs(**base(bank=BankSettings(simulator=True, connect_timeout_ms=1000, read_timeout_ms=1000)))
    longer = LambdaSettings(timeout_seconds=10)
    FunctionsArgs(**base(bank=BankSettings(simulator=True, read_timeout_ms=5000), lambda_settings=longer))
