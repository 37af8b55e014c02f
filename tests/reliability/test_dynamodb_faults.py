"""DynamoDB faults, injected at the botocore level on the functions' own client
(tests/reliability/dynamo_faults.py): handlers.adapters.dynamo's error translation and botocore's standard
retries (3 attempts) run for real; backoff sleeps are recorded instead of slept.

What must hold: a clear 503 + Retry-After (never a hang, never a 5xx without our error shape), and
never a payment the bank authorized that the store lost without a `payment_not_stored` log record
naming the payment, its status and its authorization code (and no card data).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, cast

import pytest

from components.config import StackConfig
from handlers.contract import schema
from handlers.domain.cards import mask_pans
from handlers.domain.service import idempotency_key_digest
from handlers.entrypoints import wiring
from tests.reliability.conftest import FINGERPRINT_KEY, LogLines, RetrySleeps, scan
from tests.reliability.dynamo_faults import DynamoFaults, on
from tests.reliability.faultbank import Fault, FaultBank
from tests.reliability.gateway import Gateway, Reply, card_body, payments_client
from tests.reliability.test_bank_faults import the_payment
from tests.support import VISA_AUTHORIZED

PENDING_STATUS = "pending"


def payments_in(store: Any) -> list[dict[str, Any]]:
    return [item for item in scan(store) if item["sk"]["S"].startswith(schema.PAYMENT_PREFIX)]


def claims_in(store: Any) -> list[dict[str, Any]]:
    return [item for item in scan(store) if item["sk"]["S"].startswith(schema.IDEMPOTENCY_PREFIX)]


def reference_of(store: Any, payment_id: str) -> str:
    """What the bank was sent for this payment, as stored for inquiries and reversals."""
    [item] = [i for i in payments_in(store) if i["sk"]["S"] == schema.payment_sk(payment_id)]
    return str(item["bank_reference"]["S"])


def assert_one_final_payment(payment_id: str, bank: FaultBank, store: Any, status: str = "authorized") -> None:
    """Exactly one charge at the bank and one final payment, with the bank's own decision."""
    item = the_payment(store)
    reference = item["bank_reference"]["S"]
    assert bank.charges[reference] == 1 and sum(bank.charges.values()) == 1, bank.charged_references()
    assert (item["sk"]["S"], item["status"]["S"]) == (schema.payment_sk(payment_id), status)
    code = bank.ledger[reference].authorization_code
    assert item.get("authorization_code", {}).get("S") == (code if status == "authorized" else None)


CLAIM, PAYMENT = schema.IDEMPOTENCY_PREFIX, schema.PAYMENT_PREFIX
WRITE_AHEAD = on("PutItem", PAYMENT, condition="attribute_not_exists")  # pending, before the bank
TRANSITION = on("PutItem", PAYMENT, condition="#status = :previous")  # the bank's answer, after it
# The deployed function timeout (components/config.py, default 5 s).
LAMBDA_TIMEOUT_SECONDS = cast(
    int, next(f.default for f in dataclasses.fields(StackConfig) if f.name == "lambda_timeout_seconds")
)
TRANSIENT = ["ProvisionedThroughputExceededException", "ThrottlingException", "InternalServerError", "timeout"]
# DynamoDB answers a write with this under multi-region strong consistency (MRSC) only.
WRITE_TRANSIENT = [*TRANSIENT, "ReplicatedWriteConflictException"]


@pytest.fixture
def faults(gateway: Gateway, store: Any, retry_sleeps: RetrySleeps, moto_skips_faults: None) -> DynamoFaults:
    """Faults on the payment functions' client; `store` (a separate client) is the ground truth."""
    injector = DynamoFaults()

    def apply(operation: str, params: dict[str, Any]) -> None:
        getattr(store, {"PutItem": "put_item", "GetItem": "get_item", "Query": "query"}[operation])(**params)

    injector.install(payments_client(), apply)
    return injector


def configured_attempts(client: Any) -> int:
    """How many attempts botocore makes with this client's retry configuration."""
    retries = client.meta.config.retries or {}
    if "total_max_attempts" in retries:
        return int(retries["total_max_attempts"])
    return int(retries.get("max_attempts", 2)) + 1  # max_attempts counts retries (standard default: 3 in all)


def assert_unavailable(reply: Reply) -> None:
    assert (reply.status, reply.kind, reply.headers.get("Retry-After")) == (503, "service_unavailable", "1")


def stored_claim_key(key: str) -> str:
    """The claim's sort key: the Idempotency-Key is stored only as a keyed hash."""
    return schema.idempotency_sk(idempotency_key_digest(FINGERPRINT_KEY.encode(), key))


def expire_lease(store: Any, key: str, merchant: str = "mer_a") -> None:
    """What 10 s of waiting does to a claim whose holder died: its lease runs out."""
    store.update_item(
        TableName="payments-test",
        Key={"pk": {"S": schema.merchant_pk(merchant)}, "sk": {"S": stored_claim_key(key)}},
        UpdateExpression="SET lease_until = :past",
        ExpressionAttributeValues={":past": {"N": str(time.time() - 1)}},
    )


# --- before the bank: nothing happened yet -------------------------------------------------------


@pytest.mark.parametrize("code", WRITE_TRANSIENT)
def test_claim_write_failing_is_503_before_the_bank(
    gateway: Gateway, faults: DynamoFaults, bank: FaultBank, store: Any, code: str
) -> None:
    faults.fail(on("PutItem", CLAIM), code)
    assert_unavailable(gateway.post(card_body(VISA_AUTHORIZED), key="k1"))
    assert faults.calls["PutItem"] == configured_attempts(payments_client()) >= 2
    assert bank.calls == [] and scan(store) == []
    faults.rules.clear()
    assert gateway.post(card_body(VISA_AUTHORIZED), key="k1").status == 201


def test_one_throttled_write_is_absorbed_by_botocore_retries(
    gateway: Gateway, faults: DynamoFaults, bank: FaultBank, store: Any, retry_sleeps: RetrySleeps
) -> None:
    faults.fail(on("PutItem", CLAIM), "ProvisionedThroughputExceededException", times=1)
    faults.fail(TRANSITION, "InternalServerError", times=1)
    reply = gateway.post(card_body(VISA_AUTHORIZED), key="k1")
    assert reply.status == 201
    assert faults.calls["PutItem"] == 5 and len(retry_sleeps.slept) == 2  # 3 writes, 2 of them retried once
    assert_one_final_payment(reply.body["id"], bank, store)


@pytest.mark.parametrize("code", WRITE_TRANSIENT)
def test_the_write_ahead_failing_is_503_before_the_bank(
    gateway: Gateway, faults: DynamoFaults, bank: FaultBank, store: Any, code: str
) -> None:
    """Nothing is sent to the bank until the pending record is stored."""
    faults.fail(WRITE_AHEAD, code)
    assert_unavailable(gateway.post(card_body(VISA_AUTHORIZED)))
    assert bank.calls == [] and payments_in(store) == []


@pytest.mark.parametrize("code", TRANSIENT)
def test_reading_the_held_claims_payment_failing_is_503_without_a_bank_call(
    gateway: Gateway, faults: DynamoFaults, bank: FaultBank, code: str
) -> None:
    first = gateway.post(card_body(VISA_AUTHORIZED), key="k1")
    faults.fail(on("GetItem", PAYMENT), code)
    assert_unavailable(gateway.post(card_body(VISA_AUTHORIZED), key="k1"))
    assert len(bank.calls) == 1
    faults.rules.clear()
    assert gateway.post(card_body(VISA_AUTHORIZED), key="k1").body == first.body


@pytest.mark.parametrize("code", [*TRANSIENT, "ResourceNotFoundException"])
def test_reads_failing_are_503(gateway: Gateway, faults: DynamoFaults, code: str) -> None:
    made = gateway.post(card_body(VISA_AUTHORIZED))
    faults.fail(on("GetItem"), code).fail(on("Query"), code)
    assert_unavailable(gateway.get(made.body["id"]))
    assert_unavailable(gateway.list_payments())


def test_health_fails_with_503(gateway: Gateway, retry_sleeps: RetrySleeps, moto_skips_faults: None) -> None:
    health = DynamoFaults().fail(on("GetItem"), "timeout")
    health.install(wiring.health_repository()._client)
    assert_unavailable(gateway.health())
    assert health.calls["GetItem"] == configured_attempts(wiring.health_repository()._client)


ATTEMPTS_BUG = (
    "BUG: handlers.adapters.dynamo.make_client passes max_attempts to botocore's `max_attempts`, which counts "
    "retries, not attempts: the health probe (max_attempts=1) tries twice, the payment client (3) four "
    "times. botocore's `total_max_attempts` means what the code intends"
)


def test_health_probe_makes_one_attempt(gateway: Gateway, retry_sleeps: RetrySleeps, moto_skips_faults: None) -> None:
    health = DynamoFaults().fail(on("GetItem"), "timeout")
    health.install(wiring.health_repository()._client)
    assert_unavailable(gateway.health())
    assert health.calls["GetItem"] == 1


def worst_case_seconds(client: Any, attempts: int, *, throttled: bool) -> float:
    """The longest one DynamoDB call can take with this client: every attempt hangs until its
    timeouts (or is throttled at once) and every backoff draws its maximum. botocore's standard
    mode backs off rand(0,1) * min(base * 2**i, 20) s, base 1 s for throttling, 25 ms otherwise."""
    config = client.meta.config
    per_attempt = 0.0 if throttled else float(config.connect_timeout + config.read_timeout)
    base = 1.0 if throttled else 0.025
    return attempts * per_attempt + float(sum(min(base * 2**i, 20.0) for i in range(attempts - 1)))


@pytest.mark.parametrize("code", ["timeout", "ProvisionedThroughputExceededException"])
def test_storage_retries_end_before_the_function_timeout(
    gateway: Gateway, faults: DynamoFaults, bank: FaultBank, logs: LogLines, code: str
) -> None:
    lambda_timeout = LAMBDA_TIMEOUT_SECONDS
    faults.fail(TRANSITION, code)
    assert gateway.post(card_body(VISA_AUTHORIZED), key="k1").status == 202
    assert logs.records("payment_not_stored")  # logged, in this test; in AWS only if there is time left
    writes = faults.calls["PutItem"] - 2  # the claim and the write-ahead went through at once
    payment_write = worst_case_seconds(payments_client(), writes, throttled=code != "timeout")
    bank_call = 0.25 + 0.6  # BANK_CONNECT_TIMEOUT_MS + BANK_READ_TIMEOUT_MS
    assert bank_call + payment_write < lambda_timeout


# --- after the bank: the outcome exists at the bank and must not vanish -------------------------


@pytest.mark.parametrize("code", WRITE_TRANSIENT)
def test_a_bank_answer_that_cannot_be_stored_is_202_pending_loud_and_settled_later(
    gateway: Gateway, faults: DynamoFaults, bank: FaultBank, store: Any, logs: LogLines, code: str
) -> None:
    faults.fail(TRANSITION, code)
    reply = gateway.post(card_body(VISA_AUTHORIZED, cvv="739"), key="k1")
    assert (reply.status, reply.body["status"]) == (202, PENDING_STATUS)
    [reference] = [call["reference"] for call in bank.calls]
    [lost] = logs.records("payment_not_stored")
    assert lost["level"] == "ERROR" and lost["bank_reference"] == reference  # what reconciliation matches
    assert lost["payment"]["status"] == "authorized"
    assert lost["payment"]["authorization_code"] == bank.ledger[reference].authorization_code
    assert lost["payment"]["card_last4"] == VISA_AUTHORIZED[-4:]
    # The log masks any digit run a card number could be, even inside a random request id (1 in ~2,000).
    assert lost["request_id"] == mask_pans(reply.headers["X-Request-Id"]) and lost["merchant_id"] == "mer_a"
    stored = the_payment(store)
    assert (stored["status"]["S"], stored["bank_reference"]["S"]) == (PENDING_STATUS, reference)

    # Recovery: the resolver writes the bank's record; a replay returns it and sends nothing again.
    faults.rules.clear()
    gateway.resolve()
    replay = gateway.post(card_body(VISA_AUTHORIZED, cvv="739"), key="k1")
    assert (replay.status, replay.body["id"], replay.body["status"]) == (201, reply.body["id"], "authorized")
    assert replay.body["authorization_code"] == lost["payment"]["authorization_code"]
    assert len(bank.calls) == 1
    assert_one_final_payment(reply.body["id"], bank, store)


def test_a_failed_status_that_cannot_be_stored_stays_pending_until_the_resolver_fails_it(
    gateway: Gateway, faults: DynamoFaults, bank: FaultBank, store: Any, logs: LogLines
) -> None:
    bank.then(Fault.HTTP_503)
    faults.fail(TRANSITION, "ProvisionedThroughputExceededException")
    reply = gateway.post(card_body(VISA_AUTHORIZED))  # no key: the refusal proves nothing was charged
    assert reply.status == 202
    [lost] = logs.records("payment_not_stored")  # `failed`, not stored: the record stays pending
    assert (lost["payment"]["status"], lost["payment"]["authorization_code"]) == ("failed", None)
    faults.rules.clear()
    assert gateway.resolve().reversals == 1  # no record at the bank: blocked first, then failed
    assert the_payment(store)["status"]["S"] == "failed" and bank.charges == {}
    assert bank.reversals == [the_payment(store)["bank_reference"]["S"]] == [reply.body["id"]]


@pytest.mark.parametrize("bank_fault", [Fault.OK, Fault.TIMEOUT], ids=["authorized", "bank-timeout"])
def test_without_a_key_a_store_failure_after_the_bank_call_is_202_for_the_recorded_payment(
    gateway: Gateway, faults: DynamoFaults, bank: FaultBank, store: Any, logs: LogLines, bank_fault: Fault
) -> None:
    """Earlier: 500 payment_not_recorded and a payment that existed only at the bank. Now the
    write-ahead record names it: 202, no resend needed, and the resolver finds the one charge."""
    bank.then(bank_fault, 2.0)
    faults.fail(TRANSITION, "ProvisionedThroughputExceededException")
    reply = gateway.post(card_body(VISA_AUTHORIZED))
    assert (reply.status, reply.body["status"]) == (202, PENDING_STATUS)
    assert the_payment(store)["bank_reference"]["S"] == reply.body["id"]  # the reference, recorded
    faults.rules.clear()
    gateway.resolve()
    assert_one_final_payment(reply.body["id"], bank, store)


@pytest.mark.parametrize("code", ["ValidationException", "AccessDeniedException"])
def test_a_permanent_store_error_after_authorization_is_202_pending_and_logged(
    gateway: Gateway, faults: DynamoFaults, bank: FaultBank, store: Any, logs: LogLines, code: str
) -> None:
    """Not retryable (a bad deploy: IAM, schema): the pending record stands, the trace is logged."""
    faults.fail(TRANSITION, code)
    reply = gateway.post(card_body(VISA_AUTHORIZED), key="k1")
    assert reply.status == 202
    [lost] = logs.records("payment_not_stored")
    assert lost["payment"]["authorization_code"] == bank.ledger[lost["bank_reference"]].authorization_code
    assert faults.calls["PutItem"] == 3  # claim + write-ahead + the transition: not retried


def test_a_transition_applied_but_unanswered_is_201_once(
    gateway: Gateway, faults: DynamoFaults, bank: FaultBank, store: Any, logs: LogLines
) -> None:
    """DynamoDB wrote the item, the answer was lost: botocore retries, the condition fails on our own
    item, the service reads it back and answers 201."""
    faults.fail(TRANSITION, "lost_response", times=1)
    reply = gateway.post(card_body(VISA_AUTHORIZED), key="k1")
    assert reply.status == 201
    assert_one_final_payment(reply.body["id"], bank, store)
    assert logs.records("payment_not_stored") == []


def test_a_write_ahead_applied_but_unanswered_still_pays(
    gateway: Gateway, faults: DynamoFaults, bank: FaultBank, store: Any
) -> None:
    """The retried write finds our own pending item: it is recognised, not taken for another holder's."""
    faults.fail(WRITE_AHEAD, "lost_response", times=1)
    reply = gateway.post(card_body(VISA_AUTHORIZED), key="k1")
    assert faults.injected["PutItem:lost_response"] == 1
    assert reply.status == 201, reply.raw
    assert_one_final_payment(reply.body["id"], bank, store)


def test_a_claim_write_applied_but_unanswered_still_pays(
    gateway: Gateway, faults: DynamoFaults, bank: FaultBank, store: Any
) -> None:
    faults.fail(on("PutItem", CLAIM), "lost_response", times=1)
    reply = gateway.post(card_body(VISA_AUTHORIZED), key="k1")
    assert reply.status == 201, reply.raw
    assert_one_final_payment(reply.body["id"], bank, store)


def test_a_take_over_write_applied_but_unanswered_still_pays(
    gateway: Gateway, faults: DynamoFaults, bank: FaultBank, store: Any
) -> None:
    faults.fail(WRITE_AHEAD, "InternalServerError")  # the first holder stored nothing: 503, no bank call
    assert_unavailable(gateway.post(card_body(VISA_AUTHORIZED), key="k1"))
    faults.rules.clear()
    expire_lease(store, "k1")
    faults.fail(on("PutItem", CLAIM, condition="attempt ="), "lost_response", times=1)
    reply = gateway.post(card_body(VISA_AUTHORIZED), key="k1")
    assert faults.injected["PutItem:lost_response"] == 1
    assert reply.status == 201, reply.raw
    assert the_payment(store)["attempt"]["N"] == "2"


def test_a_transition_whose_condition_fails_on_a_still_pending_record_is_202(
    gateway: Gateway, faults: DynamoFaults, bank: FaultBank, store: Any
) -> None:
    faults.fail(TRANSITION, "ConditionalCheckFailedException", times=1)
    reply = gateway.post(card_body(VISA_AUTHORIZED), key="k1")
    assert (reply.status, reply.body["status"]) == (202, PENDING_STATUS)  # what the table holds
    gateway.resolve()
    assert_one_final_payment(reply.body["id"], bank, store)
