"""Bank faults, served by a real localhost bank that misbehaves on purpose (tests/reliability/faultbank.py).

For every fault: the merchant gets the documented 502 `bank_unavailable` naming a payment stored
as `failed`; the table holds exactly that payment and its claim; and when the merchant retries
with the same Idempotency-Key after the bank recovers, the same payment id is sent to the bank
again, exactly one charge exists at the bank and exactly one final payment in the table.
"""

from __future__ import annotations

from typing import Any

import pytest

from handlers import schema
from tests.reliability.conftest import LogLines, scan
from tests.reliability.faultbank import CHARGING, Fault, FaultBank, free_port, running_bank
from tests.reliability.gateway import Gateway, Reply, card_body
from tests.support import VISA_AUTHORIZED, VISA_DECLINED

READ_TIMEOUT = 0.6  # BANK_READ_TIMEOUT_MS in the lambda_settings fixture (the deployed default)
ANSWER_FAULTS = [
    (Fault.HTTP_503, 0.0),
    (Fault.HTTP_500_HTML, 0.0),
    (Fault.CLOSE, 0.0),
    (Fault.TIMEOUT, READ_TIMEOUT + 1.0),
    (Fault.MALFORMED_JSON, 0.0),
    (Fault.MISSING_FIELDS, 0.0),
    (Fault.NO_CODE, 0.0),
    (Fault.WRONG_TYPES, 0.0),
    (Fault.TRUNCATED, 0.0),
    (Fault.DEEP_JSON, 0.0),
]


def payments_in(store: Any) -> list[dict[str, Any]]:
    return [item for item in scan(store) if item["sk"]["S"].startswith(schema.PAYMENT_PREFIX)]


def claims_in(store: Any) -> list[dict[str, Any]]:
    return [item for item in scan(store) if item["sk"]["S"].startswith(schema.IDEMPOTENCY_PREFIX)]


def assert_failed_and_recorded(reply: Reply, gateway: Gateway, store: Any) -> str:
    """The documented 502, and a consistent `failed` payment behind it."""
    assert (reply.status, reply.kind) == (502, "bank_unavailable"), reply.raw
    payment_id: str = reply.error["payment_id"]
    stored = gateway.get(payment_id)
    assert stored.status == 200
    assert (stored.body["status"], stored.body["authorization_code"]) == ("failed", None)
    [item] = payments_in(store)
    assert item["sk"]["S"] == schema.payment_sk(payment_id)
    assert (item["status"]["S"], item["attempt"]["N"]) == ("failed", "1")
    return payment_id


def reference_of(store: Any, payment_id: str) -> str:
    """What the bank was sent for this payment, as stored for reconciliation."""
    [item] = [i for i in payments_in(store) if i["sk"]["S"] == schema.payment_sk(payment_id)]
    return str(item["bank_reference"]["S"])


def assert_one_final_payment(payment_id: str, bank: FaultBank, store: Any, status: str = "authorized") -> None:
    """Exactly one charge at the bank and one final payment, with the bank's own decision."""
    reference = reference_of(store, payment_id)
    assert bank.charges[reference] == 1 and sum(bank.charges.values()) == 1, bank.charged_references()
    [item] = payments_in(store)
    assert (item["sk"]["S"], item["status"]["S"]) == (schema.payment_sk(payment_id), status)
    code = bank.ledger[reference].authorization_code
    assert item.get("authorization_code", {}).get("S") == (code if status == "authorized" else None)
    assert len(claims_in(store)) == 1


@pytest.mark.parametrize(("fault", "delay"), ANSWER_FAULTS, ids=[f.value for f, _ in ANSWER_FAULTS])
def test_fault_is_502_then_a_retry_charges_once(
    gateway: Gateway, bank: FaultBank, store: Any, fault: Fault, delay: float
) -> None:
    bank.then(fault, delay)
    payment_id = assert_failed_and_recorded(gateway.post(card_body(VISA_AUTHORIZED), key="k1"), gateway, store)
    reference = reference_of(store, payment_id)
    assert bank.calls[0]["reference"] == reference
    assert bank.charges[reference] == (1 if fault in CHARGING else 0)

    retry = gateway.post(card_body(VISA_AUTHORIZED), key="k1")
    assert (retry.status, retry.body["id"], retry.body["status"]) == (201, payment_id, "authorized")
    assert "Idempotent-Replayed" not in retry.headers  # a second attempt, not a replay
    assert retry.body["authorization_code"] == bank.ledger[reference].authorization_code
    assert [call["reference"] for call in bank.calls] == [reference, reference]
    assert_one_final_payment(payment_id, bank, store)

    replay = gateway.post(card_body(VISA_AUTHORIZED), key="k1")
    assert replay.body == retry.body and replay.headers["Idempotent-Replayed"] == "true"
    assert len(bank.calls) == 2


def test_declined_after_a_fault_stays_declined(gateway: Gateway, bank: FaultBank, store: Any) -> None:
    bank.then(Fault.MALFORMED_JSON)
    payment_id = assert_failed_and_recorded(gateway.post(card_body(VISA_DECLINED), key="k1"), gateway, store)
    retry = gateway.post(card_body(VISA_DECLINED), key="k1")
    assert (retry.status, retry.body["status"], retry.body["authorization_code"]) == (201, "declined", None)
    assert_one_final_payment(payment_id, bank, store, status="declined")


def test_repeated_faults_keep_one_payment_id_until_the_bank_answers(
    gateway: Gateway, bank: FaultBank, store: Any
) -> None:
    bank.then(Fault.HTTP_503).then(Fault.CLOSE).then(Fault.MISSING_FIELDS).then(Fault.HTTP_503)
    replies = [gateway.post(card_body(VISA_AUTHORIZED), key="k1") for _ in range(4)]
    assert {(r.status, r.error["payment_id"]) for r in replies} == {(502, replies[0].error["payment_id"])}
    payment_id = replies[0].error["payment_id"]
    final = gateway.post(card_body(VISA_AUTHORIZED), key="k1")
    assert (final.status, final.body["id"]) == (201, payment_id)
    assert_one_final_payment(payment_id, bank, store)
    [item] = payments_in(store)
    assert item["attempt"]["N"] == "5"


def test_connection_refused_is_502_and_a_retry_after_the_bank_returns_charges_once(
    gateway: Gateway, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("BANK_URL", f"http://127.0.0.1:{port}/payments")  # before the first call: cold start
    payment_id = assert_failed_and_recorded(gateway.post(card_body(VISA_AUTHORIZED), key="k1"), gateway, store)
    with running_bank(port) as recovered:
        retry = gateway.post(card_body(VISA_AUTHORIZED), key="k1")
        assert (retry.status, retry.body["id"], retry.body["status"]) == (201, payment_id, "authorized")
        assert_one_final_payment(payment_id, recovered, store)


@pytest.mark.parametrize("fraction", [0.2, 0.8, 0.95, 1.05, 1.3, 2.0])
def test_slow_answers_near_the_timeout_give_a_consistent_outcome(
    gateway: Gateway, bank: FaultBank, store: Any, fraction: float
) -> None:
    """Whichever side of the read timeout an answer lands on, the record matches what the merchant
    was told, and a retry ends with the bank's one charge."""
    bank.then(Fault.SLOW, READ_TIMEOUT * fraction)
    first = gateway.post(card_body(VISA_AUTHORIZED), key="k1")
    assert first.status in (201, 502), first.raw
    if fraction <= 0.2:
        assert first.status == 201  # far inside the timeout
    if fraction >= 2.0:
        assert first.status == 502  # far outside it
    if first.status == 201:
        payment_id = first.body["id"]
        assert first.body["authorization_code"] == bank.ledger[reference_of(store, payment_id)].authorization_code
    else:
        payment_id = assert_failed_and_recorded(first, gateway, store)
        retry = gateway.post(card_body(VISA_AUTHORIZED), key="k1")
        assert (retry.status, retry.body["id"]) == (201, payment_id)
    assert_one_final_payment(payment_id, bank, store)


def test_a_dripping_bank_is_cut_off_at_the_configured_deadline(
    gateway: Gateway, bank: FaultBank, store: Any, lambda_settings: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BANK_READ_TIMEOUT_MS", "300")  # each byte comes 6x faster than this
    bank.then(Fault.DRIP, 0.05)  # the ~60-byte answer takes ~3 s in all
    reply = gateway.post(card_body(VISA_AUTHORIZED), key="k1")
    assert reply.status == 502  # cut off after 0.3 s; a per-read timeout would wait for the last byte: 201
    assert_failed_and_recorded(reply, gateway, store)


def test_without_a_key_a_retry_is_a_new_payment(gateway: Gateway, bank: FaultBank, store: Any) -> None:
    """Documented limit: without an Idempotency-Key nothing ties a retry to the lost attempt."""
    bank.then(Fault.TIMEOUT, READ_TIMEOUT + 1.0)
    first = gateway.post(card_body(VISA_AUTHORIZED))
    second = gateway.post(card_body(VISA_AUTHORIZED))
    assert (first.status, second.status) == (502, 201)
    assert first.error["payment_id"] != second.body["id"]
    assert sum(bank.charges.values()) == 2  # the timed-out attempt was charged too: two charges


def test_a_bank_that_ignores_the_reference_would_charge_a_retry_twice(
    store: Any, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The assumption the design rests on, made visible: retries are single-charge only because the
    acquirer deduplicates on `reference`. Checked with a bank that does not."""
    with running_bank(deduplicate=False) as careless:
        careless.then(Fault.TIMEOUT, READ_TIMEOUT + 1.0)
        monkeypatch.setenv("BANK_URL", careless.url)  # before the first call: cold start
        first = gateway.post(card_body(VISA_AUTHORIZED), key="k1")
        retry = gateway.post(card_body(VISA_AUTHORIZED), key="k1")
    assert (first.status, retry.status) == (502, 201)
    assert careless.charges[reference_of(store, retry.body["id"])] == 2  # one payment in our table, two here
    assert len(payments_in(store)) == 1


def test_bank_failures_are_logged_without_card_data(gateway: Gateway, bank: FaultBank, logs: LogLines) -> None:
    bank.then(Fault.MALFORMED_JSON)
    reply = gateway.post(card_body(VISA_AUTHORIZED, cvv="739"), key="k1")
    assert reply.status == 502
    [failed] = logs.records("request_failed")
    assert failed["error_type"] == "bank_unavailable" and failed["request_id"] == reply.headers["X-Request-Id"]
    # The card-data audit (conftest) then checks every line for the number and "739".


@pytest.mark.parametrize(
    ("fault", "cause"),
    [(Fault.HTTP_503, "HTTP 503"), (Fault.MALFORMED_JSON, "not JSON"), (Fault.CLOSE, "could not be reached")],
)
def test_the_log_says_why_the_bank_failed(
    gateway: Gateway, bank: FaultBank, logs: LogLines, fault: Fault, cause: str
) -> None:
    bank.then(fault)
    assert gateway.post(card_body(VISA_AUTHORIZED), key="k1").status == 502
    assert cause in logs.text()
