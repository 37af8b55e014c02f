"""docs/cost.md's section on the payment lifecycle: writes per operation, traffic, and the month's cost by kind."""

from __future__ import annotations

from bench import report
from bench.cost.items import item_bytes, sample_operation_item, sample_payment_item
from bench.cost.lifecycle import KINDS, Lifecycle, Writes
from bench.cost.model import Model, total, usd
from bench.cost.prices import SECONDS_PER_MONTH


def render_lifecycle(model: Model) -> str:
    life, p = Lifecycle(model), model.p
    rates = life.rates()
    design = total(model.design())
    added = life.total()
    per_million = {kind: sum(life.lines(kind).values()) / (rates[kind] * SECONDS_PER_MONTH / 1e6) for kind in KINDS}
    parts: dict[str, float] = {}
    for kind in KINDS:
        for part, value in life.lines(kind).items():
            parts[part] = parts.get(part, 0.0) + value
    largest = sorted(parts, key=parts.__getitem__, reverse=True)[:2]
    return "\n\n".join(
        [
            f"Assumed on top of the design's mix: {p.manual_capture_share:.0%} of payments authorized with "
            f"`capture_method: manual` (automatic is the default, as at Stripe, Adyen and Checkout.com; manual "
            f"suits marketplaces, travel and ship-then-charge merchants), {p.void_share_of_manual:.0%} of those "
            f"voided and the rest captured; {p.refund_share:.0%} of payments refunded once, and their refunds "
            f"listed {p.refund_lists_per_refund:g} time(s) each; {p.operation_with_key_share:.0%} of captures, "
            "voids and refunds with an Idempotency-Key. An automatic payment costs what it did: one bank message "
            "authorizes and captures. An operation item is "
            f"{item_bytes(sample_operation_item())} B (a pending refund with its reason): 1 write unit.",
            _writes(life, p.regions),
            _traffic(life),
            _costs(life),
            f"The lifecycle adds **{usd(added)} a month** to the design's {usd(design)} ({added / design:.0%}): "
            f"{usd(per_million['refund'])} per million refunds, {usd(per_million['capture'])} per million captures "
            f"(with the manual authorization's own index and final writes), {usd(per_million['void'])} per million "
            f"voids. The largest parts are {largest[0]} ({usd(parts[largest[0]])}) and {largest[1]} "
            f"({usd(parts[largest[1]])}): every operation is written twice (write-ahead, then its answer) beside "
            "its key's claim, passes through the pending index, and is replicated, and operations are kept with "
            f"their payments ({p.months_of_payments_stored} months here). With `compute: fargate` there is no API "
            f"Gateway, Lambda or X-Ray line: the lifecycle adds about {usd(life.container_total())}, of which "
            f"{usd(life.extra_tasks_usd())} for the tasks the failover sizing needs for {sum(rates.values()):.0f} "
            f"more requests/s ({model.tasks_per_region()} a region before, {life.tasks_with_lifecycle()} with them).",
        ]
    )


def _writes(life: Lifecycle, regions: int) -> str:
    def row(what: str, writes: Writes, reads: str) -> tuple[str, ...]:
        return (
            what,
            f"{writes.table:g}",
            f"{writes.index:g}",
            f"{writes.replicated:g}",
            f"**{writes.total(regions):g}**",
            reads,
        )

    payment = life.model.write_units(sample_payment_item())
    expiry_reads = life.read_units("capture") - life.read_units("refund")
    keyed, bare = life.operation_writes(True), life.operation_writes(False)
    automatic = Writes(table=3 * payment, index=2 * payment, replicated=6 * payment)
    return report.table(
        (
            "operation",
            "table writes",
            "index writes",
            "replicated writes, per other region",
            f"write units in {regions} regions",
            "reads (RRU)",
        ),
        [
            row("payment, automatic capture, with a key (for comparison)", automatic, "0 (replays only)"),
            row(
                "a manual authorization, beyond that (EXPIRY# entry, the owner's final write)",
                life.manual_payment_writes(),
                f"{expiry_reads:g} (at expiry)",
            ),
            row("capture, void or refund, with an Idempotency-Key", keyed, f"{life.read_units('refund'):g}"),
            row("capture, void or refund, without one", bare, f"{life.read_units('refund'):g}"),
            row("list refunds", Writes(0, 0, 0), f"{life.read_units('list refunds'):g}"),
        ],
    )


def _traffic(life: Lifecycle) -> str:
    rows = [
        (kind, f"{rate:.1f}/s", f"{rate * SECONDS_PER_MONTH / 1e6:.1f}M", f"{life.duration_ms(kind):.1f} ms")
        for kind, rate in life.rates().items()
    ]
    return "\n\n".join(
        [
            report.table(("request", "rate (both regions)", "per month", "Lambda duration"), rows),
            f"Concurrency: {life.concurrency():.1f} more executions in all (the bank's wait, as for payments).",
        ]
    )


def _costs(life: Lifecycle) -> str:
    by_kind = {kind: life.lines(kind) for kind in KINDS}
    parts = list(by_kind["refund"])
    rows = [
        (part, *(usd(by_kind[kind][part]) for kind in KINDS), usd(sum(by_kind[kind][part] for kind in KINDS)))
        for part in parts
    ]
    rows.append(("alarms + metrics (4 functions, operation-not-stored)", "", "", "", "", usd(life.monitoring())))
    rows.append(("the resolver's Queries of OPERATION# and EXPIRY#", "", "", "", "", usd(life.resolver_usd())))
    rows.append(
        (
            "**total**",
            *(f"**{usd(sum(by_kind[kind].values()))}**" for kind in KINDS),
            f"**{usd(life.total())}**",
        )
    )
    return report.table(("part (USD/month)", *KINDS, "all"), rows)
