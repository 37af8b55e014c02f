"""The refusals every component's Args apply to their own fields, so any program that uses the components
gets them, not only this repository's stack config (components/config.py, which names its keys instead).
Each raises ValueError naming the field and the value's problem; none echoes a secret."""

from __future__ import annotations

import functools
import re
from collections.abc import Collection
from typing import Any

import pulumi_aws as aws

# The handlers' payment write after the bank: 3 attempts x (0.5 s connect + 0.5 s read), the
# defaults of handlers.adapters.dynamo.make_client and DYNAMODB_TIMEOUT_MS (tests/infra/test_config.py checks).
PAYMENT_WRITE_BUDGET_MS = 3000
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# HMAC-SHA256 keys shorter than the hash's 32 bytes weaken it (RFC 2104); `openssl rand -base64 48` gives 64.
MIN_FINGERPRINT_KEY_BYTES = 32
# API Gateway's default account quota per region: a stage limit above it is capped by the account's.
MAX_THROTTLE_RATE = 10_000.0
MAX_THROTTLE_BURST = 5_000
MAX_BANK_CONNECT_TIMEOUT_MS = 10_000
MAX_BANK_READ_TIMEOUT_MS = 28_000
_CURRENCY = re.compile(r"[A-Z]{3}")


def whole_number(field: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{field} must be a whole number from {low} to {high}, not {value!r}")


def number_between(field: str, value: Any, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValueError(f"{field} must be a number from {low:g} to {high:g}, not {value!r}")


def positive_at_most(field: str, value: Any, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= high:
        raise ValueError(f"{field} must be more than 0 and at most {high:g}, not {value!r}")


def one_of(field: str, value: Any, choices: Collection[str]) -> None:
    if value not in choices:
        raise ValueError(f"{field} must be one of {', '.join(choices)}, not {value!r}")


@functools.cache
def aws_regions() -> frozenset[str]:
    """The regions the installed pulumi-aws provider knows (a base dependency): a region it does not
    know cannot be deployed to with it anyway, and a newer pulumi-aws brings a new region."""
    return frozenset(region.value for region in aws.Region)


def aws_region(field: str, value: Any) -> None:
    if not isinstance(value, str) or value not in aws_regions():
        raise ValueError(f"{field} must be an AWS region name such as eu-west-1, not {value!r}")


def aws_region_list(field: str, values: Any) -> None:
    if isinstance(values, str) or not isinstance(values, list | tuple):
        raise ValueError(f"{field} must be a list of AWS region names, not {values!r}")
    for value in values:
        aws_region(f"{field} item", value)


def currency_list(field: str, value: Any) -> None:
    """`GBP,EUR,USD`: ISO 4217 codes, upper case, comma-separated (spaces around them allowed, as the
    handlers read them), each once."""
    codes = [code.strip() for code in value.split(",")] if isinstance(value, str) else None
    if not codes or not all(_CURRENCY.fullmatch(code) for code in codes) or len(set(codes)) != len(codes):
        raise ValueError(f"{field} must be comma-separated ISO 4217 codes, each once, e.g. GBP,EUR,USD, not {value!r}")


def secret_of_at_least(field: str, value: Any, min_bytes: int) -> None:
    """A plain string is checked (never echoed); an Output is the caller's to check before it becomes one."""
    if isinstance(value, str) and len(value.encode()) < min_bytes:
        raise ValueError(f"{field} must be at least {min_bytes} bytes (e.g. `openssl rand -base64 48`)")


def bank_call_within_function(bank_ms: int, timeout_seconds: int) -> None:
    """The bank call and then the payment write, with its retries, must end before the function does:
    otherwise Lambda kills a payment after the charge, before it is stored or even logged."""
    if bank_ms + PAYMENT_WRITE_BUDGET_MS >= 1000 * timeout_seconds:
        raise ValueError(
            f"bank.connect_timeout_ms + bank.read_timeout_ms ({bank_ms}) must leave the payment write's "
            f"{PAYMENT_WRITE_BUDGET_MS} ms within lambda_settings.timeout_seconds ({timeout_seconds} s)"
        )
