"""What a resolver run publishes (handlers.entrypoints.resolver_job, which the local stack's resolver
loop calls every --resolver-interval): the lifecycle's fields in its log line and EMF metrics, and
those metrics as the live view's region stats read them (local_gateway.live_stats)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from handlers.domain.resolver import ResolverReport
from handlers.entrypoints import resolver_job, wiring
from local_gateway.live_stats import RollingStats, record_emf

REPORT = ResolverReport(
    region="eu-west-1",
    settled={"authorized": 1},
    failures=2,
    reversals=0,
    pending=3,
    oldest_pending_age=42.5,
    took_over=(),
    peer_heartbeat_ages={"us-east-1": 1.0},
    operations_settled={"capture.succeeded": 2, "refund.failed": 1, "void.succeeded": 1},
    expired=4,
    pending_operations=5,
)


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("METRICS_NAMESPACE", "Test")
    wiring.settings.cache_clear()
    yield
    wiring.settings.cache_clear()


def _metrics(out: str) -> dict[tuple[str, tuple[tuple[str, Any], ...]], float]:
    """(name, dimensions) -> value, of every EMF record printed."""
    found = {}
    for line in out.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        record = json.loads(line)
        directive = record["_aws"]["CloudWatchMetrics"][0]
        assert directive["Namespace"] == "Test"
        [metric] = directive["Metrics"]
        dimensions = tuple((name, record[name]) for name in directive["Dimensions"][0])
        found[metric["Name"], dimensions] = record[metric["Name"]]
    return found


def test_the_run_s_operations_expiries_and_pending_operations_are_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    resolver_job.publish_resolver_report(REPORT)

    metrics = _metrics(capsys.readouterr().out)
    assert metrics["Captures", (("Outcome", "succeeded"),)] == 2
    assert metrics["Voids", (("Outcome", "succeeded"),)] == 1
    assert metrics["Refunds", (("Outcome", "failed"),)] == 1
    assert metrics["Expiries", (("Outcome", "expired"),)] == 4  # by Outcome, as the dashboard's search graphs it
    assert metrics["OperationsPending", ()] == 5
    assert metrics["PaymentsPending", ()] == 3
    assert metrics["OldestPendingAge", ()] == 42.5  # payments' and operations' oldest: the alarm's metric
    assert metrics["PaymentsResolved", (("Status", "authorized"),)] == 1


def test_a_quiet_run_still_reports_its_levels_and_no_outcome(capsys: pytest.CaptureFixture[str]) -> None:
    quiet = ResolverReport("eu-west-1", {}, 0, 0, 0, None, (), {})

    resolver_job.publish_resolver_report(quiet)

    metrics = _metrics(capsys.readouterr().out)
    assert metrics["OperationsPending", ()] == 0 and metrics["Expiries", (("Outcome", "expired"),)] == 0
    assert not [name for name, _ in metrics if name in ("Captures", "Voids", "Refunds")]


def test_the_run_s_log_line_has_the_lifecycle_s_fields(capsys: pytest.CaptureFixture[str]) -> None:
    wiring.settings()  # the handlers' JSON logging on stdout, as in the region's process
    resolver_job.publish_resolver_report(REPORT)

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"message"' in line]
    [fields] = [line for line in lines if line["message"] == "resolver_run"]
    assert fields["operations_settled"] == {"capture.succeeded": 2, "refund.failed": 1, "void.succeeded": 1}
    assert (fields["expired"], fields["pending_operations"], fields["pending"]) == (4, 5, 3)


def test_the_live_view_s_region_stats_count_them(capsys: pytest.CaptureFixture[str]) -> None:
    resolver_job.publish_resolver_report(REPORT)
    stats = RollingStats(clock=lambda: 1000.0)
    for line in capsys.readouterr().out.splitlines():
        record_emf(stats, line)

    snapshot = stats.snapshot()
    assert snapshot["counts"]["Captures"] == {"succeeded": 2}
    assert snapshot["counts"]["Refunds"] == {"failed": 1}
    assert snapshot["counts"]["Expiries"] == {"expired": 4}
    assert snapshot["gauges"]["OperationsPending"]["value"] == 5  # a level, not a sum of runs
