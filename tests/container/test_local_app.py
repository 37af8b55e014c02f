"""What the local stack adds inside a container region's server (local_gateway.container_local),
driven through the WSGI adapter as gunicorn drives it: WAF's body rule, the outage switch, the live
view's stats, the readable access log and the resolver loop, all loopback-only where they are paths."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from container.wsgi import WsgiApplication
from handlers.contract import limits, messages
from handlers.entrypoints.observability import emit_metric
from local_gateway import container_local
from local_gateway.container_local import LocalRegionOptions, local_app
from local_gateway.logs import STACK_LOGGERS
from local_gateway.probes import HEALTH_CHECK_USER_AGENT
from proxy_gateway.rest_api import RestApi
from tests.container.test_wsgi import call, environ
from tests.local import fake_handlers


@pytest.fixture(autouse=True)
def _isolated_output(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """local_app tees sys.stdout and takes over the stack's loggers: both are put back after."""
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    saved = {name: (logging.getLogger(name).handlers[:], logging.getLogger(name).propagate) for name in STACK_LOGGERS}
    yield
    for name, (handlers, propagate) in saved.items():
        logging.getLogger(name).handlers[:] = handlers
        logging.getLogger(name).propagate = propagate


@pytest.fixture
def api() -> RestApi:
    fake_handlers.AUTHORIZER_EVENTS.clear()
    return RestApi(region="eu-west-1", routes=fake_handlers.ROUTES, authorizer=fake_handlers.AUTHORIZER)


def app_with(api: RestApi, **options: Any) -> WsgiApplication:
    env = LocalRegionOptions(**options).environment()
    return WsgiApplication(api, local_app(api, env))


def body_of(app: WsgiApplication, env: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    started, raw = call(app, env)
    return started.status, json.loads(raw)


def test_the_options_survive_the_environment() -> None:
    for options in (LocalRegionOptions(), LocalRegionOptions(True, None, 0.5), LocalRegionOptions(False, 10, 0)):
        assert LocalRegionOptions.from_environment(options.environment()) == options
    assert LocalRegionOptions.from_environment({}) == LocalRegionOptions()  # WAF on, no log, no resolver


def test_a_body_over_the_waf_limit_gets_wafs_413_before_the_authorizer(api: RestApi) -> None:
    app = app_with(api, waf_body_limit=limits.MAX_BODY_BYTES)
    body = b"x" * (limits.MAX_BODY_BYTES + 1)

    started, raw = call(app, environ("POST", "/things", body, HTTP_AUTHORIZATION="Bearer good"))

    assert started.status == "413 Request Entity Too Large"
    assert json.loads(raw) == {"error": {"type": "payload_too_large", "message": messages.BODY_TOO_LARGE}}
    assert started.header("X-Request-Id") is None  # WAF answers before the API
    assert fake_handlers.AUTHORIZER_EVENTS == []
    at_limit = environ("POST", "/things", b"x" * limits.MAX_BODY_BYTES, HTTP_AUTHORIZATION="Bearer good")
    assert call(app, at_limit)[0].status == "200 OK"


def test_the_outage_and_the_stats_answer_loopback_and_count_the_regions_requests(api: RestApi) -> None:
    app = app_with(api)
    call(app, environ("GET", "/health"))
    call(app, environ("GET", "/health", HTTP_USER_AGENT=HEALTH_CHECK_USER_AGENT))  # a probe: not traffic
    assert call(app, environ("POST", "/_local/outage"))[0].status == "200 OK"
    assert call(app, environ("GET", "/health"))[0].status.startswith("503")
    emit_metric("NS", "Payments", 1, "Count", {"Status": "authorized"})  # as a handler in this process

    status, stats = body_of(app, environ("GET", "/_local/stats"))

    assert status == "200 OK"
    assert (stats["region"], stats["outage"]) == ("eu-west-1", True)
    assert stats["counts"] == {"requests": {"200": 1, "503": 1}, "Payments": {"authorized": 1}}
    assert call(app, environ("GET", "/_local/stats", REMOTE_ADDR="10.0.1.25"))[0].status == "404 Not Found"


def test_each_request_but_the_probes_gets_a_readable_access_line(
    api: RestApi, capsys: pytest.CaptureFixture[str]
) -> None:
    app = app_with(api, access_log=True)

    call(app, environ("GET", "/things?card=4242424242424242", HTTP_AUTHORIZATION="Bearer good"))
    call(app, environ("GET", "/health", HTTP_USER_AGENT=HEALTH_CHECK_USER_AGENT))
    call(app, environ("GET", "/nope"))

    lines = capsys.readouterr().err.splitlines()
    assert [line[9:].rsplit(" ", 2)[0] for line in lines] == [
        "eu-west-1 GET /things 200",
        "eu-west-1 GET /nope 404",
    ]


def test_without_the_access_log_nothing_is_written(api: RestApi, capsys: pytest.CaptureFixture[str]) -> None:
    call(app_with(api), environ("GET", "/health"))

    assert capsys.readouterr().err == ""


def test_the_resolver_loop_runs_in_the_server_and_stops_during_the_outage(
    api: RestApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[tuple[Callable[[], bool], float]] = []
    ran = threading.Event()

    def fake_loop(is_down: Callable[[], bool], interval: float, stop: threading.Event) -> None:
        started.append((is_down, interval))
        ran.set()

    monkeypatch.setattr(container_local, "run_resolver", fake_loop)
    app = app_with(api, resolver_interval=0.5)
    assert ran.wait(10)
    ((is_down, interval),) = started

    assert interval == 0.5 and is_down() is False
    call(app, environ("POST", "/_local/outage"))
    assert is_down() is True


def test_no_resolver_loop_without_an_interval(api: RestApi, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[object] = []
    monkeypatch.setattr(container_local, "run_resolver", lambda *args: started.append(args))

    app_with(api, resolver_interval=0)

    assert started == []
