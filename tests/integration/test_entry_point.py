"""The entry point's `Responses` metric: one EMF record per answer, by function and status class,
whatever the answer; what the per-function 5xx alarm (components/monitoring/alarms.py) reads."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from handlers.entrypoints import api, wiring
from tests.integration.conftest import reset_handler_caches
from tests.support import proxy_event

pytestmark = pytest.mark.usefixtures("lambda_env")
CONTEXT = SimpleNamespace(function_name="payment-gateway-get-payment", aws_request_id="req-1")


def responses(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    return [r for r in records if r["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] == "Responses"]


def get(payment_id: str = "pay_missing") -> dict[str, Any]:
    event = proxy_event("GET", "/v1/payments/{id}", path_parameters={"id": payment_id}, merchant_id="mer_a")
    return api.get_payment(event, CONTEXT)


def test_one_record_per_answer_by_function_and_status_class(capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert get()["statusCode"] == 404
    assert api.health(proxy_event("GET", "/health"), CONTEXT)["statusCode"] == 200
    [missing, healthy] = responses(capsys)
    for record, status_class in ((missing, "4xx"), (healthy, "2xx")):
        [metrics] = record["_aws"]["CloudWatchMetrics"]
        assert metrics["Namespace"] == "PaymentGateway"
        # Published as the function's total and as its breakdown: the alarm divides one by the other.
        assert metrics["Dimensions"] == [["FunctionName"], ["FunctionName", "StatusClass"]]
        assert metrics["Metrics"] == [{"Name": "Responses", "Unit": "Count"}]
        assert (record["FunctionName"], record["StatusClass"], record["Responses"]) == (
            "payment-gateway-get-payment",
            status_class,
            1,
        )


def test_an_unexpected_exception_is_a_500_counted_as_5xx(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken() -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(wiring, "payment_reader", broken)
    capsys.readouterr()
    assert get()["statusCode"] == 500  # answered, so Lambda's Errors metric never sees it
    [record] = responses(capsys)
    assert record["StatusClass"] == "5xx"


def test_a_version_with_broken_configuration_counts_its_500s_in_the_configured_namespace(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The canary of a bad configuration answers 500 to everything: its 5xx alarm must see that."""
    monkeypatch.setenv("BANK_READ_TIMEOUT_MS", "soon")
    monkeypatch.setenv("METRICS_NAMESPACE", "Payments-Staging")
    reset_handler_caches()
    capsys.readouterr()
    assert api.health(proxy_event("GET", "/health"), CONTEXT)["statusCode"] == 500
    [record] = responses(capsys)
    assert record["StatusClass"] == "5xx"
    assert record["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Payments-Staging"


def test_without_a_lambda_context_the_route_names_the_function(capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    api.get_payment(proxy_event("GET", "/v1/payments/{id}", path_parameters={"id": "x"}, merchant_id="m"), None)
    [record] = responses(capsys)
    assert record["FunctionName"] == "get_payment"
