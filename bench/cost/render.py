"""docs/cost.md's figures as markdown: the design, its limits, the alternatives and the prices used."""

from __future__ import annotations

import math

from bench import report
from bench.cost.items import item_bytes, sample_claim_item, sample_payment_item
from bench.cost.lifecycle_render import render_lifecycle
from bench.cost.model import Model, total, usd
from bench.cost.prices import MILLION, PRICE_NOTES, PRICES_AS_OF, SECONDS_PER_MONTH, Prices
from bench.cost.webhooks import render_webhooks


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
        "### The payment lifecycle: captures, voids and refunds",
        render_lifecycle(model),
        "### Webhooks: events, their transactions and the sender",
        render_webhooks(model),
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
