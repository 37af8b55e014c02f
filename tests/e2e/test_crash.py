"""A region's process is killed (SIGKILL) between the bank's charge and the payment's write, on the
local stack, with and without an Idempotency-Key, and between the bank's capture or refund and the
operation's write. The runner starts the region again, as Lambda
starts a new instance, and its resolver settles what the dead process left pending: within the
resolution bound every charge in the simulator's ledger is in the gateway with the bank's status
and authorization code, nothing stays pending and nothing is charged twice.

The bank holds its answer (the simulator's late-answer fault card) for longer than the window we
need, and the region waits for it (a read deadline longer than the hold), so the kill lands while
the charge is in the ledger and the payment is still `pending` in the table.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from handlers.contract import schema
from handlers.simulator.bank import FAULT_CARDS, Fault
from local_gateway import launch
from tests.e2e.conftest import Api, Reply, _free_port_block

pytestmark = pytest.mark.e2e

KEY = "sk_test_e2e-crash-merchant-0123456789abcdefghijklmnopqrstu"
LATE_CARD = next(card for card, fault in FAULT_CARDS.items() if fault is Fault.LATE_ANSWER)
PLAIN_CARD = "4242424242424291"  # authorized at once
RESOLVE_AFTER = 6.0  # must exceed the bank deadline below (0.25 + 5 s)
RESOLVER_INTERVAL = 0.5
# A pending payment is due RESOLVE_AFTER after it was written; the restarted region's resolver
# runs every RESOLVER_INTERVAL: generous slack for a loaded 2-core machine.
RESOLUTION_BOUND = RESOLVE_AFTER + 30.0
TUNING = {"BANK_READ_TIMEOUT_MS": "5000", "BANK_SIMULATOR_LATE_SECONDS": "3"}


class Stack:
    def __init__(self, launched: launch.Launched, port: int, log: Path) -> None:
        self.launched = launched
        self.log = log
        self.eu = Api(f"http://127.0.0.1:{port + 1}", KEY)
        self.global_api = Api(f"http://127.0.0.1:{port}", KEY)
        self.table = boto3.client(
            "dynamodb",
            endpoint_url=launched.urls["DynamoDB (moto)"].split()[0],
            region_name="eu-west-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def items(self, prefix: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        request: dict[str, Any] = {"TableName": schema.DEFAULT_TABLE_NAME}
        while True:
            page = self.table.scan(**request)
            found += [i for i in page["Items"] if i[schema.PARTITION_KEY]["S"].startswith(prefix)]
            if "LastEvaluatedKey" not in page:
                return found
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def ledger(self) -> dict[str, dict[str, Any]]:
        """The bank's entry per reference (its refunds are items of their own beside it)."""
        return {
            i[schema.PARTITION_KEY]["S"].removeprefix(schema.BANK_PREFIX): i
            for i in self.items(schema.BANK_PREFIX)
            if i[schema.SORT_KEY]["S"] == schema.BANK_SORT
        }

    def bank_refunds(self) -> list[dict[str, Any]]:
        return [i for i in self.items(schema.BANK_PREFIX) if i[schema.SORT_KEY]["S"].startswith(schema.REFUND_PREFIX)]

    def payments(self) -> list[dict[str, Any]]:
        """Payments' own items (captures, voids and refunds sort beside them but carry `kind`)."""
        return [
            i
            for i in self.items(schema.MERCHANT_PREFIX)
            if i[schema.SORT_KEY]["S"].startswith(schema.PAYMENT_PREFIX) and schema.OPERATION_KIND_ATTRIBUTE not in i
        ]

    def operations(self) -> list[dict[str, Any]]:
        return [i for i in self.items(schema.MERCHANT_PREFIX) if schema.OPERATION_KIND_ATTRIBUTE in i]

    def region_pid(self, region: str) -> int:
        for pid in launch.descendants(self.launched.process.pid):
            with contextlib.suppress(OSError):
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if b"local_gateway.child" in argv and region.encode() in argv:
                    return pid
        raise AssertionError(f"no process serves {region}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    port = _free_port_block(4)
    log = tmp_path_factory.mktemp("crash") / "stack.log"
    command = launch.runner_command(
        port=port,
        merchants={"m_crash": KEY},
        resolver_interval=RESOLVER_INTERVAL,
        resolve_after=RESOLVE_AFTER,
        bank_ledger="table",  # the test reads the simulator's books from the table
    )
    saved = {name: os.environ.get(name) for name in TUNING}
    os.environ.update(TUNING)  # the runner passes the caller's handler tunables to the regions
    try:
        with launch.launched(command, log=log) as launched:
            yield Stack(launched, port, log)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _post_in_background(api: Api, key: str | None) -> threading.Thread:
    def post() -> None:
        headers = {"Idempotency-Key": key} if key else {}
        with contextlib.suppress(OSError):  # the process answering it is killed
            api.request("POST", "/v1/payments", _body(), headers)

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    return thread


def _body(card_number: str = LATE_CARD, capture_method: str = "manual") -> dict[str, Any]:
    card = {"number": card_number, "expiry_month": 4, "expiry_year": 2030, "cvv": "123"}
    return {
        "amount": 1050,
        "currency": "GBP",
        "reference": "crash-test",
        "card": card,
        "capture_method": capture_method,
    }


def _wait_for(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout:.0f} s: {what}")


def _settled(stack: Stack, reference: str) -> dict[str, Any] | None:
    mine = [p for p in stack.payments() if p["bank_reference"]["S"] == reference]  # payments' own items only
    return mine[0] if mine and all(p["status"]["S"] != "pending" for p in mine) else None


@pytest.mark.parametrize("key", [None, "crash-order-1"], ids=["no-key", "key"])
def test_a_region_killed_between_the_charge_and_the_write_leaves_a_record_the_resolver_settles(
    stack: Stack, key: str | None
) -> None:
    before = set(stack.ledger())
    victim = stack.region_pid("eu-west-1")
    request = _post_in_background(stack.eu, key)
    new = _wait_for(lambda: set(stack.ledger()) - before, 15, "the bank recorded the charge")
    [reference] = new
    pending = [p for p in stack.payments() if p["bank_reference"]["S"] == reference]
    assert [p["status"]["S"] for p in pending] == ["pending"]  # written ahead, the answer not yet in
    os.kill(victim, signal.SIGKILL)
    request.join(10)
    restarted = _wait_for(lambda: _restarted(stack, victim), 30, "the runner restarted eu-west-1")
    assert restarted != victim
    assert "eu-west-1 exited unexpectedly (code -9); restarting it" in stack.log.read_text()
    payment = _wait_for(lambda: _settled(stack, reference), RESOLUTION_BOUND, "the resolver settled it")
    charge = stack.ledger()[reference]
    assert payment["status"]["S"] == charge["status"]["S"] == "authorized"
    assert payment["authorization_code"]["S"] == charge["authorization_code"]["S"]
    if key is not None:  # a replay returns the settled payment, and the bank is not asked to charge again
        replay = stack.global_api.request("POST", "/v1/payments", _body(), {"Idempotency-Key": key})
        assert (replay.status, replay.body["id"], replay.body["status"]) == (201, payment["id"]["S"], "authorized")
        assert replay.headers.get("idempotent-replayed") == "true"
    assert len([r for r in stack.ledger() if r == reference]) == 1


def test_through_the_global_endpoint_the_client_is_told_the_outcome_is_unknown_and_the_same_key_finds_it(
    stack: Stack,
) -> None:
    """Issue 15.5, as a new user tried it: the answer was `503 service_unavailable` ("did not answer",
    no Retry-After), which the README said meant nothing was charged; replaying the key gave 201."""
    key = "crash-order-global"
    before = set(stack.ledger())
    victim = stack.region_pid("eu-west-1")
    replies: list[Reply] = []
    thread = threading.Thread(
        target=lambda: replies.append(
            stack.global_api.request("POST", "/v1/payments", _body(), {"Idempotency-Key": key})
        ),
        daemon=True,
    )
    thread.start()
    [reference] = _wait_for(lambda: set(stack.ledger()) - before, 15, "the bank recorded the charge")
    os.kill(victim, signal.SIGKILL)
    thread.join(30)
    [reply] = replies
    assert (reply.status, reply.body["error"]["type"]) == (502, "internal_error")  # API Gateway's, for a dead function
    assert "outcome is unknown" in reply.body["error"]["message"]
    assert "same Idempotency-Key" in reply.body["error"]["message"]
    assert reply.headers.get("retry-after") == "1"
    _wait_for(lambda: _restarted(stack, victim), 30, "the runner restarted eu-west-1")
    payment = _wait_for(lambda: _settled(stack, reference), RESOLUTION_BOUND, "the resolver settled it")
    replay = stack.global_api.request("POST", "/v1/payments", _body(), {"Idempotency-Key": key})
    assert (replay.status, replay.body["id"], replay.body["status"]) == (201, payment["id"]["S"], "authorized")


def test_every_charge_in_the_ledger_is_in_the_gateway_and_nothing_stays_pending(stack: Stack) -> None:
    """Runs after the crashes above (same module stack): the books agree."""
    payments = stack.payments()
    by_reference = {p["bank_reference"]["S"]: p for p in payments}
    for reference, charge in stack.ledger().items():
        if charge.get("authorization_code", {}).get("S"):
            recorded = by_reference[reference]
            assert recorded["status"]["S"] == charge["status"]["S"]
            assert recorded["authorization_code"]["S"] == charge["authorization_code"]["S"]
    assert [p["id"]["S"] for p in payments if p["status"]["S"] == "pending"] == []


@pytest.mark.parametrize(
    ("operation", "capture_method", "field", "shown_as"),
    [
        ("capture", "manual", "captured_amount", "amount_captured"),
        ("refunds", "automatic", "refunded_amount", "amount_refunded"),
    ],
)
def test_a_region_killed_between_the_banks_capture_or_refund_and_the_write_is_settled_once(
    stack: Stack, operation: str, capture_method: str, field: str, shown_as: str
) -> None:
    """The operation's amount ends in 2: the simulator does it, then holds the answer (docs/bank.md),
    and the region waits for it, so the kill lands with the bank done and the operation `pending`."""
    created = stack.eu.request(
        "POST", "/v1/payments", _body(PLAIN_CARD, capture_method), {"Idempotency-Key": f"c-{operation}"}
    )
    assert created.status == 201, created.body
    payment_id = created.body["id"]
    [reference] = [p["bank_reference"]["S"] for p in stack.payments() if p["id"]["S"] == payment_id]
    victim = stack.region_pid("eu-west-1")
    thread = threading.Thread(
        target=lambda: _quietly(stack.eu, "POST", f"/v1/payments/{payment_id}/{operation}", {"amount": 602}),
        daemon=True,
    )
    thread.start()
    _wait_for(lambda: int(stack.ledger()[reference].get(field, {"N": "0"})["N"]) == 602, 15, f"the bank's {field}")
    [pending] = [op for op in stack.operations() if op["payment_id"]["S"] == payment_id]
    assert pending["status"]["S"] == "pending"  # written ahead, the answer not yet in
    os.kill(victim, signal.SIGKILL)
    thread.join(10)
    _wait_for(lambda: _restarted(stack, victim), 30, "the runner restarted eu-west-1")
    settled = _wait_for(
        lambda: [
            op for op in stack.operations() if op["payment_id"]["S"] == payment_id and op["status"]["S"] != "pending"
        ],
        RESOLUTION_BOUND,
        "the resolver settled the operation",
    )
    assert [op["status"]["S"] for op in settled] == ["succeeded"]
    shown = stack.global_api.request("GET", f"/v1/payments/{payment_id}").body
    entry = stack.ledger()[reference]
    assert shown[shown_as] == int(entry[field]["N"]) == 602  # the books agree
    if operation == "refunds":
        assert len([r for r in stack.bank_refunds() if r[schema.PARTITION_KEY]["S"] == schema.bank_pk(reference)]) == 1


def _quietly(api: Api, method: str, path: str, body: Any) -> None:
    with contextlib.suppress(OSError):  # the process answering it is killed
        api.request(method, path, body, {"Idempotency-Key": f"op-{path}"})


def _restarted(stack: Stack, old_pid: int) -> int | None:
    try:
        pid = stack.region_pid("eu-west-1")
    except AssertionError:
        return None
    try:
        health: Reply = Api(f"http://127.0.0.1:{stack.eu.port}").request("GET", "/health")
    except OSError:  # not listening yet
        return None
    return pid if pid != old_pid and health.status == 200 else None
