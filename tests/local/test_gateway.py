"""The regional gateway: routing, the authorizer step and its cache, errors, the outage flag."""

from __future__ import annotations

import json
from typing import Any

import pytest

from handlers.contract import limits, messages
from handlers.contract.routes import Function, Route
from local_gateway.gateway import Gateway
from proxy_gateway import invoker
from proxy_gateway.messages import HttpRequest, HttpResponse
from tests.local import fake_handlers
from tests.local.conftest import FakeClock


def _get(gateway: Gateway, path: str, token: str | None = "Bearer good", method: str = "GET") -> HttpResponse:
    headers = (("Authorization", token),) if token is not None else ()
    return gateway(HttpRequest(method, path, headers))


def _json(response: HttpResponse) -> Any:
    return json.loads(response.body)


def _assert_error(response: HttpResponse, status: int, error_type: str) -> None:
    assert response.status == status
    assert _json(response)["error"]["type"] == error_type
    assert response.header("Content-Type") == "application/json"
    assert response.header("X-Request-Id")


def test_an_authorized_request_reaches_the_handler_with_the_authorizer_context(gateway: Gateway) -> None:
    response = _get(gateway, "/things/t1?x=1")

    assert response.status == 200
    event = _json(response)["event"]
    assert event["pathParameters"] == {"id": "t1"}
    assert event["requestContext"]["authorizer"] == {
        "principalId": "user",
        "merchant_id": "m_good",
        "tier": "2",
        "vip": "true",
    }
    assert response.header("X-Request-Id") == event["requestContext"]["requestId"]
    assert _json(response)["function"] == "echo"


def test_every_response_gets_a_fresh_request_id(gateway: Gateway) -> None:
    first, second = _get(gateway, "/health", None), _get(gateway, "/health", None)

    assert first.header("X-Request-Id") != second.header("X-Request-Id")


@pytest.mark.parametrize("path,method", [("/nope", "GET"), ("/things/a/b", "GET"), ("/health", "POST")])
def test_unknown_route_or_method_is_404_not_found_without_calling_the_authorizer(
    gateway: Gateway, path: str, method: str
) -> None:
    response = _get(gateway, path, method=method)

    _assert_error(response, 404, "not_found")
    assert _json(response)["error"]["message"] == "No route matches the request's method and path."
    assert fake_handlers.AUTHORIZER_EVENTS == []


@pytest.mark.parametrize("path", ["/things", "/health", "/nope"])
def test_a_body_over_the_limit_is_refused_as_waf_does_before_routing_and_the_authorizer(
    gateway: Gateway, path: str
) -> None:
    request = HttpRequest("POST", path, (("Authorization", "Bearer good"),), b"x" * (limits.MAX_BODY_BYTES + 1))
    response = gateway(request)

    assert (response.status, _json(response)) == (
        413,
        {"error": {"type": "payload_too_large", "message": messages.BODY_TOO_LARGE}},
    )
    assert response.header("X-Request-Id") is None  # WAF answers before API Gateway
    assert fake_handlers.AUTHORIZER_EVENTS == []


def test_a_body_at_the_limit_reaches_the_handler(gateway: Gateway) -> None:
    request = HttpRequest("POST", "/things", (("Authorization", "Bearer good"),), b"x" * limits.MAX_BODY_BYTES)

    assert gateway(request).status == 200


def test_without_waf_a_large_body_reaches_the_handler(clock: FakeClock) -> None:
    bare = Gateway(region="eu-west-1", routes=fake_handlers.ROUTES[3:], waf_body_limit=None, clock=clock)

    assert bare(HttpRequest("GET", "/health", (), b"x" * (limits.MAX_BODY_BYTES + 1))).status == 200


@pytest.mark.parametrize("token", [None, ""])
def test_missing_authorization_is_401_without_calling_the_authorizer(gateway: Gateway, token: str | None) -> None:
    _assert_error(_get(gateway, "/things", token), 401, "unauthorized")
    assert fake_handlers.AUTHORIZER_EVENTS == []


def test_unauthorized_from_the_authorizer_is_401(gateway: Gateway) -> None:
    _assert_error(_get(gateway, "/things", "Bearer wrong"), 401, "unauthorized")


def test_a_deny_policy_is_401_as_the_deployed_access_denied_response(gateway: Gateway) -> None:
    response = _get(gateway, "/things", "Bearer deny")

    _assert_error(response, 401, "unauthorized")
    assert response.body == b'{"error":{"type":"unauthorized","message":"Denied by the test authorizer."}}'


def test_a_deny_without_a_message_still_has_the_error_shape(gateway: Gateway) -> None:
    response = _get(gateway, "/things", "Bearer deny-silently")

    _assert_error(response, 401, "unauthorized")
    assert _json(response)["error"]["message"] == ""


@pytest.mark.parametrize("token", [None, ""])
def test_a_missing_header_gets_the_gateways_own_message(gateway: Gateway, token: str | None) -> None:
    assert _json(_get(gateway, "/things", token))["error"]["message"] == messages.MISSING_HEADER


def test_a_cached_policy_is_evaluated_against_each_method_arn(gateway: Gateway) -> None:
    assert _get(gateway, "/things", "Bearer narrow").status == 200

    _assert_error(_get(gateway, "/things/t1", "Bearer narrow"), 401, "unauthorized")
    assert len(fake_handlers.AUTHORIZER_EVENTS) == 1


def test_a_failing_authorizer_is_503_with_retry_after_and_not_cached(gateway: Gateway) -> None:
    for _ in range(2):
        response = _get(gateway, "/things", "Bearer broken")
        _assert_error(response, 503, "service_unavailable")
        assert response.header("Retry-After") == "1"

    assert len(fake_handlers.AUTHORIZER_EVENTS) == 2


def test_allow_is_cached_per_authorization_header_until_it_expires(gateway: Gateway, clock: FakeClock) -> None:
    for _ in range(3):
        assert _get(gateway, "/things").status == 200
    assert len(fake_handlers.AUTHORIZER_EVENTS) == 1

    assert _get(gateway, "/things", "Bearer narrow").status == 200
    assert len(fake_handlers.AUTHORIZER_EVENTS) == 2

    clock.advance(299)
    assert _get(gateway, "/things").status == 200
    assert len(fake_handlers.AUTHORIZER_EVENTS) == 2

    clock.advance(2)
    assert _get(gateway, "/things").status == 200
    assert len(fake_handlers.AUTHORIZER_EVENTS) == 3


def test_unauthorized_is_cached_too(gateway: Gateway, clock: FakeClock) -> None:
    for _ in range(2):
        _assert_error(_get(gateway, "/things", "Bearer wrong"), 401, "unauthorized")
    assert len(fake_handlers.AUTHORIZER_EVENTS) == 1

    clock.advance(301)
    _get(gateway, "/things", "Bearer wrong")
    assert len(fake_handlers.AUTHORIZER_EVENTS) == 2


def test_the_authorizer_gets_a_request_event(gateway: Gateway) -> None:
    _get(gateway, "/things/t9")

    event = fake_handlers.AUTHORIZER_EVENTS[0]
    assert event["type"] == "REQUEST"
    assert event["methodArn"].endswith(":local/local/GET/things/t9")
    assert event["resource"] == "/things/{id}"


def test_a_handler_that_raises_is_502_without_details(gateway: Gateway) -> None:
    response = _get(gateway, "/boom", None)

    _assert_error(response, 502, "internal_error")
    assert b"secret" not in response.body


def test_a_malformed_result_is_502(gateway: Gateway) -> None:
    _assert_error(_get(gateway, "/malformed", None), 502, "internal_error")


def test_binary_results_are_decoded(gateway: Gateway) -> None:
    response = _get(gateway, "/things/special", None)

    assert response.body == b"\x00\xff"
    assert response.header("Content-Length") is None


def test_outage_makes_everything_503_until_lifted(gateway: Gateway) -> None:
    on = gateway(HttpRequest("POST", "/_local/outage"))
    assert _json(on) == {"region": "eu-west-1", "outage": True}

    _assert_error(_get(gateway, "/health", None), 503, "service_unavailable")
    _assert_error(_get(gateway, "/things"), 503, "service_unavailable")
    assert _json(gateway(HttpRequest("GET", "/_local/outage")))["outage"] is True

    gateway(HttpRequest("DELETE", "/_local/outage"))
    assert _get(gateway, "/health", None).status == 200


def test_outage_control_accepts_only_post_delete_get(gateway: Gateway) -> None:
    _assert_error(gateway(HttpRequest("PUT", "/_local/outage")), 404, "not_found")


def test_preload_imports_every_handler(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    gateway.preload()

    def not_preloaded(dotted_name: str) -> Any:
        raise AssertionError(f"{dotted_name} was not preloaded")

    monkeypatch.setattr(invoker, "load_object", not_preloaded)  # nothing may be imported from now on
    for function in [*(route.function for route in fake_handlers.ROUTES), fake_handlers.AUTHORIZER]:
        assert gateway.invoker.resolve(function.handler) is getattr(fake_handlers, function.name)


def test_preload_fails_on_a_handler_that_cannot_be_imported() -> None:
    broken = Route("GET", "/broken", Function("broken", "tests.local.no_such_module.handler", ()), False)
    with pytest.raises(ModuleNotFoundError):
        Gateway(region="eu-west-1", routes=[broken]).preload()


def test_authorized_routes_need_an_authorizer() -> None:
    with pytest.raises(ValueError, match="authorizer"):
        Gateway(region="eu-west-1", routes=fake_handlers.ROUTES)
