"""docs/openapi.yaml is the contract: it is a valid OpenAPI 3.1 document and real responses match it."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from handlers.contract import gateway_errors, messages, routes
from handlers.entrypoints import api
from handlers.wire import http
from local_gateway.global_endpoint import not_sent_response
from proxy_gateway.gateway_responses import PLATFORM_DEFAULTS
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


# --- the one table of answers: docs/openapi.yaml and README.md agree, and the code says the same ---------

README_PATH = Path(__file__).resolve().parents[2] / "README.md"
TABLE_HEADER = "| Status | Error type | Money moved? | What to do next |"


def _answer_table(text: str) -> list[tuple[str, str, str, str]]:
    """(status, error type, money moved, what next) per row of the table under TABLE_HEADER."""
    lines = [line.strip() for line in text.splitlines()]
    start = lines.index(TABLE_HEADER) + 2
    rows = []
    for line in itertools.takewhile(lambda line: line.startswith("|"), lines[start:]):
        status, error_type, money, next_step = (cell.strip() for cell in line.strip("|").split("|"))
        rows.append((status.strip("`"), error_type.strip("`"), money, next_step))
    return rows


def _emitted_errors() -> dict[tuple[str, str], tuple[str, int | None]]:
    """(status, type) -> (message, Retry-After) of every error the code can answer with: the handlers'
    map and catch-all, API Gateway's responses (a family's status as API Gateway sets it for ours),
    WAF's, and the local endpoint's only answer of its own (a region it cannot connect to)."""
    emitted: dict[tuple[str, str], tuple[str, int | None]] = {}
    for _, (status, kind, retry_after) in http.ERRORS.items():
        emitted[(str(status), kind)] = ("", retry_after)
    status, kind, retry_after = http._INTERNAL
    emitted[(str(status), kind)] = (messages.INTERNAL_ERROR, retry_after)
    family_status = {"DEFAULT_4XX": "400", "DEFAULT_5XX": str(PLATFORM_DEFAULTS["DEFAULT_5XX"][0])}
    for error in gateway_errors.GATEWAY_ERRORS:
        status_code = error.status_code or family_status[error.response_type]
        emitted[(status_code, error.error_type)] = (error.message, error.retry_after)
    for waf in gateway_errors.WAF_ERRORS:
        emitted.setdefault((str(waf.status), waf.error_type), (waf.message, None))
    not_sent = not_sent_response("eu-west-1")
    emitted[(str(not_sent.status), json.loads(not_sent.body)["error"]["type"])] = ("", 1)
    return emitted


def test_the_spec_and_the_readme_have_the_same_table_of_answers() -> None:
    spec_rows = _answer_table(spec()["info"]["description"])
    assert spec_rows == _answer_table(README_PATH.read_text())
    assert {row[0] for row in spec_rows} >= {"201", "202", "no answer"}


def test_the_table_lists_every_error_the_code_sends_and_nothing_else() -> None:
    errors = {(status, kind) for status, kind, _, _ in _answer_table(spec()["info"]["description"]) if kind}
    assert errors == set(_emitted_errors())
    enum = spec()["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["type"]["enum"]
    assert {kind for _, kind in errors} == set(enum)


def test_every_status_in_the_table_is_documented_on_post_payments() -> None:
    responses = spec()["paths"]["/v1/payments"]["post"]["responses"]
    statuses = {status for status, kind, _, _ in _answer_table(spec()["info"]["description"])}
    assert statuses - {"no answer", "200", "403", "404"} <= set(responses)


def test_an_unknown_outcome_says_retry_with_the_same_key_after_retry_after() -> None:
    """Never "nothing charged" where a payment may have been processed, and never the reverse."""
    emitted = _emitted_errors()
    for status, kind, money, next_step in _answer_table(spec()["info"]["description"]):
        assert money.split(":")[0].split(",")[0] in ("no", "yes", "unknown"), money
        if not kind:
            continue
        message, retry_after = emitted[(status, kind)]
        if money.startswith("unknown"):
            assert retry_after, (status, kind)
            assert "same key" in next_step and "new key" not in next_step.replace("Never with a new key", "")
        else:
            assert messages.OUTCOME_UNKNOWN not in message, (status, kind)
        if messages.OUTCOME_UNKNOWN in message:
            assert money.startswith("unknown") and "nothing" not in message, (status, kind)
