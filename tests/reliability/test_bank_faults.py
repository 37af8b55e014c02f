"""Bank faults, served by a real localhost bank that misbehaves on purpose (tests/reliability/faultbank.py).

Every fault ends in the right final status:
- not processed (the bank's 503, a refused connection): `502 bank_unavailable` naming a payment
  stored as `failed`, nothing charged, and every replay answers the same; with an Idempotency-Key
  (a reference both regions send) `202` pending until the resolver may reverse the reference;
- anything after which the request may have reached the bank (a timeout, a reset, a dropped
  connection, a 500, an unreadable 200): `202` with the payment `pending` and a `Retry-After`; the
  resolver then asks the bank and writes its record: the bank's own status and code when it
  charged, `failed` after a confirmed reversal when it has no record, `reversed` under the
  `reverse` policy. A replay never sends the authorization again.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from handlers.contract import schema
from handlers.contract.resolution import UnknownOutcome
from handlers.domain.cards import mask_pans
from handlers.entrypoints import resolver_job, wiring
from tests.reliability.conftest import LogLines, scan
from tests.reliability.faultbank import CHARGING, Fault, FaultBank, free_port, running_bank
from tests.reliability.gateway import Gateway, Reply, card_body
from tests.support import VISA_AUTHORIZED, VISA_DECLINED

READ_TIMEOUT = 0.6  # BANK_READ_TIMEOUT_MS in the lambda_settings fixture (the deployed default)
UNKNOWN_FAULTS = [
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


def the_payment(store: Any) -> dict[str, Any]:
    [item] = payments_in(store)
    return item


def assert_pending(reply: Reply, store: Any) -> str:
    """The documented 202: recorded, outcome unknown, never a reason to resend as a new payment."""
    assert reply.status == 202 and reply.body["status"] == "pending", reply.raw
    assert int(reply.headers["Retry-After"]) >= 1
    item = the_payment(store)
    assert (item["sk"]["S"], item["status"]["S"]) == (schema.payment_sk(reply.body["id"]), "pending")
    assert item[schema.PENDING_PARTITION_KEY]["S"].startswith(schema.PENDING_PREFIX + "eu-west-1#")
    return str(reply.body["id"])


def assert_settled_as_the_bank_says(gateway: Gateway, bank: FaultBank, store: Any, payment_id: str) -> dict[str, Any]:
    item = the_payment(store)
    reference = item["bank_reference"]["S"]
    decision = bank.ledger.get(reference)
    got = gateway.get(payment_id).body
    assert got["status"] == item["status"]["S"] != "pending"
    # Out of the index's pending partitions once settled (a manual authorization waits in EXPIRY#).
    assert not item.get(schema.PENDING_PARTITION_KEY, {"S": ""})["S"].startswith(schema.PENDING_PREFIX)
    if decision is None or (decision.reversed and not decision.authorization_code):
        assert (got["status"], got["authorization_code"]) == ("failed", None)
    elif decision.reversed:
        assert (got["status"], got["authorization_code"]) == ("reversed", decision.authorization_code)
    else:
        expected = "authorized" if decision.authorized else "declined"
        assert (got["status"], got["authorization_code"]) == (expected, decision.authorization_code or None)
    assert sum(bank.charges.values()) <= 1
    return got


@pytest.mark.parametrize(("fault", "delay"), UNKNOWN_FAULTS, ids=[f.value for f, _ in UNKNOWN_FAULTS])
def test_an_unknown_outcome_is_202_pending_then_the_resolver_writes_the_banks_record(
    gateway: Gateway, bank: FaultBank, store: Any, fault: Fault, delay: float
) -> None:
    bank.then(fault, delay)
    payment_id = assert_pending(gateway.post(card_body(VISA_AUTHORIZED), key="k1"), store)
    charged = fault in CHARGING
    report = gateway.resolve()
    assert report.reversals == (0 if charged else 1)  # no record at the bank: reversed before `failed`
    got = assert_settled_as_the_bank_says(gateway, bank, store, payment_id)
    assert got["status"] == ("authorized" if charged else "failed")
    replay = gateway.post(card_body(VISA_AUTHORIZED), key="k1")
    if charged:
        assert (replay.status, replay.body["id"], replay.headers["Idempotent-Replayed"]) == (201, payment_id, "true")
    else:
        assert (replay.status, replay.error["payment_id"]) == (502, payment_id)
    assert len(bank.calls) == 1  # the authorization was sent once, whatever happened next


@pytest.mark.parametrize(("fault", "delay"), [(Fault.TIMEOUT, READ_TIMEOUT + 1.0), (Fault.HTTP_500_HTML, 0.0)])
def test_the_reverse_policy_reverses_a_late_authorization_and_blocks_an_uncharged_reference(
    gateway: Gateway, bank: FaultBank, store: Any, fault: Fault, delay: float
) -> None:
    """Without a key: the reference is the payment's own (a key's is never reversed as late, below)."""
    bank.then(fault, delay)
    payment_id = assert_pending(gateway.post(card_body(VISA_AUTHORIZED)), store)
    reference = the_payment(store)["bank_reference"]["S"]
    assert gateway.resolve(outcome=UnknownOutcome.REVERSE).reversals == 1
    got = assert_settled_as_the_bank_says(gateway, bank, store, payment_id)
    assert got["status"] == ("reversed" if fault in CHARGING else "failed")
    assert reference in bank.reversed_references()
    late = gateway.post(card_body(VISA_AUTHORIZED), key="k2")  # another payment, refused nothing
    assert late.status == 201


def test_the_reverse_policy_settles_a_keys_late_authorization(gateway: Gateway, bank: FaultBank, store: Any) -> None:
    """A key's reference may be another record's 201 (the other region's retry, or the same key and
    body after 24 h), so even under `reverse` its late authorization is settled, never reversed."""
    bank.then(Fault.TIMEOUT, READ_TIMEOUT + 1.0)
    payment_id = assert_pending(gateway.post(card_body(VISA_AUTHORIZED), key="k1"), store)
    assert gateway.resolve(outcome=UnknownOutcome.REVERSE).reversals == 0
    got = assert_settled_as_the_bank_says(gateway, bank, store, payment_id)
    assert got["status"] == "authorized" and bank.reversals == []


def test_a_late_decline_is_settled_declined(gateway: Gateway, bank: FaultBank, store: Any) -> None:
    bank.then(Fault.MALFORMED_JSON)
    payment_id = assert_pending(gateway.post(card_body(VISA_DECLINED), key="k1"), store)
    gateway.resolve(outcome=UnknownOutcome.REVERSE)  # nothing to reverse: declined stays declined
    got = assert_settled_as_the_bank_says(gateway, bank, store, payment_id)
    assert (got["status"], got["authorization_code"]) == ("declined", None)
    assert bank.reversals == []


def test_the_banks_503_is_failed_and_final(gateway: Gateway, bank: FaultBank, store: Any) -> None:
    bank.then(Fault.HTTP_503)
    keyless = gateway.post(card_body(VISA_AUTHORIZED))
    assert (keyless.status, keyless.kind) == (502, "bank_unavailable")
    assert "nothing was charged" in keyless.error["message"]
    # No key was sent: the way to try again is to send it again, and this is no replay
    assert "send the request again" in keyless.error["message"] and "Idempotency-Key" not in keyless.error["message"]
    assert "Idempotent-Replayed" not in keyless.headers
    assert the_payment(store)["status"]["S"] == "failed" and bank.charges == {}
    # With a key the reference is shared by both regions: pending until the resolver may reverse it
    bank.then(Fault.HTTP_503)
    first = gateway.post(card_body(VISA_AUTHORIZED), key="k1")
    assert (first.status, first.body["status"]) == (202, "pending") and bank.reversals == []
    assert gateway.resolve().settled == {"failed": 1}
    replay = gateway.post(card_body(VISA_AUTHORIZED), key="k1")
    assert (replay.status, replay.kind, replay.error["payment_id"]) == (502, "bank_unavailable", first.body["id"])
    assert "nothing was charged" in replay.error["message"] and "new Idempotency-Key" in replay.error["message"]
    assert replay.headers["Idempotent-Replayed"] == "true"  # the stored answer, as a replayed 201 says it
    assert len(bank.calls) == 2  # failed is final: a new attempt takes a new key
    assert gateway.resolve().settled == {}


def test_a_refused_connection_is_failed_without_a_key_and_pending_with_one(
    gateway: Gateway, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a key the reference is the payment's own: a refused connection proves nothing was charged.
    A keyed reference is shared by both regions, so the other one may have charged it (a retry that
    failed over during replication lag): the bank's record decides, and it cannot be asked now."""
    port = free_port()
    monkeypatch.setenv("BANK_URL", f"http://127.0.0.1:{port}/payments")  # before the first call: cold start
    keyless = gateway.post(card_body(VISA_AUTHORIZED))
    assert (keyless.status, keyless.kind) == (502, "bank_unavailable")
    keyed = gateway.post(card_body(VISA_AUTHORIZED), key="k1")
    assert (keyed.status, keyed.body["status"]) == (202, "pending")
    with running_bank(port) as recovered:
        gateway.resolve()
        assert recovered.calls == [] and recovered.reversals == [recovered.inquiries[0]]  # never authorized
    statuses = {item["sk"]["S"]: item["status"]["S"] for item in payments_in(store)}
    assert statuses == {
        schema.payment_sk(keyless.error["payment_id"]): "failed",
        schema.payment_sk(keyed.body["id"]): "failed",
    }


def test_a_keyed_refusal_takes_the_banks_record_when_the_other_region_charged_the_reference(
    gateway: Gateway, bank: FaultBank, store: Any
) -> None:
    """The retry in this region is refused (503), but the attempt that failed over from the other
    region was charged under the same reference: the payment is the charge, not `failed`."""
    reference = _keyed_reference("k1")
    bank._charge({"reference": reference, "card_number": VISA_AUTHORIZED, "amount": 1050, "currency": "GBP"})
    bank.then(Fault.HTTP_503)
    reply = gateway.post(card_body(VISA_AUTHORIZED), key="k1")
    assert (reply.status, reply.body["status"]) == (201, "authorized")
    assert reply.body["authorization_code"] == bank.ledger[reference].authorization_code
    assert bank.reversals == [] and sum(bank.charges.values()) == 1


def _keyed_reference(key: str) -> str:
    """The reference both regions send for this key and the suite's card body."""
    from handlers.domain.service import IdempotencyPolicy, bank_reference, keyed_hash  # noqa: F401, PLC0415
    from tests.reliability.conftest import FINGERPRINT_KEY  # noqa: PLC0415

    secret = FINGERPRINT_KEY.encode()
    body = card_body(VISA_AUTHORIZED)
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return bank_reference(secret, "mer_a", key, keyed_hash(secret, "body", canonical))


@pytest.mark.parametrize("fraction", [0.2, 0.8, 0.95, 1.05, 1.3, 2.0])
def test_slow_answers_near_the_timeout_end_in_one_charge_and_the_banks_status(
    gateway: Gateway, bank: FaultBank, store: Any, fraction: float
) -> None:
    """Whichever side of the read timeout an answer lands on, the record matches what the merchant
    was told, and once resolved it says what the bank did."""
    bank.then(Fault.SLOW, READ_TIMEOUT * fraction)
    first = gateway.post(card_body(VISA_AUTHORIZED), key="k1")
    assert first.status in (201, 202), first.raw
    if fraction <= 0.2:
        assert first.status == 201  # far inside the timeout
    if fraction >= 2.0:
        assert first.status == 202  # far outside it: pending, never failed
    gateway.resolve()
    got = assert_settled_as_the_bank_says(gateway, bank, store, first.body["id"])
    assert got["status"] == "authorized" and sum(bank.charges.values()) == 1


def test_a_dripping_bank_is_cut_off_at_the_configured_deadline(
    gateway: Gateway, bank: FaultBank, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BANK_READ_TIMEOUT_MS", "300")  # each byte comes 6x faster than this
    bank.then(Fault.DRIP, 0.05)  # the ~60-byte answer takes ~3 s in all
    reply = gateway.post(card_body(VISA_AUTHORIZED), key="k1")
    assert reply.status == 202  # cut off after 0.3 s; a per-read timeout would wait for the last byte: 201
    assert_pending(reply, store)


def test_an_unreachable_bank_leaves_it_pending_and_a_later_run_settles_it(
    gateway: Gateway, bank: FaultBank, store: Any
) -> None:
    bank.then(Fault.TIMEOUT, READ_TIMEOUT + 1.0)
    payment_id = assert_pending(gateway.post(card_body(VISA_AUTHORIZED), key="k1"), store)
    bank.reachable = False
    assert gateway.resolve().failures == 1
    assert the_payment(store)["status"]["S"] == "pending"
    bank.reachable = True
    gateway.resolve(later=7200.0)
    assert assert_settled_as_the_bank_says(gateway, bank, store, payment_id)["status"] == "authorized"


def test_without_a_key_a_lost_answer_is_202_and_settled_so_nobody_resends_it(
    gateway: Gateway, bank: FaultBank, store: Any
) -> None:
    """Earlier a 502 here invited a resend, a second charge. Now the merchant is told the payment
    exists and is pending, and the resolver finds the charge."""
    bank.then(Fault.TIMEOUT, READ_TIMEOUT + 1.0)
    payment_id = assert_pending(gateway.post(card_body(VISA_AUTHORIZED)), store)
    gateway.resolve()
    assert assert_settled_as_the_bank_says(gateway, bank, store, payment_id)["status"] == "authorized"
    assert sum(bank.charges.values()) == 1


def test_even_a_bank_that_ignores_the_reference_is_charged_once_by_a_retry(
    store: Any, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retry of a pending key asks the bank for its record; it never resends the authorization."""
    with running_bank(deduplicate=False) as careless:
        careless.then(Fault.TIMEOUT, READ_TIMEOUT + 1.0)
        monkeypatch.setenv("BANK_URL", careless.url)  # before the first call: cold start
        monkeypatch.setenv("IDEMPOTENCY_LEASE_SECONDS", "1")
        first = gateway.post(card_body(VISA_AUTHORIZED), key="k1")
        assert first.status == 202
        careless.arrived.wait(5)
        retried = _replay_after_the_lease(gateway)
        assert (retried.status, retried.body["status"]) == (201, "authorized")
        assert sum(careless.charges.values()) == 1 and len(careless.calls) == 1
        assert careless.inquiries == [the_payment(store)["bank_reference"]["S"]]


def _replay_after_the_lease(gateway: Gateway) -> Reply:
    for _ in range(100):
        reply = gateway.post(card_body(VISA_AUTHORIZED), key="k1")
        if reply.status != 409:
            return reply
        time.sleep(0.05)
    raise AssertionError("the lease never ended")


def test_bank_failures_are_logged_without_card_data(gateway: Gateway, bank: FaultBank, logs: LogLines) -> None:
    bank.then(Fault.HTTP_503)
    reply = gateway.post(card_body(VISA_AUTHORIZED, cvv="739"))  # no key: its own reference, failed
    assert reply.status == 502
    [failed] = logs.records("request_failed")
    # The log masks any digit run a card number could be, even inside a random request id.
    assert failed["error_type"] == "bank_unavailable" and failed["request_id"] == mask_pans(
        reply.headers["X-Request-Id"]
    )
    # The card-data audit (conftest) then checks every line for the number and "739".


@pytest.mark.parametrize(
    ("fault", "record", "cause"),
    [
        (Fault.HTTP_503, "keyed_refusal_left_pending", "HTTP 503"),
        (Fault.MALFORMED_JSON, "bank_outcome_unknown", "not JSON"),
        (Fault.CLOSE, "bank_outcome_unknown", "answer"),
    ],
)
def test_the_log_says_why_the_bank_failed(
    gateway: Gateway, bank: FaultBank, logs: LogLines, fault: Fault, record: str, cause: str
) -> None:
    bank.then(fault)
    assert gateway.post(card_body(VISA_AUTHORIZED), key="k1").status in (202, 502)
    assert logs.records(record) and cause in logs.text()


def test_the_scheduled_entry_point_settles_and_publishes_the_backlog(
    gateway: Gateway,
    bank: FaultBank,
    store: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RESOLVE_AFTER_SECONDS", "1")  # before the first call: cold start
    bank.then(Fault.CLOSE)
    payment_id = assert_pending(gateway.post(card_body(VISA_AUTHORIZED), key="k1"), store)
    assert resolver_job.resolve_pending(None, None)["pending"] == 1  # not due yet
    time.sleep(wiring.settings().resolution().resolve_after_seconds + 0.1)
    result = resolver_job.resolve_pending(None, None)
    assert (result["pending"], result["settled"]) == (0, {"authorized": 1})
    assert gateway.get(payment_id).body["status"] == "authorized"
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    names = {m["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] for m in metrics}
    assert {"PaymentsPending", "OldestPendingAge", "ResolverFailures", "Reversals", "PaymentsResolved"} <= names
