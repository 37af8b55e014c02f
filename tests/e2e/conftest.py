"""Starts the local stack once per session and compute option, as `python -m local_gateway
--compute lambda|container`, and stops it at the end: every e2e test runs against both.

The stack runs as a subprocess on free ports with two seeded merchants and a 1 s authorizer cache
(so a revocation test need not wait 300 s); tests drive it over real HTTP on 127.0.0.1 only.
Teardown checks that stopping it left no process behind.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from local_gateway import launch

KEY_A = "sk_test_e2e-merchant-a-0123456789abcdefghijklmnopqrstuv"
KEY_B = "sk_test_e2e-merchant-b-0123456789abcdefghijklmnopqrstuv"
AUTHORIZER_CACHE_SECONDS = 1.0


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: Any


class Api:
    """A tiny HTTP client for one base URL and (optionally) one merchant's key."""

    def __init__(self, base_url: str, key: str | None = None) -> None:
        parts = urlsplit(base_url)
        assert parts.hostname == "127.0.0.1", "e2e traffic stays on localhost"
        self.port = int(parts.port or 80)
        self.key = key

    def request(self, method: str, path: str, body: Any = None, headers: Mapping[str, str] | None = None) -> Reply:
        sent = dict(headers or {})
        if self.key is not None:
            sent.setdefault("Authorization", f"Bearer {self.key}")
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=payload, headers=sent)
            response = connection.getresponse()
            raw = response.read()
            received = {name.lower(): value for name, value in response.getheaders()}
        finally:
            connection.close()
        return Reply(response.status, received, json.loads(raw) if raw else None)

    def create_payment(self, card_number: str = "4242424242424291", key: str | None = None, **changes: Any) -> Reply:
        body = payment_body(card_number, **changes)
        idempotency_key = key or f"e2e-{time.time_ns()}-{random.random()}"
        return self.request("POST", "/v1/payments", body, {"Idempotency-Key": idempotency_key})


def payment_body(card_number: str = "4242424242424291", **changes: Any) -> dict[str, Any]:
    """Manual capture, as tests/support.payment_body: the lifecycle's tests ask for what they need."""
    card = {"number": card_number, "expiry_month": 4, "expiry_year": 2030, "cvv": "123"}
    body = {"amount": 1050, "currency": "GBP", "reference": "order-123", "capture_method": "manual", "card": card}
    return {**body, **changes}


@dataclass
class LocalStack:
    process: subprocess.Popen[str]
    global_url: str
    eu_url: str
    us_url: str
    bank_url: str
    banner: list[str]
    log: Path
    compute: str = "lambda"

    @property
    def dynamodb_url(self) -> str:
        return launch.Launched(self.process, self.banner).urls["DynamoDB (moto)"]

    def api(self, key: str | None = KEY_A, url: str | None = None) -> Api:
        return Api(url or self.global_url, key)


@pytest.fixture(scope="session", params=["lambda", "container"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    if not Path("/proc").is_dir():
        pytest.skip("the check for leftover processes reads Linux's /proc")
    port = _free_port_block(4)
    log = tmp_path_factory.mktemp(f"stack-{request.param}") / "stack.log"
    command = launch.runner_command(
        port=port,
        merchants={"m_a": KEY_A, "m_b": KEY_B},
        authorizer_cache_seconds=AUTHORIZER_CACHE_SECONDS,
        compute=request.param,
    )
    with launch.launched(command, log=log) as launched:
        children = launch.descendants(launched.process.pid)
        urls = [f"http://127.0.0.1:{port + offset}" for offset in range(4)]
        yield LocalStack(launched.process, *urls, banner=launched.banner, log=log, compute=request.param)
    assert launched.process.returncode == 0, f"the stack exited with {launched.process.returncode}; see {log}"
    _assert_all_gone(children, log)


def _free_port_block(count: int) -> int:
    """A base port N with N..N+count-1 all free, below Linux's ephemeral range."""
    for _ in range(200):
        base = random.randrange(20_000, 32_000)
        if all(_is_free(base + offset) for offset in range(count)):
            return base
    raise RuntimeError("no block of free ports")


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _assert_all_gone(pids: list[int], log: Path) -> None:
    deadline = time.monotonic() + 5
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _running(pid)]
        time.sleep(0.05)
    assert not alive, f"processes left behind after the stack stopped: {alive}; see {log}"


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # an exited child waiting to be reaped by init is not running


@pytest.fixture
def api_a(stack: LocalStack) -> Api:
    return stack.api(KEY_A)


@pytest.fixture
def api_b(stack: LocalStack) -> Api:
    return stack.api(KEY_B)
