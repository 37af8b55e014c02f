"""The region's live numbers: the rolling window, the EMF tee on stdout, and `/_local/stats`."""

from __future__ import annotations

import http.client
import io
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from handlers.entrypoints.observability import emit_metric, log_context
from local_gateway.gateway import Gateway
from local_gateway.live_stats import STATS_PATH, MetricsTee, RegionStatsApp, RollingStats, percentiles, tee_stdout
from local_gateway.supervisor import Supervisor
from local_gateway.topology import local_environment
from proxy_gateway.messages import HttpRequest, HttpResponse
from tests.local import fake_handlers
from tests.local.conftest import FakeClock

PROBE_AGENT = "Amazon-Route53-Health-Check-Service (test)"


@pytest.fixture
def stats(clock: FakeClock) -> RollingStats:
    return RollingStats(clock)


def test_counts_cover_the_last_minute_only(stats: RollingStats, clock: FakeClock) -> None:
    stats.count("requests", "200")
    clock.advance(30)
    stats.count("requests", "200")
    stats.count("requests", "503", 2)
    assert stats.snapshot()["counts"] == {"requests": {"200": 2, "503": 2}}

    clock.advance(31)  # the first second has left the window

    assert stats.snapshot()["counts"] == {"requests": {"200": 1, "503": 2}}
    clock.advance(60)
    assert stats.snapshot()["counts"] == {}


def test_a_long_run_keeps_one_minute_whatever_the_traffic(stats: RollingStats, clock: FakeClock) -> None:
    for _ in range(600):  # ten minutes, a request every second
        stats.count("requests", "200")
        stats.observe("request", 5.0)
        clock.advance(1)

    snapshot = stats.snapshot()

    assert snapshot["counts"]["requests"]["200"] == 59  # the current second has none yet
    assert snapshot["latency_ms"]["request"]["count"] == 59
    assert len(snapshot["per_second"]["counts"]["requests"]) == 60


def test_percentiles_are_within_a_few_percent() -> None:
    stats = RollingStats(FakeClock())
    for value in range(1, 1001):
        stats.observe("request", float(value))

    latency = stats.snapshot()["latency_ms"]["request"]

    assert latency["count"] == 1000
    assert latency["p50"] == pytest.approx(500, rel=0.03)
    assert latency["p99"] == pytest.approx(990, rel=0.03)
    assert percentiles({}, (0.5,)) == {"p50": None}


def test_per_second_series_line_up_with_the_seconds(stats: RollingStats, clock: FakeClock) -> None:
    stats.count("requests", "200", 3)
    stats.observe("request", 10.0)
    clock.advance(2)
    stats.count("requests", "201")

    per_second = stats.snapshot()["per_second"]

    assert per_second["start"] == int(clock.now) - 59
    assert per_second["counts"]["requests"][-3:] == [3, 0, 1]
    assert per_second["p99"]["request"][-3] == pytest.approx(10, rel=0.03)
    assert per_second["p50"]["request"][-1] is None


def test_gauges_keep_the_last_value_and_its_age(stats: RollingStats, clock: FakeClock) -> None:
    stats.gauge("PaymentsPending", 4)
    stats.gauge("PaymentsPending", 2)
    clock.advance(3)

    assert stats.snapshot()["gauges"] == {"PaymentsPending": {"value": 2, "age_seconds": 3.0}}


def _tee(stats: RollingStats, monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    tee_stdout(stats)
    assert isinstance(sys.stdout, MetricsTee)
    return out


def test_the_tee_feeds_the_handlers_emf_metrics_and_passes_every_line_on(
    stats: RollingStats, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _tee(stats, monkeypatch)

    with log_context(request_id="r1"):  # emit_metric adds the log context to each record
        emit_metric("NS", "Payments", 1, "Count", {"Status": "authorized"})
        emit_metric("NS", "Payments", 1, "Count", {"Status": "declined"})
        emit_metric("NS", "BankLatency", 42.0, "Milliseconds", {})
    emit_metric("NS", "PaymentsPending", 3, "Count", {})
    emit_metric("NS", "HeartbeatAge", 7.5, "Seconds", {"PeerRegion": "us-east-1"})
    emit_metric("NS", "Reversals", 0, "Count", {})  # a resolver run's zero counts add nothing
    print('{"level": "INFO", "message": "not a metric"}')
    sys.stdout.write('{"_aws": broken json\n')

    snapshot = stats.snapshot()
    assert snapshot["counts"] == {"Payments": {"authorized": 1, "declined": 1}}
    assert snapshot["latency_ms"]["BankLatency"]["count"] == 1
    assert snapshot["latency_ms"]["BankLatency"]["p50"] == pytest.approx(42, rel=0.03)
    assert {name: gauge["value"] for name, gauge in snapshot["gauges"].items()} == {
        "PaymentsPending": 3,
        "HeartbeatAge[us-east-1]": 7.5,
    }
    lines = out.getvalue().splitlines()
    assert len(lines) == 8 and json.loads(lines[0])["request_id"] == "r1"  # unchanged, in order
    assert lines[-2:] == ['{"level": "INFO", "message": "not a metric"}', '{"_aws": broken json']


@pytest.fixture
def app(stats: RollingStats) -> RegionStatsApp:
    gateway = Gateway(region="eu-west-1", routes=fake_handlers.ROUTES, authorizer=fake_handlers.AUTHORIZER)
    return RegionStatsApp(gateway, stats, untimed_user_agents=[PROBE_AGENT])


def _stats_of(app: RegionStatsApp) -> dict[str, object]:
    response = app(HttpRequest("GET", STATS_PATH))
    assert response.status == 200 and response.header("Content-Type") == "application/json"
    loaded: dict[str, object] = json.loads(response.body)
    return loaded


def test_the_region_counts_its_requests_by_status_but_not_the_health_checks(app: RegionStatsApp) -> None:
    app(HttpRequest("GET", "/health"))
    app(HttpRequest("GET", "/boom"))
    app(HttpRequest("GET", "/nowhere"))
    app(HttpRequest("GET", "/health", (("User-Agent", PROBE_AGENT),)))
    app(HttpRequest("GET", "/_local/outage"))

    stats = _stats_of(app)

    assert stats["counts"] == {"requests": {"200": 1, "502": 1, "404": 1}}
    assert stats["latency_ms"]["request"]["count"] == 3  # type: ignore[index]
    assert (stats["region"], stats["outage"]) == ("eu-west-1", False)


def test_stats_answer_during_an_outage_and_count_its_503s(app: RegionStatsApp) -> None:
    app(HttpRequest("POST", "/_local/outage"))

    assert app(HttpRequest("GET", "/health")).status == 503
    stats = _stats_of(app)

    assert stats["outage"] is True
    assert stats["counts"] == {"requests": {"503": 1}}


@pytest.fixture
def supervisor() -> Iterator[Supervisor]:
    with Supervisor() as supervisor:
        yield supervisor


def test_a_region_child_serves_the_metrics_its_handlers_print(supervisor: Supervisor) -> None:
    """The real wiring: a child process, handlers that print EMF to stdout, and its /_local/stats."""
    args = ["lambda", "--routes", "tests.local.live_handlers:ROUTES", "--authorizer", "none"]
    child = supervisor.spawn("eu-west-1", args, local_environment("eu-west-1"))
    port = supervisor.wait_ready(child, timeout=20)
    _wait_until_stdout_is_stderr(child.pid)

    assert _request(port, "POST", "/pay")[0] == 201
    assert _request(port, "POST", "/pay")[0] == 201
    status, body = _request(port, "GET", STATS_PATH)

    stats = json.loads(body)
    assert status == 200
    assert stats["counts"] == {"requests": {"201": 2}, "Payments": {"authorized": 2}}
    assert stats["latency_ms"]["BankLatency"]["count"] == 2


def _wait_until_stdout_is_stderr(pid: int) -> None:
    """The child sends `{"port": N}` before it points its stdout at stderr (lifecycle.announce): a line
    printed in between would hit the pipe the supervisor has closed. Wait until that is over."""
    if not Path("/proc").is_dir():
        pytest.skip("reads the child's file descriptors from Linux's /proc")
    deadline = time.monotonic() + 10
    while os.readlink(f"/proc/{pid}/fd/1") != os.readlink(f"/proc/{pid}/fd/2"):
        assert time.monotonic() < deadline, "the child never redirected its stdout"
        time.sleep(0.01)


def _request(port: int, method: str, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


# --- the money the region's answers moved (local_gateway.live_money) -----------------------------------


class ScriptedRegion:
    """A region whose next answer is given by the test."""

    region = "eu-west-1"

    def __init__(self) -> None:
        self.outage = threading.Event()
        self.next: HttpResponse = HttpResponse(200, (), b"{}")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.next


def _answer(region: ScriptedRegion, app: RegionStatsApp, method: str, path: str, status: int, body: object,
            *, replayed: bool = False) -> None:  # fmt: skip
    headers = (("Content-Type", "application/json"),) + ((("Idempotent-Replayed", "true"),) if replayed else ())
    region.next = HttpResponse(status, headers, json.dumps(body).encode())
    app(HttpRequest(method, path))


def _payment(payment_id: str, status: str, captured: int = 0, refunded: int = 0) -> dict[str, object]:
    return {
        "id": payment_id,
        "status": status,
        "amount": 1000,
        "currency": "GBP",
        "amount_captured": captured,
        "amount_refunded": refunded,
        "card": {"brand": "visa", "last4": "4291", "expiry_month": 4, "expiry_year": 2030},
        "capture_method": "manual",
    }


def _refund(payment_id: str, amount: int, status: str = "succeeded") -> dict[str, object]:
    return {"id": "re_1", "payment_id": payment_id, "amount": amount, "status": status, "reason": None}


def test_amounts_captured_and_refunded_come_from_the_region_s_answers(stats: RollingStats, clock: FakeClock) -> None:
    region = ScriptedRegion()
    app = RegionStatsApp(region, stats)
    auto, manual = "pay_01AUTO", "pay_02MANUAL"
    _answer(region, app, "POST", "/v1/payments", 201, _payment(auto, "captured", captured=1000))  # automatic
    _answer(region, app, "POST", "/v1/payments", 201, _payment(manual, "authorized"))
    _answer(region, app, "POST", f"/v1/payments/{manual}/capture", 200, _payment(manual, "captured", captured=600))
    _answer(region, app, "POST", f"/v1/payments/{manual}/capture", 200, _payment(manual, "captured", captured=600),
            replayed=True)  # fmt: skip
    _answer(region, app, "POST", f"/v1/payments/{auto}/refunds", 201, _refund(auto, 300))
    _answer(region, app, "POST", f"/v1/payments/{auto}/refunds", 201, _refund(auto, 300), replayed=True)
    _answer(region, app, "POST", f"/v1/payments/{auto}/refunds", 202, _refund(auto, 50, "pending"))
    _answer(region, app, "POST", f"/v1/payments/{auto}/refunds", 201, _refund(auto, 70, "failed"))
    _answer(region, app, "POST", "/v1/payments/pay_03ELSEWHERE/refunds", 201, _refund("pay_03ELSEWHERE", 20))
    _answer(region, app, "GET", f"/v1/payments/{manual}", 200, _payment(manual, "captured", captured=600))

    snapshot = _stats_of(app)

    counts = snapshot["counts"]
    assert counts["AmountCaptured"] == {"GBP": 1600}  # type: ignore[index]  # a replay and a read move nothing
    assert counts["AmountRefunded"] == {"GBP": 300, "?": 20}  # type: ignore[index]  # unknown payment: no currency
    assert snapshot["payments"] == [
        {"id": manual, "status": "captured", "amount": 1000, "currency": "GBP", "amount_captured": 600,
         "amount_refunded": 0},
        {"id": auto, "status": "captured", "amount": 1000, "currency": "GBP", "amount_captured": 1000,
         "amount_refunded": 300},
    ]  # fmt: skip  # newest first, no card
    clock.advance(61)
    assert "AmountCaptured" not in _stats_of(app)["counts"]  # type: ignore[operator]  # the last minute only


def test_only_a_few_recent_payments_are_kept(stats: RollingStats) -> None:
    region = ScriptedRegion()
    app = RegionStatsApp(region, stats)
    for n in range(20):
        _answer(region, app, "POST", "/v1/payments", 201, _payment(f"pay_{n:02d}", "declined"))
    _answer(region, app, "GET", "/v1/payments", 200, {"data": [_payment("pay_listed", "captured", 5)]})
    _answer(region, app, "POST", "/v1/payments", 500, {"error": {}})

    shown = _stats_of(app)["payments"]

    assert [payment["id"] for payment in shown] == [f"pay_{n:02d}" for n in range(19, 11, -1)]  # type: ignore[union-attr,index]
    assert "AmountCaptured" not in _stats_of(app)["counts"]  # type: ignore[operator]
