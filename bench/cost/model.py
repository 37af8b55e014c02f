"""Capacity and monthly cost, part by part, of both compute options from Parameters and Prices."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.cost.items import item_bytes, sample_claim_item, sample_payment_item
from bench.cost.parameters import ROUTES, Parameters
from bench.cost.prices import GB, HOURS_PER_MONTH, MILLION, SECONDS_PER_MONTH, Prices


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
                "FINGERPRINT_KEY, BANK_URL, CURSOR_KEY",
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


def usd(value: float) -> str:
    sign = "-" if value < 0 else ""
    amount = abs(value)
    return f"{sign}${amount:,.0f}" if amount >= 10 else f"{sign}${amount:,.2f}"
