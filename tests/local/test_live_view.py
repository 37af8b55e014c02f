"""The live view on the global endpoint: its page and files, and `/_local/stats` across both regions."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from local_gateway.gateway import Gateway
from local_gateway.global_endpoint import GlobalEndpoint, HealthTracker
from local_gateway.http_server import LocalHTTPServer
from local_gateway.live_stats import RegionStatsApp, RollingStats
from local_gateway.live_view import STATIC_DIR
from local_gateway.probes import HEALTH_CHECK_USER_AGENT
from local_gateway.runner import Options, Stack, banner
from local_gateway.topology import RegionEndpoint
from proxy_gateway.messages import HttpRequest, HttpResponse
from tests.local import fake_handlers

EU, US = "eu-west-1", "us-east-1"


@pytest.fixture
def regions() -> Iterator[list[tuple[RegionEndpoint, Gateway]]]:
    """Both regions on real sockets, each behind its RegionStatsApp as in the child process."""
    started = []
    for key, name in (("eu", EU), ("us", US)):
        gateway = Gateway(region=name, routes=fake_handlers.ROUTES, authorizer=fake_handlers.AUTHORIZER)
        app = RegionStatsApp(gateway, RollingStats(), untimed_user_agents=[HEALTH_CHECK_USER_AGENT])
        server = LocalHTTPServer(0, app, name=name)
        server.start_in_thread()
        started.append((RegionEndpoint(key, name, server.port), gateway, server))
    yield [(endpoint, gateway) for endpoint, gateway, _ in started]
    for _, _, server in started:
        server.stop()


@pytest.fixture
def endpoint(regions: list[tuple[RegionEndpoint, Gateway]]) -> Iterator[GlobalEndpoint]:
    tracker = HealthTracker([EU, US], threshold=1)
    endpoint = GlobalEndpoint([r[0] for r in regions], tracker)
    yield endpoint
    endpoint.close()


def _get(endpoint: GlobalEndpoint, path: str) -> HttpResponse:
    return endpoint(HttpRequest("GET", path))


def _stats(endpoint: GlobalEndpoint) -> dict[str, Any]:
    response = _get(endpoint, "/_local/stats")
    assert response.status == 200 and response.header("Content-Type") == "application/json"
    loaded: dict[str, Any] = json.loads(response.body)
    return loaded


@pytest.mark.parametrize(
    "path,content_type,marker",
    [
        ("/_local/", "text/html; charset=utf-8", b"<title>Local payment gateway: live view</title>"),
        ("/_local/static/live.js", "text/javascript; charset=utf-8", b"/_local/stats"),
        ("/_local/static/live.css", "text/css; charset=utf-8", b".region"),
        ("/_local/static/vendor/uPlot.iife.min.js", "text/javascript; charset=utf-8", b"uPlot (v1.6.32)"),
        ("/_local/static/vendor/uPlot.min.css", "text/css; charset=utf-8", b".uplot"),
    ],
)
def test_the_page_and_its_files_are_served_with_their_content_types(
    endpoint: GlobalEndpoint, path: str, content_type: str, marker: bytes
) -> None:
    response = _get(endpoint, path)

    assert (response.status, response.header("Content-Type")) == (200, content_type)
    assert marker in response.body


@pytest.mark.parametrize(
    "path",
    [
        "/_local/static/vendor/LICENSE-uPlot",
        "/_local/static/vendor/README.md",
        "/_local/static/../live_view.py",
        "/_local/static/%2e%2e/live_view.py",
        "/_local/static/nothing.js",
    ],
)
def test_nothing_but_the_pages_files_is_served(endpoint: GlobalEndpoint, path: str) -> None:
    response = _get(endpoint, path)

    assert response.status == 404 and json.loads(response.body)["error"]["type"] == "not_found"


def test_the_page_links_only_files_that_are_served(endpoint: GlobalEndpoint) -> None:
    page = (STATIC_DIR / "live.html").read_text()
    for linked in ("/_local/static/vendor/uPlot.iife.min.js", "/_local/static/live.js", "/_local/static/live.css"):
        assert f'"{linked}"' in page
        assert _get(endpoint, linked).status == 200


def test_stats_join_the_routing_with_each_regions_own_numbers(endpoint: GlobalEndpoint) -> None:
    for _ in range(3):
        assert _get(endpoint, "/health").status == 200
    assert _get(endpoint, "/nowhere").status == 404

    stats = _stats(endpoint)

    assert stats["serving"] == EU
    eu, us = stats["regions"]
    assert (eu["key"], eu["healthy"], eu["serving"], eu["outage"]) == ("eu", True, True, False)
    assert eu["routed"]["counts"] == {"requests": {"200": 3, "404": 1}}
    assert eu["routed"]["latency_ms"]["request"]["count"] == 4
    assert eu["own"]["counts"] == {"requests": {"200": 3, "404": 1}}
    assert (us["serving"], us["routed"]["counts"], us["own"]["counts"]) == (False, {}, {})


def test_after_an_outage_the_stats_show_it_and_traffic_counts_go_to_us(
    endpoint: GlobalEndpoint, regions: list[tuple[RegionEndpoint, Gateway]]
) -> None:
    tracker = endpoint._tracker  # the health checks' verdict, without waiting for them
    assert endpoint(HttpRequest("POST", "/_local/regions/eu/outage")).status == 200
    tracker.record(EU, False)

    _get(endpoint, "/health")
    stats = _stats(endpoint)

    eu, us = stats["regions"]
    assert stats["serving"] == US
    assert (eu["healthy"], eu["outage"], us["serving"]) == (False, True, True)
    assert us["routed"]["counts"] == {"requests": {"200": 1}}
    assert eu["routed"]["counts"] == {}


def test_a_region_that_does_not_answer_has_no_own_stats() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = RegionEndpoint("eu", EU, sock.getsockname()[1])
    endpoint = GlobalEndpoint([closed], HealthTracker([EU]))

    (eu,) = _stats(endpoint)["regions"]

    assert (eu["own"], eu["outage"]) == (None, None)


def test_the_banner_links_the_live_view() -> None:
    class FakeServer:
        url = "http://127.0.0.1:8080"

    stack = Stack(FakeServer(), bank_url="http://127.0.0.1:8083/payments", dynamodb_url="http://127.0.0.1:5000")  # type: ignore[arg-type]
    stack.merchants = [("m_a", "sk_test_key")]

    lines = banner(stack, Options()).splitlines()

    assert any(line.split() == ["live", "view", "(browser)", "http://127.0.0.1:8080/_local/"] for line in lines)
