"""`--compute container` locally: a region child runs spec.COMMAND on the port it opened, takes
its server down with it however it dies, and the runner's respawn brings the region back."""

from __future__ import annotations

import http.client
import json
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from handlers.contract import limits
from local_gateway import launch
from local_gateway.runner import parse_args
from local_gateway.supervisor import Child, Supervisor
from local_gateway.topology import lambda_environment
from tests.container.conftest import TABLE

REGION = "us-east-1"


@pytest.fixture
def supervisor() -> Iterator[Supervisor]:
    with Supervisor() as supervisor:
        yield supervisor


def region_environment(dynamodb: str) -> dict[str, str]:
    env = lambda_environment(REGION, table_name=TABLE, dynamodb_url=dynamodb, bank_url="http://127.0.0.1:9/payments")
    env["LOG_LEVEL"] = "WARNING"
    return env


def spawn_region(supervisor: Supervisor, dynamodb: str, *flags: str) -> Child:
    args = ["container", "--port", "0", "--resolver-interval", "0", *flags]
    return supervisor.spawn(REGION, args, region_environment(dynamodb))


def call(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def gone(pids: list[int], within: float = 10.0) -> bool:
    deadline = time.monotonic() + within  # a bound for a broken stop only
    while time.monotonic() < deadline:
        if not [pid for pid in pids if _running(pid)]:
            return True
        time.sleep(0.05)
    return False


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_the_option_chooses_the_regions_server() -> None:
    assert parse_args([]).compute == "lambda"
    assert parse_args(["--compute", "container"]).compute == "container"
    command = launch.runner_command(compute="container")
    assert command[command.index("--compute") + 1] == "container"
    assert "--compute" not in launch.runner_command()
    with pytest.raises(SystemExit):
        parse_args(["--compute", "vm"])


def test_a_killed_region_takes_its_server_with_it_and_comes_back_on_its_port(
    supervisor: Supervisor,
    dynamodb_url: str,
) -> None:
    if not os.path.isdir("/proc"):
        pytest.skip("reads Linux's /proc")
    child = spawn_region(supervisor, dynamodb_url)
    port = supervisor.wait_ready(child, timeout=60)
    assert call(port, "GET", "/health") == (200, {"status": "ok", "region": REGION})
    assert call(port, "POST", "/_local/outage") == (200, {"region": REGION, "outage": True})
    assert call(port, "GET", "/health")[0] == 503
    servers = launch.descendants(child.pid)
    assert len(servers) >= 2  # gunicorn's master and its worker

    os.kill(child.pid, signal.SIGKILL)  # as a crash would: no chance to stop gunicorn itself
    child.process.wait()
    assert gone(servers), "gunicorn outlived its region process"

    restarted = supervisor.respawn(child)
    assert supervisor.wait_ready(restarted, timeout=60) == port
    # A new process: the outage it was in is over, as a restarted Lambda region's would be.
    assert call(port, "GET", "/health") == (200, {"status": "ok", "region": REGION})


def test_a_region_whose_server_dies_exits_so_the_runner_restarts_it(
    supervisor: Supervisor,
    dynamodb_url: str,
) -> None:
    child = spawn_region(supervisor, dynamodb_url)
    supervisor.wait_ready(child, timeout=60)
    (master, *_) = launch.descendants(child.pid)

    os.kill(master, signal.SIGKILL)

    assert child.process.wait(timeout=30) == 1
    assert supervisor.exited() is child


def test_a_container_region_has_the_lambda_regions_local_extras(supervisor: Supervisor, dynamodb_url: str) -> None:
    child = spawn_region(supervisor, dynamodb_url, "--resolver-interval", "0.2")
    port = supervisor.wait_ready(child, timeout=60)

    status, refused = call(port, "POST", "/v1/payments", b"{" + b" " * limits.MAX_BODY_BYTES + b"}")
    assert (status, refused["error"]["type"]) == (413, "payload_too_large")  # WAF's rule, as in front of the ALB
    assert call(port, "GET", "/health")[0] == 200

    def resolver_reported() -> dict[str, Any] | None:
        stats = call(port, "GET", "/_local/stats")[1]
        return stats if any(name.startswith("PaymentsPending") for name in stats["gauges"]) else None

    stats = wait_for(resolver_reported)  # the resolver loop's EMF, from the server's own stdout
    assert (stats["region"], stats["outage"]) == (REGION, False)
    assert stats["counts"]["requests"] == {"413": 1, "200": 1}


def wait_for(condition: Any, within: float = 30.0) -> Any:
    deadline = time.monotonic() + within  # a bound for a broken loop only
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {within:.0f} s")
