"""What the payment lifecycle (capture, void, refunds, expiry) adds to the design, per operation and a month.

Counted from handlers/domain/operations.py and handlers/adapters/dynamo_operations.py:
- a capture, void or refund with an Idempotency-Key writes 3 items: the key's claim (conditional
  PutItem), the operation `pending` before the bank is called (write-ahead), then its final status;
  without a key, the last two. The pending operation enters the sparse pending index (its
  OPERATION# partition) and leaves it when settled: 2 index writes. Each table and index write is
  replicated to every other region, and so is the claim's TTL deletion 24 h later;
- it reads the payment with its operations twice (one strongly consistent Query before, one after
  for the answer); GetItem only on replays and lost write answers (not counted, as for payments);
- listing refunds is one Query;
- a manual authorization is indexed under EXPIRY# until its owner's resolver records what happened
  to it at its expiry (the capture or void, folded from its operations, or the expiry itself): its
  index key changes at authorization (2 index writes where an automatic payment has 1), and then
  the payment is written once more (1 table write + 1 index write), after one Query.
The payment item is never written by a capture, void or refund request: only by its owner's resolver.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.cost.items import item_bytes, sample_claim_item, sample_operation_item, sample_payment_item
from bench.cost.model import Model, tiered
from bench.cost.prices import GB, MILLION, SECONDS_PER_MONTH

KINDS = ("capture", "void", "refund", "list refunds")


@dataclass(frozen=True)
class Writes:
    """DynamoDB write units of one operation: in the region that takes it, and in each other region."""

    table: float
    index: float
    replicated: float  # per other region: its table and index writes, and the claim's TTL deletion

    def total(self, regions: int) -> float:
        return self.table + self.index + self.replicated * (regions - 1)


@dataclass(frozen=True)
class Lifecycle:
    model: Model

    # --- traffic -------------------------------------------------------------------------------
    def payments_rps(self) -> float:
        return self.model.route_rps("post")

    def rates(self) -> dict[str, float]:
        """Requests per second across the regions, by kind."""
        p, payments = self.model.p, self.payments_rps()
        manual = payments * p.manual_capture_share
        refunds = payments * p.refund_share
        return {
            "capture": manual * (1 - p.void_share_of_manual),
            "void": manual * p.void_share_of_manual,
            "refund": refunds,
            "list refunds": refunds * p.refund_lists_per_refund,
        }

    # --- DynamoDB ------------------------------------------------------------------------------
    def operation_writes(self, with_key: bool = True) -> Writes:
        operation = self.model.write_units(sample_operation_item())
        claim = self.model.write_units(sample_claim_item()) if with_key else 0
        table = claim + 2 * operation  # the claim, the operation pending, then final
        index = 2 * operation  # into the OPERATION# partition, then out
        return Writes(table=table, index=index, replicated=table + index + claim)

    def manual_payment_writes(self) -> Writes:
        """What a manual authorization writes beyond an automatic payment: its EXPIRY# index entry
        (a key change: out of PENDING#, into EXPIRY#), then its owner's resolver's final write."""
        payment = self.model.write_units(sample_payment_item())
        return Writes(table=payment, index=2 * payment, replicated=3 * payment)

    def writes(self, kind: str) -> Writes:
        if kind == "list refunds":
            return Writes(0, 0, 0)
        share = self.model.p.operation_with_key_share
        keyed, bare = self.operation_writes(True), self.operation_writes(False)
        mixed = Writes(*(share * a + (1 - share) * b for a, b in zip(_fields(keyed), _fields(bare), strict=True)))
        if kind == "capture" or kind == "void":  # each ends a manual authorization: its own writes too
            extra = self.manual_payment_writes()
            return Writes(*(a + b for a, b in zip(_fields(mixed), _fields(extra), strict=True)))
        return mixed

    def read_units(self, kind: str) -> float:
        """Strongly consistent Queries of a payment with its operations: 1 RRU per 4 KB."""
        page = item_bytes(sample_payment_item()) + 2 * item_bytes(sample_operation_item())
        query = float(math.ceil(page / 4096))
        if kind == "list refunds":
            return query
        expiry = query if kind in ("capture", "void") else 0.0  # the resolver's Query at the expiry
        return query + expiry  # the request reads once and answers from that read

    def units_per_month(self, kind: str) -> dict[str, float]:
        count = self.rates()[kind] * SECONDS_PER_MONTH
        writes, regions = self.writes(kind), self.model.p.regions
        return {
            "wru": count * (writes.table + writes.index),
            "rwru": count * writes.replicated * (regions - 1),
            "rru": count * self.read_units(kind),
        }

    def resolver_reads_per_month(self) -> float:
        """The resolver's extra index Queries each run: due operations, their count and age, due expiries."""
        model = self.model
        return model.resolver_runs_per_month() * model.p.pending_shards * 3 * 0.5

    # --- Lambda --------------------------------------------------------------------------------
    def duration_ms(self, kind: str) -> float:
        """Own CPU as a payment's (key hashing) or a GET's; the DynamoDB calls (1 Query, the operation
        twice, the claim with a key); the bank."""
        model, p = self.model, self.model.p
        if kind == "list refunds":
            cpu, calls, bank = p.cpu_ms["get"], 1.0, 0.0
        else:
            cpu, calls, bank = p.cpu_ms["post"], 3.0 + p.operation_with_key_share, p.bank_ms
        speed = p.cpu_speed[p.architecture] / model.cpu_share()
        return cpu * speed + calls * p.dynamodb_call_ms + bank + p.runtime_overhead_ms

    def concurrency(self) -> float:
        return sum(rate * self.duration_ms(kind) / 1000 for kind, rate in self.rates().items())

    # --- monthly cost, by kind -------------------------------------------------------------------
    def lines(self, kind: str) -> dict[str, float]:
        """USD per month of one kind, part by part (the REST API at the tier the design leaves off)."""
        p, pr = self.model.p, self.model.prices
        requests = self.rates()[kind] * SECONDS_PER_MONTH
        units = self.units_per_month(kind)
        billed = math.ceil(self.duration_ms(kind))
        handler = p.handler_log_bytes["post" if kind != "list refunds" else "get"]
        per_call = handler + p.platform_log_bytes + p.access_log_bytes + 5 * p.log_event_overhead_bytes
        logs_gb = requests * per_call / GB
        stored_items = requests * (kind != "list refunds") * p.months_of_payments_stored
        storage_gb = stored_items * item_bytes(sample_operation_item()) / GB * p.regions
        replicated_gb = units["rwru"] * item_bytes(sample_operation_item()) / GB
        return {
            "API Gateway REST": self._api_gateway_share(requests),
            "WAF": requests / MILLION * pr.waf_requests_per_million,
            "Lambda": requests / MILLION * pr.lambda_request_per_million
            + requests * billed / 1000 * p.memory_mb / 1024 * pr.lambda_gb_second[p.architecture],
            "DynamoDB writes": units["wru"] / MILLION * pr.dynamodb_wru_per_million
            + units["rwru"] / MILLION * pr.dynamodb_rwru_per_million,
            "DynamoDB reads": units["rru"] / MILLION * pr.dynamodb_rru_per_million,
            "DynamoDB storage + PITR": storage_gb * (pr.dynamodb_storage_gb_month + pr.dynamodb_pitr_gb_month),
            "CloudWatch Logs": logs_gb * pr.logs_ingest_gb
            + logs_gb * p.log_compression * p.log_retention_months * pr.logs_storage_gb_month,
            "X-Ray": requests * p.xray_rate / MILLION * pr.xray_traces_per_million,
            "Data transfer": requests * p.response_bytes / GB * pr.transfer_out_gb
            + replicated_gb * pr.transfer_inter_region_gb,
        }

    def _api_gateway_share(self, requests: float) -> float:
        """The kind's share of what all the lifecycle's requests add to the REST API's tiered bill."""
        model = self.model
        base = model.api_requests_per_month() / model.p.regions
        added = sum(self.rates().values()) * SECONDS_PER_MONTH
        tiers = model.prices.apigw_rest_tiers
        extra = (tiered(base + added / model.p.regions, tiers) - tiered(base, tiers)) * model.p.regions
        return extra * requests / added if added else 0.0

    def monitoring(self) -> float:
        p, pr = self.model.p, self.model.prices
        return p.regions * (
            p.lifecycle_alarms_per_region * pr.cloudwatch_alarm_month
            + p.lifecycle_metrics_per_region * pr.cloudwatch_metric_month
        )

    def total(self) -> float:
        return sum(sum(self.lines(kind).values()) for kind in KINDS) + self.monitoring() + self.resolver_usd()

    def container_total(self) -> float:
        """The same with `compute: fargate`: no API Gateway, Lambda or X-Ray, the handlers' own log lines
        only, each bank call through the NAT, and the tasks the added traffic needs after a failover."""
        model, p, pr = self.model, self.model.p, self.model.prices
        shared = ("WAF", "DynamoDB writes", "DynamoDB reads", "DynamoDB storage + PITR", "Data transfer")
        kept = sum(self.lines(kind)[part] for kind in KINDS for part in shared)
        logs_gb, bank_gb = 0.0, 0.0
        for kind, rate in self.rates().items():
            requests = rate * SECONDS_PER_MONTH
            handler = p.handler_log_bytes["post" if kind != "list refunds" else "get"]
            logs_gb += requests * (handler + p.log_event_overhead_bytes) / GB
            bank_gb += requests * p.bank_call_bytes / GB * (kind != "list refunds")
        logs = logs_gb * (pr.logs_ingest_gb + p.log_compression * p.log_retention_months * pr.logs_storage_gb_month)
        nat = bank_gb * model.per_region("nat_gb") / p.regions
        return kept + logs + nat + self.extra_tasks_usd() + self.monitoring() + self.resolver_usd()

    def tasks_with_lifecycle(self) -> int:
        added_rpm = sum(self.rates().values()) * 60
        return self.model.with_params(
            requests_per_minute=self.model.p.requests_per_minute + added_rpm
        ).tasks_per_region()

    def extra_tasks_usd(self) -> float:
        added_rpm = sum(self.rates().values()) * 60
        model = self.model
        return (
            model.with_params(requests_per_minute=model.p.requests_per_minute + added_rpm).fargate() - model.fargate()
        )

    def resolver_usd(self) -> float:
        return self.resolver_reads_per_month() / MILLION * self.model.prices.dynamodb_rru_per_million


def _fields(writes: Writes) -> tuple[float, float, float]:
    return writes.table, writes.index, writes.replicated
