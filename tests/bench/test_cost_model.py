"""Arithmetic properties of the cost model, not its totals (prices and measurements change)."""

import dataclasses
import json
import shlex
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bench.cost.cli import load_measured
from bench.cost.items import item_bytes, sample_operation_item, sample_payment_item
from bench.cost.lifecycle import KINDS, Lifecycle
from bench.cost.model import Model, tiered, total, usd
from bench.cost.parameters import Parameters
from bench.cost.prices import HOURS_PER_MONTH, SECONDS_PER_MONTH, Prices
from bench.cost.render import render
from bench.cost.webhooks import Webhooks, sample_event_item
from handlers.domain.models import (
    IdempotencyClaim,
    IdempotencyKey,
    Operation,
    OperationKind,
    OperationStatus,
    PaymentOperation,
)
from handlers.domain.operations import OperationService
from handlers.domain.service import PaymentService
from tests.commands import payment_command
from tests.fakes import FakeClock, MemoryRepository, ScriptedBank
from tests.support import payment_body

# Every request priced per request: no health checks (a constant), authorizer on every request.
# Without the fixed background (health checks, the authorizer's cache, the resolver's schedule).
LINEAR = Parameters(
    health_checks_per_region=0, authorizer_ttl_seconds=0, requests_per_minute=1000, resolver_runs_per_minute=0
)


def doubled(parameters: Parameters) -> Parameters:
    return dataclasses.replace(parameters, requests_per_minute=parameters.requests_per_minute * 2)


def test_doubling_traffic_doubles_request_priced_items() -> None:
    one, two = Model(LINEAR), Model(doubled(LINEAR))
    assert sum(two.lambda_cost()) == pytest.approx(2 * sum(one.lambda_cost()))
    assert two.dynamodb_on_demand() == pytest.approx(2 * one.dynamodb_on_demand())
    assert two.api_gateway("rest") == pytest.approx(2 * one.api_gateway("rest"))  # within the first tier
    assert two.api_gateway("http") == pytest.approx(2 * one.api_gateway("http"))
    fixed = one.waf() - one.api_requests_per_month() / 1e6 * one.prices.waf_requests_per_million
    assert two.waf() - fixed == pytest.approx(2 * (one.waf() - fixed))
    assert sum(two.logs()) == pytest.approx(2 * sum(one.logs()))
    assert two.data_transfer() == pytest.approx(2 * one.data_transfer())
    assert sum(two.concurrency().values()) == pytest.approx(2 * sum(one.concurrency().values()))


def test_fixed_monthly_items_do_not_grow_with_traffic() -> None:
    one, two = Model(), Model(doubled(Parameters()))
    assert two.route53() == one.route53()
    assert two.resolver_lambda() == one.resolver_lambda() > 0
    assert two.resolver_reads_per_month() == one.resolver_reads_per_month() > 0
    assert two.kms() == one.kms()
    assert two.cloudwatch() == one.cloudwatch()


def test_tiered_prices_never_charge_more_per_request_at_higher_volume() -> None:
    tiers = Prices().apigw_rest_tiers
    small, large = tiered(100e6, tiers), tiered(2000e6, tiers)
    assert large / 2000 < small / 100
    assert tiered(333e6, tiers) == pytest.approx(333 * 3.50)


def test_arm64_is_cheaper_than_x86_for_equal_duration() -> None:
    model = Model()
    arm_requests, arm_duration = model.lambda_cost("arm64")
    x86_requests, x86_duration = model.lambda_cost("x86_64")
    assert arm_requests == x86_requests
    assert arm_duration < x86_duration
    assert arm_duration / x86_duration == pytest.approx(0.8, abs=0.001)


def test_littles_law_concurrency_scales_with_duration() -> None:
    fast, slow = Model(), Model(dataclasses.replace(Parameters(), bank_ms=300))
    assert slow.concurrency()["post"] > 1.8 * fast.concurrency()["post"]
    assert slow.concurrency()["get"] == fast.concurrency()["get"]


def test_less_memory_stretches_cpu_but_not_waits() -> None:
    small, large = Model(dataclasses.replace(Parameters(), memory_mb=256)), Model()
    assert small.duration_ms("get") > large.duration_ms("get")
    cpu_only = Parameters(bank_ms=0, dynamodb_call_ms=0, runtime_overhead_ms=0)
    assert Model(dataclasses.replace(cpu_only, memory_mb=256)).duration_ms("post") == pytest.approx(
        2 * Model(cpu_only).duration_ms("post")
    )
    at_full_cpu = Model(dataclasses.replace(cpu_only, memory_mb=4096))
    assert at_full_cpu.duration_ms("post") == pytest.approx(cpu_only.cpu_ms["post"])


def test_every_write_is_replicated_to_each_other_region() -> None:
    payments_only = dataclasses.replace(Parameters(), resolver_runs_per_minute=0)  # each region beats its own
    one = Model(dataclasses.replace(payments_only, regions=1)).units_per_month()
    two = Model(dataclasses.replace(payments_only, regions=2)).units_per_month()
    three = Model(dataclasses.replace(payments_only, regions=3)).units_per_month()
    assert one["rwru"] == 0
    assert three["rwru"] == pytest.approx(2 * two["rwru"])
    assert one["wru"] == two["wru"] == three["wru"]


def test_a_payment_writes_ahead_and_then_its_status_with_the_index_and_a_key_adds_the_claim() -> None:
    model = Model()
    posts = model.route_rps("post") * SECONDS_PER_MONTH
    with_key = model.units_per_month()["wru"]
    without = Model(dataclasses.replace(Parameters(), post_with_key_share=0)).units_per_month()["wru"]
    heartbeats = model.resolver_runs_per_month()
    assert without - heartbeats == pytest.approx(posts * 4)  # write-ahead + status, index in + out
    assert with_key - without == pytest.approx(posts)  # the claim


def test_the_authorizer_cache_bounds_authorizer_invocations() -> None:
    cached, uncached = Model(), Model(dataclasses.replace(Parameters(), authorizer_ttl_seconds=0))
    assert cached.authorizer_rps() == Model(doubled(Parameters())).authorizer_rps()  # keys, not traffic
    assert uncached.authorizer_rps() == Parameters().requests_per_second


def test_provisioned_beats_on_demand_at_steady_load_and_idle_both_cost_little() -> None:
    busy = Model()
    idle = Model(dataclasses.replace(Parameters(), requests_per_minute=10, health_checks_per_region=0))
    assert busy.dynamodb_provisioned() < busy.dynamodb_on_demand()
    # Idle, the resolver's own Queries (25 a minute per region) are most of what on-demand bills.
    assert idle.dynamodb_on_demand() < 3 and idle.dynamodb_provisioned() < 3


def test_items_fit_one_write_unit_and_sizes_follow_the_code() -> None:
    payment = sample_payment_item()
    assert 200 < item_bytes(payment) <= 1024
    assert Model().write_units(payment) == 1
    assert item_bytes({"a": "xyz"}) == 4
    assert item_bytes({"n": 1050}) == 1 + 3


def test_the_design_lines_add_up_and_render() -> None:
    model = Model()
    lines = model.design()
    assert total(lines) == pytest.approx(sum(line.monthly_usd for line in lines))
    assert all(line.monthly_usd >= 0 for line in lines)
    text = render(model, "python -m bench.cost")
    assert "### Unit prices used" in text and "Little's law" in text


def test_the_command_prints_the_figures_and_writes_them_into_the_docs_section(tmp_path: Path) -> None:
    """`python -m bench.cost`, as docs/cost.md runs it: the hand-written text around the section stays."""
    doc = tmp_path / "cost.md"
    doc.write_text("# Capacity and cost\n\nBy hand.\n\n<!-- bench:cost-model -->\nold\n<!-- /bench:cost-model -->\n")
    argv = ["--rpm", "20000", "--write", "--output", str(doc)]

    run = subprocess.run([sys.executable, "-m", "bench.cost", *argv], capture_output=True, text=True, check=True)

    figures = render(Model(Parameters(requests_per_minute=20000)), f"python -m bench.cost {shlex.join(argv)}")
    assert run.stdout == figures + "\n"
    assert doc.read_text() == (
        f"# Capacity and cost\n\nBy hand.\n\n<!-- bench:cost-model -->\n{figures}\n<!-- /bench:cost-model -->\n"
    )


def test_measured_cpu_and_log_bytes_are_read_from_the_bench_results(tmp_path: Path) -> None:
    path = tmp_path / "warm.json"
    routes = {"cpu_ms_median": 2.0, "log_bytes_median": 123}
    path.write_text(json.dumps({"boto3": {name: routes for name in ("post", "get", "list", "authorizer")}}))
    parameters = load_measured(path, Parameters())
    assert parameters.cpu_ms["post"] == 2.0 and parameters.cpu_ms["health"] == 2.0
    assert parameters.handler_log_bytes["list"] == 123


def test_the_modelled_limits_are_the_stacks_defaults() -> None:
    """docs/cost.md's limits section is computed from these: they must follow components/config.py."""
    from components.config import StackConfig  # noqa: PLC0415  (pulumi: only this test needs it)

    defaults = {f.name: f.default for f in dataclasses.fields(StackConfig)}
    parameters = Parameters()
    assert parameters.stage_method_rate_limit == defaults["throttle_rate_limit"]
    assert parameters.waf_rate_limit_per_5_minutes == defaults["waf_rate_limit"]


def test_the_resolvers_reads_follow_the_pending_index_shards() -> None:
    from handlers.contract import schema  # noqa: PLC0415

    assert Parameters().pending_shards == schema.PENDING_SHARDS
    model = Model()
    runs = model.resolver_runs_per_month()
    assert runs == pytest.approx(60 * 24 * 30 * 2)  # every minute, in each of the two regions
    assert model.resolver_reads_per_month() == pytest.approx(runs * (3 * schema.PENDING_SHARDS + 1) * 0.5)


def test_the_container_option_is_sized_as_the_stack_is() -> None:
    from components import sizing  # noqa: PLC0415

    model = Model()
    assert model.p.container_cpu_ms == sizing.CONTAINER_CPU_MS_PER_REQUEST
    assert model.tasks_per_region() == sizing.DEFAULT_MIN_TASKS  # one region carries all the traffic
    busy = Model(dataclasses.replace(Parameters(), requests_per_minute=100_000))
    assert busy.tasks_per_region() == sizing.tasks_for(100_000 / 60)


def test_the_container_options_fixed_fleet_does_not_grow_with_traffic() -> None:
    quiet = Model(dataclasses.replace(Parameters(), requests_per_minute=100))
    light = Model(dataclasses.replace(Parameters(), requests_per_minute=1_000))
    assert quiet.fargate() == light.fargate()  # the minimum fleet, kept for a failover
    assert quiet.tasks_per_region() == light.tasks_per_region() < Model().tasks_per_region()
    assert quiet.nat() > 0 and quiet.alb() > 0
    hours = quiet.p.nat_gateways_per_region * quiet.per_region("nat_hour") * HOURS_PER_MONTH
    assert quiet.nat() == pytest.approx(hours, rel=0.01)


def test_the_break_even_is_where_the_two_totals_meet() -> None:
    model = Model()
    rpm = model.break_even_rpm()
    assert rpm is not None and 10 < rpm < model.p.requests_per_minute
    at = model.with_params(requests_per_minute=rpm)
    assert total(at.design()) == pytest.approx(total(at.container_design()), rel=1e-3)
    below = model.with_params(requests_per_minute=rpm / 2)
    assert total(below.design()) < total(below.container_design())


def test_interface_endpoints_cost_more_than_the_nat_at_the_design_load() -> None:
    assert Model().interface_endpoints() > 0


def test_the_container_option_pays_for_its_public_ipv4_addresses_whatever_the_traffic() -> None:
    """$0.005 an hour per address since February 2024: each NAT gateway's Elastic IP and the ALB's
    addresses (one per zone at least), in each region."""
    quiet = Model(dataclasses.replace(Parameters(), requests_per_minute=100))
    assert quiet.public_ipv4_addresses() == quiet.p.nat_gateways_per_region + 2 == 4
    hourly = quiet.p.regions * 4 * quiet.prices.public_ipv4_hour
    assert quiet.public_ipv4() == pytest.approx(hourly * HOURS_PER_MONTH)
    assert quiet.public_ipv4() == Model().public_ipv4() > 0
    lines = {line.part: line.monthly_usd for line in quiet.container_design()}
    assert lines["Public IPv4 addresses"] == quiet.public_ipv4()


# --- the payment lifecycle (bench/cost/lifecycle.py) ----------------------------------------------


class CountingRepository(MemoryRepository):
    """The in-memory table, counting the DynamoDB calls the adapter makes for each port method."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    def claim(self, claim: IdempotencyClaim, now: float) -> IdempotencyClaim | None:
        self.calls["PutItem claim"] += 1
        return super().claim(claim, now)

    def save_pending_operation(self, operation: Operation) -> None:
        self.calls["PutItem operation"] += 1
        super().save_pending_operation(operation)

    def transition_operation(self, operation: Operation, previous: OperationStatus, **kwargs: Any) -> None:
        self.calls["PutItem operation"] += 1  # with its event (a transaction): counted in bench/cost/webhooks.py
        super().transition_operation(operation, previous, **kwargs)

    def get_payment_with_operations(self, merchant_id: str, payment_id: str) -> Any:
        self.calls["Query"] += 1
        return super().get_payment_with_operations(merchant_id, payment_id)


def _run_operation(kind: OperationKind, key: str | None) -> Counter[str]:
    """One capture or refund through the domain service; the DynamoDB calls it made."""
    repo, bank, clock = CountingRepository(), ScriptedBank(), FakeClock()
    payments = PaymentService(payments=repo, bank=bank, region="eu-west-1", fingerprint_key=b"k", clock=clock)
    operations = OperationService(
        payments=repo, operations=repo, bank=bank, region="eu-west-1", fingerprint_key=b"k", clock=clock
    )
    method = "manual" if kind is OperationKind.CAPTURE else "automatic"
    payment = payments.create_payment(payment_command("mer_a", payment_body(capture_method=method), None)).payment
    repo.calls.clear()
    idempotency = None if key is None else IdempotencyKey(key, "{}")
    result = operations.run(PaymentOperation("mer_a", payment.id, kind, None, None, idempotency))
    assert result.operation.status is OperationStatus.SUCCEEDED
    return repo.calls


@pytest.mark.parametrize("kind", [OperationKind.CAPTURE, OperationKind.REFUND])
def test_the_writes_and_reads_per_operation_are_the_services(kind: OperationKind) -> None:
    life = Lifecycle(Model())
    keyed, bare = _run_operation(kind, "key-1"), _run_operation(kind, None)
    assert keyed["PutItem claim"] + keyed["PutItem operation"] == life.operation_writes(True).table == 3
    assert bare["PutItem claim"] + bare["PutItem operation"] == life.operation_writes(False).table == 2
    # A capture's (or void's) event reports the payment as it is with it: one more Query, counted by
    # bench/cost/webhooks.py (Webhooks.event_reads_per_month); a refund's event is the refund itself.
    event_read = Webhooks(Model()).event_reads_per_operation(kind.value)
    assert keyed["Query"] == bare["Query"] == life.read_units("refund") + event_read
    assert life.read_units("refund") == 1 and event_read == (kind is OperationKind.CAPTURE)  # under 4 KB: 1 RRU
    slower = Lifecycle(Model(dataclasses.replace(Parameters(), dynamodb_call_ms=Parameters().dynamodb_call_ms + 1)))
    assert slower.duration_ms("refund") - life.duration_ms("refund") == pytest.approx(sum(keyed.values()) - event_read)


def test_a_keyed_operation_is_11_write_units_in_two_regions_and_17_in_three() -> None:
    two, three = Lifecycle(Model()), Lifecycle(Model(dataclasses.replace(Parameters(), regions=3)))
    keyed = two.operation_writes(True)
    assert (keyed.table, keyed.index, keyed.replicated) == (3, 2, 6)  # + the claim's replicated TTL deletion
    assert keyed.total(2) == 11 and three.operation_writes(True).total(3) == 17
    assert two.operation_writes(False).total(2) == 8
    assert two.writes("list refunds").total(2) == 0
    # A capture or void also ends a manual authorization: its EXPIRY# entry and its owner's final write.
    assert two.writes("capture").total(2) == 11 + two.manual_payment_writes().total(2) == 17


def test_refunds_follow_their_share_and_captures_the_manual_share() -> None:
    base = Parameters(refund_share=0.1, manual_capture_share=0.2, void_share_of_manual=0.05)
    life = Lifecycle(Model(base))
    rates = life.rates()
    assert rates["refund"] == pytest.approx(0.1 * Model(base).route_rps("post")) == pytest.approx(10.0)
    assert rates["capture"] + rates["void"] == pytest.approx(20.0) and rates["void"] == pytest.approx(1.0)
    twice = Lifecycle(Model(dataclasses.replace(base, refund_share=0.2)))
    assert twice.units_per_month("refund")["wru"] == pytest.approx(2 * life.units_per_month("refund")["wru"])
    assert twice.lines("refund")["DynamoDB writes"] == pytest.approx(2 * life.lines("refund")["DynamoDB writes"])
    automatic_only = Lifecycle(Model(dataclasses.replace(base, manual_capture_share=0.0)))
    assert sum(automatic_only.lines("capture").values()) == 0 == automatic_only.rates()["void"]


def test_operation_writes_are_replicated_to_each_other_region() -> None:
    one = Lifecycle(Model(dataclasses.replace(Parameters(), regions=1)))
    two = Lifecycle(Model())
    assert one.units_per_month("refund")["rwru"] == 0
    refunds = two.rates()["refund"] * SECONDS_PER_MONTH
    local, replicated = (two.units_per_month("refund")[unit] / refunds for unit in ("wru", "rwru"))
    assert (local, replicated) == (pytest.approx(5), pytest.approx(6))  # and the claim's TTL deletion


def test_the_operation_item_fits_one_write_unit() -> None:
    assert item_bytes(sample_operation_item()) < 1024


def test_the_lifecycle_section_renders_with_its_total() -> None:
    model = Model()
    text = render(model, "python -m bench.cost")
    life = Lifecycle(model)
    assert "### The payment lifecycle: captures, voids and refunds" in text
    assert f"The lifecycle adds **{usd(life.total())} a month**" in text
    assert life.total() == pytest.approx(
        sum(sum(life.lines(kind).values()) for kind in KINDS) + life.monitoring() + life.resolver_usd()
    )
    assert 0 < life.container_total() < life.total()  # no API Gateway or Lambda


# --- webhooks (bench/cost/webhooks.py) ------------------------------------------------------------


def test_events_are_one_per_final_status_change() -> None:
    base = Parameters(manual_capture_share=0.2, refund_share=0.1)
    hooks = Webhooks(Model(base))
    payments = Model(base).route_rps("post")
    assert hooks.events_per_second() == pytest.approx(payments * (1 + 0.2 + 0.1))
    none = Webhooks(Model(dataclasses.replace(base, manual_capture_share=0.0, refund_share=0.0)))
    assert none.events_per_second() == pytest.approx(payments)  # automatic payments: one event each


def test_a_transaction_costs_twice_the_units_of_its_two_items() -> None:
    hooks = Webhooks(Model())
    assert item_bytes(sample_event_item()) < 1024  # 1 unit; 2 in a transaction
    assert hooks.transaction_units() == (4.0, 1.0)
    local, replicated = hooks.write_units_per_event()
    one_region = Webhooks(Model(dataclasses.replace(Parameters(), regions=1)))
    assert local == one_region.write_units_per_event()[0] and replicated > 0
    lines = one_region.lines()
    assert lines["DynamoDB writes (transactions, the sender)"] == pytest.approx(
        one_region.events_per_month() * local / 1e6 * one_region.model.prices.dynamodb_wru_per_million
    )


def test_the_cost_grows_with_the_events_and_the_sender_must_deliver_in_parallel() -> None:
    hooks = Webhooks(Model())
    more = Webhooks(Model(dataclasses.replace(Parameters(), refund_share=0.5)))
    assert more.total() > hooks.total() > 0
    assert hooks.events_per_run() * hooks.load.receiver_ms / 1000 > 60  # one at a time overruns the timeout
    assert hooks.parallel_deliveries() * 30 >= hooks.events_per_run() * hooks.load.receiver_ms / 1000
    assert "### Webhooks" in render(Model(), "python -m bench.cost")
