"""DynamoDB faults, injected at the botocore level on the functions' own client
(tests/reliability/dynamo_faults.py): handlers.dynamo's error translation and botocore's standard
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
from handlers import api, schema
from handlers.service import idempotency_key_digest
from tests.reliability.conftest import FINGERPRINT_KEY, LogLines, RetrySleeps, scan
from tests.reliability.dynamo_faults import DynamoFaults, on
from tests.reliability.faultbank import Fault, FaultBank
from tests.reliability.gateway import Gateway, Reply, card_body, payments_client
from tests.reliability.test_bank_faults import assert_one_final_payment, claims_in, payments_in
from tests.support import VISA_AUTHORIZED

CLAIM, PAYMENT = schema.IDEMPOTENCY_PREFIX, schema.PAYMENT_PREFIX
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
    faults.fail(on("PutItem", PAYMENT), "InternalServerError", times=1)
    reply = gateway.post(card_body(VISA_AUTHORIZED), key="k1")
    assert reply.status == 201
    assert faults.calls["PutItem"] == 4 and len(retry_sleeps.slept) == 2  # 2 writes, each retried once
    assert_one_final_payment(reply.body["id"], bank, store)


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
    health.install(api._health_repository()._client)
    assert_unavailable(gateway.health())
    assert health.calls["GetItem"] == configured_attempts(api._health_repository()._client)


ATTEMPTS_BUG = (
    "BUG: handlers.dynamo.make_client passes max_attempts to botocore's `max_attempts`, which counts "
    "retries, not attempts: the health probe (max_attempts=1) tries twice, the payment client (3) four "
    "times. botocore's `total_max_attempts` means what the code intends"
)


def test_health_probe_makes_one_attempt(gateway: Gateway, retry_sleeps: RetrySleeps, moto_skips_faults: None) -> None:
    health = DynamoFaults().fail(on("GetItem"), "timeout")
    health.install(api._health_repository()._client)
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
    faults.fail(on("PutItem", PAYMENT), code)
    assert_unavailable(gateway.post(card_body(VISA_AUTHORIZED), key="k1"))
    assert logs.records("payment_not_stored")  # logged, in this test; in AWS only if there is time left
    payment_write = worst_case_seconds(payments_client(), faults.calls["PutItem"] - 1, throttled=code != "timeout")
    bank_call = 0.25 + 0.6  # BANK_CONNECT_TIMEOUT_MS + BANK_READ_TIMEOUT_MS
    assert bank_call + payment_write < lambda_timeout  # and the claim write took no time at all


# --- after the bank: the outcome exists at the bank and must not vanish -------------------------


@pytest.mark.parametrize("code", WRITE_TRANSIENT)
def test_payment_write_failing_after_authorization_is_503_and_logged(
    gateway: Gateway, faults: DynamoFaults, bank: FaultBank, store: Any, logs: LogLines, code: str
) -> None:
    faults.fail(on("PutItem", PAYMENT), code)
    reply = gateway.post(card_body(VISA_AUTHORIZED, cvv="739"), key="k1")
    assert_unavailable(reply)
    [reference] = [call["reference"] for call in bank.calls]
    [lost] = logs.records("payment_not_stored")
    assert lost["level"] == "ERROR" and lost["attempt"] == 1
    assert lost["bank_reference"] == reference  # what reconciliation matches at the bank
    assert lost["payment"]["status"] == "authorized"
    assert lost["payment"]["authorization_code"] == bank.ledger[reference].authorization_code
    assert lost["payment"]["card_last4"] == VISA_AUTHORIZED[-4:]
    assert lost["request_id"] == reply.headers["X-Request-Id"] and lost["merchant_id"] == "mer_a"
    assert payments_in(store) == [] and len(claims_in(store)) == 1  # the claim still names the payment

    # Recovery: while the lease runs, a retry is told to wait; after it, the retry takes the claim
    # over, the bank recognises the payment id and the one charge is finally stored.
    faults.rules.clear()
    waiting = gateway.post(card_body(VISA_AUTHORIZED, cvv="739"), key="k1")
    assert (waiting.status, waiting.kind) == (409, "request_in_progress")
    expire_lease(store, "k1")
    retry = gateway.post(card_body(VISA_AUTHORIZED, cvv="739"), key="k1")
    assert (retry.status, retry.body["id"]) == (201, lost["payment"]["id"])
    assert [call["reference"] for call in bank.calls] == [reference, reference]
    assert retry.body["authorization_code"] == lost["payment"]["authorization_code"]
    assert_one_final_payment(lost["payment"]["id"], bank, store)


def test_failed_payment_write_failing_after_a_bank_error_is_503_and_logged(
    gateway: Gateway, faults: DynamoFaults, bank: FaultBank, store: Any, logs: LogLines
) -> None:
    bank.then(Fault.HTTP_503)
    faults.fail(on("PutItem", PAYMENT), "ProvisionedThroughputExceededException")
    assert_unavailable(gateway.post(card_body(VISA_AUTHORIZED), key="k1"))
    [lost] = logs.records("payment_not_stored")
    assert (lost["payment"]["status"], lost["payment"]["authorization_code"]) == ("failed", None)
    assert payments_in(store) == []


@pytest.mark.parametrize("bank_fault", [Fault.OK, Fault.TIMEOUT], ids=["authorized", "bank-timeout"])
def test_without_a_key_a_store_failure_after_the_bank_call_does_not_invite_a_resend(
    gateway: Gateway, faults: DynamoFaults, bank: FaultBank, store: Any, logs: LogLines, bank_fault: Fault
) -> None:
    """Without a key a resend is a new payment, and the bank may have charged (an authorization, or a
    timeout after the charge): no 503 + Retry-After, but 500 payment_not_recorded naming the payment."""
    bank.then(bank_fault, 2.0)
    faults.fail(on("PutItem", PAYMENT), "ProvisionedThroughputExceededException")
    reply = gateway.post(card_body(VISA_AUTHORIZED))
    assert (reply.status, reply.kind) == (500, "payment_not_recorded")
    assert "Retry-After" not in reply.headers and "Do not resend" in reply.error["message"]
    [lost] = logs.records("payment_not_stored")
    assert reply.error["payment_id"] == lost["payment"]["id"] == lost["bank_reference"]  # what reconciliation finds
    assert sum(bank.charges.values()) == 1 and payments_in(store) == []


@pytest.mark.parametrize("code", ["ValidationException", "AccessDeniedException"])
def test_a_permanent_store_error_after_authorization_is_500_and_logged(
    gateway: Gateway, faults: DynamoFaults, bank: FaultBank, logs: LogLines, code: str
) -> None:
    """Not retryable (a bad deploy: IAM, schema): 500 internal_error, and still the trace."""
    faults.fail(on("PutItem", PAYMENT), code)
    reply = gateway.post(card_body(VISA_AUTHORIZED), key="k1")
    assert (reply.status, reply.kind) == (500, "internal_error")
    [lost] = logs.records("payment_not_stored")
    assert lost["payment"]["authorization_code"] == bank.ledger[lost["bank_reference"]].authorization_code
    assert faults.calls["PutItem"] == 2  # claim + payment: not retried


def test_a_payment_write_applied_but_unanswered_is_201_once(
    gateway: Gateway, faults: DynamoFaults, bank: FaultBank, store: Any, logs: LogLines
) -> None:
    """DynamoDB wrote the item, the answer was lost: botocore retries, the condition fails on our own
    item, the service reads it back and answers 201."""
    faults.fail(on("PutItem", PAYMENT), "lost_response", times=1)
    reply = gateway.post(card_body(VISA_AUTHORIZED), key="k1")
    assert reply.status == 201
    assert_one_final_payment(reply.body["id"], bank, store)
    assert logs.records("payment_not_stored") == []


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
    bank.then(Fault.HTTP_503)
    assert gateway.post(card_body(VISA_AUTHORIZED), key="k1").status == 502
    faults.fail(on("PutItem", CLAIM, condition="attempt ="), "lost_response", times=1)
    reply = gateway.post(card_body(VISA_AUTHORIZED), key="k1")
    assert faults.injected["PutItem:lost_response"] == 1
    assert reply.status == 201, reply.raw


def test_a_payment_condition_race_with_nothing_stored_is_logged(
    gateway: Gateway, faults: DynamoFaults, bank: FaultBank, logs: LogLines
) -> None:
    faults.fail(on("PutItem", PAYMENT), "ConditionalCheckFailedException", times=1)
    reply = gateway.post(card_body(VISA_AUTHORIZED), key="k1")
    [lost] = logs.records("payment_not_stored")
    assert lost["payment"]["authorization_code"] == bank.ledger[lost["bank_reference"]].authorization_code
    assert_unavailable(reply)
