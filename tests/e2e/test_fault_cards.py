"""The bank simulator's fault cards through the whole local stack: each ends in the right final status.

A charge whose answer is lost (late, dropped, a 500 after the charge) is answered 202 pending, and the
region's resolver settles it from the simulator's ledger: authorized, with the ledger's code. The 503
card (ending 0) is never processed: 502 and `failed` at once.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from handlers.simulator.bank import FAULT_CARDS, Fault
from tests.e2e.conftest import Api, payment_body

pytestmark = pytest.mark.e2e

# A pending payment is due a lease (10 s) after it was written; the resolver runs every 2 s.
SETTLED_WITHIN = 60.0
LOST_ANSWERS = [Fault.LATE_ANSWER, Fault.DROPPED_CONNECTION, Fault.ERROR_AFTER_CHARGE]


def card_for(fault: Fault) -> str:
    return next(card for card, kind in FAULT_CARDS.items() if kind is fault)


def settled(api: Api, payment_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + SETTLED_WITHIN
    while time.monotonic() < deadline:
        payment = api.request("GET", f"/v1/payments/{payment_id}").body
        if payment["status"] != "pending":
            return dict(payment)
        time.sleep(0.5)
    raise AssertionError(f"{payment_id} still pending after {SETTLED_WITHIN:.0f} s")


def test_every_fault_card_with_a_lost_answer_is_202_then_settled_authorized(api_a: Api) -> None:
    def pay_and_settle(fault: Fault) -> tuple[Fault, int, dict[str, Any]]:
        reply = api_a.create_payment(card_for(fault), key=f"fault-{fault.value}-{time.time_ns()}")
        assert reply.status == 202, (fault, reply.status, reply.body)
        assert reply.body["status"] == "pending" and int(reply.headers["retry-after"]) >= 1
        return fault, reply.status, settled(api_a, reply.body["id"])

    with ThreadPoolExecutor(len(LOST_ANSWERS)) as pool:
        outcomes = list(pool.map(pay_and_settle, LOST_ANSWERS))
    for fault, _, payment in outcomes:
        assert payment["status"] == "authorized" and payment["authorization_code"], (fault, payment)


def test_the_503_card_is_never_processed_502_and_failed(api_a: Api) -> None:
    body = payment_body("4242424242424200")
    reply = api_a.request("POST", "/v1/payments", body, {})  # no key: its own reference (docs/bank.md)
    assert (reply.status, reply.body["error"]["type"]) == (502, "bank_unavailable")
    keyed = api_a.create_payment("4242424242424200")  # a key's shared reference: pending, not reversed yet
    assert (keyed.status, keyed.body["status"]) == (202, "pending")
    payment = api_a.request("GET", f"/v1/payments/{reply.body['error']['payment_id']}").body
    assert (payment["status"], payment["authorization_code"]) == ("failed", None)
