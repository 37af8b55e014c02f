"""The Route 53 stand-in: health-check state, routing choice, forwarding and the control routes."""

from __future__ import annotations

import functools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from local_gateway import http_server
from local_gateway.gateway import Gateway
from local_gateway.global_endpoint import (
    PROBE_TIMEOUT,
    ConnectionPool,
    GlobalEndpoint,
    HealthChecker,
    HealthTracker,
    http_probe,
)
from local_gateway.http_server import LocalHTTPServer
from local_gateway.topology import RegionEndpoint
from proxy_gateway.messages import HttpRequest
from tests.local import fake_handlers
from tests.local.conftest import FakeClock

EU, US = "eu-west-1", "us-east-1"


class FakeRegion:
    """A region whose health checks pass or fail on demand; a hanging probe uses up the timeout."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.up = True
        self.hangs = False

    def probe(self) -> bool:
        if self.hangs:
            self.clock.advance(PROBE_TIMEOUT)
        return self.up and not self.hangs


def _simulate_until(
    clock: FakeClock, checkers: list[HealthChecker], done: Callable[[], bool], limit: float = 60.0
) -> float:
    """Run the checkers on simulated time until done() holds; return the simulated seconds it took."""
    started = clock.now
    while not done():
        assert clock.now - started < limit, "never happened"
        for checker in checkers:
            checker.poll()
        clock.advance(0.05)
    return clock.now - started


@pytest.fixture
def world(clock: FakeClock) -> tuple[HealthTracker, dict[str, FakeRegion], list[HealthChecker]]:
    tracker = HealthTracker([EU, US])
    regions = {EU: FakeRegion(clock), US: FakeRegion(clock)}
    checkers = [HealthChecker(name, region.probe, tracker, clock=clock) for name, region in regions.items()]
    return tracker, regions, checkers


def test_traffic_prefers_eu_while_it_is_healthy(
    world: tuple[HealthTracker, dict[str, FakeRegion], list[HealthChecker]],
) -> None:
    tracker, _, checkers = world
    for checker in checkers:
        checker.poll()

    assert tracker.choose() == EU


@pytest.mark.parametrize("hangs", [False, True])
def test_a_failing_region_stops_receiving_traffic_within_10_s_and_gets_it_back(
    clock: FakeClock, world: tuple[HealthTracker, dict[str, FakeRegion], list[HealthChecker]], hangs: bool
) -> None:
    tracker, regions, checkers = world
    for checker in checkers:
        checker.poll()

    regions[EU].up = False
    regions[EU].hangs = hangs
    to_us = _simulate_until(clock, checkers, lambda: tracker.choose() == US)
    regions[EU].up, regions[EU].hangs = True, False
    back_to_eu = _simulate_until(clock, checkers, lambda: tracker.choose() == EU)

    assert to_us <= 10.0
    assert back_to_eu <= 10.0


def test_one_failed_check_does_not_flip_a_region(clock: FakeClock) -> None:
    tracker = HealthTracker([EU, US], threshold=2)

    tracker.record(EU, False)
    tracker.record(EU, True)
    tracker.record(EU, False)

    assert tracker.is_healthy(EU) and tracker.choose() == EU


def test_when_no_region_is_healthy_traffic_goes_to_the_first_as_route53_does() -> None:
    tracker = HealthTracker([EU, US], threshold=1)
    tracker.record(EU, False)
    tracker.record(US, False)

    assert tracker.choose() == EU


def test_checker_runs_on_its_interval(clock: FakeClock) -> None:
    probes: list[float] = []

    def probe() -> bool:
        probes.append(clock.now)
        return True

    checker = HealthChecker(EU, probe, HealthTracker([EU]), interval=1.0, clock=clock)
    for _ in range(30):
        checker.poll()
        clock.advance(0.1)

    assert len(probes) == 3


# ---- over real sockets, with the fake handlers behind two in-process regional gateways ----


@pytest.fixture
def regions() -> Iterator[list[tuple[RegionEndpoint, Gateway, LocalHTTPServer]]]:
    started = []
    for key, name in (("eu", EU), ("us", US)):
        gateway = Gateway(region=name, routes=fake_handlers.ROUTES, authorizer=fake_handlers.AUTHORIZER)
        server = LocalHTTPServer(0, gateway, name=name)
        server.start_in_thread()
        started.append((RegionEndpoint(key, name, server.port), gateway, server))
    yield started
    for _, _, server in started:
        server.stop()


def _region_of(endpoint: GlobalEndpoint) -> str:
    response = endpoint(HttpRequest("GET", "/health"))
    assert response.status == 200
    return str(json.loads(response.body)["region"])


def test_requests_are_forwarded_with_the_regions_headers(
    regions: list[tuple[RegionEndpoint, Gateway, LocalHTTPServer]],
) -> None:
    endpoint = GlobalEndpoint([r[0] for r in regions], HealthTracker([EU, US]))

    response = endpoint(HttpRequest("GET", "/things/t1", (("Authorization", "Bearer good"), ("Host", "api.local"))))

    assert response.status == 200
    event = json.loads(response.body)["event"]
    assert event["requestContext"]["domainName"] == "api.local"  # DNS keeps the client's Host
    assert response.header("X-Request-Id") == event["requestContext"]["requestId"]
    assert [name for name, _ in response.headers].count("Date") <= 1
    endpoint.close()


def test_outage_routes_are_forwarded_to_the_region(
    regions: list[tuple[RegionEndpoint, Gateway, LocalHTTPServer]],
) -> None:
    endpoint = GlobalEndpoint([r[0] for r in regions], HealthTracker([EU, US]))
    eu_gateway = regions[0][1]

    down = endpoint(HttpRequest("POST", "/_local/regions/eu/outage"))
    assert (down.status, json.loads(down.body)) == (200, {"region": EU, "outage": True})
    assert eu_gateway.outage.is_set()
    assert endpoint(HttpRequest("GET", "/health")).status == 503  # until the health checks notice

    endpoint(HttpRequest("DELETE", "/_local/regions/eu/outage"))
    assert not eu_gateway.outage.is_set()


@pytest.mark.parametrize(
    "method,path",
    [("POST", "/_local/regions/asia/outage"), ("PUT", "/_local/regions/eu/outage"), ("GET", "/_local/nothing")],
)
def test_unknown_control_routes_are_404(
    regions: list[tuple[RegionEndpoint, Gateway, LocalHTTPServer]], method: str, path: str
) -> None:
    endpoint = GlobalEndpoint([r[0] for r in regions], HealthTracker([EU, US]))

    response = endpoint(HttpRequest(method, path))

    assert response.status == 404 and json.loads(response.body)["error"]["type"] == "not_found"


def test_status_reports_health_and_the_serving_region(
    regions: list[tuple[RegionEndpoint, Gateway, LocalHTTPServer]],
) -> None:
    tracker = HealthTracker([EU, US], threshold=1)
    tracker.record(EU, False)
    endpoint = GlobalEndpoint([r[0] for r in regions], tracker)

    status = json.loads(endpoint(HttpRequest("GET", "/_local/regions")).body)

    assert status["serving"] == US
    assert [(r["key"], r["healthy"]) for r in status["regions"]] == [("eu", False), ("us", True)]


def test_a_region_that_does_not_answer_is_a_503_not_a_retry_elsewhere() -> None:
    closed = RegionEndpoint("eu", EU, _unused_port())
    endpoint = GlobalEndpoint([closed], HealthTracker([EU]))

    response = endpoint(HttpRequest("GET", "/health"))

    assert response.status == 503 and response.header("Retry-After") == "1"
    assert json.loads(response.body)["error"]["type"] == "service_unavailable"
    assert "the request was not sent" in json.loads(response.body)["error"]["message"]
    assert response.header("X-Request-Id")
    assert http_probe(closed) is False


def test_the_pool_reuses_connections_and_replaces_one_the_region_closed_while_idle(
    regions: list[tuple[RegionEndpoint, Gateway, LocalHTTPServer]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_server._RequestHandler, "timeout", 0.2)  # the region closes idle connections fast
    pool = ConnectionPool(regions[0][0])
    opened = []
    connect = pool._connect
    monkeypatch.setattr(pool, "_connect", lambda: opened.append(1) or connect())

    assert pool.send(HttpRequest("GET", "/health")).status == 200
    assert pool.send(HttpRequest("GET", "/health")).status == 200
    assert len(opened) == 1  # kept alive
    time.sleep(0.5)
    assert pool.send(HttpRequest("GET", "/health")).status == 200  # the region closed it: seen before sending
    assert len(opened) == 2
    pool.close()


def test_failover_and_return_with_real_health_checks(
    regions: list[tuple[RegionEndpoint, Gateway, LocalHTTPServer]],
) -> None:
    endpoints = [r[0] for r in regions]
    tracker = HealthTracker([EU, US])
    stop = threading.Event()
    for region in endpoints:
        checker = HealthChecker(region.region, functools.partial(http_probe, region), tracker, interval=0.05)
        threading.Thread(target=checker.run, args=(stop,), daemon=True).start()
    endpoint = GlobalEndpoint(endpoints, tracker)
    try:
        assert _region_of(endpoint) == EU
        endpoint(HttpRequest("POST", "/_local/regions/eu/outage"))
        _wait_for(lambda: tracker.choose() == US)
        assert _region_of(endpoint) == US
        endpoint(HttpRequest("DELETE", "/_local/regions/eu/outage"))
        _wait_for(lambda: tracker.choose() == EU)
        assert _region_of(endpoint) == EU
    finally:
        stop.set()
        endpoint.close()


def _wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_http_probe_passes_on_a_healthy_region(regions: list[tuple[RegionEndpoint, Gateway, LocalHTTPServer]]) -> None:
    assert http_probe(regions[0][0]) is True
