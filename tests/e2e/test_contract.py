"""Responses through the global endpoint, over real HTTP, match docs/openapi.yaml."""

from __future__ import annotations

import http.client
import json
import uuid
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import KEY_A, LocalStack, payment_body
from tests.openapi_contract import assert_conforms

pytestmark = pytest.mark.e2e


def _exchange(
    stack: LocalStack, method: str, path: str, body: object = None, key: str | None = KEY_A
) -> tuple[int, list[tuple[str, str]], bytes]:
    port = urlsplit(stack.global_url).port
    headers = {"Content-Type": "application/json", "Idempotency-Key": f"contract-{uuid.uuid4()}"}  # one per request
    if key:
        headers["Authorization"] = f"Bearer {key}"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


def _check(
    stack: LocalStack, method: str, template: str, path: str, body: object = None, key: str | None = KEY_A
) -> dict:
    status, headers, raw = _exchange(stack, method, path, body, key)
    names = [name.lower() for name, _ in headers]
    assert names.count("server") <= 1 and names.count("date") <= 1, headers  # the proxy must not repeat them
    return assert_conforms(method, template, status, dict(headers), raw)


def test_every_route_answers_in_the_documented_shape(stack: LocalStack) -> None:
    created = _check(stack, "POST", "/v1/payments", "/v1/payments", payment_body())
    _check(stack, "POST", "/v1/payments", "/v1/payments", payment_body(amount=0))
    _check(stack, "POST", "/v1/payments", "/v1/payments", payment_body("4242424242424200"))
    _check(stack, "POST", "/v1/payments", "/v1/payments", payment_body(), key="sk_test_wrong")
    _check(stack, "GET", "/v1/payments/{id}", f"/v1/payments/{created['id']}")
    _check(stack, "GET", "/v1/payments/{id}", "/v1/payments/pay_nope")
    _check(stack, "GET", "/v1/payments", "/v1/payments?limit=1")
    _check(stack, "GET", "/v1/payments", "/v1/payments?limit=abc")
    _check(stack, "GET", "/health", "/health", key=None)


def test_the_lifecycle_routes_answer_in_the_documented_shape(stack: LocalStack) -> None:
    """Capture, void, refunds and their list, including 409 invalid_state, 422 amount_too_large and a
    202 from the simulator's fault rule for captures and refunds (an amount ending in 2: a late answer)."""
    manual = _check(stack, "POST", "/v1/payments", "/v1/payments", payment_body())
    path = f"/v1/payments/{manual['id']}"
    assert _check(stack, "POST", "/v1/payments/{id}/refunds", f"{path}/refunds", {})["error"]["type"] == "invalid_state"
    too_much = _check(stack, "POST", "/v1/payments/{id}/capture", f"{path}/capture", {"amount": 5000})
    assert too_much["error"]["maximum"] == 1050
    assert (
        _check(stack, "POST", "/v1/payments/{id}/capture", f"{path}/capture", {"amount": 800})["status"] == "captured"
    )
    refund = _check(stack, "POST", "/v1/payments/{id}/refunds", f"{path}/refunds", {"amount": 100, "reason": "r"})
    assert refund["status"] == "succeeded"
    assert (
        _check(stack, "POST", "/v1/payments/{id}/refunds", f"{path}/refunds", {"amount": 5000})["error"]["maximum"]
        == 700
    )
    late = _check(stack, "POST", "/v1/payments/{id}/refunds", f"{path}/refunds", {"amount": 12})  # 202 pending
    assert late["status"] == "pending"
    listed = _check(stack, "GET", "/v1/payments/{id}/refunds", f"{path}/refunds")["data"]
    assert [r["id"] for r in listed] == [refund["id"], late["id"]]
    assert _check(stack, "POST", "/v1/payments/{id}/void", f"{path}/void", {})["error"]["status"] == "captured"
    other = _check(stack, "POST", "/v1/payments", "/v1/payments", payment_body(amount=2000))
    voided = _check(stack, "POST", "/v1/payments/{id}/void", f"/v1/payments/{other['id']}/void")
    assert voided["status"] == "voided"
    _check(stack, "GET", "/v1/payments/{id}/refunds", "/v1/payments/pay_nope/refunds")  # 404
    _check(stack, "POST", "/v1/payments/{id}/capture", "/v1/payments/pay_nope/capture", {})  # 404
