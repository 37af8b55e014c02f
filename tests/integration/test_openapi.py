"""docs/openapi.yaml is the contract: it is a valid OpenAPI 3.1 document and real responses match it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from openapi_spec_validator import validate

from handlers import api, gateway_errors, http, routes
from tests.integration.conftest import TABLE
from tests.openapi_contract import assert_conforms, spec
from tests.support import VISA_AUTHORIZED, VISA_BANK_DOWN, VISA_DECLINED, payment_body, proxy_event

pytestmark = pytest.mark.usefixtures("lambda_env")
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def test_the_document_is_valid_openapi_3_1() -> None:
    validate(spec())
    assert spec()["openapi"].startswith("3.1")


def test_every_route_is_documented_and_nothing_else() -> None:
    documented = {(method.upper(), path) for path, item in spec()["paths"].items() for method in item}
    assert documented == {(route.method, route.path) for route in routes.ROUTES}


def test_the_error_types_in_the_schema_are_exactly_those_the_api_emits() -> None:
    """The handlers' (http.ERRORS and the catch-all), API Gateway's and WAF's: nothing more, nothing less."""
    enum = spec()["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["type"]["enum"]
    handlers = {kind for _, kind, _ in http.ERRORS.values()} | {"internal_error"}
    platform = {e.error_type for e in gateway_errors.GATEWAY_ERRORS} | {e.error_type for e in gateway_errors.WAF_ERRORS}
    assert len(enum) == len(set(enum))
    assert set(enum) == handlers | platform


def call(handler: Handler, event: dict[str, Any]) -> dict[str, Any]:
    response = handler(event, None)
    return assert_conforms(
        event["httpMethod"], event["resource"], response["statusCode"], response["headers"], response["body"]
    )


def post_event(body: object = None, key: str | None = None, **kwargs: Any) -> dict[str, Any]:
    headers = {"Idempotency-Key": key} if key else {}
    headers.update(kwargs.pop("headers", {}))
    return proxy_event("POST", "/v1/payments", body=body, headers=headers, **kwargs)


def test_payment_responses_conform() -> None:
    authorized = call(api.create_payment, post_event(payment_body(), key="k1"))
    call(api.create_payment, post_event(payment_body(), key="k1"))  # replay
    call(api.create_payment, post_event(payment_body(VISA_DECLINED)))
    call(api.create_payment, post_event(payment_body(VISA_BANK_DOWN)))  # 502
    call(api.create_payment, post_event(payment_body(amount=1), key="k1"))  # 422
    call(api.create_payment, post_event(payment_body(card__number="1"), key="k2"))  # 400 with fields
    call(api.create_payment, post_event(raw_body="{", key="k3"))  # 400
    call(api.create_payment, post_event(raw_body="x" * 20_000))  # 413
    call(api.create_payment, post_event(raw_body="x" * 20_000, headers={"Content-Type": "text/plain"}))  # 413
    call(api.create_payment, post_event(payment_body(), query={"x": "1"}))  # 400: no query parameters
    call(api.create_payment, post_event(raw_body="{}", headers={"Content-Type": "text/plain"}))  # 415
    path = f"/v1/payments/{authorized['id']}"
    get_event = proxy_event("GET", "/v1/payments/{id}", path=path, path_parameters={"id": authorized["id"]})
    assert call(api.get_payment, get_event) == authorized
    missing = proxy_event("GET", "/v1/payments/{id}", path_parameters={"id": "pay_x"}, merchant_id="mer_b")
    assert call(api.get_payment, missing)["error"]["type"] == "not_found"
    queried = proxy_event("GET", "/v1/payments/{id}", path_parameters={"id": "pay_x"}, query={"expand": "card"})
    assert call(api.get_payment, queried)["error"]["fields"][0]["field"] == "expand"


def test_list_and_health_responses_conform(dynamodb: Any) -> None:
    for _ in range(3):
        api.create_payment(post_event(payment_body(VISA_AUTHORIZED)), None)
    page = call(api.list_payments, proxy_event("GET", "/v1/payments", query={"limit": "2"}))
    assert page["next_cursor"]
    call(api.list_payments, proxy_event("GET", "/v1/payments", query={"limit": "0"}))  # 400
    call(api.health, proxy_event("GET", "/health", merchant_id=None))
    call(api.health, proxy_event("GET", "/health", merchant_id=None, query={"probe": "1"}))  # 400
    call(api.list_payments, proxy_event("GET", "/v1/payments", query={"created_from": "2026-01-01T00:00:00 01:00"}))
    dynamodb.delete_table(TableName=TABLE)
    call(api.health, proxy_event("GET", "/health", merchant_id=None))  # 503
    call(api.create_payment, post_event(payment_body()))  # 503 from the claim-less write path


def test_the_checker_rejects_a_drifted_response() -> None:
    with pytest.raises(AssertionError, match="not documented"):
        assert_conforms("GET", "/health", 418, {"X-Request-Id": "r"}, "{}")
    with pytest.raises(AssertionError, match="X-Request-Id"):
        assert_conforms("GET", "/health", 200, {}, '{"status": "ok", "region": "eu-west-1"}')
    with pytest.raises(AssertionError, match="Additional properties"):
        assert_conforms("GET", "/health", 200, {"X-Request-Id": "r"}, '{"status": "ok", "region": "x", "y": 1}')
