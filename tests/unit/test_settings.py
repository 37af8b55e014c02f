"""The handlers' settings: defaults that fit the < 1 s target, and refusal of unsafe combinations."""

from __future__ import annotations

import pytest

from handlers.entrypoints.settings import ConfigurationError, Settings

BASE = {"TABLE_NAME": "payments", "AWS_REGION": "us-east-1"}


def test_defaults_keep_a_payment_under_one_second_and_the_lease_beyond_the_bank_call() -> None:
    settings = Settings.from_env(BASE)
    assert settings.bank_connect_timeout + settings.bank_read_timeout < 1.0
    assert settings.idempotency_lease > settings.bank_connect_timeout + settings.bank_read_timeout


def test_variables_are_read_in_milliseconds_and_seconds() -> None:
    env = {**BASE, "BANK_CONNECT_TIMEOUT_MS": "100", "BANK_READ_TIMEOUT_MS": "2500", "IDEMPOTENCY_LEASE_SECONDS": "3"}
    settings = Settings.from_env(env)
    assert (settings.bank_connect_timeout, settings.bank_read_timeout, settings.idempotency_lease) == (0.1, 2.5, 3.0)


@pytest.mark.parametrize("lease", ["2.6", "1", "nan", "-inf"])
def test_a_lease_that_a_bank_call_can_outlast_is_refused(lease: str) -> None:
    """Otherwise a retry could take over a claim whose first bank call is still running: two charges."""
    env = {**BASE, "BANK_CONNECT_TIMEOUT_MS": "100", "BANK_READ_TIMEOUT_MS": "2500", "IDEMPOTENCY_LEASE_SECONDS": lease}
    with pytest.raises(ConfigurationError, match="IDEMPOTENCY_LEASE_SECONDS"):
        Settings.from_env(env)
