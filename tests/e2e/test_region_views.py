"""Each region's local views, whichever compute option serves it (the `stack` fixture runs both):
its own window in the live view's data, and one readable access line per request on the console."""

from __future__ import annotations

import re
import time
import uuid

import pytest

from tests.e2e.conftest import LocalStack

pytestmark = pytest.mark.e2e

LOG_WAIT_SECONDS = 10.0  # a bound for a line that never comes, not a performance limit


def test_the_live_view_has_each_regions_own_window(stack: LocalStack) -> None:
    assert stack.api(None).request("GET", "/health").status == 200  # served by eu

    reply = stack.api(None).request("GET", "/_local/stats")

    assert reply.status == 200
    regions = {entry["region"]: entry for entry in reply.body["regions"]}
    for name in ("eu-west-1", "us-east-1"):
        own = regions[name]["own"]
        assert own is not None, f"{name} served no window of its own"
        assert (own["region"], own["outage"], own["window_seconds"]) == (name, False, 60)
    assert regions["eu-west-1"]["own"]["counts"]["requests"]["200"] >= 1


def test_each_request_has_one_readable_access_line_with_its_region(stack: LocalStack) -> None:
    payment_id = f"pay_{uuid.uuid4().hex}"
    assert stack.api().request("GET", f"/v1/payments/{payment_id}").status == 404
    line = re.compile(rf"\d\d:\d\d:\d\d eu-west-1 GET /v1/payments/{payment_id} 404 \d+\.\d ms")

    deadline = time.monotonic() + LOG_WAIT_SECONDS
    while not (found := [x for x in stack.log.read_text().splitlines() if line.fullmatch(x)]):
        assert time.monotonic() < deadline, f"no access line for {payment_id} in {stack.log}"
        time.sleep(0.1)
    assert len(found) == 1
