"""Region failover on the local stack, under load: merchants pay continuously through the global
endpoint, retrying failures with the same Idempotency-Key (as clients must); eu-west-1 goes down,
traffic moves to us-east-1, eu comes back and traffic returns.

Asserted: failures are the documented 503 (never a 5xx without our shape, never a 201 that is
lost); every payment that got a 201 is read back, identical, through the global endpoint and
directly from both regions, and listed; each key ends with exactly one payment and the bank holds
exactly one charge per payment. Measured (reported, not asserted: they depend on the machine):
failed requests during the switch, time to recover, time to return.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs
import pytest

from tests.reliability.audit import FIGURES
from tests.reliability.faultbank import FaultBank
from tests.reliability.gateway import card_body
from tests.reliability.localstack import HttpReply, LocalStack
from tests.support import luhn_complete

MERCHANT = "mer_failover"
WORKERS = 4
RETRY_PAUSE = 0.05
MAX_TRIES = 600  # per payment (30 s of retries): a bound, far above any switch seen
PHASE_BOUND = 60.0  # seconds a phase may wait for traffic to move: only so a broken stack cannot hang the suite
SUCCESSES_PER_PHASE = 15


@attrs.frozen
class Attempt:
    at: float  # time.monotonic() when the request was sent
    key: str
    status: int
    region: str | None  # the region that processed it (201), or None
    error_type: str | None
    request_id: str | None


@attrs.define
class Traffic:
    stack: LocalStack
    attempts: list[Attempt] = attrs.field(factory=list)
    payments: dict[str, dict[str, Any]] = attrs.field(factory=dict)  # key -> the 201 body
    stop: threading.Event = attrs.field(factory=threading.Event)
    lock: threading.Lock = attrs.field(factory=threading.Lock)

    def pay(self, worker: int) -> None:
        for n in range(100_000):
            if self.stop.is_set():
                return
            key = f"failover-{worker}-{n}"
            body = card_body(luhn_complete(f"4111{worker:03d}{n:08d}"), reference=key)
            for _ in range(MAX_TRIES):
                reply = self.stack.call(
                    "POST", "/v1/payments", merchant=MERCHANT, body=body, headers={"Idempotency-Key": key}
                )
                self._record(key, reply)
                if reply.status == 201:
                    break
                time.sleep(RETRY_PAUSE)
            else:
                raise AssertionError(f"{key} never succeeded")

    def _record(self, key: str, reply: HttpReply) -> None:
        body = reply.body
        ok = reply.status == 201
        error = None if ok else (body or {}).get("error", {}).get("type")
        attempt = Attempt(
            time.monotonic(),
            key,
            reply.status,
            body["region"] if ok else None,
            error,
            reply.headers.get("x-request-id"),
        )
        with self.lock:
            self.attempts.append(attempt)
            if ok:
                assert self.payments.setdefault(key, body)["id"] == body["id"], f"{key} got two payment ids"

    def successes_since(self, since: float, region: str) -> int:
        with self.lock:
            return sum(1 for a in self.attempts if a.at >= since and a.region == region)

    def wait_for(self, region: str, since: float) -> None:
        deadline = time.monotonic() + PHASE_BOUND
        while self.successes_since(since, region) < SUCCESSES_PER_PHASE:
            assert time.monotonic() < deadline, f"traffic never reached {region}"
            time.sleep(0.05)


def outage(stack: LocalStack, method: str) -> None:
    reply = stack.call(method, "/_local/regions/eu/outage")
    assert reply.status == 200, reply.raw


@pytest.fixture(params=["lambda", "container"])
def failover_stack(request: pytest.FixtureRequest) -> tuple[LocalStack, FaultBank]:
    """The local stack with each compute option, and its bank."""
    if request.param == "lambda":
        return request.getfixturevalue("local_stack"), request.getfixturevalue("stack_bank")
    return request.getfixturevalue("container_local_stack"), request.getfixturevalue("container_stack_bank")


def test_failover_under_load_loses_nothing_and_charges_once(failover_stack: tuple[LocalStack, FaultBank]) -> None:
    local_stack, stack_bank = failover_stack
    traffic = Traffic(local_stack)
    with ThreadPoolExecutor(WORKERS) as pool:
        running = [pool.submit(traffic.pay, i) for i in range(WORKERS)]
        try:
            started = time.monotonic()
            traffic.wait_for("eu-west-1", started)
            down_at = time.monotonic()
            outage(local_stack, "POST")
            traffic.wait_for("us-east-1", down_at)
            up_at = time.monotonic()
            outage(local_stack, "DELETE")
            traffic.wait_for("eu-west-1", up_at)
        finally:
            outage(local_stack, "DELETE")
            traffic.stop.set()
        for worker in running:
            worker.result()

    attempts = sorted(traffic.attempts, key=lambda a: a.at)
    failures = [a for a in attempts if a.status != 201]
    # Failures: only the failing region's documented 503, with a request id, and only during the switch.
    assert {(a.status, a.error_type) for a in failures} <= {(503, "service_unavailable")}, Counter(
        (a.status, a.error_type) for a in failures
    )
    assert all(a.request_id for a in failures)
    assert all(down_at <= a.at for a in failures), "a failure before the outage"
    first_us = min(a.at for a in attempts if a.region == "us-east-1" and a.at >= down_at)
    last_failure = max((a.at for a in failures), default=down_at)
    first_eu_again = min(a.at for a in attempts if a.region == "eu-west-1" and a.at >= up_at)
    assert not [a for a in failures if a.at >= up_at], "failures while eu came back"

    # Nothing that got a 201 is lost: read back everywhere, listed, one charge each.
    payments = traffic.payments
    urls = (local_stack.global_url, local_stack.urls["eu_url"], local_stack.urls["us_url"])

    def read_back(payment: dict[str, Any]) -> list[tuple[int, Any]]:
        path = f"/v1/payments/{payment['id']}"
        return [(r.status, r.body) for r in (read(local_stack, path, u) for u in urls)]

    with ThreadPoolExecutor(WORKERS) as pool:
        for payment, seen in zip(payments.values(), pool.map(read_back, payments.values()), strict=True):
            assert seen == [(200, payment)] * 3, payment["id"]
    listed = listed_ids(local_stack)
    assert {p["id"] for p in payments.values()} <= listed
    assert len(listed) == len(payments)  # no payment without a 201 behind it (none half-made)
    charges = stack_bank.charged_references()
    references = {i["id"]["S"]: i["bank_reference"]["S"] for i in local_stack.table_items() if "bank_reference" in i}
    assert all(charges.get(references[p["id"]]) == 1 for p in payments.values()), "charged twice (or never)"
    retried = Counter(a.key for a in attempts)
    FIGURES[f"failover ({local_stack.compute})"] = (
        f"{len(payments)} payments ({len(attempts)} requests, {WORKERS} clients); eu down: "
        f"{len(failures)} failed requests (all 503), us served {first_us - down_at:.2f} s after the outage, "
        f"last failure at {last_failure - down_at:.2f} s; {sum(1 for n in retried.values() if n > 1)} payments "
        f"needed retries (max {max(retried.values())} tries); eu served again {first_eu_again - up_at:.2f} s "
        f"after it came back, 0 failures; read back from both regions: {len(payments)}/{len(payments)}, "
        f"1 charge each"
    )


def read(stack: LocalStack, path: str, url: str | None = None) -> HttpReply:
    """A read as a client makes it: a 503 is retried after its Retry-After (a few times), since the
    local stack's moto can be slower than the functions' DynamoDB timeouts on a loaded machine."""
    for _ in range(5):
        reply = stack.call("GET", path, merchant=MERCHANT, url=url)
        if reply.status != 503:
            return reply
        time.sleep(float(reply.headers.get("retry-after", "1")))
    return reply


def listed_ids(stack: LocalStack) -> set[str]:
    found: set[str] = set()
    path = "/v1/payments?limit=100"
    for _ in range(1000):
        page = read(stack, path)
        assert page.status == 200, page.raw
        found |= {p["id"] for p in page.body["data"]}
        if page.body["next_cursor"] is None:
            return found
        path = f"/v1/payments?limit=100&cursor={page.body['next_cursor']}"
    raise AssertionError("the listing never ended")
