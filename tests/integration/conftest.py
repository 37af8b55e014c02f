"""moto's DynamoDB (in process) and the bank simulator on a real localhost HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from moto import mock_aws

from handlers.contract import schema
from handlers.entrypoints import authorizer, wiring
from handlers.simulator import bank as bank_simulator
from handlers.simulator.ledger import MemoryLedger
from local_gateway import moto_transactions

# The state changes' transactions (with their webhook events) cost their items, not a table copy.
moto_transactions.install()

TABLE = "payments-test"
REGION = "eu-west-1"


def create_table(client: Any, table_name: str) -> None:
    client.create_table(**schema.table_definition(table_name))


class BankGate:
    """Holds requests at the bank until opened, to catch a payment in flight."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.opened = threading.Event()
        self.opened.set()

    def hold(self) -> None:
        self.opened.clear()


class _SimulatorHandler(BaseHTTPRequestHandler):
    calls: list[dict[str, Any]] = []
    gate = BankGate()
    # In memory: the simulator's DynamoDB ledger (TABLE_NAME) would add its items to the API's table.
    bank = bank_simulator.SimulatedBank(MemoryLedger())

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        if not self.path.rstrip("/").endswith(("/reversal", "/capture", "/refunds")):  # an authorization
            type(self).calls.append(json.loads(body))
            self.gate.arrived.set()
            self.gate.opened.wait(timeout=10)
        self._answer("POST", body)

    def do_GET(self) -> None:  # an inquiry
        self._answer("GET", "")

    def _answer(self, method: str, body: str) -> None:
        event = {"httpMethod": method, "path": self.path, "body": body, "isBase64Encoded": False}
        result = bank_simulator.handle(self.bank, event)
        payload = result["body"].encode()
        self.send_response(result["statusCode"])
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture(scope="session")
def bank_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SimulatorHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/payments"
    server.shutdown()


@pytest.fixture
def bank_calls() -> list[dict[str, Any]]:
    _SimulatorHandler.calls.clear()
    return _SimulatorHandler.calls


@pytest.fixture
def bank_gate() -> Iterator[BankGate]:
    _SimulatorHandler.gate = BankGate()
    yield _SimulatorHandler.gate
    _SimulatorHandler.gate.opened.set()


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_table(client, TABLE)
        yield client


def reset_handler_caches() -> None:
    for module in (wiring, authorizer):
        for value in vars(module).values():
            if hasattr(value, "cache_clear"):
                value.cache_clear()


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch, dynamodb: Any, bank_url: str) -> Iterator[None]:
    """The environment the Pulumi program gives the functions, pointed at moto and the simulator."""
    for name, value in {
        "TABLE_NAME": TABLE,
        "AWS_REGION": REGION,
        "BANK_URL": bank_url,
        "FINGERPRINT_KEY": "test-fingerprint-key",
        "API_KEY_MODE": "test",  # the simulator is the bank here
        "CURSOR_KEY": "cursor-key-of-the-tests",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DYNAMODB_ENDPOINT_URL", raising=False)
    reset_handler_caches()
    yield
    reset_handler_caches()
