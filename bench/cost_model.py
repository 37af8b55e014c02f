"""Capacity and monthly cost of the payment gateway from parameters: `python -m bench.cost_model`.

    python -m bench.cost_model                       the design at 10,000 requests/minute, to stdout
    python -m bench.cost_model --write               also rewrite the figures in docs/cost.md
    python -m bench.cost_model --rpm 20000 --memory-mb 256 --bank-ms 300
    python -m bench.cost_model --measured bench/results/warm.json   CPU and log bytes from the last `make bench`

Every price is a public list price (see PRICES and PRICE_NOTES for the unit, the region and how
sure the figure is). The month is 30 days (720 h): 10,000 requests/minute is then 432 million.
Item sizes are computed from the handlers' own converter, so they follow the code.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench import report
from components import sizing
from handlers.contract import schema
from handlers.domain.models import CardSummary, IdempotencyClaim, Payment, PaymentStatus, StoredPayment
from handlers.wire import converter

SECONDS_PER_MONTH = 30 * 24 * 3600
HOURS_PER_MONTH = 30 * 24
MILLION = 1_000_000
GB = 1024**3
ROUTES = ("post", "get", "list")
DEFAULT_DOC = Path(__file__).resolve().parent.parent / "docs" / "cost.md"
PRICES_AS_OF = "list prices as I know them from AWS's public pricing pages, early-to-mid 2025"


@dataclass(frozen=True)
class Prices:
    """USD, us-east-1 unless noted. eu-west-1 is the same or up to ~13% higher (PRICE_NOTES)."""

    apigw_rest_tiers: tuple[tuple[float, float], ...] = ((333e6, 3.50), (667e6, 2.80), (19e9, 2.38), (math.inf, 1.51))
    apigw_http_tiers: tuple[tuple[float, float], ...] = ((300e6, 1.00), (math.inf, 0.90))
    lambda_request_per_million: float = 0.20
    lambda_gb_second: dict[str, float] = field(default_factory=lambda: {"arm64": 0.0000133334, "x86_64": 0.0000166667})
    dynamodb_wru_per_million: float = 0.625
    dynamodb_rwru_per_million: float = 0.625
    dynamodb_rru_per_million: float = 0.125
    dynamodb_wcu_hour: float = 0.00065
    dynamodb_rwcu_hour: float = 0.00065
    dynamodb_rcu_hour: float = 0.00013
    dynamodb_storage_gb_month: float = 0.25
    dynamodb_pitr_gb_month: float = 0.20
    waf_web_acl_month: float = 5.00
    waf_rule_month: float = 1.00
    waf_requests_per_million: float = 0.60
    logs_ingest_gb: float = 0.50
    logs_storage_gb_month: float = 0.03
    xray_traces_per_million: float = 5.00
    xray_free_traces: float = 100_000
    route53_health_check_month: float = 0.75
    route53_health_check_feature_month: float = 2.00
    route53_zone_month: float = 0.50
    route53_latency_queries_per_million: float = 0.60
    kms_key_month: float = 1.00
    kms_requests_per_10k: float = 0.03
    transfer_out_gb: float = 0.09
    transfer_inter_region_gb: float = 0.02
    cloudwatch_alarm_month: float = 0.10
    cloudwatch_metric_month: float = 0.30
    fargate_vcpu_hour: dict[str, float] = field(default_factory=lambda: {"arm64": 0.03238, "x86_64": 0.04048})
    fargate_gb_hour: dict[str, float] = field(default_factory=lambda: {"arm64": 0.00356, "x86_64": 0.004445})
    alb_hour: float = 0.0225
    alb_lcu_hour: float = 0.008
    nat_hour: float = 0.045
    nat_gb: float = 0.045
    interface_endpoint_hour: float = 0.01
    interface_endpoint_gb: float = 0.01
    secret_month: float = 0.40
    public_ipv4_hour: float = 0.005
    s3_gb_month: float = 0.023
    # The container option's prices that differ by region: (eu-west-1, us-east-1); other regions use us-east-1's.
    regional: dict[str, dict[str, float]] = field(
        default_factory=lambda: {
            "eu-west-1": {
                "fargate_arm64_vcpu_hour": 0.03238,
                "fargate_arm64_gb_hour": 0.00356,
                "alb_hour": 0.0252,
                "nat_hour": 0.048,
                "nat_gb": 0.048,
                "interface_endpoint_hour": 0.011,
            },
            "us-east-1": {
                "fargate_arm64_vcpu_hour": 0.03238,
                "fargate_arm64_gb_hour": 0.00356,
                "alb_hour": 0.0225,
                "nat_hour": 0.045,
                "nat_gb": 0.045,
                "interface_endpoint_hour": 0.01,
            },
        }
    )


# (unit, note); a note starting with "unsure" marks a figure to check before relying on it.
PRICE_NOTES: dict[str, tuple[str, str]] = {
    "apigw_rest_tiers": ("per million requests, per region", "333M at $3.50, next 667M at $2.80; same in eu-west-1"),
    "apigw_http_tiers": ("per million requests, per region", "unsure for eu-west-1 (may be ~$1.11/M there)"),
    "lambda_request_per_million": ("per million invocations", "all regions"),
    "lambda_gb_second": ("per GB-second", "first pricing tier (6B GB-s x86, 7.5B arm64); eu-west-1 identical"),
    "dynamodb_wru_per_million": ("on-demand write request unit", "after the Nov 2024 cut; eu-west-1 ~$0.7063"),
    "dynamodb_rwru_per_million": ("replicated WRU (global tables)", "unsure: after the Nov 2024 cut (was $1.875)"),
    "dynamodb_rru_per_million": ("on-demand read request unit", "after the Nov 2024 cut; eu-west-1 ~$0.1415"),
    "dynamodb_wcu_hour": ("provisioned WCU-hour", "eu-west-1 $0.000735"),
    "dynamodb_rwcu_hour": ("provisioned replicated WCU-hour", "unsure: after the Nov 2024 cut (was $0.000975)"),
    "dynamodb_rcu_hour": ("provisioned RCU-hour", "eu-west-1 $0.000147"),
    "dynamodb_storage_gb_month": ("GB-month, Standard table class", "eu-west-1 $0.283"),
    "dynamodb_pitr_gb_month": ("GB-month of continuous backup", "eu-west-1 ~$0.226"),
    "waf_web_acl_month": ("per web ACL per month", ""),
    "waf_rule_month": ("per rule or rule group per month", "AWS free managed groups count as one rule each"),
    "waf_requests_per_million": ("per million requests inspected", "up to 1,500 WCU of rules"),
    "logs_ingest_gb": ("per GB ingested (Standard class)", "eu-west-1 ~$0.57; Lambda logs tiered since 2025"),
    "logs_storage_gb_month": ("per GB-month archived (compressed)", ""),
    "xray_traces_per_million": ("per million traces recorded", "first 100,000 a month free"),
    "xray_free_traces": ("traces per month", "free tier"),
    "route53_health_check_month": ("per health check per month", "unsure: non-AWS-endpoint price used"),
    "route53_health_check_feature_month": ("per optional feature (HTTPS, fast interval)", "unsure, as above"),
    "route53_zone_month": ("per hosted zone per month", ""),
    "route53_latency_queries_per_million": ("per million latency-based queries", ""),
    "kms_key_month": ("per customer-managed key per month", ""),
    "kms_requests_per_10k": ("per 10,000 API requests", ""),
    "transfer_out_gb": ("per GB to the internet", "first 10 TB"),
    "transfer_inter_region_gb": ("per GB between regions", "global-table replication traffic"),
    "cloudwatch_alarm_month": ("per standard-resolution alarm metric", ""),
    "cloudwatch_metric_month": ("per custom metric (EMF)", "first 10,000 metrics"),
    "fargate_vcpu_hour": ("per vCPU-hour, Linux", "arm64 / x86_64"),
    "fargate_gb_hour": ("per GB-hour, Linux", "arm64 / x86_64"),
    "alb_hour": ("per load balancer-hour", ""),
    "alb_lcu_hour": ("per LCU-hour", ""),
    "nat_hour": ("per NAT gateway-hour", "containers in private subnets reach the bank through it"),
    "nat_gb": ("per GB through a NAT gateway", ""),
    "interface_endpoint_hour": ("per interface endpoint per AZ-hour", "the alternative to the NAT for AWS APIs"),
    "interface_endpoint_gb": ("per GB through an interface endpoint", ""),
    "secret_month": ("per Secrets Manager secret per month", "FINGERPRINT_KEY and BANK_URL for the tasks"),
    "public_ipv4_hour": (
        "per public IPv4 address-hour, in use or idle",
        "since February 2024 (Amazon VPC pricing, Public IPv4 Address): NAT Elastic IPs, ALB addresses",
    ),
    "s3_gb_month": ("per GB-month, S3 Standard", "ALB access logs (gzip)"),
    "regional": (
        "the container option per region",
        "unsure: eu-west-1 Fargate arm64 taken equal to us-east-1; ALB and NAT eu-west-1 ~7-12% higher",
    ),
}


# --- parameters ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Parameters:
    requests_per_minute: float = 10_000
    mix: tuple[tuple[str, float], ...] = (("post", 0.6), ("get", 0.3), ("list", 0.1))
    post_with_key_share: float = 1.0  # POSTs sent with an Idempotency-Key (claim + write-ahead + transition)
    # The resolver (handlers.domain.resolver): one scheduled run a minute per region, a few Queries of the
    # sparse pending index per run (due payments, the oldest, the count, per shard), one heartbeat.
    resolver_runs_per_minute: float = 1.0
    resolver_ms: float = 200.0  # a run with nothing to settle: 8 shards x 3 Queries + 2 heartbeat calls
    pending_shards: int = 8  # handlers.contract.schema.PENDING_SHARDS (tests/bench/test_cost_model.py checks)
    regions: int = 2
    list_limit: int = 20
    # Authorizer: API Gateway caches its answer per Authorization header for the TTL, per region.
    active_api_keys: int = 500
    authorizer_ttl_seconds: float = 300
    # Lambda
    architecture: str = "arm64"
    memory_mb: int = 512
    # Own CPU per call at one full vCPU (bench warm, boto3 phase: botocore serialising, signing, parsing).
    cpu_ms: dict[str, float] = field(
        default_factory=lambda: {"post": 1.40, "get": 0.62, "list": 2.38, "authorizer": 0.58, "health": 0.62}
    )
    cpu_speed: dict[str, float] = field(default_factory=lambda: {"arm64": 1.0, "x86_64": 1.0})
    runtime_overhead_ms: float = 1.0  # the runtime's own work per invoke (event JSON, Runtime API round trip)
    dynamodb_call_ms: float = 5.0  # in-region GetItem/PutItem/Query latency, typical
    bank_ms: float = 150.0  # the acquirer's authorization round trip (the biggest single term)
    # Logs per invocation: handler lines + EMF (bench warm), Lambda's START/END/REPORT (+ XRAY) lines,
    # and one API Gateway access-log line per request.
    handler_log_bytes: dict[str, float] = field(
        default_factory=lambda: {"post": 700, "get": 0, "list": 0, "authorizer": 250, "health": 0}
    )
    platform_log_bytes: float = 420
    access_log_bytes: float = 480
    log_event_overhead_bytes: float = 26
    log_compression: float = 0.15  # archived (compressed) bytes per ingested byte
    log_retention_months: int = 12  # the stack's 365 days (PCI DSS 10.5.1: at least 12 months)
    # X-Ray: the default sampling rule, per region: 1 request/s plus 5% of the rest.
    xray_reservoir_per_second: float = 1.0
    xray_rate: float = 0.05
    # Route 53: one HTTPS health check per region, 10 s interval; ~16 checkers each call GET /health.
    health_checks_per_region: int = 1
    health_check_features: int = 2  # HTTPS + fast (10 s) interval
    health_check_requests_per_second: float = 16 / 10
    dns_queries_per_month: float = 20e6
    # WAF: one web ACL per region; rate limit + two AWS managed groups.
    waf_rules: int = 3
    # Customer-managed keys of the deployment with a domain (tests/infra/test_program.py counts the
    # program's): eu 5 (the table key of each region, functions' env+logs, the alarm topic, the
    # us-east-1 topic of the Route 53 health alarm), us 2 (functions' env+logs, the alarm topic).
    kms_keys: int = 7
    kms_requests_per_month: float = 200_000
    alarms_per_region: int = 20
    custom_metrics_per_region: int = 4
    response_bytes: float = 450  # body + headers to the merchant
    months_of_payments_stored: int = 12
    provisioned_utilization: float = 0.7  # auto scaling target
    # Limits set in the components: components/config.py's defaults (tests/bench/test_cost_model.py checks)
    stage_method_rate_limit: float = 500.0  # API Gateway stage throttle, per method ("*/*"), per region
    waf_rate_limit_per_5_minutes: float = 100_000  # per source IP
    # Containers (compute: fargate). The sizing is components/sizing.py's, which the stack's defaults use;
    # CONTAINER_CPU_MS_PER_REQUEST there is measured by `python -m bench --only compute`.
    container_cpu_ms: float = sizing.CONTAINER_CPU_MS_PER_REQUEST
    container_vcpu: float = sizing.TASK_CPU_UNITS / 1024
    container_gb: float = sizing.TASK_MEMORY_MB / 1024
    container_target_utilization: float = sizing.TARGET_CPU_PERCENT / 100
    container_min_tasks_per_region: int = sizing.MIN_TASKS  # two AZs
    alb_new_connections_per_request: float = 0.1  # merchants mostly reuse TLS connections
    nat_gateways_per_region: int = 2  # one per AZ, for the tasks' calls to the bank
    # An internet-facing ALB has a public IPv4 address in each of its zones (two), more while it scales.
    alb_public_ipv4_per_region: int = 2
    bank_call_bytes: float = 1500  # request + response + TLS, through the NAT
    bank_connections_per_payment: float = 1.0  # assumed: a new connection to the bank per payment
    interface_endpoints: int = 4  # ECR api, ECR dkr, CloudWatch Logs, Secrets Manager (instead of the NAT)
    flow_log_record_bytes: float = 130
    flow_log_records_per_connection: float = 4  # both directions, at two interfaces (task or ALB, NAT)
    alb_log_bytes_per_request: float = 50  # an access-log line gzipped in S3
    container_insights_month_per_region: float = 6.0  # unsure: a service's metrics and performance events
    container_alarms_per_region: int = 8
    container_secrets_per_region: int = 2

    @property
    def requests_per_second(self) -> float:
        return self.requests_per_minute / 60

    @property
    def requests_per_month(self) -> float:
        return self.requests_per_second * SECONDS_PER_MONTH

    def share(self, route: str) -> float:
        return dict(self.mix).get(route, 0.0)


# --- DynamoDB item sizes, from the handlers' converter ---------------------------------------------------


def item_bytes(item: dict[str, object]) -> int:
    """DynamoDB's item size: attribute names plus values (strings UTF-8, numbers ~1 byte per 2 digits + 1)."""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


def _value_bytes(value: object) -> int:
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int | float):
        digits = len(str(abs(value)).replace(".", "").lstrip("0")) or 1
        return math.ceil(digits / 2) + 1
    if isinstance(value, dict):
        return 3 + sum(len(str(k).encode()) + _value_bytes(v) + 1 for k, v in value.items())
    return len(str(value).encode())


def sample_payment_item() -> dict[str, object]:
    payment_id = "pay_01JD2Z3Y4X5W6V7T8S9R0QPNMK"
    merchant = "mer_01JBENCH000000000000000000"
    payment = Payment(
        id=payment_id,
        merchant_id=merchant,
        status=PaymentStatus.AUTHORIZED,
        amount=1050,
        currency="GBP",
        reference="order-2026-11-26-000123",
        card=CardSummary("visa", "4291", 4, 2030),
        authorization_code="0CBDF7770145",
        created_at=datetime(2026, 11, 26, 10, 34, 45, 756000, tzinfo=UTC),
        region="eu-west-1",
    )
    keys = {schema.PARTITION_KEY: schema.merchant_pk(merchant), schema.SORT_KEY: schema.payment_sk(payment_id)}
    item: dict[str, object] = converter.payment_to_item(StoredPayment(payment, 1), keys)
    return item


def sample_claim_item() -> dict[str, object]:
    claim = IdempotencyClaim(
        merchant_id="mer_01JBENCH000000000000000000",
        key="9f8c2a4e-6b1d-4c3a-8e7f-0a1b2c3d4e5f",
        fingerprint="ab" * 32,
        payment_id="pay_01JD2Z3Y4X5W6V7T8S9R0QPNMK",
        attempt=1,
        lease_until=1795689377.759,
        expires_at=1795775767,
        owner="5d41402abc4b2a76",
    )
    keys = {
        schema.PARTITION_KEY: schema.merchant_pk(claim.merchant_id),
        schema.SORT_KEY: schema.idempotency_sk(claim.key),
    }
    item: dict[str, object] = converter.claim_to_item(claim, keys)
    return item


# --- the model ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    part: str
    monthly_usd: float
    detail: str


def tiered(quantity: float, tiers: Sequence[tuple[float, float]]) -> float:
    """Cost of `quantity` requests under per-million tiered prices [(tier size, price per million)]."""
    cost, left = 0.0, quantity
    for size, price in tiers:
        used = min(left, size)
        cost += used / MILLION * price
        left -= used
        if left <= 0:
            break
    return cost


@dataclass(frozen=True)
class Model:
    p: Parameters = field(default_factory=Parameters)
    prices: Prices = field(default_factory=Prices)

    # --- traffic ---
    def route_rps(self, route: str) -> float:
        return self.p.requests_per_second * self.p.share(route)

    def health_rps(self) -> float:
        return self.p.regions * self.p.health_checks_per_region * self.p.health_check_requests_per_second

    def authorizer_rps(self) -> float:
        """Cache misses: each active key, in each region, once per TTL (at most once per request)."""
        if self.p.authorizer_ttl_seconds <= 0:
            return self.p.requests_per_second
        misses = self.p.active_api_keys * self.p.regions / self.p.authorizer_ttl_seconds
        return min(misses, self.p.requests_per_second)

    def invocations_rps(self) -> dict[str, float]:
        rates = {route: self.route_rps(route) for route in ROUTES}
        rates["authorizer"] = self.authorizer_rps()
        rates["health"] = self.health_rps()
        return rates

    def api_requests_per_month(self) -> float:
        return (self.p.requests_per_second + self.health_rps()) * SECONDS_PER_MONTH

    # --- Lambda ---
    def cpu_share(self) -> float:
        """Lambda gives one vCPU at 1,769 MB and a proportional share below."""
        return min(1.0, self.p.memory_mb / 1769)

    def duration_ms(self, function: str) -> float:
        cpu = self.p.cpu_ms[function] * self.p.cpu_speed[self.p.architecture] / self.cpu_share()
        io = self.dynamodb_calls(function) * self.p.dynamodb_call_ms
        if function == "post":
            io += self.p.bank_ms
        return cpu + io + self.p.runtime_overhead_ms

    def billed_ms(self, function: str) -> float:
        return float(math.ceil(self.duration_ms(function)))

    def dynamodb_calls(self, function: str) -> float:
        if function == "post":
            return 1 + self.p.post_with_key_share
        return 1.0

    def concurrency(self) -> dict[str, float]:
        """Little's law: in-flight executions = arrival rate x time in the function."""
        return {name: rate * self.duration_ms(name) / 1000 for name, rate in self.invocations_rps().items()}

    def lambda_cost(self, architecture: str | None = None) -> tuple[float, float]:
        """(requests, duration) USD per month."""
        model = self if architecture is None else self.with_params(architecture=architecture)
        invocations = sum(model.invocations_rps().values()) * SECONDS_PER_MONTH
        gb_seconds = sum(
            rate * SECONDS_PER_MONTH * model.billed_ms(name) / 1000 * model.p.memory_mb / 1024
            for name, rate in model.invocations_rps().items()
        )
        return (
            invocations / MILLION * model.prices.lambda_request_per_million,
            gb_seconds * model.prices.lambda_gb_second[model.p.architecture],
        )

    # --- DynamoDB ---
    def write_units(self, item: dict[str, object]) -> int:
        return max(1, math.ceil(item_bytes(item) / 1024))

    def units_per_month(self) -> dict[str, float]:
        payment_wu = self.write_units(sample_payment_item())
        claim_wu = self.write_units(sample_claim_item())
        posts = self.route_rps("post") * SECONDS_PER_MONTH
        claims = posts * self.p.post_with_key_share
        # The payment is written twice: pending before the bank (write-ahead), then its final status.
        table_writes = posts * 2 * payment_wu + claims * claim_wu
        # The sparse pending index (projection ALL) takes the pending item in and lets it out again, in
        # the writing region and in every replica (each maintains its own index: counted as replicated).
        index_writes = posts * 2 * payment_wu
        resolver_writes = self.resolver_runs_per_month() * 1  # its heartbeat
        local_writes = table_writes + index_writes + resolver_writes
        replicas = self.p.regions - 1
        # Every table write is replicated; so is each claim's TTL deletion (TTL deletes themselves are free).
        replicated = (table_writes + index_writes + resolver_writes + claims * claim_wu) * replicas
        page_bytes = (self.p.list_limit + 1) * item_bytes(sample_payment_item())
        reads = (
            self.route_rps("get") * 1.0  # strongly consistent, <= 4 KB
            + self.route_rps("list") * 0.5 * math.ceil(page_bytes / 4096)  # eventually consistent Query
            + self.authorizer_rps() * 0.5  # eventually consistent GetItem
            + self.health_rps() * 1.0
        ) * SECONDS_PER_MONTH + self.resolver_reads_per_month()
        return {"wru": local_writes, "rwru": replicated, "rru": reads}

    # --- the resolver ---
    def resolver_runs_per_month(self) -> float:
        return self.p.resolver_runs_per_minute * SECONDS_PER_MONTH / 60 * self.p.regions

    def resolver_reads_per_month(self) -> float:
        """Eventually consistent Queries, 0.5 RRU each while a shard holds under 4 KB of due payments."""
        queries_per_run = self.p.pending_shards * 3 + 1  # due, oldest, count per shard; the heartbeats
        return self.resolver_runs_per_month() * queries_per_run * 0.5

    def resolver_lambda(self) -> float:
        runs = self.resolver_runs_per_month()
        gb_seconds = runs * self.p.resolver_ms / 1000 * self.p.memory_mb / 1024
        requests = runs / MILLION * self.prices.lambda_request_per_million
        return requests + gb_seconds * self.prices.lambda_gb_second[self.p.architecture]

    def dynamodb_on_demand(self) -> float:
        units = self.units_per_month()
        pr = self.prices
        return (
            units["wru"] / MILLION * pr.dynamodb_wru_per_million
            + units["rwru"] / MILLION * pr.dynamodb_rwru_per_million
            + units["rru"] / MILLION * pr.dynamodb_rru_per_million
        )

    def provisioned_capacity(self) -> dict[str, float]:
        """Per region, at the auto-scaling target, sized for the worse of normal and failover.

        A replica's write capacity absorbs its local writes and the replicated ones, and for a global
        table it is billed as replicated WCU. Normally each region writes its share and receives the
        rest; after a failover the survivor writes everything locally. Reads: failover puts all on one.
        """
        units = self.units_per_month()
        normal = (units["wru"] + units["rwru"]) / self.p.regions
        failover = units["wru"]
        writes = max(normal, failover) / SECONDS_PER_MONTH / self.p.provisioned_utilization
        reads = units["rru"] / SECONDS_PER_MONTH / self.p.provisioned_utilization
        if self.p.regions == 1:
            return {"wcu": math.ceil(writes), "rwcu": 0, "rcu": math.ceil(reads)}
        return {"wcu": 0, "rwcu": math.ceil(writes), "rcu": math.ceil(reads)}

    def dynamodb_provisioned(self) -> float:
        capacity = self.provisioned_capacity()
        pr = self.prices
        hourly = (
            capacity["wcu"] * pr.dynamodb_wcu_hour
            + capacity["rwcu"] * pr.dynamodb_rwcu_hour
            + capacity["rcu"] * pr.dynamodb_rcu_hour
        )
        return hourly * HOURS_PER_MONTH * self.p.regions

    def dynamodb_storage(self, months: int | None = None) -> float:
        stored_months = self.p.months_of_payments_stored if months is None else months
        payments = self.route_rps("post") * SECONDS_PER_MONTH * stored_months
        claims = self.route_rps("post") * self.p.post_with_key_share * 24 * 3600  # kept 24 h by TTL
        stored = (payments * item_bytes(sample_payment_item()) + claims * item_bytes(sample_claim_item())) / GB
        return stored * self.p.regions * (self.prices.dynamodb_storage_gb_month + self.prices.dynamodb_pitr_gb_month)

    # --- edges ---
    def api_gateway(self, kind: str = "rest") -> float:
        tiers = self.prices.apigw_rest_tiers if kind == "rest" else self.prices.apigw_http_tiers
        per_region = self.api_requests_per_month() / self.p.regions
        return tiered(per_region, tiers) * self.p.regions

    def waf(self) -> float:
        pr = self.prices
        fixed = self.p.regions * (pr.waf_web_acl_month + self.p.waf_rules * pr.waf_rule_month)
        return fixed + self.api_requests_per_month() / MILLION * pr.waf_requests_per_million

    def log_bytes_per_month(self, *, lambda_platform: bool = True, access_log: bool = True) -> float:
        total = 0.0
        for name, rate in self.invocations_rps().items():
            events = 3 + (1 if self.p.handler_log_bytes.get(name, 0) else 0)
            per_call = self.p.handler_log_bytes.get(name, 0.0) + events * self.p.log_event_overhead_bytes
            if lambda_platform:
                per_call += self.p.platform_log_bytes
            total += rate * per_call
        if access_log:
            total += (self.p.requests_per_second + self.health_rps()) * (
                self.p.access_log_bytes + self.p.log_event_overhead_bytes
            )
        return total * SECONDS_PER_MONTH

    def logs(self, *, lambda_platform: bool = True, access_log: bool = True) -> tuple[float, float]:
        """(ingestion, storage at steady state) USD per month."""
        ingested = self.log_bytes_per_month(lambda_platform=lambda_platform, access_log=access_log) / GB
        stored = ingested * self.p.log_compression * self.p.log_retention_months
        return ingested * self.prices.logs_ingest_gb, stored * self.prices.logs_storage_gb_month

    def xray_traces_per_month(self, rate: float | None = None) -> float:
        sampled_rate = self.p.xray_rate if rate is None else rate
        per_region = (self.p.requests_per_second + self.health_rps()) / self.p.regions
        reservoir = min(per_region, self.p.xray_reservoir_per_second)
        return self.p.regions * (reservoir + sampled_rate * (per_region - reservoir)) * SECONDS_PER_MONTH

    def xray(self, rate: float | None = None) -> float:
        billable = max(0.0, self.xray_traces_per_month(rate) - self.prices.xray_free_traces)
        return billable / MILLION * self.prices.xray_traces_per_million

    def route53(self) -> float:
        pr = self.prices
        checks = self.p.regions * self.p.health_checks_per_region
        per_check = pr.route53_health_check_month + self.p.health_check_features * pr.route53_health_check_feature_month
        return (
            checks * per_check
            + pr.route53_zone_month
            + self.p.dns_queries_per_month / MILLION * pr.route53_latency_queries_per_million
        )

    def kms(self) -> float:
        pr = self.prices
        return self.p.kms_keys * pr.kms_key_month + (self.p.kms_requests_per_month / 10_000 * pr.kms_requests_per_10k)

    def data_transfer(self) -> float:
        out = self.p.requests_per_second * SECONDS_PER_MONTH * self.p.response_bytes / GB
        replicated = self.units_per_month()["rwru"] * item_bytes(sample_payment_item()) / GB
        return out * self.prices.transfer_out_gb + replicated * self.prices.transfer_inter_region_gb

    def cloudwatch(self) -> float:
        pr = self.prices
        return self.p.regions * (
            self.p.alarms_per_region * pr.cloudwatch_alarm_month
            + self.p.custom_metrics_per_region * pr.cloudwatch_metric_month
        )

    # --- the container option (compute: fargate) ---
    def region_names(self) -> list[str]:
        known = list(self.prices.regional)
        return [known[i] if i < len(known) else "us-east-1" for i in range(self.p.regions)]

    def per_region(self, name: str) -> float:
        """Sum over the regions of a regional hourly or per-GB price."""
        fallback = self.prices.regional["us-east-1"]
        return sum(self.prices.regional.get(region, fallback)[name] for region in self.region_names())

    def tasks_per_region(self) -> int:
        """Each region sized for all the traffic (a failover), never below the minimum fleet."""
        per_task = self.p.container_vcpu * self.p.container_target_utilization * 1000 / self.p.container_cpu_ms
        return max(self.p.container_min_tasks_per_region, math.ceil(self.p.requests_per_second / per_task))

    def fargate(self, architecture: str = "arm64") -> float:
        tasks, pr = self.tasks_per_region(), self.prices
        if architecture == "arm64":
            vcpu, gb = self.per_region("fargate_arm64_vcpu_hour"), self.per_region("fargate_arm64_gb_hour")
        else:
            vcpu, gb = (
                pr.fargate_vcpu_hour[architecture] * self.p.regions,
                pr.fargate_gb_hour[architecture] * self.p.regions,
            )
        return tasks * (self.p.container_vcpu * vcpu + self.p.container_gb * gb) * HOURS_PER_MONTH

    def alb(self) -> float:
        """Hours plus LCUs: the largest of new connections (25/s), processed GB (1/h) and rule evaluations."""
        per_region_rps = (self.p.requests_per_second + self.health_rps()) / self.p.regions
        lcus = max(
            per_region_rps * self.p.alb_new_connections_per_request / 25,
            per_region_rps * self.p.response_bytes * 3 * 3600 / GB,  # request + response
            per_region_rps / 1000,
        )
        return (self.per_region("alb_hour") + self.p.regions * lcus * self.prices.alb_lcu_hour) * HOURS_PER_MONTH

    def nat_gigabytes_per_month(self) -> float:
        """Through the NAT: the bank calls and the tasks' logs (DynamoDB and image layers take gateway endpoints)."""
        bank = self.route_rps("post") * SECONDS_PER_MONTH * self.p.bank_call_bytes
        return (bank + self.container_log_bytes_per_month()) / GB

    def nat(self) -> float:
        hours = self.p.nat_gateways_per_region * self.per_region("nat_hour") * HOURS_PER_MONTH
        return hours + self.nat_gigabytes_per_month() * self.per_region("nat_gb") / self.p.regions

    def public_ipv4_addresses(self) -> int:
        """Per region: each NAT gateway's Elastic IP and the load balancer's addresses (at least one per zone)."""
        return self.p.nat_gateways_per_region + self.p.alb_public_ipv4_per_region

    def public_ipv4(self) -> float:
        return self.p.regions * self.public_ipv4_addresses() * self.prices.public_ipv4_hour * HOURS_PER_MONTH

    def interface_endpoints(self) -> float:
        """The alternative for the AWS APIs: still a NAT for the bank, plus an endpoint per API per zone."""
        zones = self.p.nat_gateways_per_region
        hours = self.p.interface_endpoints * zones * self.per_region("interface_endpoint_hour") * HOURS_PER_MONTH
        logs = self.container_log_bytes_per_month() / GB
        return hours + logs * (self.prices.interface_endpoint_gb - self.per_region("nat_gb") / self.p.regions)

    def container_log_bytes_per_month(self) -> float:
        """The handlers' own lines only: no Lambda platform lines, no API Gateway access log (the ALB's is in S3)."""
        return self.log_bytes_per_month(lambda_platform=False, access_log=False)

    def flow_logs(self) -> float:
        connections = (
            self.route_rps("post") * self.p.bank_connections_per_payment
            + (self.p.requests_per_second + self.health_rps()) * self.p.alb_new_connections_per_request
        )
        ingested = connections * self.p.flow_log_records_per_connection * self.p.flow_log_record_bytes
        gigabytes = ingested * SECONDS_PER_MONTH / GB
        stored = gigabytes * self.p.log_compression * self.p.log_retention_months
        return gigabytes * self.prices.logs_ingest_gb + stored * self.prices.logs_storage_gb_month

    def alb_access_logs(self) -> float:
        monthly = (
            (self.p.requests_per_second + self.health_rps()) * SECONDS_PER_MONTH * self.p.alb_log_bytes_per_request
        )
        return monthly / GB * self.p.log_retention_months * self.prices.s3_gb_month

    def container_design(self) -> list[Line]:
        """compute: fargate, as the components build it, at the same traffic; the shared parts as in design()."""
        ingest, storage = self.logs(lambda_platform=False, access_log=False)
        shared = {line.part: line for line in self.design()}
        tasks = self.tasks_per_region()
        alarms = self.p.regions * self.p.container_alarms_per_region * self.prices.cloudwatch_alarm_month
        return [
            Line(
                "Fargate tasks",
                self.fargate(),
                f"{tasks} per region (each sized for all the traffic), {self.p.container_vcpu:g} vCPU + "
                f"{self.p.container_gb:g} GB arm64, {self.p.container_cpu_ms:g} ms CPU per request (measured)",
            ),
            Line("Application load balancers", self.alb(), "hours + LCUs"),
            Line(
                "NAT gateways",
                self.nat(),
                f"{self.p.nat_gateways_per_region} per region + {self.nat_gigabytes_per_month():.0f} GB (bank, logs)",
            ),
            Line(
                "Public IPv4 addresses",
                self.public_ipv4(),
                f"{self.public_ipv4_addresses()} per region ({self.p.nat_gateways_per_region} NAT Elastic IPs, "
                f"at least {self.p.alb_public_ipv4_per_region} ALB)",
            ),
            shared["DynamoDB requests (on-demand)"],
            shared["DynamoDB storage + PITR"],
            shared["WAF"],
            Line("CloudWatch Logs ingestion", ingest, f"{self.container_log_bytes_per_month() / GB:.0f} GB/month"),
            Line("CloudWatch Logs storage", storage, f"{self.p.log_retention_months} months retained, compressed"),
            Line("VPC flow logs", self.flow_logs(), "every flow, ingestion + 12 months storage"),
            Line("ALB access logs (S3)", self.alb_access_logs(), "12 months kept"),
            Line("Container Insights", self.p.regions * self.p.container_insights_month_per_region, "unsure"),
            Line(
                "Secrets Manager",
                self.p.regions * self.p.container_secrets_per_region * self.prices.secret_month,
                "FINGERPRINT_KEY, BANK_URL",
            ),
            shared["Route 53"],
            shared["KMS"],
            shared["Data transfer"],
            Line(
                "CloudWatch alarms + metrics",
                shared["CloudWatch alarms + metrics"].monthly_usd + alarms,
                f"+{self.p.container_alarms_per_region} alarms per region",
            ),
        ]

    def break_even_rpm(self, low: float = 10.0, high: float = 1e6) -> float | None:
        """The traffic (requests/minute) above which the container option costs less, by bisection."""

        def lambda_minus_containers(rpm: float) -> float:
            model = self.with_params(requests_per_minute=rpm)
            return total(model.design()) - total(model.container_design())

        if lambda_minus_containers(low) > 0 or lambda_minus_containers(high) < 0:
            return None
        for _ in range(60):
            middle = math.sqrt(low * high)
            low, high = (middle, high) if lambda_minus_containers(middle) < 0 else (low, middle)
        return high

    # --- totals ---
    def design(self) -> list[Line]:
        """The stack as the components build it: REST API, arm64 Lambda, on-demand table, WAF, X-Ray."""
        requests, duration = self.lambda_cost()
        ingest, storage = self.logs()
        units = self.units_per_month()
        return [
            Line("API Gateway REST", self.api_gateway("rest"), f"{self.api_requests_per_month() / 1e6:.0f}M requests"),
            Line("Lambda requests", requests, f"{sum(self.invocations_rps().values()) * SECONDS_PER_MONTH / 1e6:.0f}M"),
            Line("Lambda duration", duration, f"{self.p.architecture}, {self.p.memory_mb} MB"),
            Line(
                "DynamoDB requests (on-demand)",
                self.dynamodb_on_demand(),
                f"{units['wru'] / 1e6:.0f}M WRU + {units['rwru'] / 1e6:.0f}M rWRU + {units['rru'] / 1e6:.0f}M RRU",
            ),
            Line(
                "DynamoDB storage + PITR",
                self.dynamodb_storage(),
                f"after {self.p.months_of_payments_stored} months, {self.p.regions} replicas "
                f"(month 1: {usd(self.dynamodb_storage(1))}); grows by that every month",
            ),
            Line(
                "Resolver (scheduled Lambda)",
                self.resolver_lambda(),
                f"{self.resolver_runs_per_month() / 1e3:.0f}k runs/month; its reads and heartbeat are in DynamoDB",
            ),
            Line("WAF", self.waf(), f"{self.p.regions} web ACLs, {self.p.waf_rules} rules each, every request"),
            Line("CloudWatch Logs ingestion", ingest, f"{self.log_bytes_per_month() / GB:.0f} GB/month"),
            Line("CloudWatch Logs storage", storage, f"{self.p.log_retention_months} months retained, compressed"),
            Line("X-Ray", self.xray(), f"{self.xray_traces_per_month() / 1e6:.1f}M traces (1/s + 5%)"),
            Line("Route 53", self.route53(), "health checks, zone, latency queries"),
            Line("KMS", self.kms(), f"{self.p.kms_keys} keys"),
            Line("Data transfer", self.data_transfer(), "responses out + replication between regions"),
            Line("CloudWatch alarms + metrics", self.cloudwatch(), ""),
        ]

    def with_params(self, **changes: object) -> Model:
        return Model(dataclasses.replace(self.p, **changes), self.prices)  # type: ignore[arg-type]


def total(lines: Sequence[Line]) -> float:
    return sum(line.monthly_usd for line in lines)


# --- report -----------------------------------------------------------------------------------------------


def usd(value: float) -> str:
    sign = "-" if value < 0 else ""
    amount = abs(value)
    return f"{sign}${amount:,.0f}" if amount >= 10 else f"{sign}${amount:,.2f}"


def render(model: Model, command: str) -> str:
    p = model.p
    design = model.design()
    parts = [
        f"_Computed by `{command}`; prices: {PRICES_AS_OF} (table below), month = 30 days._",
        _inputs(model),
        "### Capacity",
        _capacity(model),
        "### The stack's own limits against this load",
        _limits(model),
        "### Monthly cost of the design (both regions)",
        report.table(
            ("part", "USD/month", "share", "basis"),
            [
                (line.part, usd(line.monthly_usd), f"{line.monthly_usd / total(design):.0%}", line.detail)
                for line in design
            ]
            + [("**total**", f"**{usd(total(design))}**", "100%", f"{p.requests_per_month / 1e6:.0f}M requests")],
        ),
        f"Per million requests: {usd(total(design) / (p.requests_per_month / 1e6))}.",
        "### The resolver",
        _resolver(model),
        "### Alternatives, same traffic",
        _alternatives(model),
        "### `compute: fargate` (ALB + ECS Fargate), same traffic",
        _containers(model),
        "### Sensitivity: Lambda cost and concurrency against bank latency and memory",
        _sensitivity(model),
        "### Choices in the components made for cost, and what each saves",
        _choices(model),
        "### Unit prices used",
        _prices(model.prices),
    ]
    return "\n\n".join(parts)


def _resolver(model: Model) -> str:
    """What certain outcomes cost: the second payment write, the sparse index, the resolver."""
    pr, posts = model.prices, model.route_rps("post") * SECONDS_PER_MONTH
    payment_wu = model.write_units(sample_payment_item())
    second_write = posts * payment_wu * model.p.regions  # the transition, here and in the replica
    index = posts * 2 * payment_wu * model.p.regions
    index_usd = index / MILLION * pr.dynamodb_wru_per_million
    second_usd = second_write / MILLION * (pr.dynamodb_wru_per_million + pr.dynamodb_rwru_per_million) / 2
    reads_usd = model.resolver_reads_per_month() / MILLION * pr.dynamodb_rru_per_million
    # Streams + an SQS delay queue: a message per payment (send, receive, delete), a GetItem to see
    # whether it is still pending; stream reads by Lambda are free.
    sqs_usd = posts * 3 / MILLION * 0.40 + posts / MILLION * pr.dynamodb_rru_per_million
    rows = [
        (
            "the transition (a second PutItem per payment, replicated)",
            usd(second_usd),
            f"{second_write / 1e6:.0f}M units",
        ),
        ("the sparse pending index: the item in, then out, in each replica", usd(index_usd), f"{index / 1e6:.0f}M WRU"),
        (
            "the resolver's Queries and heartbeat reads",
            usd(reads_usd),
            f"{model.resolver_reads_per_month() / 1e6:.1f}M RRU",
        ),
        (
            "the resolver's Lambda runs",
            usd(model.resolver_lambda()),
            f"{model.resolver_runs_per_month() / 1e3:.0f}k runs",
        ),
    ]
    return "\n\n".join(
        [
            "Write units per payment: with an Idempotency-Key 3 table writes (claim, write-ahead `pending`, the "
            "final status) where there were 2, without one 2 where there was 1; each is replicated; and 2 writes "
            "of the sparse pending index in each replica (the pending item enters it, the settled one leaves it). "
            "A payment item is under 1 KB, so each write is 1 unit.",
            report.table(("what", "USD/month", "basis"), rows),
            "**Why a sparse index and not a queue.** Streams + an SQS delay queue would cost about "
            f"{usd(sqs_usd)} a month at this load instead of the index's {usd(index_usd)} "
            "(3 SQS requests and a GetItem per payment; stream reads by Lambda are free), "
            "and a dedicated partition of pending markers costs the same writes as the index plus their "
            "replication, with a marker that is not written atomically with the payment. The index is chosen "
            "all the same: it is written in the same PutItem as the payment, so no crash can leave a pending "
            "payment unindexed; it is replicated, so a region can take over a silent region's payments with "
            "the same Query (a delay queue is regional: a dead region's messages wait in it); it gives the "
            "oldest pending payment's age and the count for the alarm without a scan; and it needs no "
            "queue, DLQ or stream consumer to run, locally included (moto has GSIs, not SQS delays).",
        ]
    )


def _inputs(model: Model) -> str:
    p = model.p
    mix = ", ".join(f"{share:.0%} {route}" for route, share in p.mix)
    return "\n".join(
        [
            f"- Traffic: {p.requests_per_minute:,.0f} requests/minute = {p.requests_per_second:.0f}/s = "
            f"{p.requests_per_month / 1e6:.0f}M/month, split evenly over {p.regions} regions; mix {mix}; "
            f"{p.post_with_key_share:.0%} of POSTs carry an Idempotency-Key.",
            f"- Lambda {p.architecture}, {p.memory_mb} MB ({model.cpu_share():.2f} vCPU); own CPU per call at 1 vCPU "
            + ", ".join(f"{k} {v:.2f} ms" for k, v in p.cpu_ms.items())
            + f" (bench warm, boto3 phase); DynamoDB {p.dynamodb_call_ms:.0f} ms per call; bank {p.bank_ms:.0f} ms.",
            f"- Items (from handlers.wire.converter): payment {item_bytes(sample_payment_item())} B, claim "
            f"{item_bytes(sample_claim_item())} B; a list page reads {p.list_limit + 1} items.",
            f"- Authorizer cache {p.authorizer_ttl_seconds:.0f} s, {p.active_api_keys} active API keys per region; "
            f"Route 53 checkers ~{p.health_check_requests_per_second:.1f} GET /health per second per check.",
        ]
    )


def _capacity(model: Model) -> str:
    concurrency = model.concurrency()
    rates = model.invocations_rps()
    rows = [
        (
            name,
            f"{rates[name]:.1f}/s",
            f"{model.duration_ms(name):.1f} ms",
            f"{model.billed_ms(name):.0f} ms",
            f"{concurrency[name]:.1f}",
        )
        for name in rates
    ]
    total_concurrency = sum(concurrency.values())
    rows.append(("**all**", f"{sum(rates.values()):.1f}/s", "", "", f"**{total_concurrency:.1f}**"))
    units = model.units_per_month()
    payment_wu = model.write_units(sample_payment_item())
    claim_wu = model.write_units(sample_claim_item())
    key = model.p.post_with_key_share
    capacity = model.provisioned_capacity()
    return "\n\n".join(
        [
            report.table(("function", "invocations", "duration", "billed", "concurrency (Little's law)"), rows),
            f"Concurrency {total_concurrency:.0f} in all ({total_concurrency / model.p.regions:.0f} per region); "
            f"if one region takes all the traffic, {total_concurrency:.0f} there. Lambda's default quota is "
            "1,000 per region: headroom of ~"
            f"{1000 / max(total_concurrency, 1e-9):.0f}x. The bank's latency is almost all of it: at "
            f"{model.p.bank_ms:.0f} ms a payment holds its execution environment for the whole wait.",
            f"DynamoDB per payment: {payment_wu} WRU (payment) + {claim_wu * key:.0f} WRU (claim) locally, the same "
            f"again as rWRU in each of the {model.p.regions - 1} other region(s), plus 1 rWRU there when the claim's "
            "TTL deletion replicates; reads only on replays. Per GET 1 RRU (strongly consistent); per list "
            f"{0.5 * math.ceil((model.p.list_limit + 1) * item_bytes(sample_payment_item()) / 4096):.1f} RRU "
            "(eventually consistent Query); per authorizer miss 0.5 RRU. Month: "
            f"{units['wru'] / 1e6:.0f}M WRU, {units['rwru'] / 1e6:.0f}M rWRU, {units['rru'] / 1e6:.0f}M RRU. "
            f"Provisioned equivalent per region (failover-sized, {model.p.provisioned_utilization:.0%} target): "
            + " + ".join(f"{value} {name.upper().replace('RWCU', 'rWCU')}" for name, value in capacity.items() if value)
            + " (a global table's write capacity is billed as replicated WCU).",
        ]
    )


def _limits(model: Model) -> str:
    p = model.p
    post_normal = model.route_rps("post") / p.regions
    post_failover = model.route_rps("post")
    per_ip = p.waf_rate_limit_per_5_minutes / 300
    used = post_failover / p.stage_method_rate_limit
    if used >= 0.8:
        throttle = (
            f"**{used:.0%} used after a failover: no headroom for bursts**. Raise it "
            "(e.g. to 2x the expected peak per method) before relying on failover at this traffic."
        )
    else:
        throttle = f"{used:.0%} used after a failover, {1 / used:.0f}x headroom."
    source_ips = math.ceil(p.requests_per_second / per_ip)
    if source_ips > 1:
        waf = (
            f"so {p.requests_per_minute:,.0f}/minute needs at least {source_ips} distinct source IPs; raise it "
            "per known merchant range or scope the rule down."
        )
    else:
        waf = (
            f"so one egress IP could send the whole {p.requests_per_minute:,.0f}/minute "
            f"({per_ip / p.requests_per_second:.0f}x headroom): the rule stops floods, not a merchant."
        )
    return "\n".join(
        [
            f"- API Gateway stage throttle: {p.stage_method_rate_limit:,.0f} requests/s per method per region "
            f"(`throttleRateLimit`). POST /v1/payments runs at {post_normal:.0f}/s per region normally and "
            f"{post_failover:.0f}/s in the surviving region after a failover: {throttle}",
            f"- WAF rate rule: {p.waf_rate_limit_per_5_minutes:,.0f} requests per 5 minutes per source IP "
            f"(`wafRateLimit`) = {per_ip:,.1f}/s. A merchant sending from one egress IP is blocked above "
            f"{per_ip * 60:,.0f} requests/minute, {waf}",
            f"- Lambda: {sum(model.concurrency().values()):.0f} concurrent executions against a default quota of "
            "1,000 per region; DynamoDB on-demand: far below per-table and per-partition limits "
            f"({model.route_rps('post') * (1 + p.post_with_key_share):.0f} writes/s in all).",
        ]
    )


def _sensitivity(model: Model) -> str:
    rows = []
    for bank_ms in (50.0, 150.0, 300.0, 600.0):
        row: list[object] = [f"{bank_ms:.0f} ms"]
        for memory in (256, 512, 1024):
            variant = model.with_params(bank_ms=bank_ms, memory_mb=memory)
            row.append(f"{usd(sum(variant.lambda_cost()))} / {sum(variant.concurrency().values()):.0f}")
        rows.append(row)
    return (
        "USD per month for Lambda (requests + duration, arm64) / concurrent executions, both regions:\n\n"
        + report.table(("bank latency", "256 MB", "512 MB", "1024 MB"), rows)
    )


def _alternatives(model: Model) -> str:
    design = total(model.design())
    rest = model.api_gateway("rest")
    http = model.api_gateway("http")
    requests, duration = model.lambda_cost()
    x86 = sum(model.lambda_cost("x86_64"))
    on_demand = model.dynamodb_on_demand()
    provisioned = model.dynamodb_provisioned()
    tasks = model.tasks_per_region()
    fargate = model.fargate() + model.alb() + model.nat() + model.public_ipv4()
    fargate_x86 = model.fargate("x86_64") + model.alb() + model.nat() + model.public_ipv4()
    containers_total = total(model.container_design())
    rows = [
        ("API front door", f"REST API {usd(rest)}", f"HTTP API {usd(http)}", usd(http - rest), "HTTP API: no WAF"),
        (
            "Lambda",
            f"arm64 {usd(requests + duration)}",
            f"x86_64 {usd(x86)}",
            usd(x86 - requests - duration),
            "equal duration",
        ),
        (
            "DynamoDB",
            f"on-demand {usd(on_demand)}",
            f"provisioned {usd(provisioned)}",
            usd(provisioned - on_demand),
            "",
        ),
        (
            "X-Ray sampling",
            f"5% {usd(model.xray())}",
            f"1% {usd(model.xray(0.01))}",
            usd(model.xray(0.01) - model.xray()),
            "",
        ),
        (
            "Compute",
            f"API GW REST + Lambda {usd(rest + requests + duration)}",
            f"ALB + NAT + Fargate arm64 {usd(fargate)} ({tasks} tasks/region)",
            usd(fargate - rest - requests - duration),
            f"x86 Fargate {usd(fargate_x86)}",
        ),
        (
            "**Total**",
            f"design {usd(design)}",
            f"`compute: fargate` {usd(containers_total)}",
            usd(containers_total - design),
            "same table, WAF, DNS; below",
        ),
    ]
    return report.table(("part", "design", "alternative", "alternative minus design", "note"), rows)


def _containers(model: Model) -> str:
    lines = model.container_design()
    fargate_total, lambda_total = total(lines), total(model.design())
    even = model.break_even_rpm()
    p = model.p
    per_task = p.container_vcpu * p.container_target_utilization * 1000 / p.container_cpu_ms
    nat_vs_endpoints = model.interface_endpoints()
    rows = [
        (line.part, usd(line.monthly_usd), f"{line.monthly_usd / fargate_total:.0%}", line.detail) for line in lines
    ]
    rows.append(("**total**", f"**{usd(fargate_total)}**", "100%", f"`compute: lambda`: {usd(lambda_total)}"))
    sensitivity = []
    for cpu_ms in (1.25, 2.5, 5.0, 10.0):
        variant = model.with_params(container_cpu_ms=cpu_ms)
        sensitivity.append(
            (
                f"{cpu_ms:g} ms",
                variant.tasks_per_region(),
                usd(total(variant.container_design())),
                _rpm(variant.break_even_rpm()),
            )
        )
    return "\n\n".join(
        [
            f"Each region runs {model.tasks_per_region()} tasks ({p.container_vcpu:g} vCPU, {p.container_gb:g} GB, "
            f"arm64) at least: one task serves {per_task:.0f} requests/s at {p.container_target_utilization:.0%} CPU "
            "with "
            f"**{p.container_cpu_ms:g} ms of CPU per request** (`CONTAINER_CPU_MS_PER_REQUEST` in "
            "components/sizing.py, measured by `python -m bench --only compute`), so one region carries all "
            f"{p.requests_per_second:.0f} requests/s after a failover without waiting for a scale-out. The bank's wait "
            "holds a thread, not a CPU, so unlike Lambda it costs almost nothing.",
            report.table(("part", "USD/month", "share", "basis"), rows),
            f"Break-even: `compute: fargate` costs less above **{_rpm(even)}** (the fixed fleet: tasks kept for a "
            "failover, two load balancers, four NAT gateways), `compute: lambda` below. Interface endpoints for ECR, "
            "CloudWatch Logs and Secrets Manager instead of sending them through the NAT would add "
            f"{usd(nat_vs_endpoints)} a month (the NAT stays for the bank), so the stack uses the NAT.",
            "Sensitivity to the CPU per request:",
            report.table(("CPU per request", "tasks per region", "fargate total", "break-even"), sensitivity),
        ]
    )


def _rpm(rpm: float | None) -> str:
    return "never (within 10-1,000,000 requests/minute)" if rpm is None else f"{rpm:,.0f} requests/minute"


def _choices(model: Model) -> str:
    no_cache = model.with_params(authorizer_ttl_seconds=0)
    cache_saving = (sum(no_cache.lambda_cost()) + no_cache.dynamodb_on_demand()) - (
        sum(model.lambda_cost()) + model.dynamodb_on_demand()
    )
    x86 = sum(model.lambda_cost("x86_64")) - sum(model.lambda_cost())
    m256 = sum(model.with_params(memory_mb=256).lambda_cost())
    m1024 = sum(model.with_params(memory_mb=1024).lambda_cost())
    here = sum(model.lambda_cost())
    verbose = model.with_params(access_log_bytes=model.p.access_log_bytes + 3000)
    execution_logs = sum(verbose.logs()) - sum(model.logs())
    on_demand_premium = model.dynamodb_on_demand() - model.dynamodb_provisioned()
    rest_premium = model.api_gateway("rest") - model.api_gateway("http")
    rows = [
        ("arm64 functions (`ARCHITECTURE`)", usd(x86), "20% cheaper GB-second than x86_64 at equal duration"),
        (
            "Authorizer result cached 300 s (`AUTHORIZER_CACHE_SECONDS`)",
            usd(cache_saving),
            "without it every request also invokes the authorizer and reads its key",
        ),
        (
            "Stage logging ERROR only, no data trace",
            usd(execution_logs),
            "assumes ~3 KB of execution log per request at INFO (also keeps card data out of logs)",
        ),
        (
            "512 MB (vs 256 / 1024 MB)",
            f"{usd(m1024 - here)} vs 1024 MB",
            f"256 MB would save {usd(here - m256)} more but doubles cold-start CPU time",
        ),
        (
            "On-demand table (`PAY_PER_REQUEST`)",
            f"costs {usd(on_demand_premium)} more",
            "not a saving at steady load: bought for no capacity planning and instant failover headroom",
        ),
        (
            "REST API rather than HTTP API",
            f"costs {usd(rest_premium)} more",
            "not a saving: needed for WAF, per-client throttling and usage plans",
        ),
        ("Log retention 365 days (not forever)", "bounded storage", "PCI DSS 10.5.1 needs 12 months; more is cost"),
        ("Only free AWS managed WAF rule groups", "no per-request surcharge", "Bot Control would add $1/M requests"),
        ("No provisioned concurrency, no API cache", "their hourly price", "cold starts kept small instead"),
    ]
    return report.table(("choice", "saves per month", "why / caveat"), rows)


def _prices(prices: Prices) -> str:
    rows = []
    for name, (unit, note) in PRICE_NOTES.items():
        value = getattr(prices, name)
        if isinstance(value, dict) and all(isinstance(v, dict) for v in value.values()):
            shown = "; ".join(
                f"{region}: " + ", ".join(f"{k.removeprefix('fargate_arm64_')} {v:g}" for k, v in prices.items())
                for region, prices in value.items()
            )
        elif isinstance(value, dict):
            shown = " / ".join(f"{k} {v:g}" for k, v in value.items())
        elif isinstance(value, tuple):
            shown = ", ".join(
                f"{'rest' if math.isinf(size) else f'{size / 1e6:,.0f}M'} @ {price:g}" for size, price in value
            )
        else:
            shown = f"{value:g}"
        rows.append((name, shown, unit, note))
    return report.table(("price", "USD", "unit", "note"), rows)


# --- command line -------------------------------------------------------------------------------------------


def load_measured(path: Path, parameters: Parameters) -> Parameters:
    """CPU per call and log bytes from `bench/results/warm.json` (the boto3 phase)."""
    measured = json.loads(path.read_text())["boto3"]
    cpu = dict(parameters.cpu_ms)
    logs = dict(parameters.handler_log_bytes)
    for name, values in measured.items():
        key = "post" if name == "post" else name
        if key in cpu:
            cpu[key] = float(values["cpu_ms_median"])
            logs[key] = float(values["log_bytes_median"])
    cpu["health"] = cpu["get"]
    return dataclasses.replace(parameters, cpu_ms=cpu, handler_log_bytes=logs)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cost_model", description=__doc__.splitlines()[0])
    parser.add_argument("--rpm", type=float, default=10_000, help="requests per minute (default 10,000)")
    parser.add_argument("--regions", type=int, default=2)
    parser.add_argument("--memory-mb", type=int, default=512)
    parser.add_argument("--architecture", choices=("arm64", "x86_64"), default="arm64")
    parser.add_argument("--bank-ms", type=float, default=150.0)
    parser.add_argument("--dynamodb-ms", type=float, default=5.0)
    parser.add_argument("--active-keys", type=int, default=500)
    parser.add_argument("--measured", type=Path, help="bench/results/warm.json from `python -m bench --only warm`")
    parser.add_argument("--write", action="store_true", help="rewrite the figures in docs/cost.md")
    parser.add_argument("--output", type=Path, default=DEFAULT_DOC)
    args = parser.parse_args(argv)
    parameters = Parameters(
        requests_per_minute=args.rpm,
        regions=args.regions,
        memory_mb=args.memory_mb,
        architecture=args.architecture,
        bank_ms=args.bank_ms,
        dynamodb_call_ms=args.dynamodb_ms,
        active_api_keys=args.active_keys,
    )
    if args.measured:
        parameters = load_measured(args.measured, parameters)
    command = "python -m bench.cost_model " + shlex.join(list(argv) if argv is not None else sys.argv[1:])
    text = render(Model(parameters), command.strip())
    if args.write:
        report.write_sections(args.output, {"cost-model": text}, title="# Capacity and cost")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
