"""Concurrency through the entry points: threads racing on one Idempotency-Key, and a burst of
distinct payments, over moto (one call at a time, as DynamoDB applies conditional writes to an
item atomically) and the fault bank (a real localhost server with a deep accept queue).

A thread that is told 409 does what a merchant should: waits briefly and retries with the same key.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from handlers.entrypoints import wiring
from tests.reliability.audit import FIGURES
from tests.reliability.conftest import scan
from tests.reliability.dynamo_faults import DynamoFaults
from tests.reliability.faultbank import Fault, FaultBank
from tests.reliability.gateway import Gateway, Reply, card_body, payments_client
from tests.reliability.test_dynamodb_faults import (
    WRITE_AHEAD,
    assert_one_final_payment,
    claims_in,
    expire_lease,
    payments_in,
    reference_of,
)
from tests.support import VISA_AUTHORIZED, VISA_DECLINED, luhn_complete

pytestmark = pytest.mark.usefixtures("serialized_moto")
MAX_TRIES = 400  # per thread: 409 answers before giving up (bounded; each waits RETRY_PAUSE)
RETRY_PAUSE = 0.01


@pytest.fixture
def lambda_settings(lambda_settings: dict[str, str]) -> dict[str, str]:
    """A 5 s bank deadline (still under the 10 s lease): 50 threads, moto and the bank share one
    process and one GIL here, so an answer can queue past the deployed 0.6 s, and that deadline is
    the bank suite's subject, not this one's."""
    # Deadlines for a loaded machine: a connect that outlasts the default 0.25 s is a refusal (not sent).
    return {**lambda_settings, "BANK_CONNECT_TIMEOUT_MS": "2000", "BANK_READ_TIMEOUT_MS": "5000"}


def warm_up() -> None:
    """Build the cached clients once, as a Lambda container does before its first request; the
    threads then share them (the caches are not meant to be raced on a cold start)."""
    wiring.payment_service()
    wiring.payment_reader()


def pay_until_final(gateway: Gateway, body: dict[str, Any], key: str, merchant: str = "mer_a") -> list[Reply]:
    """Post, and repeat after a 409 as the Retry-After tells; every reply in order."""
    replies = [gateway.post(body, key=key, merchant=merchant)]
    while replies[-1].status == 409 and len(replies) < MAX_TRIES:
        time.sleep(RETRY_PAUSE)
        replies.append(gateway.post(body, key=key, merchant=merchant))
    return replies


def race(count: int, task: Any) -> list[Any]:
    """Run `task(i)` in `count` threads released together."""
    start = threading.Barrier(count)

    def run(i: int) -> Any:
        start.wait(timeout=30)
        return task(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


@pytest.mark.parametrize("bank_delay", [0.0, 0.3], ids=["fast-bank", "slow-bank"])
def test_50_concurrent_requests_with_one_key_charge_once(
    gateway: Gateway, bank: FaultBank, store: Any, bank_delay: float
) -> None:
    warm_up()
    bank.always(Fault.SLOW, bank_delay)  # slow: a wide in-flight window; fast: tight races on the writes
    histories = race(50, lambda _: pay_until_final(gateway, card_body(VISA_AUTHORIZED), "same-key"))
    finals = [h[-1] for h in histories]
    assert {r.status for r in finals} == {201}
    assert len({r.body["id"] for r in finals}) == 1
    [payment_id] = {r.body["id"] for r in finals}
    first_answers = Counter(h[0].status for h in histories)
    assert first_answers[201] >= 1 and set(first_answers) <= {201, 409}
    FIGURES[f"concurrency, 50 on one key, bank delay {bank_delay} s"] = (
        f"first answers {dict(first_answers)}, {sum(len(h) for h in histories)} requests in all, "
        f"{len(bank.calls)} bank call, {len(payments_in(store))} payment"
    )
    assert sum(1 for r in finals if "Idempotent-Replayed" not in r.headers) == 1  # one original, 49 replays
    assert len(bank.calls) == 1
    assert_one_final_payment(payment_id, bank, store)


def test_concurrent_requests_with_one_key_and_two_bodies(gateway: Gateway, bank: FaultBank, store: Any) -> None:
    """One key, two different bodies in flight: one charge; the other body gets 422 (or 409 while
    the first is in flight), never a payment of its own."""
    warm_up()
    bank.always(Fault.SLOW, 0.1)
    bodies = [card_body(VISA_AUTHORIZED), card_body(VISA_AUTHORIZED, amount=2000)]
    histories = race(20, lambda i: pay_until_final(gateway, bodies[i % 2], "shared"))
    finals = [h[-1] for h in histories]
    assert {r.status for r in finals} <= {201, 422} and len(bank.calls) == 1
    winners = {r.body["amount"] for r in finals if r.status == 201}
    assert len(winners) == 1
    assert all(r.status == 422 for r in finals if r.status != 201)
    assert len(payments_in(store)) == 1 and len(claims_in(store)) == 1


def test_many_requests_racing_to_take_over_an_abandoned_claim_charge_once(
    gateway: Gateway, bank: FaultBank, store: Any, moto_skips_faults: None
) -> None:
    """The first attempt's holder 'died' before its write-ahead (so before the bank); after the lease,
    20 retries race for the take-over: one wins, and the bank sees the payment's reference once."""
    warm_up()
    faults = DynamoFaults().fail(WRITE_AHEAD, "InternalServerError")
    faults.install(payments_client())
    assert gateway.post(card_body(VISA_AUTHORIZED), key="abandoned").status == 503
    faults.rules.clear()
    expire_lease(store, "abandoned")
    bank.always(Fault.SLOW, 0.1)
    histories = race(20, lambda _: pay_until_final(gateway, card_body(VISA_AUTHORIZED), "abandoned"))
    finals = [h[-1] for h in histories]
    assert {r.status for r in finals} == {201} and len({r.body["id"] for r in finals}) == 1
    payment_id = finals[0].body["id"]
    reference = reference_of(store, payment_id)
    assert [c["reference"] for c in bank.calls] == [reference]  # only the take-over reached the bank
    assert_one_final_payment(payment_id, bank, store)
    [item] = payments_in(store)
    assert item["attempt"]["N"] == "2"


def test_500_concurrent_distinct_payments_are_500_stored_payments(
    gateway: Gateway, bank: FaultBank, store: Any
) -> None:
    warm_up()
    numbers = [luhn_complete(f"4000{i:011d}") for i in range(500)]
    merchants = ["mer_a", "mer_b", "mer_c", "mer_d"]

    def pay(i: int) -> Reply:
        return gateway.post(card_body(numbers[i]), key=f"order-{i}", merchant=merchants[i % 4])

    started = time.perf_counter()
    with ThreadPoolExecutor(32) as pool:
        replies = list(pool.map(pay, range(500)))
    elapsed = time.perf_counter() - started
    assert Counter(r.status for r in replies) == {201: 500}
    ids = {r.body["id"] for r in replies}
    assert len(ids) == 500
    stored_references = {item["bank_reference"]["S"] for item in payments_in(store)}
    assert len(bank.calls) == 500 and set(bank.charges) == stored_references
    assert len(payments_in(store)) == 500 and len(claims_in(store)) == 500
    listed = [p["id"] for m in merchants for p in gateway.list_all(m)]
    assert len(listed) == 500 and set(listed) == ids
    statuses = Counter(r.body["status"] for r in replies)
    expected_authorized = sum(1 for n in numbers if n[-1] in "13579")
    assert statuses == {"authorized": expected_authorized, "declined": 500 - expected_authorized}
    FIGURES["concurrency, 500 distinct"] = (
        f"500 x 201, 500 stored, 500 listed, 500 bank charges; {elapsed:.1f} s in-process, 32 threads"
    )


def test_one_key_used_by_two_merchants_at_once_gives_each_its_own_payment(
    gateway: Gateway, bank: FaultBank, store: Any
) -> None:
    warm_up()
    bank.always(Fault.SLOW, 0.05)
    merchants = ["mer_a", "mer_b"]
    histories = race(20, lambda i: pay_until_final(gateway, card_body(VISA_DECLINED), "k", merchants[i % 2]))
    by_merchant: dict[str, set[str]] = {"mer_a": set(), "mer_b": set()}
    for i, history in enumerate(histories):
        assert history[-1].status == 201
        by_merchant[merchants[i % 2]].add(history[-1].body["id"])
    assert all(len(ids) == 1 for ids in by_merchant.values())
    assert by_merchant["mer_a"] != by_merchant["mer_b"]
    items = scan(store)
    events = [item for item in items if item["sk"]["S"].startswith("EVENT#")]  # each payment's status event
    assert len(bank.calls) == 2 and len(items) - len(events) == 4 and len(events) == 2
