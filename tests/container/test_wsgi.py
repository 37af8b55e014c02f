"""The WSGI adapter: a request as gunicorn hands it over becomes API Gateway's proxy event, and the
handler's result the HTTP response; the local-only outage switch answers loopback only."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from typing import Any

import pytest

from container import spec, wsgi
from container.wsgi import WsgiApplication
from handlers.contract import messages, routes
from handlers.contract.gateway_errors import error_body
from handlers.contract.routes import Function, Route
from proxy_gateway.lambda_proxy import DROP_CONNECTION_HEADER
from proxy_gateway.outage import SimulatedOutage
from proxy_gateway.rest_api import RestApi
from tests.local import fake_handlers


class Started:
    status = ""
    headers: list[tuple[str, str]]

    def __call__(self, status: str, headers: list[tuple[str, str]]) -> None:
        self.status, self.headers = status, headers

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def environ(method: str = "GET", raw_uri: str = "/health", body: bytes = b"", **headers: str) -> dict[str, Any]:
    path, _, query = raw_uri.partition("?")
    env: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "RAW_URI": raw_uri,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.input": io.BytesIO(body),
    }
    if body:
        env["CONTENT_LENGTH"] = str(len(body))
        env["CONTENT_TYPE"] = "application/json"
    env.update(headers)
    return env


def call(app: WsgiApplication, env: dict[str, Any]) -> tuple[Started, bytes]:
    started = Started()
    chunks: Iterable[bytes] = app(env, started)
    return started, b"".join(chunks)


@pytest.fixture
def api() -> RestApi:
    fake_handlers.AUTHORIZER_EVENTS.clear()
    return RestApi(
        region="eu-west-1",
        routes=fake_handlers.ROUTES,
        authorizer=fake_handlers.AUTHORIZER,
        authorizer_cache_seconds=300,
    )


def test_the_handler_gets_api_gateways_proxy_event(api: RestApi) -> None:
    body = json.dumps({"amount": 1}).encode()
    env = environ(
        "POST",
        "/things?b=1&b=2&card=%20x",
        body,
        HTTP_AUTHORIZATION="Bearer good",
        HTTP_IDEMPOTENCY_KEY="k-1",
        HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.7",
    )

    started, raw = call(WsgiApplication(api), env)

    assert started.status == "200 OK"
    event = json.loads(raw)["event"]
    assert event["httpMethod"] == "POST" and event["resource"] == "/things"
    assert event["headers"]["Idempotency-Key"] == "k-1"
    assert event["headers"]["Content-Type"] == "application/json"
    assert event["multiValueQueryStringParameters"] == {"b": ["1", "2"], "card": [" x"]}
    assert json.loads(event["body"]) == {"amount": 1}
    assert event["requestContext"]["authorizer"]["merchant_id"] == "m_good"
    # Behind the ALB the client is the address the load balancer appended last.
    assert event["requestContext"]["identity"]["sourceIp"] == "198.51.100.7"
    assert started.header("X-Request-Id") == event["requestContext"]["requestId"]
    assert started.header("Content-Length") == str(len(raw))


def test_a_percent_encoded_path_reaches_the_router_as_sent(api: RestApi) -> None:
    started, raw = call(WsgiApplication(api), environ(raw_uri="/files/a%2Fb/c", HTTP_AUTHORIZATION="x"))

    assert started.status == "200 OK"
    assert json.loads(raw)["event"]["pathParameters"] == {"path": "a/b/c"}


def test_without_raw_uri_the_target_is_rebuilt_from_path_and_query(api: RestApi) -> None:
    env = environ(raw_uri="/things/t 1?x=1", HTTP_AUTHORIZATION="Bearer good")
    del env["RAW_URI"]

    _, raw = call(WsgiApplication(api), env)

    event = json.loads(raw)["event"]
    assert (event["pathParameters"], event["queryStringParameters"]) == ({"id": "t 1"}, {"x": "1"})


@pytest.mark.parametrize(
    ("target", "authorization", "status", "error_type", "message"),
    [
        ("/things", None, "401 Unauthorized", "unauthorized", messages.MISSING_HEADER),
        ("/things", "Bearer deny", "401 Unauthorized", "unauthorized", fake_handlers.DENIAL),
        (
            "/things",
            "Bearer broken",
            "503 Service Unavailable",
            "service_unavailable",
            "The API key could not be checked; retry shortly.",
        ),
        ("/nope", None, "404 Not Found", "not_found", "No route matches the request's method and path."),
        ("/boom", None, "502 Bad Gateway", "internal_error", messages.INTERNAL_ERROR),
    ],
)
def test_gateway_errors_are_the_deployed_gateway_responses(
    api: RestApi, target: str, authorization: str | None, status: str, error_type: str, message: str
) -> None:
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    started, raw = call(WsgiApplication(api), environ(raw_uri=target, **headers))

    assert started.status == status
    assert raw == error_body(error_type, message).encode()  # compact, as API Gateway renders the template
    assert started.header("X-Request-Id")
    assert started.header("Retry-After") == ("1" if error_type in ("service_unavailable", "internal_error") else None)


def dropping(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A result with the local stack's drop-connection marker, as the bank simulator's card sends."""
    return {"statusCode": 502, "headers": {DROP_CONNECTION_HEADER: "true"}, "body": ""}


def test_the_local_drop_connection_marker_is_stripped_and_the_result_answered() -> None:
    function = Function("dropping", "tests.container.test_wsgi.dropping", ())
    api = RestApi(region="eu-west-1", routes=(Route("GET", "/drop", function, False),))

    started, raw = call(WsgiApplication(api), environ(raw_uri="/drop"))

    assert (started.status, raw) == ("502 Bad Gateway", b"")
    assert started.header(DROP_CONNECTION_HEADER) is None


def test_a_body_over_api_gateways_limit_is_413_without_reading_it(
    api: RestApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wsgi, "MAX_BODY_BYTES", 10)
    declared = environ("POST", "/things", b"x" * 11, HTTP_AUTHORIZATION="Bearer good")
    chunked = environ("POST", "/things", b"x" * 11, HTTP_AUTHORIZATION="Bearer good")
    del chunked["CONTENT_LENGTH"]

    for env in (declared, chunked):
        started, raw = call(WsgiApplication(api), env)
        assert started.status.startswith("413")
        assert raw == error_body("payload_too_large", messages.BODY_TOO_LARGE).encode()  # REQUEST_TOO_LARGE's
        assert started.header("X-Request-Id")
    assert declared["wsgi.input"].tell() == 0
    assert fake_handlers.AUTHORIZER_EVENTS == []


def test_head_sends_headers_only(api: RestApi) -> None:
    started, raw = call(WsgiApplication(api), environ("HEAD", "/files/x"))

    assert raw == b"" and started.status == "404 Not Found"  # no HEAD route, as on API Gateway


def test_without_local_control_the_outage_path_is_an_unknown_route(api: RestApi) -> None:
    started, _ = call(WsgiApplication(api), environ("POST", "/_local/outage"))

    assert started.status == "404 Not Found"


def test_the_local_outage_switch_answers_loopback_only(api: RestApi) -> None:
    app = WsgiApplication(api, SimulatedOutage("eu-west-1", api.handle))
    from_alb = environ("POST", "/_local/outage", REMOTE_ADDR="10.0.1.25")

    assert call(app, from_alb)[0].status == "404 Not Found"
    assert call(app, environ("GET", "/health"))[0].status == "200 OK"

    started, raw = call(app, environ("POST", "/_local/outage"))
    assert (started.status, json.loads(raw)) == ("200 OK", {"region": "eu-west-1", "outage": True})
    started, raw = call(app, environ("GET", "/health"))
    assert started.status.startswith("503") and json.loads(raw)["error"]["type"] == "service_unavailable"

    call(app, environ("DELETE", "/_local/outage"))
    assert call(app, environ("GET", "/health"))[0].status == "200 OK"


def test_the_load_balancers_health_path_is_the_apis_unauthenticated_health_route() -> None:
    assert Route("GET", spec.HEALTH_PATH, routes.HEALTH, False) in routes.ROUTES


class Untouchable:
    """An API that must not be reached: the liveness probe answers without it (and so without DynamoDB)."""

    def __call__(self, request: Any) -> Any:
        raise AssertionError(f"the API was called for {request.path}")


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_the_liveness_path_answers_200_without_the_api_or_any_io(method: str) -> None:
    started, raw = call(WsgiApplication(Untouchable()), environ(method, spec.LIVENESS_PATH))

    assert started.status == "200 OK"
    assert raw == (b"" if method == "HEAD" else b'{"status":"live"}')
    assert started.header("Content-Type") == "application/json" and started.header("X-Request-Id")


def test_only_the_liveness_path_itself_skips_the_api(api: RestApi) -> None:
    assert call(WsgiApplication(api), environ("POST", spec.LIVENESS_PATH))[0].status == "404 Not Found"
    assert call(WsgiApplication(api), environ("GET", spec.LIVENESS_PATH + "x"))[0].status == "404 Not Found"
