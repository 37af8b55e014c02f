"""Failover through the global endpoint: take eu down, traffic moves to us, then comes back.

The numbers (failed requests during the switch, seconds to switch and to return) are recorded as
test properties and printed; they are reported, not asserted, as they depend on the machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.e2e.conftest import KEY_A, Api, LocalStack, Reply

pytestmark = pytest.mark.e2e

EU, US = "eu-west-1", "us-east-1"
# Far above the 10 s requirement: the loops below only need *some* bound to never hang.
SWITCH_DEADLINE = 30.0
PACE = 0.05
SUCCESSES_AFTER_SWITCH = 5


def test_failover_to_us_and_back(stack: LocalStack, record_property: Callable[[str, object], None]) -> None:
    api = stack.api(KEY_A)
    control = stack.api(None)
    before = api.create_payment()
    assert (before.status, before.body["region"]) == (201, EU)

    try:
        down = control.request("POST", "/_local/regions/eu/outage")
        assert (down.status, down.body) == (200, {"region": EU, "outage": True})
        _assert_region_is_down(stack)

        failures, switch_seconds = _pay_until_served_by_us(api)
        _assert_old_payment_still_readable(api, before.body)
    finally:
        control.request("DELETE", "/_local/regions/eu/outage")
    back_seconds = _seconds_until(lambda: _serving_region(control) == EU)
    after = api.create_payment()
    assert (after.status, after.body["region"]) == (201, EU)

    record_property("failover_failed_requests", len(failures))
    record_property("failover_switch_seconds", round(switch_seconds, 2))
    record_property("failover_back_seconds", round(back_seconds, 2))
    print(
        f"\nfailover: {len(failures)} failed requests, switched in {switch_seconds:.2f} s, back in {back_seconds:.2f} s"
    )


def _assert_region_is_down(stack: LocalStack) -> None:
    health = stack.api(None, stack.eu_url).request("GET", "/health")
    assert health.status == 503 and health.body["error"]["type"] == "service_unavailable"
    assert health.headers.get("x-request-id")


def _pay_until_served_by_us(api: Api) -> tuple[list[Reply], float]:
    """Pay through the global endpoint until us serves; every failure must come before the switch."""
    failures: list[Reply] = []
    successes = 0
    started = time.monotonic()
    switched_at = 0.0
    while successes < SUCCESSES_AFTER_SWITCH:
        assert time.monotonic() - started < SWITCH_DEADLINE, "traffic never moved to us-east-1"
        reply = api.create_payment()
        if reply.status == 201:
            assert reply.body["region"] == US
            switched_at = switched_at or time.monotonic()
            successes += 1
        else:
            assert successes == 0, f"a failure after the switch: {reply}"
            assert (reply.status, reply.body["error"]["type"]) == (503, "service_unavailable")
            assert reply.headers.get("x-request-id")
            failures.append(reply)
        time.sleep(PACE)
    return failures, switched_at - started


def _assert_old_payment_still_readable(api: Api, payment: dict[str, object]) -> None:
    fetched = api.request("GET", f"/v1/payments/{payment['id']}")
    assert (fetched.status, fetched.body) == (200, payment)
    assert _serving_region(api) == US


def _serving_region(api: Api) -> str | None:
    reply = api.request("GET", "/health")
    return str(reply.body["region"]) if reply.status == 200 else None


def _seconds_until(condition: Callable[[], bool]) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < SWITCH_DEADLINE, "traffic never returned to eu-west-1"
        time.sleep(PACE)
    return time.monotonic() - started
