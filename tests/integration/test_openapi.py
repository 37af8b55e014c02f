"""docs/openapi.yaml is the contract: it is a valid OpenAPI 3.1 document and real responses match it."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from openapi_spec_validator import validate

from handlers.contract import gateway_errors, messages, routes
from handlers.domain.errors import BankNotProcessed, BankOutcomeUnknown
from handlers.domain.models import CaptureMethod, PaymentStatus
from handlers.entrypoints import api, lifecycle_api, wiring
from handlers.wire import http
from local_gateway.global_endpoint import not_sent_response
from proxy_gateway.gateway_responses import PLATFORM_DEFAULTS
from tests.fakes import ScriptedBank
from tests.integration.conftest import TABLE
from tests.openapi_contract import assert_conforms, resolve, spec
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


def test_every_operation_lists_what_the_edge_answers_before_the_api() -> None:
    """The firewall's 403 (managed rules) and 413 (body size) can meet any operation."""
    edge = {"403": "Forbidden", "413": "PayloadTooLarge"}
    for path, item in spec()["paths"].items():
        for method, operation in item.items():
            for status, name in edge.items():
                assert operation["responses"].get(status) == {"$ref": f"#/components/responses/{name}"}, (
                    method,
                    path,
                    status,
                )
    forbidden = resolve({"$ref": "#/components/responses/Forbidden"})
    assert "forbidden" in forbidden["description"]


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


@pytest.fixture
def scripted_bank(monkeypatch: pytest.MonkeyPatch) -> ScriptedBank:
    """The bank protocol in memory (tests.fakes) behind the real handlers and moto's table. The
    simulator's capture and refund routes come with the bank branch; the answers' shapes are the API's."""
    bank = ScriptedBank()
    monkeypatch.setattr(wiring, "bank", lambda: bank)
    return bank


def _pay(capture_method: str = "manual", amount: int = 1000) -> dict[str, Any]:
    body = payment_body(capture_method=capture_method, amount=amount)
    return call(api.create_payment, post_event(body))


def _operation(
    kind: str, payment_id: str, body: object = None, key: str | None = None, *, expect: int, **kwargs: Any
) -> dict[str, Any]:
    """The answer's body, once its status is `expect` and it conforms to the spec."""
    return _operation_reply(kind, payment_id, body, key, expect=expect, **kwargs)[1]


def _operation_reply(
    kind: str, payment_id: str, body: object = None, key: str | None = None, *, expect: int, **kwargs: Any
) -> tuple[dict[str, str], dict[str, Any]]:
    handler = {"capture": lifecycle_api.capture_payment, "void": lifecycle_api.void_payment}
    resource = f"/v1/payments/{{id}}/{'refunds' if kind == 'refund' else kind}"
    headers = {"Idempotency-Key": key} if key else {}
    headers.update(kwargs.pop("headers", {}))
    event = proxy_event(
        "POST",
        resource,
        path=resource.replace("{id}", payment_id),
        path_parameters={"id": payment_id},
        body=body,
        headers=headers,
        **kwargs,
    )
    response = handler.get(kind, lifecycle_api.create_refund)(event, None)
    assert response["statusCode"] == expect, response["body"]
    if expect == 202:
        assert int(response["headers"]["Retry-After"]) >= 1
    return response["headers"], assert_conforms("POST", resource, expect, response["headers"], response["body"])


def _refunds(payment_id: str, **kwargs: Any) -> dict[str, Any]:
    path = f"/v1/payments/{payment_id}/refunds"
    event = proxy_event("GET", "/v1/payments/{id}/refunds", path=path, path_parameters={"id": payment_id}, **kwargs)
    return call(lifecycle_api.list_refunds, event)


def test_capture_void_and_refund_responses_conform(scripted_bank: ScriptedBank) -> None:
    automatic = _pay("automatic")
    assert (automatic["status"], automatic["amount_captured"], automatic["authorization_expires_at"]) == (
        "captured",
        1000,
        None,
    )
    manual = _pay()
    assert manual["status"] == "authorized" and manual["authorization_expires_at"]
    pid = manual["id"]
    too_much = _operation("capture", pid, {"amount": 5000}, expect=422)["error"]
    assert (too_much["type"], too_much["maximum"], too_much["fields"][0]["field"]) == (
        "amount_too_large",
        1000,
        "amount",
    )
    assert _operation("capture", pid, {"amount": "all"}, expect=400)["error"]["fields"][0]["field"] == "amount"
    _operation("capture", pid, raw_body="{}", headers={"Content-Type": "text/plain"}, expect=415)
    assert _operation("capture", pid, {}, query={"expand": "x"}, expect=400)["error"]["fields"][0]["field"] == "expand"
    _operation("capture", "pay_nope", expect=404)
    refused = _operation("refund", pid, expect=409)["error"]  # only a captured payment takes refunds
    assert (refused["type"], refused["status"]) == ("invalid_state", "authorized")
    captured = _operation("capture", pid, {"amount": 600}, key="cap-1", expect=200)
    assert (captured["status"], captured["amount_captured"]) == ("captured", 600)
    assert _operation("capture", pid, {"amount": 600}, key="cap-1", expect=200) == captured  # the replay
    reused = _operation("capture", pid, {"amount": 500}, key="cap-1", expect=422)
    assert reused["error"]["type"] == "idempotency_key_reused"
    assert _operation("void", pid, expect=409)["error"]["status"] == "captured"

    first = _operation("refund", pid, {"amount": 100, "reason": "damaged"}, key="re-1", expect=201)
    assert (first["status"], first["amount"], first["reason"]) == ("succeeded", 100, "damaged")
    rest = _operation("refund", pid, expect=201)  # no body: what is left
    assert (rest["status"], rest["amount"], rest["reason"]) == ("succeeded", 500, None)
    assert _operation("refund", pid, {"amount": 1}, expect=422)["error"]["maximum"] == 0
    listed = _refunds(pid)["data"]
    assert [refund["id"] for refund in listed] == [first["id"], rest["id"]]  # oldest first
    assert _refunds("pay_nope")["error"]["type"] == "not_found"
    assert _refunds(pid, query={"limit": "1"})["error"]["fields"][0]["field"] == "limit"
    get_event = proxy_event("GET", "/v1/payments/{id}", path=f"/v1/payments/{pid}", path_parameters={"id": pid})
    assert call(api.get_payment, get_event)["amount_refunded"] == 600

    voided = _operation("void", _pay()["id"], key="void-1", expect=200)
    assert (voided["status"], voided["amount_captured"]) == ("voided", 0)


def test_lost_refused_and_unprocessed_operations_conform(scripted_bank: ScriptedBank) -> None:
    captured = _pay("automatic")
    manual, other = _pay(), _pay()
    scripted_bank.operation_fails_after = BankOutcomeUnknown("The bank's answer was lost.")
    assert _operation("capture", manual["id"], key="cap-lost", expect=202)["status"] == "authorized"  # as it was
    assert _operation("refund", captured["id"], {"amount": 10}, key="re-lost", expect=202)["status"] == "pending"
    scripted_bank.operation_fails_after = None
    scripted_bank.unreachable = True  # the void's message (a reversal) gets no answer
    assert _operation("void", other["id"], key="void-lost", expect=202)["status"] == "authorized"
    scripted_bank.unreachable = False
    scripted_bank.operation_fails_with = BankNotProcessed("The bank answered HTTP 503.")
    error = _operation("refund", captured["id"], {"amount": 10}, expect=502)["error"]
    assert (error["type"], error["payment_id"]) == ("bank_unavailable", captured["id"])
    assert "send the request again" in error["message"]  # it had no Idempotency-Key
    first_headers, keyed = _operation_reply("refund", captured["id"], {"amount": 10}, key="re-down", expect=502)
    replay_headers, replay = _operation_reply("refund", captured["id"], {"amount": 10}, key="re-down", expect=502)
    assert "new Idempotency-Key" in keyed["error"]["message"] and replay == keyed
    assert "Idempotent-Replayed" not in first_headers and replay_headers["Idempotent-Replayed"] == "true"
    scripted_bank.operation_fails_with = None
    record = scripted_bank.ledger[captured["id"]]  # the bank's own books say it is all refunded already
    scripted_bank.ledger[captured["id"]] = attrs.evolve(record, refunded_amount=record.captured_amount)
    refused = _operation("refund", captured["id"], {"amount": 20}, expect=201)  # failed: nothing moved
    assert (refused["status"], refused["failure_reason"]) == ("failed", "exceeds_captured")
    assert [refund["status"] for refund in _refunds(captured["id"])["data"]] == [
        "pending",
        "failed",
        "failed",
        "failed",
    ]


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


POSTS = ("/v1/payments", "/v1/payments/{id}/capture", "/v1/payments/{id}/void", "/v1/payments/{id}/refunds")


def test_every_status_in_the_table_is_documented_on_every_post() -> None:
    """Each POST documents every answer of the table it can get (a 404 only where there is an id), its
    success, and a 202 whose Retry-After is always sent; each takes an Idempotency-Key."""
    statuses = {status for status, _, _, _ in _answer_table(spec()["info"]["description"])}
    for path in POSTS:
        operation = spec()["paths"][path]["post"]
        responses = operation["responses"]
        expected = statuses - {"no answer", "200", "201", "403"} - ({"404"} if path == "/v1/payments" else set())
        assert expected <= set(responses), path
        assert ({"200"} if path.endswith(("/capture", "/void")) else {"201"}) <= set(responses), path
        assert resolve(resolve(responses["202"])["headers"]["Retry-After"]).get("required") is True, path
        assert "Idempotency-Key" in {resolve(parameter)["name"] for parameter in operation["parameters"]}, path


def test_the_statuses_in_the_spec_are_the_domains() -> None:
    schemas = spec()["components"]["schemas"]
    assert schemas["PaymentStatus"]["enum"] == [status.value for status in PaymentStatus]
    assert schemas["CaptureMethod"]["enum"] == [method.value for method in CaptureMethod]


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
