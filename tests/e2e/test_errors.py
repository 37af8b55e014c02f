"""One error vocabulary, over real HTTP through the global endpoint: what the local stand-ins for
WAF and API Gateway answer (the same as the deployed templates, tests/infra) and what the handlers do."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

from handlers.contract import limits, messages
from tests.e2e.conftest import KEY_A, LocalStack, payment_body
from tests.e2e.test_payments import _admin
from tests.openapi_contract import assert_conforms

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Raw:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def error(self) -> dict[str, Any]:
        error: dict[str, Any] = json.loads(self.body)["error"]
        return error


def exchange(
    stack: LocalStack, method: str, target: str, body: bytes | None = None, authorization: str | None = None
) -> Raw:
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    connection = http.client.HTTPConnection("127.0.0.1", urlsplit(stack.global_url).port, timeout=30)
    try:
        connection.request(method, target, body=body, headers=headers)
        response = connection.getresponse()
        return Raw(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def assert_compact_error(reply: Raw, status: int, error_type: str, message: str) -> None:
    assert reply.status == status, reply
    assert reply.body == json.dumps({"error": {"type": error_type, "message": message}}, separators=(",", ":")).encode()


BEARER_A = f"Bearer {KEY_A}"


# --- 401: what is wrong, never whether a key exists ---------------------------------------------


@pytest.mark.parametrize("target", ["/v1/payments", "/v1/payments/pay_x"])
def test_a_missing_header_is_named(stack: LocalStack, target: str) -> None:
    reply = exchange(stack, "GET", target)
    assert_compact_error(reply, 401, "unauthorized", messages.MISSING_HEADER)
    assert reply.headers["x-request-id"]
    assert_conforms("GET", "/v1/payments", reply.status, reply.headers, reply.body)


@pytest.mark.parametrize("authorization", ["Basic dXNlcjpwYXNz", "Bearer", "Token " + KEY_A, KEY_A])
def test_a_malformed_header_says_how_to_send_the_key(stack: LocalStack, authorization: str) -> None:
    assert_compact_error(
        exchange(stack, "GET", "/v1/payments", None, authorization), 401, "unauthorized", messages.MALFORMED_HEADER
    )


def test_an_unknown_and_a_revoked_key_get_the_same_answer(stack: LocalStack) -> None:
    created = _admin(stack, "create-merchant", "--name", "revoked-before-use")
    key = created.stdout.split("api_key: ")[1].split()[0]
    assert _admin(stack, "revoke-key", stdin=key).returncode == 0
    revoked = exchange(stack, "GET", "/v1/payments", None, f"Bearer {key}")
    unknown = exchange(stack, "GET", "/v1/payments", None, f"Bearer {key[:-4]}abcd")
    assert_compact_error(revoked, 401, "unauthorized", messages.INVALID_KEY)
    assert (unknown.status, unknown.body) == (revoked.status, revoked.body)
    assert set(unknown.headers) == set(revoked.headers)


# --- 413: every oversized body, on every route, before the authorizer --------------------------


@pytest.mark.parametrize(
    ("method", "target", "authorization"),
    [("POST", "/v1/payments", BEARER_A), ("GET", "/v1/payments/pay_x", BEARER_A), ("POST", "/v1/payments", None)],
)
def test_a_body_over_16_kib_is_413_payload_too_large(
    stack: LocalStack, method: str, target: str, authorization: str | None
) -> None:
    reply = exchange(stack, method, target, b"{" + b" " * limits.MAX_BODY_BYTES + b"}", authorization)
    assert_compact_error(reply, 413, "payload_too_large", messages.body_too_large(edge_limit(stack)))
    assert "x-request-id" not in reply.headers  # the firewall answers before API Gateway
    assert_conforms(method, "/v1/payments" if method == "POST" else "/v1/payments/{id}", 413, reply.headers, reply.body)


def edge_limit(stack: LocalStack) -> int:
    """As deployed: 16 KiB in front of API Gateway, the 8 KB WAF inspects in front of Fargate's ALB."""
    return limits.LOAD_BALANCER_BODY_INSPECTION_BYTES if stack.compute == "container" else limits.MAX_BODY_BYTES


def test_a_9000_byte_body_is_what_the_deployed_edge_makes_it(stack: LocalStack) -> None:
    """Deployed, 9,000 bytes is over the ALB's 8 KB and under API Gateway's 16 KiB: the local stack agrees."""
    body = (json.dumps(payment_body()) + " " * 8_900).encode()  # a valid payment, padded with JSON whitespace
    assert 8_192 < len(body) < limits.MAX_BODY_BYTES
    reply = exchange(stack, "POST", "/v1/payments", body, BEARER_A)
    if stack.compute == "container":
        assert_compact_error(reply, 413, "payload_too_large", messages.body_too_large(8_192))
        assert "x-request-id" not in reply.headers  # the firewall's answer
    else:
        assert reply.status == 201 and "x-request-id" in reply.headers  # API Gateway lets it through: paid


# --- 400: unknown query parameters on every route ------------------------------------------------


def test_unknown_query_parameters_are_refused_on_every_route(stack: LocalStack) -> None:
    payment_id = json.loads(
        exchange(stack, "POST", "/v1/payments", json.dumps(payment_body()).encode(), BEARER_A).body
    )["id"]
    cases = [
        ("GET", f"/v1/payments/{payment_id}?x=1", "/v1/payments/{id}", None),
        ("GET", "/v1/payments?x=1", "/v1/payments", None),
        ("POST", "/v1/payments?x=1", "/v1/payments", json.dumps(payment_body()).encode()),
        ("GET", "/health?x=1", "/health", None),
    ]
    for method, target, template, body in cases:
        reply = exchange(stack, method, target, body, BEARER_A)
        assert reply.status == 400, target
        assert reply.error["fields"] == [{"field": "x", "message": "is not a known query parameter"}], target
        assert_conforms(method, template, reply.status, reply.headers, reply.body)
    assert exchange(stack, "GET", f"/v1/payments/{payment_id}", None, BEARER_A).status == 200


def test_an_unencoded_plus_in_a_timestamp_is_explained(stack: LocalStack) -> None:
    plain = exchange(stack, "GET", "/v1/payments?created_from=2026-01-01T00:00:00+01:00", None, BEARER_A)
    encoded = exchange(stack, "GET", "/v1/payments?created_from=2026-01-01T00:00:00%2B01:00", None, BEARER_A)
    assert plain.status == 400
    assert "percent-encode + as %2B" in plain.error["fields"][0]["message"]
    assert encoded.status == 200


def test_an_unknown_route_is_404_in_the_compact_shape(stack: LocalStack) -> None:
    reply = exchange(stack, "GET", "/v1/refunds", None, BEARER_A)
    assert_compact_error(reply, 404, "not_found", "No route matches the request's method and path.")
