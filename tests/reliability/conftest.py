"""Fixtures of the reliability suites: moto's DynamoDB, a misbehaving bank on a real localhost
server, the Lambda environment pointing at both, and the card-data audit around every test.

The hypothesis profiles (default bounded, `soak`) are registered in tests/conftest.py, which pytest
loads before it reads `--hypothesis-profile`.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.endpoint
import pytest
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber

from handlers.adapters import dynamo_http
from handlers.entrypoints.observability import JsonFormatter
from local_gateway import moto_transactions
from tests.integration.conftest import REGION, TABLE, create_table, reset_handler_caches
from tests.reliability.audit import AUDIT, FIGURES, CardAudit
from tests.reliability.dynamo_faults import moto_skipping_faults
from tests.reliability.faultbank import FaultBank
from tests.reliability.gateway import Gateway
from tests.reliability.localstack import LocalStack, running_stack

# The state changes' transactions (with their webhook events) cost their items, not a table copy.
moto_transactions.install()

FINGERPRINT_KEY = "reliability-fingerprint-key"


class LogLines:
    """Every line the handlers' JSON formatter wrote during the test (what CloudWatch would hold)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def add(self, line: str) -> None:
        with self._lock:
            self.lines.append(line)

    def records(self, message: str | None = None) -> list[dict[str, Any]]:
        parsed = [json.loads(line) for line in list(self.lines)]
        return [r for r in parsed if message is None or r.get("message") == message]

    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> LogLines:
    recorded = LogLines()
    original = JsonFormatter.format

    def format_and_record(self: JsonFormatter, record: logging.LogRecord) -> str:
        line = original(self, record)
        recorded.add(line)
        return line

    monkeypatch.setattr(JsonFormatter, "format", format_and_record)
    return recorded


@pytest.fixture(autouse=True)
def card_audit(request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str], logs: LogLines) -> Iterator[None]:
    """After each test: no card number or CVV in anything it logged or printed."""
    yield
    if "exempt_from_card_audit" in request.fixturenames:
        return
    output = capsys.readouterr()
    lines = [*logs.lines, *(line for line in output.out.splitlines() if line.startswith("{"))]
    problems = AUDIT.check("log lines", lines, request.node.nodeid)
    assert not problems, problems


@pytest.fixture
def exempt_from_card_audit() -> Iterator[None]:
    """For a strict-xfail test that demonstrates a card-data leak: the leak is the expected failure."""
    AUDIT.paused = True
    yield
    AUDIT.paused = False


@pytest.fixture
def store(request: pytest.FixtureRequest) -> Iterator[Any]:
    """moto's DynamoDB with the payments table; every item is scanned for card data at the end."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_table(client, TABLE)
        yield client
        if "exempt_from_card_audit" not in request.fixturenames:
            problems = AUDIT.check_items(scan(client), request.node.nodeid)
            assert not problems, problems


def scan(client: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName=TABLE, ConsistentRead=True):
        items.extend(page["Items"])
    return items


@pytest.fixture
def bank() -> Iterator[FaultBank]:
    fault_bank = FaultBank()
    yield fault_bank
    fault_bank.close()


@pytest.fixture
def lambda_settings() -> dict[str, str]:
    """Environment variables of the payment functions; a test may change them before `gateway`."""
    return {
        "TABLE_NAME": TABLE,
        "AWS_REGION": REGION,
        "FINGERPRINT_KEY": FINGERPRINT_KEY,
        "API_KEY_MODE": "test",  # the bank is a test one here
        "CURSOR_KEY": "cursor-key-of-the-tests",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "BANK_CONNECT_TIMEOUT_MS": "250",
        "BANK_READ_TIMEOUT_MS": "600",
    }


@pytest.fixture
def gateway(
    monkeypatch: pytest.MonkeyPatch, store: Any, bank: FaultBank, lambda_settings: dict[str, str]
) -> Iterator[Gateway]:
    """The payment functions as deployed (same env variables), over moto and the fault bank."""
    for name, value in {"BANK_URL": bank.url, **lambda_settings}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DYNAMODB_ENDPOINT_URL", raising=False)
    reset_handler_caches()
    yield Gateway()
    reset_handler_caches()


class RetrySleeps:
    """The DynamoDB client's backoff sleeps, recorded instead of slept (its retries still happen)."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@pytest.fixture
def retry_sleeps(monkeypatch: pytest.MonkeyPatch) -> RetrySleeps:
    sleeps = RetrySleeps()
    monkeypatch.setattr(botocore.endpoint, "time", sleeps)  # other clients' (the tests' ground truth)
    monkeypatch.setattr(dynamo_http, "_sleep", sleeps.sleep)  # the functions' (handlers.adapters.dynamo_http)
    return sleeps


@pytest.fixture
def serialized_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """One DynamoDB call at a time in moto's in-process backend.

    moto checks a condition and writes the item in separate Python steps, so under threads two
    conditional puts could both pass. DynamoDB applies conditional writes to an item atomically;
    this lock gives moto the same guarantee (and nothing more: our code still races for real).
    """
    lock = threading.Lock()
    original = BotocoreStubber.process_request

    def locked(self: BotocoreStubber, request: Any) -> Any:
        with lock:
            return original(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", locked)


@pytest.fixture
def moto_skips_faults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Needed with DynamoFaults: moto must not perform a call a fault already answered."""
    monkeypatch.setattr(BotocoreStubber, "__call__", moto_skipping_faults(BotocoreStubber.__call__))


STACK_MERCHANTS = {
    "mer_alpha": "sk_test_" + secrets.token_urlsafe(32),
    "mer_beta": "sk_test_" + secrets.token_urlsafe(32),
    "mer_revoked": "sk_test_" + secrets.token_urlsafe(32),  # revoked by the security suite before first use
    "mer_failover": "sk_test_" + secrets.token_urlsafe(32),  # only the failover suite's traffic
}


@pytest.fixture(scope="session")
def stack_bank() -> Iterator[FaultBank]:
    """The local stack's bank: the fault bank, so suites can count charges per payment id."""
    fault_bank = FaultBank()
    yield fault_bank
    fault_bank.close()


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory, stack_bank: FaultBank) -> Iterator[LocalStack]:
    """`python -m local_gateway` on free ports, once per session; at the end every item it stored
    and every log line it wrote go through the card-data audit, and it must stop with status 0."""
    yield from audited_stack(tmp_path_factory, stack_bank, "lambda")


@pytest.fixture(scope="session")
def container_stack_bank() -> Iterator[FaultBank]:
    fault_bank = FaultBank()
    yield fault_bank
    fault_bank.close()


@pytest.fixture(scope="session")
def container_local_stack(
    tmp_path_factory: pytest.TempPathFactory, container_stack_bank: FaultBank
) -> Iterator[LocalStack]:
    """The same with `--compute container`: each region served by the container's entry point."""
    yield from audited_stack(tmp_path_factory, container_stack_bank, "container")


def audited_stack(tmp_path_factory: pytest.TempPathFactory, bank: FaultBank, compute: str) -> Iterator[LocalStack]:
    log = tmp_path_factory.mktemp(f"local-stack-{compute}") / "stack.log"
    with running_stack(log, STACK_MERCHANTS, bank.url, compute) as stack:
        yield stack
        problems = AUDIT.check_items(stack.table_items(), f"local stack ({compute})")
        problems += AUDIT.check("log lines", stack.log_lines(), f"local stack ({compute})")
    tail = log.read_text(errors="replace")[-3000:]
    assert stack.process.returncode == 0, f"the local stack exited with {stack.process.returncode}:\n{tail}"
    assert not problems, problems


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The backstop: a leak found in a teardown (a session fixture's, or an xfail test's, which
    pytest reports as part of the expected failure) still fails the run."""
    if AUDIT.leaks and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    audit: CardAudit = AUDIT
    if audit.scanned:
        terminalreporter.write_line(audit.summary())
    for leak in audit.leaks:
        terminalreporter.write_line(f"CARD DATA LEAK: {leak}", red=True)
    for name, figure in sorted(FIGURES.items()):
        terminalreporter.write_line(f"{name}: {figure}")
