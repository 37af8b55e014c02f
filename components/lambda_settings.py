"""What a region's Lambda functions are built from: the runtime, the functions', the bank's and the
resolver's settings, and FunctionsArgs with the environment each function gets. Validated plain
records, no resources: LambdaFunctions (components/lambda_functions.py) deploys them, and
RegionalGatewayArgs (components/regional_gateway.py) adds the API's and the edge's settings.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components import validation
from components.code_signing import SignedCode
from handlers.contract import routes

ARCHITECTURE = "arm64"
RUNTIME = aws.lambda_.Runtime.PYTHON3D13
RUNTIME_VERSION = (3, 13)  # deploy from this Python and the archive carries bytecode (components.packaging)
# API Gateway's own integration limit: a Lambda timeout above it would never be seen by a client.
MAX_TIMEOUT_SECONDS = 29
# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)
# Callers (API Gateway, EventBridge) invoke this alias of each published function, never $LATEST:
# a deployment moves it from version to version (gradually, with CodeDeploy; see components.deployments).
LIVE_ALIAS = "live"
# Lambda SnapStart (Python 3.12+, arm64 included) is offered in every commercial region but these
# (Lambda developer guide, "Improving startup performance with Lambda SnapStart": supported Regions).
SNAP_START_UNSUPPORTED_REGIONS = frozenset({"ap-southeast-6", "ap-east-2"})  # New Zealand, Taipei
# A manual authorization not captured within this is voided at the bank by the resolver (`expired`):
# 7 days by default, about when card schemes let an uncaptured hold lapse. At most 30 days: no scheme
# keeps a hold longer, so a longer TTL would leave `authorized` payments whose money is already released.
DEFAULT_AUTHORIZATION_TTL_SECONDS = 7 * 24 * 3600
MAX_AUTHORIZATION_TTL_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True)
class LambdaSettings:
    """The runtime settings every function of the region shares (the scheduled ones take the resolver's
    timeout instead)."""

    # 512 MB: Lambda allocates CPU in proportion to memory, so cold starts (imports) are ~2x faster
    # than at 256 MB for a few cents; 5 s covers a cold start plus the 0.85 s bank budget.
    memory_mb: int = 512
    """Memory of every function, MB (128-10240); Lambda gives CPU in proportion to it."""
    timeout_seconds: int = 5
    """Timeout of every function but the resolver and the webhook sender, s (1-29: API Gateway's integration
    limit). The idempotency lease is twice this; the bank's timeouts and the payment write must fit in it."""
    reserved_concurrency: int | None = None
    """Reserved concurrent executions of each function (1-10000); None leaves them unreserved. 0 is refused:
    it would throttle every function, /health included."""
    log_level: str = "INFO"
    """LOG_LEVEL of every function: DEBUG, INFO, WARNING or ERROR."""
    snap_start: bool = True
    """SnapStart on the published versions behind `live` where the region offers it (not ap-southeast-6 or
    ap-east-2): a new execution environment resumes from a snapshot of the init (docs/performance.md,
    docs/cost.md). False turns it off."""

    def __post_init__(self) -> None:
        validation.whole_number("memory_mb", self.memory_mb, 128, 10240)
        validation.whole_number("timeout_seconds", self.timeout_seconds, 1, MAX_TIMEOUT_SECONDS)  # API Gateway's
        if self.reserved_concurrency is not None:  # 0 would throttle every function, /health included
            validation.whole_number("reserved_concurrency", self.reserved_concurrency, 1, 10000)
        validation.one_of("log_level", self.log_level, validation.LOG_LEVELS)


@dataclass(frozen=True)
class BankSettings:
    """Where the functions that call the bank send payments: the acquirer's URL, or the simulator instead
    (exactly one of the two), and the call's timeouts."""

    url: pulumi.Input[str] | None = None
    """The acquiring bank's URL, BANK_URL of the functions that call the bank (a secret: pass a secret Output).
    None only with `simulator=True`."""
    connect_timeout_ms: int = 250
    """BANK_CONNECT_TIMEOUT_MS: the bank call's connect timeout, ms (1-10000)."""
    read_timeout_ms: int = 600
    """BANK_READ_TIMEOUT_MS: the bank call's read timeout, ms (1-28000). Connect + read + the payment write's
    3000 ms must end within LambdaSettings.timeout_seconds (FunctionsArgs refuses otherwise)."""
    simulator: bool = False
    """Deploy the bank simulator and point BANK_URL at it: a test deployment, where no money moves. True only
    without `url`."""
    sandbox: bool = False
    """The acquirer at `url` is its test (sandbox) environment, where no money moves: the authorizer takes test
    keys (sk_test_), as with the simulator, instead of live ones (API_KEY_MODE). True only with `url`."""

    def __post_init__(self) -> None:
        # Opt-in on purpose: a forgotten URL must not send real merchants' payments to a simulator
        # that approves cards by their last digit.
        if (self.url is None) == (not self.simulator):
            raise ValueError("BankSettings needs exactly one of url (the acquirer) or simulator=True")
        if self.sandbox and self.url is None:
            raise ValueError("BankSettings.sandbox says the acquirer at url is a test one: it needs url")
        validation.whole_number(
            "connect_timeout_ms", self.connect_timeout_ms, 1, validation.MAX_BANK_CONNECT_TIMEOUT_MS
        )
        validation.whole_number("read_timeout_ms", self.read_timeout_ms, 1, validation.MAX_BANK_READ_TIMEOUT_MS)


@dataclass(frozen=True)
class ResolverSettings:
    """The scheduled resolver that settles pending payments (handlers.domain.resolver); the webhook sender
    runs on its schedule and timeout too."""

    unknown_outcome: str = "settle"
    """UNKNOWN_OUTCOME, for an authorization found late for a payment whose answer was lost: `settle` records
    it; `reverse` reverses it at the bank (the shopper was told it failed). One of the two."""
    interval_minutes: int = routes.RESOLVER_INTERVAL_SECONDS // 60
    """How often the resolver and the webhook sender run, minutes (1-60): their EventBridge rules' rate."""
    peer_regions: Sequence[str] = ()
    """Every region of the gateway (AWS region names): their heartbeats are read, and their payments and
    webhook events taken over when silent (PEER_REGIONS)."""
    takeover_after_seconds: float = 300.0
    """RESOLVER_TAKEOVER_SECONDS: a peer region whose heartbeat is older than this, s, is silent; this region
    takes over its pending payments and its webhook events."""
    timeout_seconds: int = 60
    """The resolver's and the webhook sender's Lambda timeout, s (10-900): a run settles a batch with a bank
    inquiry (and maybe a reversal) each."""

    def __post_init__(self) -> None:
        if self.unknown_outcome not in ("settle", "reverse"):
            raise ValueError(f"unknown_outcome must be settle or reverse, not {self.unknown_outcome!r}")
        if not 1 <= self.interval_minutes <= 60:
            raise ValueError("the resolver runs every 1..60 minutes")
        if not 10 <= self.timeout_seconds <= 900:
            raise ValueError("the resolver's timeout must be 10..900 s")


@dataclass(frozen=True)
class FunctionsArgs:
    """What every Lambda function of a region is built from, whichever compute option serves the API: the
    table, the code, the secrets, the bank, the resolver and the runtime settings. Fields: docs/components.md."""

    region: str
    """The region every function (and its log group, schedule and key) is created in: an AWS region name."""
    table_name: pulumi.Input[str]
    """The payment table's name: TABLE_NAME of every function."""
    table_arn: pulumi.Input[str]
    """This region's table (replica) ARN: each function's role may use only its routes' actions on it."""
    table_key_arn: pulumi.Input[str]
    """This region's table KMS key ARN: the roles may use it for the table."""
    code: pulumi.Archive
    """The Lambda archive every function runs (components.packaging.build_lambda_archive); with
    `code_signing`, its signed copy is deployed instead."""
    source_code_hash: pulumi.Input[str]
    """The archive's base64 SHA-256 (LambdaArchive.sha256_base64): a new hash updates the code and
    publishes new versions."""
    fingerprint_key: pulumi.Input[str]
    """FINGERPRINT_KEY of the functions that fingerprint cards: the HMAC key, the same in every region. A
    secret: pass a secret Output (a plain string must be at least 32 bytes; an Output is not checked)."""
    bank: BankSettings
    """Where payments are authorized: a real acquirer, or (explicitly) the simulator."""
    name_prefix: str = "payment-gateway"
    """Names the functions (`<prefix>-<function>`), their schedules and the key alias (`alias/<prefix>-gateway`)."""
    bank_simulator: routes.Function = routes.BANK_SIMULATOR
    """The simulator's handler, deployed behind a public Function URL only with `bank.simulator`."""
    resolver_function: routes.Function = routes.RESOLVER
    """The resolver's handler and table access, scheduled every `resolver.interval_minutes`."""
    resolver: ResolverSettings = field(default_factory=ResolverSettings)
    """The resolver's and the webhook sender's schedule, timeout and takeover of silent regions."""
    webhook_sender: routes.Function = routes.WEBHOOK_SENDER
    """Scheduled like the resolver (its interval, its timeout), in both compute options, outside any VPC."""
    lambda_settings: LambdaSettings = field(default_factory=LambdaSettings)
    """Memory, timeout, reserved concurrency, log level and SnapStart of every function."""
    log_retention_days: int = 365
    """Retention of every log group, days: one of the values CloudWatch accepts (1, 3, 5, 7, 14, 30, 60, 90,
    120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."""
    allowed_currencies: str = "GBP,EUR,USD"
    """ALLOWED_CURRENCIES: comma-separated ISO 4217 codes in upper case, each once."""
    metrics_namespace: str = "PaymentGateway"
    """METRICS_NAMESPACE: the CloudWatch namespace of the handlers' metrics (Monitoring must read the same)."""
    alias_moved_by_deployments: bool = True
    """CodeDeploy shifts each function's `live` alias to a new version (gradually); Pulumi leaves the
    alias where it is. False: Pulumi points it at every new version at once (all-at-once)."""
    code_signing: SignedCode | None = None
    """Deploy the signed copy of `code` from S3, enforced by a code-signing config; None uploads `code`."""
    authorization_ttl_seconds: int = DEFAULT_AUTHORIZATION_TTL_SECONDS
    """How long a manual authorization waits for its capture, s (1-2592000, 30 days; 7 days by default):
    create-payment writes its `authorization_expires_at`, the resolver expires it (AUTHORIZATION_TTL_SECONDS)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on every resource created (functions, roles, log groups, schedules, the key)."""

    def __post_init__(self) -> None:
        validation.aws_region("region", self.region)
        validation.aws_region_list("resolver.peer_regions", self.resolver.peer_regions)
        validation.currency_list("allowed_currencies", self.allowed_currencies)
        validation.secret_of_at_least("fingerprint_key", self.fingerprint_key, validation.MIN_FINGERPRINT_KEY_BYTES)
        bank_ms = self.bank.connect_timeout_ms + self.bank.read_timeout_ms
        validation.bank_call_within_function(bank_ms, self.lambda_settings.timeout_seconds)
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise ValueError(f"log_retention_days {self.log_retention_days} is not one CloudWatch accepts")
        ttl = self.authorization_ttl_seconds
        if isinstance(ttl, bool) or not isinstance(ttl, int):
            raise ValueError(f"authorization TTL must be a whole number of seconds, not {ttl!r}")
        if not 0 < ttl <= MAX_AUTHORIZATION_TTL_SECONDS:
            raise ValueError(f"authorization TTL must be 1..{MAX_AUTHORIZATION_TTL_SECONDS} s (30 days), not {ttl}")

    @property
    def api_key_mode(self) -> str:
        """The keys the authorizer takes, from the acquirer: sk_test_ behind the simulator or an acquirer's
        sandbox, sk_live_ behind a real bank, so a test key never reaches a real acquirer."""
        return "test" if self.bank.simulator or self.bank.sandbox else "live"

    def expires_authorizations(self, spec: routes.Function) -> bool:
        """Whether `spec` needs the authorization TTL: create-payment dates a manual authorization's
        expiry, the resolver releases it when due. Captures, voids and refunds never read it."""
        return spec.name in (routes.CREATE_PAYMENT.name, self.resolver_function.name)

    def environment(self, spec: routes.Function, bank_url: pulumi.Input[str]) -> dict[str, pulumi.Input[str]]:
        """The variables `spec` runs with: each function only what it uses (the secrets only where needed)."""
        env: dict[str, pulumi.Input[str]] = {
            "LOG_LEVEL": self.lambda_settings.log_level,
            "METRICS_NAMESPACE": self.metrics_namespace,
        }
        env["TABLE_NAME"] = self.table_name
        if spec.name == self.bank_simulator.name:
            return env  # its ledger's table; never the gateway's bank URL or secret
        env["ALLOWED_CURRENCIES"] = self.allowed_currencies
        if spec.authenticates:
            env["API_KEY_MODE"] = self.api_key_mode
        if spec.fingerprints:
            env["FINGERPRINT_KEY"] = self.fingerprint_key
        if spec.pages:
            env["CURSOR_KEY"] = cursor_key(self.fingerprint_key)
        if self.expires_authorizations(spec):
            env["AUTHORIZATION_TTL_SECONDS"] = str(self.authorization_ttl_seconds)
        if spec.name == self.webhook_sender.name:
            # The heartbeats it reads and when a silent region's events are taken over: the resolver's rule.
            env |= {
                "PEER_REGIONS": ",".join(self.resolver.peer_regions),
                "RESOLVER_TAKEOVER_SECONDS": f"{self.resolver.takeover_after_seconds:g}",
            }
        if spec.calls_bank:
            env |= {
                "BANK_URL": bank_url,
                "BANK_CONNECT_TIMEOUT_MS": str(self.bank.connect_timeout_ms),
                "BANK_READ_TIMEOUT_MS": str(self.bank.read_timeout_ms),
                # A key's holder is presumed dead after this: twice the timeout, so never while it runs.
                "IDEMPOTENCY_LEASE_SECONDS": str(2 * self.lambda_settings.timeout_seconds),
                "UNKNOWN_OUTCOME": self.resolver.unknown_outcome,
                "PEER_REGIONS": ",".join(self.resolver.peer_regions),
                "RESOLVER_TAKEOVER_SECONDS": f"{self.resolver.takeover_after_seconds:g}",
            }
        return env


def cursor_key(fingerprint_key: pulumi.Input[str]) -> pulumi.Output[str]:
    """The key that signs list cursors (handlers.wire.cursors), derived from the fingerprint key: the
    same in every region (a page's cursor works in either), with no new secret to configure, and one-way,
    so the list functions that hold it never hold the key that fingerprints card data."""
    derived = pulumi.Output.from_input(fingerprint_key).apply(
        lambda key: hmac.new(key.encode(), b"list-cursor", hashlib.sha256).hexdigest()
    )
    return pulumi.Output.secret(derived)


def route_functions(route_table: Sequence[routes.Route]) -> list[routes.Function]:
    """The distinct functions behind the routes, in route order."""
    seen: dict[str, routes.Function] = {}
    for route in route_table:
        seen.setdefault(route.function.name, route.function)
    return list(seen.values())


def table_operations(functions: Sequence[routes.Function]) -> list[str]:
    """DynamoDB operation names (`GetItem`...) the functions use: the `Operation` metric dimension."""
    return sorted({action.split(":", 1)[1] for fn in functions for action in fn.table_actions})
