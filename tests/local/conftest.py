from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import IO

import pytest

from local_gateway.gateway import Gateway
from tests.local import fake_handlers


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def gateway(clock: FakeClock) -> Gateway:
    fake_handlers.AUTHORIZER_EVENTS.clear()
    return Gateway(
        region="eu-west-1",
        routes=fake_handlers.ROUTES,
        authorizer=fake_handlers.AUTHORIZER,
        authorizer_cache_seconds=300,
        clock=clock,
    )


# --- the two DynamoDB servers the differential tests compare, each in a process of its own ----------

# moto as it ships, on its own server (werkzeug + Flask), in a process of its own.
_MOTO_AS_IT_SHIPS = (
    "import sys; from moto.server import ThreadedMotoServer; "
    "server = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False); server.start(); "
    "print(server.get_host_and_port()[1], flush=True); sys.stdin.read()"
)


@pytest.fixture(scope="module")
def embedded() -> Iterator[int]:
    """The stack's DynamoDB child; it exits when its stdin closes."""
    command = [sys.executable, "-m", "local_gateway.child", "dynamodb", "--quiet"]
    with _process(command) as stdout:
        yield int(json.loads(stdout.readline())["port"])


@pytest.fixture(scope="module")
def reference() -> Iterator[int]:
    with _process([sys.executable, "-c", _MOTO_AS_IT_SHIPS]) as stdout:
        yield int(stdout.readline())


@contextlib.contextmanager
def _process(command: list[str]) -> Iterator[IO[str]]:
    """A server process that prints its port first; stopped by closing its stdin, then killed."""
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert process.stdout is not None and process.stdin is not None
    try:
        yield process.stdout
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
