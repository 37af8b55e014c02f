"""What the cost model is computed from: traffic, the handlers' measured CPU and logs, the stack's settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.cost.prices import SECONDS_PER_MONTH
from components import sizing

ROUTES = ("post", "get", "list")


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
    # The payment lifecycle (bench/cost/lifecycle.py), on top of the mix above: a share of the payments
    # is authorized with capture_method manual and captured (or voided) later; a share is refunded.
    manual_capture_share: float = 0.2  # assumed: automatic is the default; marketplaces, travel, ship-then-charge
    void_share_of_manual: float = 0.05  # manual authorizations voided instead of captured
    refund_share: float = 0.1  # payments refunded once (issue 17's assumption)
    operation_with_key_share: float = 1.0  # captures, voids and refunds sent with an Idempotency-Key
    refund_lists_per_refund: float = 1.0  # GET /v1/payments/{id}/refunds per refund made
    lifecycle_alarms_per_region: int = 17  # 4 per new function (errors, throttles, p99, 5xx) + operation-not-stored
    # Responses by FunctionName (+ StatusClass) of 4 functions (16); Captures, Voids, Refunds by 4 Outcomes
    # (12); Expiries; OperationNotStored.
    lifecycle_metrics_per_region: int = 30
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
    container_secrets_per_region: int = 3  # FINGERPRINT_KEY, BANK_URL, CURSOR_KEY

    @property
    def requests_per_second(self) -> float:
        return self.requests_per_minute / 60

    @property
    def requests_per_month(self) -> float:
        return self.requests_per_second * SECONDS_PER_MONTH

    def share(self, route: str) -> float:
        return dict(self.mix).get(route, 0.0)
