"""The proxy event and result formats of API Gateway REST APIs (v1)."""

from __future__ import annotations

import base64

import pytest

from handlers.contract.routes import ROUTES
from proxy_gateway.lambda_proxy import (
    LambdaContext,
    MalformedResultError,
    build_authorizer_event,
    build_proxy_event,
    method_arn,
    result_to_response,
)
from proxy_gateway.messages import HttpRequest
from proxy_gateway.routing import RouteMatch, Router

REST_V1_KEYS = {
    "resource",
    "path",
    "httpMethod",
    "headers",
    "multiValueHeaders",
    "queryStringParameters",
    "multiValueQueryStringParameters",
    "pathParameters",
    "stageVariables",
    "requestContext",
    "body",
    "isBase64Encoded",
}


def _match(method: str, path: str) -> RouteMatch:
    match = Router(ROUTES).match(method, path)
    assert match is not None
    return match


def test_event_has_every_rest_v1_key_and_nones_for_empty_parts() -> None:
    request = HttpRequest("GET", "/v1/payments", (("Host", "127.0.0.1:8081"),))

    event = build_proxy_event(request, _match("GET", "/v1/payments"), request_id="req-1", now=1_700_000_000.5)

    assert set(event) == REST_V1_KEYS
    assert event["resource"] == event["path"] == "/v1/payments"
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["pathParameters"] is None
    assert event["stageVariables"] is None
    assert event["body"] is None
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["requestId"] == "req-1"
    assert context["stage"] == "local"
    assert context["resourcePath"] == "/v1/payments"
    assert context["httpMethod"] == "GET"
    assert context["requestTimeEpoch"] == 1_700_000_000_500
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert "authorizer" not in context


def test_repeated_headers_and_query_keys_keep_the_last_value_and_all_values() -> None:
    headers = (("Accept", "a/b"), ("X-Tag", "one"), ("X-Tag", "two"))
    request = HttpRequest("GET", "/v1/payments?limit=2&tag=a&tag=b&empty=", headers)

    event = build_proxy_event(request, _match("GET", "/v1/payments"), request_id="r")

    assert event["headers"] == {"Accept": "a/b", "X-Tag": "two"}
    assert event["multiValueHeaders"] == {"Accept": ["a/b"], "X-Tag": ["one", "two"]}
    assert event["queryStringParameters"] == {"limit": "2", "tag": "b", "empty": ""}
    assert event["multiValueQueryStringParameters"] == {"limit": ["2"], "tag": ["a", "b"], "empty": [""]}


def test_path_parameters_and_authorizer_context() -> None:
    match = _match("GET", "/v1/payments/pay_1")
    request = HttpRequest("GET", "/v1/payments/pay_1")

    event = build_proxy_event(request, match, request_id="r", authorizer={"principalId": "p", "merchant_id": "m_1"})

    assert event["pathParameters"] == {"id": "pay_1"}
    assert event["resource"] == "/v1/payments/{id}"
    assert event["requestContext"]["authorizer"] == {"principalId": "p", "merchant_id": "m_1"}


def test_utf8_body_is_text_and_other_bytes_are_base64() -> None:
    match = _match("POST", "/v1/payments")

    text = build_proxy_event(HttpRequest("POST", "/v1/payments", body='{"a": "é"}'.encode()), match, request_id="r")
    binary = build_proxy_event(HttpRequest("POST", "/v1/payments", body=b"\xff\x00"), match, request_id="r")

    assert (text["body"], text["isBase64Encoded"]) == ('{"a": "é"}', False)
    assert (binary["body"], binary["isBase64Encoded"]) == (base64.b64encode(b"\xff\x00").decode(), True)


def test_authorizer_event_is_a_request_event_with_the_method_arn() -> None:
    request = HttpRequest("GET", "/v1/payments/pay_1?x=1", (("Authorization", "Bearer k"),))

    event = build_authorizer_event(request, _match("GET", "/v1/payments/pay_1"), region="us-east-1", request_id="r")

    assert event["type"] == "REQUEST"
    assert event["methodArn"] == "arn:aws:execute-api:us-east-1:000000000000:local/local/GET/v1/payments/pay_1"
    assert event["headers"] == {"Authorization": "Bearer k"}
    assert event["pathParameters"] == {"id": "pay_1"}
    assert event["queryStringParameters"] == {"x": "1"}
    assert "body" not in event


def test_method_arn_for_the_root_path() -> None:
    assert method_arn("eu-west-1", "GET", "/") == "arn:aws:execute-api:eu-west-1:000000000000:local/local/GET/"


def test_result_becomes_a_response_with_request_id_headers() -> None:
    result = {"statusCode": 201, "headers": {"Content-Type": "application/json"}, "body": '{"ok": true}'}

    response = result_to_response(result, "req-9")

    assert response.status == 201
    assert response.body == b'{"ok": true}'
    assert response.header("X-Request-Id") == "req-9"
    assert response.header("x-amzn-RequestId") == "req-9"


def test_result_keeps_the_handlers_request_id_and_merges_multi_value_headers() -> None:
    result = {
        "statusCode": 200,
        "headers": {"X-Request-Id": "own", "Content-Length": "999", "X-Flag": True},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
        "body": base64.b64encode(b"\x00\x01").decode(),
        "isBase64Encoded": True,
    }

    response = result_to_response(result, "gateway-id")

    assert response.header("X-Request-Id") == "own"
    assert response.header("Content-Length") is None  # the server computes it
    assert response.header("Content-Type") == "application/json"  # API Gateway's default
    assert response.header("X-Flag") == "true"
    assert [v for k, v in response.headers if k == "Set-Cookie"] == ["a=1", "b=2"]
    assert response.body == b"\x00\x01"


@pytest.mark.parametrize(
    "result",
    [
        None,
        "text",
        {"body": "no status"},
        {"statusCode": "200"},
        {"statusCode": 200, "unexpected": 1},
        {"statusCode": 200, "body": {"not": "a string"}},
        {"statusCode": 200, "headers": ["x"]},
        {"statusCode": 200, "multiValueHeaders": {"a": "not a list"}},
        {"statusCode": 200, "body": "%%%", "isBase64Encoded": True},
    ],
)
def test_malformed_results_are_rejected(result: object) -> None:
    with pytest.raises(MalformedResultError):
        result_to_response(result, "r")


def test_lambda_context_reports_the_function_and_remaining_time() -> None:
    context = LambdaContext.for_function(ROUTES[0].function, "us-east-1")

    assert context.function_name == "create-payment"
    assert context.invoked_function_arn == "arn:aws:lambda:us-east-1:000000000000:function:create-payment"
    assert 0 < context.get_remaining_time_in_millis() <= 10_000
    assert context.aws_request_id
    assert context.memory_limit_in_mb > 0
