"""The image's entry point for real: spec.COMMAND (gunicorn, its config, the app) in a subprocess,
over moto's DynamoDB server on localhost, driven over HTTP on 127.0.0.1."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from container import spec
from container.server_config import KEEPALIVE_SECONDS, gunicorn_settings
from handlers.domain.cards import mask_pans
from handlers.ops.admin import create_merchant
from local_gateway.topology import LOCAL_CREDENTIALS
from tests.container.conftest import TABLE

ROOT = Path(__file__).resolve().parents[2]

CARD = "4242424242424242"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def task_environment(dynamodb_url: str, port: int, **changes: str) -> dict[str, str]:
    """What the ECS task definition gives the container, with local endpoints."""
    env = {
        # As an activated virtualenv would: spec.COMMAND names `gunicorn`, installed beside this Python.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "AWS_REGION": "eu-west-1",
        **LOCAL_CREDENTIALS,
        "TABLE_NAME": TABLE,
        "DYNAMODB_ENDPOINT_URL": dynamodb_url,
        "BANK_URL": "http://127.0.0.1:9/payments",  # never called by these tests
        "FINGERPRINT_KEY": "container-test-key",
        "API_KEY_MODE": "test",
        "CURSOR_KEY": "cursor-key-of-the-tests",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
    }
    env.update(changes)
    return {k: v for k, v in env.items() if v}


@contextlib.contextmanager
def serving(env: Mapping[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as output:
        process = subprocess.Popen(list(spec.COMMAND), cwd=ROOT, env=dict(env), stdout=output, stderr=output)
    try:
        wait_until_listening(process, int(env["PORT"]))
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def wait_until_listening(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 60  # a bound for a broken server only
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise AssertionError(f"gunicorn exited with {process.poll()} or never listened")


def get(port: int, path: str, headers: Mapping[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers=dict(headers or {}))
        response = connection.getresponse()
        raw = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(raw)
    finally:
        connection.close()


def json_lines(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def test_the_entry_point_serves_the_api_and_logs_json_without_query_or_card(dynamodb_url: str, tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "server.log"
    with pytest.MonkeyPatch.context() as patch:
        for name, value in LOCAL_CREDENTIALS.items():
            patch.setenv(name, value)
        _, key = create_merchant("Container", table_name=TABLE, endpoint_url=dynamodb_url, region="eu-west-1")

    with serving(task_environment(dynamodb_url, port), log) as process:
        health = get(port, spec.HEALTH_PATH)
        listed = get(port, "/v1/payments?limit=5", {"Authorization": f"Bearer {key}"})
        queried = get(port, "/v1/payments?cursor=secret-cursor", {"Authorization": f"Bearer {key}"})
        unauthorized = get(port, f"/v1/payments/{CARD}")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0

    assert (health[0], health[2]) == (200, {"status": "ok", "region": "eu-west-1"})
    assert (listed[0], listed[2]) == (200, {"data": [], "next_cursor": None})
    assert queried[0] == 400
    assert unauthorized[0] == 401 and unauthorized[2]["error"]["type"] == "unauthorized"
    replies = (health, listed, queried, unauthorized)
    for _, headers, _ in replies:
        assert headers["x-request-id"] == headers["x-amzn-requestid"]
    text = log.read_text()
    assert CARD not in text and "secret-cursor" not in text and key not in text
    access = [line for line in json_lines(log) if line.get("logger") == "gunicorn.access"]  # not the EMF lines
    # Two workers: lines may come in any order, so matched by request id. A random request id whose digits
    # (across its dashes) read as a Luhn-valid card number is masked like any other: the mask errs towards hiding.
    logged = {line["request_id"]: (line["method"], line["path"], line["status"]) for line in access}
    assert logged == {
        mask_pans(health[1]["x-request-id"]): ("GET", "/health", 200),
        mask_pans(listed[1]["x-request-id"]): ("GET", "/v1/payments", 200),
        mask_pans(queried[1]["x-request-id"]): ("GET", "/v1/payments", 400),
        mask_pans(unauthorized[1]["x-request-id"]): ("GET", "/v1/payments/[card]", 401),
    }


@pytest.mark.parametrize("local_control", ["", "1"], ids=["image", "local"])
@pytest.mark.parametrize("missing", ["FINGERPRINT_KEY", "API_KEY_MODE", "CURSOR_KEY"])
def test_a_task_without_its_settings_stops_at_startup(dynamodb_url: str, local_control: str, missing: str) -> None:
    # Locally the worker loads the app: its failure to boot must stop gunicorn too.
    env = task_environment(dynamodb_url, free_port(), **{missing: ""}, LOCAL_CONTROL=local_control)
    process = subprocess.run(list(spec.COMMAND), cwd=ROOT, env=env, capture_output=True, timeout=60, check=False)

    assert process.returncode != 0
    assert f"{missing} must be set".encode() in process.stdout + process.stderr


def test_the_server_settings_follow_the_environment_with_the_spec_defaults() -> None:
    image = gunicorn_settings({})
    local = gunicorn_settings({"LOCAL_CONTROL": "1", "BIND": "fd://3", "WEB_CONCURRENCY": "4", "ACCESS_LOG": "off"})

    assert image["bind"] == [f"0.0.0.0:{spec.PORT}"]
    assert (image["worker_class"], image["workers"], image["accesslog"]) == ("gthread", 2, "-")
    assert image["control_socket_disable"] is True and image["pidfile"] is None  # read-only root filesystem
    assert image["keepalive"] == KEEPALIVE_SECONDS > 60  # the ALB's idle timeout
    assert gunicorn_settings({"PORT": "9000", "HOST": "127.0.0.1"})["bind"] == ["127.0.0.1:9000"]
    # One worker: the simulated outage lives in its memory.
    assert (local["bind"], local["workers"], local["accesslog"]) == (["fd://3"], 1, None)
    # The image preloads the app before forking; locally the one worker loads it, so the local
    # extras' resolver thread runs in the process that serves.
    assert (image["preload_app"], local["preload_app"]) == (True, False)


def test_the_liveness_probe_answers_while_dynamodb_is_unreachable(tmp_path: Path) -> None:
    """The target group's check (spec.LIVENESS_PATH) must not follow the table: with no DynamoDB at all,
    the deep /health fails and the liveness probe still answers 200, so ECS keeps the tasks."""
    nothing_listens = f"http://127.0.0.1:{free_port()}"
    port = free_port()
    with serving(task_environment(nothing_listens, port), tmp_path / "server.log"):
        live = get(port, spec.LIVENESS_PATH)
        deep = get(port, spec.HEALTH_PATH)

    assert (live[0], live[2]) == (200, {"status": "live"})
    assert deep[0] != 200
