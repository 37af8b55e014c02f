"""The handlers' configuration, read from environment variables once per cold start."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

import attrs

from handlers.contract.resolution import UnknownOutcome
from handlers.domain.auth import KeyMode
from handlers.domain.errors import PaymentError
from handlers.domain.settlement import ResolutionPolicy
from handlers.wire.validation import DEFAULT_CURRENCIES


class ConfigurationError(PaymentError):
    """A deployment mistake (a missing variable); reported as a 500 and logged."""


@attrs.frozen
class Settings:
    table_name: str
    region: str
    dynamodb_endpoint: str | None = None
    bank_url: str | None = None
    # Defaults keep a whole payment under 1 s: ~50 ms of DynamoDB plus at most 0.85 s at the bank.
    bank_connect_timeout: float = 0.25
    bank_read_timeout: float = 0.6
    # Per DynamoDB attempt (connect and read). 3 attempts of 0.5 s still fit a 5 s function after the bank.
    dynamodb_timeout: float = 0.5
    # An Idempotency-Key holder silent for longer is presumed dead: must exceed the function timeout.
    idempotency_lease: float = attrs.field(default=10.0)
    allowed_currencies: frozenset[str] = DEFAULT_CURRENCIES
    fingerprint_key: bytes | None = attrs.field(default=None, repr=False)
    # Signs list cursors (handlers.wire.cursors): the same in every region, never the fingerprint key.
    cursor_key: bytes | None = attrs.field(default=None, repr=False)
    log_level: str = "INFO"
    metrics_namespace: str = "PaymentGateway"
    # The resolver (handlers.domain.resolver, handlers.domain.settlement): when a pending payment
    # becomes due (default: the lease, as deployed), what to do with an authorization found late,
    # when to take over a silent region.
    resolve_after: float | None = attrs.field(default=None)
    unknown_outcome: UnknownOutcome = UnknownOutcome.SETTLE
    takeover_after: float = 300.0
    peer_regions: tuple[str, ...] = ()
    # A manual authorization not captured within this is released at the bank (`expired`).
    authorization_ttl: float = attrs.field(default=7 * 24 * 3600.0)
    # The API keys the authorizer takes: test where the acquirer is a test one, live where it is real.
    api_key_mode: KeyMode | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        key = env.get("FINGERPRINT_KEY")
        currencies = env.get("ALLOWED_CURRENCIES")
        return cls(
            table_name=env.get("TABLE_NAME", "payment-gateway"),
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "eu-west-1",
            dynamodb_endpoint=env.get("DYNAMODB_ENDPOINT_URL") or None,
            bank_url=env.get("BANK_URL") or None,
            bank_connect_timeout=int(env.get("BANK_CONNECT_TIMEOUT_MS", "250")) / 1000,
            bank_read_timeout=int(env.get("BANK_READ_TIMEOUT_MS", "600")) / 1000,
            dynamodb_timeout=int(env.get("DYNAMODB_TIMEOUT_MS", "500")) / 1000,
            idempotency_lease=float(env.get("IDEMPOTENCY_LEASE_SECONDS", "10")),
            allowed_currencies=frozenset(c.strip() for c in currencies.split(","))
            if currencies
            else DEFAULT_CURRENCIES,
            fingerprint_key=key.encode() if key else None,
            cursor_key=env["CURSOR_KEY"].encode() if env.get("CURSOR_KEY") else None,
            log_level=env.get("LOG_LEVEL", "INFO"),
            metrics_namespace=env.get("METRICS_NAMESPACE", "PaymentGateway"),
            resolve_after=float(env["RESOLVE_AFTER_SECONDS"]) if env.get("RESOLVE_AFTER_SECONDS") else None,
            unknown_outcome=_unknown_outcome(env.get("UNKNOWN_OUTCOME", "settle")),
            takeover_after=float(env.get("RESOLVER_TAKEOVER_SECONDS", "300")),
            peer_regions=tuple(r.strip() for r in env.get("PEER_REGIONS", "").split(",") if r.strip()),
            authorization_ttl=float(env.get("AUTHORIZATION_TTL_SECONDS", str(7 * 24 * 3600))),
            api_key_mode=_key_mode(env.get("API_KEY_MODE")),
        )

    @authorization_ttl.validator
    def _positive_ttl(self, _: attrs.Attribute[float], ttl: float) -> None:
        if not math.isfinite(ttl) or ttl <= 0:
            raise ConfigurationError("AUTHORIZATION_TTL_SECONDS must be a positive number of seconds.")

    @idempotency_lease.validator
    def _outlives_the_bank_call(self, _: attrs.Attribute[float], lease: float) -> None:
        # A shorter lease lets a retry take over a claim whose bank call is still in flight: two charges.
        if not math.isfinite(lease) or lease <= self.bank_call_seconds:
            raise ConfigurationError(
                "IDEMPOTENCY_LEASE_SECONDS must exceed BANK_CONNECT_TIMEOUT_MS + BANK_READ_TIMEOUT_MS."
            )

    @resolve_after.validator
    def _after_a_request_can_have_ended(self, _: attrs.Attribute[float | None], after: float | None) -> None:
        # Sooner is still safe (the resolver's reversal blocks the request's late authorization), but
        # it would reverse payments whose request is merely slow.
        if after is not None and (not math.isfinite(after) or after <= self.bank_call_seconds):
            raise ConfigurationError(
                "RESOLVE_AFTER_SECONDS must exceed BANK_CONNECT_TIMEOUT_MS + BANK_READ_TIMEOUT_MS."
            )

    def resolution(self) -> ResolutionPolicy:
        return ResolutionPolicy(
            resolve_after_seconds=self.idempotency_lease if self.resolve_after is None else self.resolve_after,
            unknown_outcome=self.unknown_outcome,
            takeover_after_seconds=self.takeover_after,
            authorization_ttl_seconds=self.authorization_ttl,
        )

    @property
    def bank_call_seconds(self) -> float:
        """The longest a bank call may take: the connect and the read deadlines."""
        return self.bank_connect_timeout + self.bank_read_timeout

    def require_bank_url(self) -> str:
        if not self.bank_url:
            raise ConfigurationError("BANK_URL must be set for the functions that call the bank.")
        return self.bank_url

    def require_api_key_mode(self) -> KeyMode:
        # No default: a gateway that guessed would take test keys in front of a real acquirer, or the reverse.
        if self.api_key_mode is None:
            raise ConfigurationError("API_KEY_MODE must be set (test or live) for the authorizer.")
        return self.api_key_mode

    def require_cursor_key(self) -> bytes:
        if not self.cursor_key:
            raise ConfigurationError("CURSOR_KEY must be set for the functions that list.")
        return self.cursor_key

    def require_fingerprint_key(self) -> bytes:
        if not self.fingerprint_key:
            raise ConfigurationError("FINGERPRINT_KEY must be set for the payments function.")
        return self.fingerprint_key


def _key_mode(value: str | None) -> KeyMode | None:
    if not value:
        return None
    try:
        return KeyMode(value)
    except ValueError:
        raise ConfigurationError(f"API_KEY_MODE must be test or live, not {value!r}.") from None


def _unknown_outcome(value: str) -> UnknownOutcome:
    try:
        return UnknownOutcome(value)
    except ValueError:
        raise ConfigurationError(f"UNKNOWN_OUTCOME must be one of {[o.value for o in UnknownOutcome]}.") from None
