"""Captures, voids and refunds racing through the entry points, on moto and the simulator over real HTTP:
threads released together, each request inside the others. The bank's ledger and what the API shows
must agree, whatever the interleaving."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from handlers.entrypoints import api, lifecycle_api, wiring
from tests.integration.conftest import _SimulatorHandler
from tests.integration.test_bank_simulator import serialized_moto
from tests.support import payment_body, proxy_event

pytestmark = pytest.mark.usefixtures("lambda_env", "serialized_moto")
__all__ = ["serialized_moto"]  # a fixture, used by name


def pay(capture_method: str) -> dict[str, Any]:
    event = proxy_event("POST", "/v1/payments", body=payment_body(capture_method=capture_method, amount=1000))
    response = api.create_payment(event, None)
    assert response["statusCode"] == 201, response
    return dict(json.loads(response["body"]))


def operate(kind: str, payment_id: str, body: dict[str, Any], key: str | None = None) -> tuple[int, Any]:
    handler = {
        "capture": lifecycle_api.capture_payment,
        "void": lifecycle_api.void_payment,
        "refunds": lifecycle_api.create_refund,
    }[kind]
    headers = {"Idempotency-Key": key} if key else {}
    path = f"/v1/payments/{payment_id}/{kind}"
    event = proxy_event(
        "POST", f"/v1/payments/{{id}}/{kind}", path=path, body=body, headers=headers, path_parameters={"id": payment_id}
    )
    response = handler(event, None)
    return int(response["statusCode"]), json.loads(response["body"])


def shown(payment_id: str) -> dict[str, Any]:
    event = proxy_event(
        "GET", "/v1/payments/{id}", path=f"/v1/payments/{payment_id}", path_parameters={"id": payment_id}
    )
    return dict(json.loads(api.get_payment(event, None)["body"]))


def race(count: int, task: Any) -> list[Any]:
    start = threading.Barrier(count)

    def run(i: int) -> Any:
        start.wait(timeout=30)
        return task(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def warm_up() -> None:
    wiring.operation_service()
    wiring.payment_reader()


def bank_entry(reference: str) -> Any:
    return _SimulatorHandler.bank.ledger.get(reference)


def test_eight_refunds_racing_never_take_more_than_the_capture_and_the_books_agree() -> None:
    payment = pay("automatic")
    warm_up()
    answers = race(8, lambda _: operate("refunds", payment["id"], {"amount": 300}))
    refunded = [body for status, body in answers if status == 201 and body["status"] == "succeeded"]
    assert {status for status, _ in answers} <= {201, 422}  # a refund, or above what is left
    assert 1 <= len(refunded) <= 3
    entry = bank_entry(payment["id"])
    assert entry.refunded_amount == 300 * len(refunded) == shown(payment["id"])["amount_refunded"]


def test_one_key_sent_ten_times_at_once_captures_once() -> None:
    payment = pay("manual")
    warm_up()
    answers = race(10, lambda _: operate("capture", payment["id"], {"amount": 700}, key="capture-once"))
    assert {status for status, _ in answers} <= {200, 409}
    final = [body for status, body in answers if status == 200]
    assert final and all(body == final[0] for body in final)
    assert (final[0]["status"], final[0]["amount_captured"]) == ("captured", 700)
    assert bank_entry(payment["id"]).captured_amount == 700


def test_a_capture_and_a_void_racing_end_as_one_and_the_bank_agrees() -> None:
    payment = pay("manual")
    warm_up()
    kinds = ("capture", "void") * 3
    answers = race(len(kinds), lambda i: operate(kinds[i], payment["id"], {}))
    winners = {kinds[i] for i, (status, _) in enumerate(answers) if status == 200}
    assert len(winners) == 1, answers
    assert all(status in (200, 409) for status, _ in answers)
    entry = bank_entry(payment["id"])
    final = shown(payment["id"])
    assert final["status"] == ("captured" if winners == {"capture"} else "voided")
    assert entry.status.value == ("captured" if winners == {"capture"} else "reversed")
