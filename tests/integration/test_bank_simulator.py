"""The bank simulator: its protocol on both ledgers (memory, moto's DynamoDB), its fault cards, and
its Lambda adapter served by the real local HTTP server, with the real bank client in front."""

from __future__ import annotations

import functools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import attrs
import pytest
from botocore.exceptions import ClientError
from moto.core.botocore_stubber import BotocoreStubber

from handlers.adapters.bank import HttpBank
from handlers.contract import schema
from handlers.contract.routes import BANK_SIMULATOR
from handlers.domain.errors import BankNotProcessed, BankOutcomeUnknown, BankRefusal
from handlers.domain.models import BankDecision, BankRecord, BankStatus
from handlers.simulator import bank as bank_simulator
from handlers.simulator import dynamo_ledger
from handlers.simulator.bank import FAULT_CARDS, Answer, Fault, SimulatedBank
from handlers.simulator.dynamo_ledger import DynamoLedger, from_item
from handlers.simulator.ledger import Ledger, MemoryLedger
from handlers.wire.validation import ValidationRules, parse_payment_request
from local_gateway.gateway import Gateway
from local_gateway.http_server import LocalHTTPServer
from local_gateway.options import parse_args
from local_gateway.topology import BANK_ROUTES, bank_environment
from proxy_gateway import lambda_proxy
from tests.integration.conftest import REGION, TABLE
from tests.support import VISA_AUTHORIZED, VISA_BANK_DOWN, VISA_DECLINED, payment_body

CARD = {fault: number for number, fault in FAULT_CARDS.items()}
CVV = "739"
NOTHING_TAKEN = {"captured_amount": 0, "refunded_amount": 0}
# Rules the bank applies before or apart from its ledger: one ledger is enough (moto's table is slow to set up).
MEMORY_ONLY = pytest.mark.parametrize("books", ["memory"], indirect=True)


def body(number: str = VISA_AUTHORIZED, reference: str = "pay_1", **changes: Any) -> dict[str, Any]:
    return {
        "card_number": number,
        "expiry_date": "04/2030",
        "currency": "GBP",
        "amount": 1050,
        "cvv": CVV,
        "reference": reference,
        **changes,
    }


@dataclass
class Books:
    """A ledger and a way to see every entry it stores, as stored."""

    ledger: Ledger
    stored: Callable[[], list[dict[str, Any]]]


def memory_books() -> Books:
    ledger = MemoryLedger()
    return Books(ledger, lambda: [*map(attrs.asdict, ledger.entries()), *map(attrs.asdict, ledger.refunds())])


def dynamo_books(client: Any) -> Books:
    def stored() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = client.scan(TableName=TABLE, ConsistentRead=True)["Items"]
        return items

    return Books(DynamoLedger(client, TABLE), stored)


@pytest.fixture(params=["memory", "dynamodb"])
def books(request: pytest.FixtureRequest) -> Books:
    if request.param == "memory":
        return memory_books()
    return dynamo_books(request.getfixturevalue("dynamodb"))


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def bank(books: Books, slept: list[float]) -> SimulatedBank:
    return SimulatedBank(books.ledger, late_seconds=2.5, sleep=slept.append)


# --- the protocol, on both ledgers ---------------------------------------------------------------


def test_the_same_reference_and_body_get_the_same_answer_and_one_charge(bank: SimulatedBank, books: Books) -> None:
    first = bank.authorize(body())
    assert first.status == 200 and first.body is not None
    assert first.body["authorized"] is True and len(first.body["authorization_code"]) == 12
    assert bank.authorize(body()) == first
    assert len(books.stored()) == 1


def test_a_declined_card_is_declined_again_and_recorded_once(bank: SimulatedBank, books: Books) -> None:
    declined = Answer(200, {"authorized": False, "authorization_code": "", "captured": False})
    assert bank.authorize(body(VISA_DECLINED)) == declined
    assert bank.authorize(body(VISA_DECLINED)) == declined
    assert len(books.stored()) == 1
    assert bank.inquire("pay_1") == Answer(
        200, {"status": "declined", "authorization_code": None, "amount": 1050, "currency": "GBP", **NOTHING_TAKEN}
    )


@pytest.mark.parametrize(
    "change", [{"amount": 1051}, {"currency": "EUR"}, {"expiry_date": "05/2030"}, {"card_number": VISA_DECLINED}]
)
def test_the_same_reference_with_another_body_is_refused_and_changes_nothing(
    bank: SimulatedBank, books: Books, change: dict[str, Any]
) -> None:
    first = bank.authorize(body())
    before = books.stored()
    assert bank.authorize(body(**change)) == Answer(409, {"error": "reference_reused"})
    assert books.stored() == before
    assert bank.authorize(body()) == first


def test_inquiry_shapes(bank: SimulatedBank) -> None:
    assert bank.inquire("pay_unknown") == Answer(404, {"error": "not_found"})
    answer = bank.authorize(body())
    assert answer.body is not None
    assert bank.inquire("pay_1") == Answer(
        200,
        {
            "status": "authorized",
            "authorization_code": answer.body["authorization_code"],
            "amount": 1050,
            "currency": "GBP",
            **NOTHING_TAKEN,
        },
    )


def test_a_reversal_is_idempotent_keeps_the_charge_details_and_blocks_the_reference(bank: SimulatedBank) -> None:
    code = (bank.authorize(body()).body or {})["authorization_code"]
    reversed_ = Answer(
        200, {"status": "reversed", "authorization_code": code, "amount": 1050, "currency": "GBP", **NOTHING_TAKEN}
    )
    assert bank.reverse("pay_1") == reversed_
    assert bank.reverse("pay_1") == reversed_
    assert bank.inquire("pay_1") == reversed_
    assert bank.authorize(body()) == Answer(409, {"error": "reference_reversed"})


def test_a_declined_reference_stays_declined_when_reversed(bank: SimulatedBank) -> None:
    bank.authorize(body(VISA_DECLINED))
    declined = Answer(
        200, {"status": "declined", "authorization_code": None, "amount": 1050, "currency": "GBP", **NOTHING_TAKEN}
    )
    assert bank.reverse("pay_1") == declined
    assert bank.inquire("pay_1") == declined


def test_reversing_an_unknown_reference_blocks_a_late_authorization(bank: SimulatedBank, books: Books) -> None:
    blocking = Answer(
        200, {"status": "reversed", "authorization_code": None, "amount": None, "currency": None, **NOTHING_TAKEN}
    )
    assert bank.reverse("pay_late") == blocking
    assert bank.reverse("pay_late") == blocking
    assert bank.authorize(body(reference="pay_late")) == Answer(409, {"error": "reference_reversed"})
    assert bank.inquire("pay_late") == blocking  # nothing was charged
    assert len(books.stored()) == 1


def test_an_unavailable_issuer_records_nothing(bank: SimulatedBank, books: Books) -> None:
    assert bank.authorize(body(VISA_BANK_DOWN)) == Answer(503, {"error": "issuer_unavailable"})
    assert books.stored() == []
    assert bank.inquire("pay_1").status == 404


@pytest.mark.parametrize("missing", ["card_number", "expiry_date", "currency", "amount", "cvv", "reference"])
def test_a_missing_field_is_400_and_records_nothing(bank: SimulatedBank, books: Books, missing: str) -> None:
    incomplete = body()
    del incomplete[missing]
    assert bank.authorize(incomplete) == Answer(400, {"error": f"missing fields: {missing}"})
    assert books.stored() == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", "1050"),
        ("amount", True),
        ("amount", 0),
        ("card_number", "4242 4242"),
        ("reference", "a/b"),
        ("reference", ""),
        ("expiry_date", "4/2030"),
        ("expiry_date", "13/2030"),
        ("currency", 826),
    ],
)
def test_an_invalid_field_is_named_without_its_value(bank: SimulatedBank, field: str, value: Any) -> None:
    answer = bank.authorize(body(**{field: value}))
    assert answer == Answer(400, {"error": f"invalid fields: {field}"})


def test_the_ledger_never_holds_the_card_number_or_the_cvv(bank: SimulatedBank, books: Books) -> None:
    for index, number in enumerate([VISA_AUTHORIZED, VISA_DECLINED, *FAULT_CARDS]):
        bank.authorize(body(number, reference=f"pay_{index}"))
    stored = json.dumps(books.stored())
    assert len(books.stored()) == 2 + len(FAULT_CARDS)
    for number in [VISA_AUTHORIZED, VISA_DECLINED, *FAULT_CARDS]:
        assert number not in stored
    assert f'"{CVV}"' not in stored and '"cvv"' not in stored and '"card_number"' not in stored
    assert '"4291"' in stored  # what it does keep: the last four


def test_fault_cards_charge_before_they_misbehave(bank: SimulatedBank, slept: list[float]) -> None:
    assert bank.authorize(body(CARD[Fault.DROPPED_CONNECTION], reference="pay_drop")) == Answer(None, None)
    assert bank.authorize(body(CARD[Fault.ERROR_AFTER_CHARGE], reference="pay_500")) == Answer(
        500, {"error": "internal_error"}
    )
    late = bank.authorize(body(CARD[Fault.LATE_ANSWER], reference="pay_late"))
    assert late.status == 200 and (late.body or {})["authorized"] is True
    assert slept == [2.5]
    for reference in ("pay_drop", "pay_500", "pay_late"):
        assert (bank.inquire(reference).body or {})["status"] == "authorized"


def test_the_late_answer_waits_after_the_charge_is_recorded(books: Books) -> None:
    seen: list[Answer] = []
    bank = SimulatedBank(books.ledger, late_seconds=1.5, sleep=lambda _: seen.append(bank.inquire("pay_late")))
    bank.authorize(body(CARD[Fault.LATE_ANSWER], reference="pay_late"))
    assert [answer.status for answer in seen] == [200]


def test_fault_cards_are_valid_visa_numbers_that_authorize() -> None:
    rules = ValidationRules()
    for number in FAULT_CARDS:
        request = parse_payment_request(payment_body(number), rules, date(2026, 11, 26))  # the gateway takes them
        assert request.card.number.startswith("4") and len(number) == 16 and int(number[-1]) % 2 == 1


# --- captures, refunds and the void, on both ledgers -------------------------------------------------


def captured(bank: SimulatedBank, amount: int = 1000, reference: str = "pay_1") -> None:
    """An authorization of 1050 under `reference`, then a capture of `amount`."""
    assert bank.authorize(body(reference=reference)).status == 200
    assert bank.capture(reference, {"amount": amount}) == Answer(200, {"status": "captured", "captured_amount": amount})


def refund(reference: str, amount: object) -> dict[str, Any]:
    return {"refund_reference": reference, "amount": amount}


def refunded(reference: str, amount: int) -> Answer:
    return Answer(200, {"status": "refunded", "refund_reference": reference, "amount": amount})


def test_a_capturing_authorization_takes_the_whole_amount(bank: SimulatedBank, books: Books) -> None:
    first = bank.authorize(body(capture=True))
    assert first.status == 200 and first.body is not None
    assert first.body["authorized"] is True and first.body["captured"] is True
    assert bank.authorize(body(capture=True)) == first  # a retry: the same answer, taken once
    assert bank.inquire("pay_1") == Answer(
        200,
        {
            "status": "captured",
            "authorization_code": first.body["authorization_code"],
            "amount": 1050,
            "currency": "GBP",
            "captured_amount": 1050,
            "refunded_amount": 0,
        },
    )
    assert len(books.stored()) == 1


def test_the_capture_flag_is_part_of_what_a_retry_must_repeat(bank: SimulatedBank, books: Books) -> None:
    captured_ = bank.authorize(body(capture=True))
    assert bank.authorize(body()) == Answer(409, {"error": "reference_reused"})
    assert bank.authorize(body(capture=False)) == Answer(409, {"error": "reference_reused"})
    only = bank.authorize(body(reference="pay_2"))
    assert only.body is not None and only.body["captured"] is False
    assert bank.authorize(body(reference="pay_2", capture=True)) == Answer(409, {"error": "reference_reused"})
    assert bank.authorize(body(reference="pay_2", capture=False)) == only  # absent is false
    assert bank.capture("pay_2", {"amount": 1050}).status == 200
    assert bank.authorize(body(reference="pay_2")) == only  # the first answer, even after a capture
    assert bank.authorize(body(capture=True)) == captured_
    assert len(books.stored()) == 2


def test_a_declined_card_is_not_captured(bank: SimulatedBank) -> None:
    declined = Answer(200, {"authorized": False, "authorization_code": "", "captured": False})
    assert bank.authorize(body(VISA_DECLINED, capture=True)) == declined
    assert (bank.inquire("pay_1").body or {})["status"] == "declined"


@MEMORY_ONLY
@pytest.mark.parametrize("value", ["true", 1, None])
def test_a_capture_flag_that_is_not_a_bool_is_400_and_records_nothing(
    bank: SimulatedBank, books: Books, value: object
) -> None:
    assert bank.authorize(body(capture=value)) == Answer(400, {"error": "invalid fields: capture"})
    assert books.stored() == []


def test_one_capture_per_reference(bank: SimulatedBank, books: Books) -> None:
    code = (bank.authorize(body()).body or {})["authorization_code"]
    answer = Answer(200, {"status": "captured", "captured_amount": 1000})
    assert bank.capture("pay_1", {"amount": 1000}) == answer
    assert bank.capture("pay_1", {"amount": 1000}) == answer  # a retry: the same answer
    assert bank.capture("pay_1", {"amount": 900}) == Answer(409, {"error": "already_captured"})
    assert bank.capture("pay_1", {"amount": 1050}) == Answer(409, {"error": "already_captured"})
    assert bank.inquire("pay_1") == Answer(
        200,
        {
            "status": "captured",
            "authorization_code": code,
            "amount": 1050,
            "currency": "GBP",
            "captured_amount": 1000,
            "refunded_amount": 0,
        },
    )
    assert len(books.stored()) == 1


def test_a_capturing_authorization_counts_as_the_one_capture(bank: SimulatedBank) -> None:
    bank.authorize(body(capture=True))
    assert bank.capture("pay_1", {"amount": 1050}) == Answer(200, {"status": "captured", "captured_amount": 1050})
    assert bank.capture("pay_1", {"amount": 1000}) == Answer(409, {"error": "already_captured"})


def test_the_whole_authorization_can_be_captured_but_not_more(bank: SimulatedBank) -> None:
    bank.authorize(body())
    over = bank.capture("pay_1", {"amount": 1051})
    assert over.status == 400 and "amount" in (over.body or {})["error"]
    assert (bank.inquire("pay_1").body or {})["status"] == "authorized"
    assert bank.capture("pay_1", {"amount": 1050}) == Answer(200, {"status": "captured", "captured_amount": 1050})


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("none", Answer(404, {"error": "not_found"})),
        ("declined", Answer(409, {"error": "declined"})),
        ("reversed", Answer(409, {"error": "reference_reversed"})),
        ("blocked", Answer(409, {"error": "reference_reversed"})),
    ],
)
def test_what_cannot_be_captured(bank: SimulatedBank, books: Books, setup: str, expected: Answer) -> None:
    if setup in ("declined", "reversed"):
        bank.authorize(body(VISA_DECLINED if setup == "declined" else VISA_AUTHORIZED))
    if setup in ("reversed", "blocked"):
        bank.reverse("pay_1")
    before = books.stored()
    assert bank.capture("pay_1", {"amount": 1000}) == expected
    assert books.stored() == before


@MEMORY_ONLY
@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"amount": 0}, "invalid fields: amount"),
        ({"amount": -5}, "invalid fields: amount"),
        ({"amount": "1000"}, "invalid fields: amount"),
        ({"amount": True}, "invalid fields: amount"),
        ({"amount": 10.5}, "invalid fields: amount"),
        ({}, "missing fields: amount"),
        (["amount"], "the body must be a JSON object"),
        (None, "the body must be a JSON object"),
    ],
)
def test_an_invalid_capture_is_400_and_changes_nothing(
    bank: SimulatedBank, books: Books, payload: object, error: str
) -> None:
    bank.authorize(body())
    before = books.stored()
    assert bank.capture("pay_1", payload) == Answer(400, {"error": error})
    assert books.stored() == before


def test_the_void_releases_an_authorization_but_not_a_capture(bank: SimulatedBank) -> None:
    captured(bank)
    assert bank.reverse("pay_1") == Answer(409, {"error": "already_captured"})
    assert bank.reverse("pay_1") == Answer(409, {"error": "already_captured"})
    assert (bank.inquire("pay_1").body or {})["status"] == "captured"
    bank.authorize(body(reference="pay_2"))
    assert (bank.reverse("pay_2").body or {})["status"] == "reversed"
    assert bank.capture("pay_2", {"amount": 1000}) == Answer(409, {"error": "reference_reversed"})


def test_refunds_add_up_to_the_captured_amount_and_no_more(bank: SimulatedBank) -> None:
    captured(bank, 1000)
    assert bank.refund("pay_1", refund("re_1", 300)) == refunded("re_1", 300)
    assert bank.refund("pay_1", refund("re_1", 300)) == refunded("re_1", 300)  # a retry, counted once
    assert bank.refund("pay_1", refund("re_2", 701)) == Answer(409, {"error": "exceeds_captured"})
    assert bank.refund("pay_1", refund("re_2", 700)) == refunded("re_2", 700)
    assert bank.refund("pay_1", refund("re_3", 1)) == Answer(409, {"error": "exceeds_captured"})
    assert bank.refund("pay_1", refund("re_1", 300)) == refunded("re_1", 300)  # still its answer when full
    record = bank.inquire("pay_1").body or {}
    assert (record["status"], record["captured_amount"], record["refunded_amount"]) == ("captured", 1000, 1000)
    assert bank.refund_status("pay_1", "re_1") == Answer(200, {"status": "refunded", "amount": 300})
    assert bank.refund_status("pay_1", "re_2") == Answer(200, {"status": "refunded", "amount": 700})
    assert bank.refund_status("pay_1", "re_3") == Answer(404, {"error": "not_found"})
    assert bank.refund_status("pay_2", "re_1") == Answer(404, {"error": "not_found"})


def test_a_refund_reference_reused_with_another_amount_is_refused(bank: SimulatedBank) -> None:
    captured(bank, 1000)
    bank.refund("pay_1", refund("re_1", 300))
    assert bank.refund("pay_1", refund("re_1", 200)) == Answer(409, {"error": "refund_reference_reused"})
    assert bank.refund("pay_1", refund("re_1", 2000)) == Answer(409, {"error": "refund_reference_reused"})
    assert (bank.inquire("pay_1").body or {})["refunded_amount"] == 300


def test_refund_references_belong_to_their_reference(bank: SimulatedBank) -> None:
    captured(bank, 1000, "pay_1")
    captured(bank, 1000, "pay_2")
    assert bank.refund("pay_1", refund("re_1", 300)) == refunded("re_1", 300)
    assert bank.refund("pay_2", refund("re_1", 500)) == refunded("re_1", 500)
    assert bank.refund_status("pay_2", "re_1") == Answer(200, {"status": "refunded", "amount": 500})


def test_a_refund_of_a_capturing_authorization(bank: SimulatedBank) -> None:
    bank.authorize(body(capture=True))
    assert bank.refund("pay_1", refund("re_1", 1050)) == refunded("re_1", 1050)
    assert (bank.inquire("pay_1").body or {})["refunded_amount"] == 1050


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("none", Answer(404, {"error": "not_found"})),
        ("authorized", Answer(409, {"error": "not_captured"})),
        ("declined", Answer(409, {"error": "not_captured"})),
        ("reversed", Answer(409, {"error": "not_captured"})),
        ("blocked", Answer(409, {"error": "not_captured"})),
    ],
)
def test_what_cannot_be_refunded(bank: SimulatedBank, books: Books, setup: str, expected: Answer) -> None:
    if setup in ("authorized", "declined", "reversed"):
        bank.authorize(body(VISA_DECLINED if setup == "declined" else VISA_AUTHORIZED))
    if setup in ("reversed", "blocked"):
        bank.reverse("pay_1")
    before = books.stored()
    assert bank.refund("pay_1", refund("re_1", 100)) == expected
    assert books.stored() == before  # no refund item, the entry unchanged
    assert bank.refund_status("pay_1", "re_1") == Answer(404, {"error": "not_found"})


@MEMORY_ONLY
@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (refund("re_1", 0), "invalid fields: amount"),
        (refund("re_1", "100"), "invalid fields: amount"),
        (refund("a/b", 100), "invalid fields: refund_reference"),
        (refund("", 100), "invalid fields: refund_reference"),
        (refund("x" * 129, 100), "invalid fields: refund_reference"),
        ({"refund_reference": 7, "amount": False}, "invalid fields: refund_reference, amount"),
        ({"amount": 100}, "missing fields: refund_reference"),
        ({}, "missing fields: refund_reference, amount"),
        ("refund", "the body must be a JSON object"),
    ],
)
def test_an_invalid_refund_is_400_and_changes_nothing(
    bank: SimulatedBank, books: Books, payload: object, error: str
) -> None:
    captured(bank)
    before = books.stored()
    assert bank.refund("pay_1", payload) == Answer(400, {"error": error})
    assert books.stored() == before


@MEMORY_ONLY
def test_an_invalid_reference_in_the_path_is_400(bank: SimulatedBank) -> None:
    invalid = Answer(400, {"error": "invalid reference"})
    assert bank.capture("a b", {"amount": 1}) == invalid
    assert bank.refund("a b", refund("re_1", 1)) == invalid
    assert bank.refund_status("pay_1", "a b") == invalid


@pytest.mark.parametrize("operation", ["capture", "refund"])
@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (1002, "late"),
        (1003, Answer(None, None)),
        (1004, Answer(500, {"error": "internal_error"})),
        (1000, "at once"),
        (1001, "at once"),
        (1009, "at once"),
    ],
)
def test_captures_and_refunds_misbehave_by_the_amounts_last_digit_after_doing_it(
    bank: SimulatedBank, slept: list[float], operation: str, amount: int, expected: object
) -> None:
    if operation == "capture":
        bank.authorize(body())
        done = Answer(200, {"status": "captured", "captured_amount": amount})
        call: Callable[[], Answer] = lambda: bank.capture("pay_1", {"amount": amount})  # noqa: E731
    else:
        bank.authorize(body(amount=2000, capture=True))
        done = refunded("re_1", amount)
        call = lambda: bank.refund("pay_1", refund("re_1", amount))  # noqa: E731
    answer = call()
    assert answer == (done if isinstance(expected, str) else expected)
    assert slept == ([2.5] if expected == "late" else [])
    record = bank.inquire("pay_1").body or {}
    assert record["captured_amount" if operation == "capture" else "refunded_amount"] == amount  # done first
    assert call() == answer  # a retry replays the answer and its fault, and does nothing again
    assert bank.inquire("pay_1").body == record


@MEMORY_ONLY
def test_an_authorization_does_not_misbehave_by_its_amount(bank: SimulatedBank, slept: list[float]) -> None:
    for index, amount in enumerate((1002, 1003, 1004)):
        answer = bank.authorize(body(amount=amount, reference=f"pay_{index}", capture=True))
        assert answer.status == 200 and (answer.body or {})["captured"] is True
    assert slept == []


@MEMORY_ONLY
def test_refusals_answer_at_once_whatever_the_amount(bank: SimulatedBank, slept: list[float]) -> None:
    assert bank.capture("pay_1", {"amount": 1003}) == Answer(404, {"error": "not_found"})
    assert bank.refund("pay_1", refund("re_1", 1002)) == Answer(404, {"error": "not_found"})
    assert slept == []


def test_no_card_data_in_captured_or_refunded_books(bank: SimulatedBank, books: Books) -> None:
    captured(bank, 1000)
    bank.authorize(body(reference="pay_2", capture=True))
    bank.refund("pay_1", refund("re_1", 300))
    bank.refund("pay_2", refund("re_2", 1050))
    stored = json.dumps(books.stored())
    assert VISA_AUTHORIZED not in stored and f'"{CVV}"' not in stored
    assert '"cvv"' not in stored and '"card_number"' not in stored


# --- DynamoDB specifics ----------------------------------------------------------------------------


@pytest.fixture
def serialized_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """One call at a time in moto, which checks a condition and writes in separate Python steps;
    DynamoDB applies a conditional write to an item atomically (our code still races for real)."""
    lock = threading.Lock()
    original = BotocoreStubber.process_request

    def locked(self: BotocoreStubber, request: Any) -> Any:
        with lock:
            return original(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", locked)


@pytest.mark.usefixtures("serialized_moto")
def test_concurrent_authorizations_of_one_reference_charge_once(dynamodb: Any) -> None:
    books = dynamo_books(dynamodb)
    bank = SimulatedBank(books.ledger)
    start = threading.Barrier(8)
    answers: list[Answer] = []

    def authorize() -> None:
        start.wait()
        answers.append(bank.authorize(body()))

    threads = [threading.Thread(target=authorize) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 8 and len(set(map(json.dumps, (a.body for a in answers)))) == 1
    assert answers[0].status == 200
    [item] = books.stored()
    assert from_item(item).authorization_code == (answers[0].body or {})["authorization_code"]


@pytest.mark.usefixtures("serialized_moto")
def test_concurrent_reversal_and_authorization_end_consistent(dynamodb: Any) -> None:
    """Whichever lands first, the reference ends reversed and a charge, if any, is the one reversed."""
    books = dynamo_books(dynamodb)
    bank = SimulatedBank(books.ledger)
    start = threading.Barrier(2)
    results: dict[str, Answer] = {}

    def run(name: str, call: Callable[[], Answer]) -> None:
        start.wait()
        results[name] = call()

    threads = [
        threading.Thread(target=run, args=("authorize", lambda: bank.authorize(body()))),
        threading.Thread(target=run, args=("reverse", lambda: bank.reverse("pay_1"))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = bank.inquire("pay_1").body or {}
    assert final["status"] == "reversed"
    if results["authorize"].status == 200:
        assert final["authorization_code"] == (results["authorize"].body or {})["authorization_code"]
    else:
        assert results["authorize"] == Answer(409, {"error": "reference_reversed"})
        assert final["authorization_code"] is None


def test_items_use_the_shared_key_schema_and_no_card_data(dynamodb: Any) -> None:
    bank = SimulatedBank(DynamoLedger(dynamodb, TABLE), now=lambda: datetime(2026, 11, 26, 12, tzinfo=UTC))
    bank.authorize(body())
    [item] = dynamo_books(dynamodb).stored()
    assert (item["pk"]["S"], item["sk"]["S"]) == (schema.bank_pk("pay_1"), schema.BANK_SORT) == ("BANK#pay_1", "BANK")
    assert set(item) == {
        "pk", "sk", "reference", "status", "authorization_code", "amount", "currency", "card_last4", "fingerprint",
        "created_at",
    }  # fmt: skip
    assert (item["card_last4"]["S"], item["created_at"]["S"]) == ("4291", "2026-11-26T12:00:00+00:00")


def test_refunds_are_items_of_their_own_beside_the_entry(dynamodb: Any) -> None:
    books = dynamo_books(dynamodb)
    bank = SimulatedBank(books.ledger, now=lambda: datetime(2026, 11, 26, 12, tzinfo=UTC))
    captured(bank, 1000)
    bank.refund("pay_1", refund("re_1", 300))
    items = {item["sk"]["S"]: item for item in books.stored()}
    assert set(items) == {schema.BANK_SORT, schema.bank_refund_sk("re_1")} == {"BANK", "REFUND#re_1"}
    entry, refund_item = items["BANK"], items["REFUND#re_1"]
    assert set(refund_item) == {"pk", "sk", "reference", "refund_reference", "amount", "created_at"}
    assert refund_item["pk"]["S"] == schema.bank_pk("pay_1")
    assert (refund_item["amount"]["N"], refund_item["created_at"]["S"]) == ("300", "2026-11-26T12:00:00+00:00")
    amounts = {name: entry[name]["N"] for name in ("captured_amount", "refunded_amount", "refundable_amount")}
    assert amounts == {"captured_amount": "1000", "refunded_amount": "300", "refundable_amount": "700"}
    assert "card_number" not in entry and "cvv" not in entry


def test_a_refused_refund_transaction_writes_neither_item(dynamodb: Any) -> None:
    """moto applies TransactWriteItems' conditions: a cancelled refund leaves no refund item and no sum."""
    books = dynamo_books(dynamodb)
    bank = SimulatedBank(books.ledger)
    captured(bank, 1000)
    bank.refund("pay_1", refund("re_1", 600))
    before = books.stored()
    assert bank.refund("pay_1", refund("re_2", 500)) == Answer(409, {"error": "exceeds_captured"})
    assert bank.refund("pay_1", refund("re_1", 400)) == Answer(409, {"error": "refund_reference_reused"})
    assert books.stored() == before


def race(*calls: Callable[[], Answer]) -> list[Answer]:
    """Runs the calls on threads released together; their answers in the calls' order."""
    start = threading.Barrier(len(calls))
    answers: list[Answer | None] = [None] * len(calls)

    def run(index: int) -> None:
        start.wait()
        answers[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [answer for answer in answers if answer is not None]


@pytest.mark.usefixtures("serialized_moto")
def test_of_a_capture_and_a_void_racing_exactly_one_wins(books: Books) -> None:
    bank = SimulatedBank(books.ledger)
    winners = set()
    for index in range(12):
        reference = f"pay_{index}"
        bank.authorize(body(reference=reference))
        calls = [
            functools.partial(bank.capture, reference, {"amount": 1000}),
            functools.partial(bank.reverse, reference),
        ]
        # The thread started last tends to win (the barrier's last arrival runs on): alternate the order.
        capture, void = race(*calls) if index % 2 else race(*reversed(calls))[::-1]
        final = bank.inquire(reference).body or {}
        if capture.status == 200:
            assert void == Answer(409, {"error": "already_captured"})
            assert (final["status"], final["captured_amount"]) == ("captured", 1000)
            winners.add("capture")
        else:
            assert capture == Answer(409, {"error": "reference_reversed"})
            assert void.status == 200 and (void.body or {})["status"] == "reversed"
            assert (final["status"], final["captured_amount"]) == ("reversed", 0)
            winners.add("void")
        assert bank.inquire(reference) == bank.inquire(reference)  # settled: later calls agree
    assert winners == {"capture", "void"}


@pytest.mark.usefixtures("serialized_moto")
def test_concurrent_refunds_never_exceed_the_captured_amount(books: Books) -> None:
    bank = SimulatedBank(books.ledger)
    captured(bank, 1000)
    answers = race(*[lambda index=index: bank.refund("pay_1", refund(f"re_{index}", 300)) for index in range(10)])
    accepted = [answer for answer in answers if answer.status == 200]
    assert len(accepted) == 3
    assert all(answer == Answer(409, {"error": "exceeds_captured"}) for answer in answers if answer.status != 200)
    assert (bank.inquire("pay_1").body or {})["refunded_amount"] == 900
    assert len([item for item in books.stored() if "refund_reference" in item]) == 3


@pytest.mark.usefixtures("serialized_moto")
def test_concurrent_retries_of_one_refund_count_it_once(books: Books) -> None:
    bank = SimulatedBank(books.ledger)
    captured(bank, 1000)
    answers = race(*[lambda: bank.refund("pay_1", refund("re_1", 300)) for _ in range(8)])
    assert answers == [refunded("re_1", 300)] * 8
    assert (bank.inquire("pay_1").body or {})["refunded_amount"] == 300
    assert len(books.stored()) == 2  # the entry and one refund


@pytest.mark.usefixtures("serialized_moto")
def test_concurrent_captures_of_different_amounts_take_one(books: Books) -> None:
    bank = SimulatedBank(books.ledger)
    bank.authorize(body())
    answers = race(*[lambda amount=amount: bank.capture("pay_1", {"amount": amount}) for amount in (600, 700, 800)])
    [winner] = [answer for answer in answers if answer.status == 200]
    assert sorted(answer.status or 0 for answer in answers) == [200, 409, 409]
    assert (bank.inquire("pay_1").body or {})["captured_amount"] == (winner.body or {})["captured_amount"]


def test_the_simulator_writes_one_reference_one_call_at_a_time(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Locally moto is not atomic, and one simulator process serves both regions: its writes to one
    reference never overlap, so its conditions hold there too (other references are not held up)."""
    books = dynamo_books(dynamodb)
    bank = SimulatedBank(books.ledger)
    captured(bank, 1000, "pay_1")
    captured(bank, 1000, "pay_2")
    in_flight: dict[str, int] = {}
    overlaps: list[str] = []
    lock = threading.Lock()
    original = BotocoreStubber.process_request

    def watched(self: BotocoreStubber, request: Any) -> Any:
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
        target = next((name for name in ("pay_1", "pay_2") if name in body), None)
        is_write = "GetItem" not in str(request.headers.get("X-Amz-Target", b""))
        if target is None or not is_write:
            return original(self, request)
        with lock:
            in_flight[target] = in_flight.get(target, 0) + 1
            if in_flight[target] > 1:
                overlaps.append(target)
            if len([name for name, count in in_flight.items() if count]) > 1:
                overlaps.append("two references at once")
        time.sleep(0.01)  # widen the window a race would need
        try:
            return original(self, request)
        finally:
            with lock:
                in_flight[target] -= 1

    monkeypatch.setattr(BotocoreStubber, "process_request", watched)
    answers = race(
        *[lambda index=index: bank.refund("pay_1", refund(f"re_{index}", 300)) for index in range(6)],
        *[lambda index=index: bank.refund("pay_2", refund(f"re_{index}", 300)) for index in range(6)],
    )
    assert [overlap for overlap in overlaps if overlap != "two references at once"] == []
    same_stripe = len({hash(name) % dynamo_ledger._STRIPES for name in ("pay_1", "pay_2")}) == 1
    assert "two references at once" in overlaps or same_stripe
    assert sorted(answer.status or 0 for answer in answers) == [200] * 6 + [409] * 6
    for reference in ("pay_1", "pay_2"):
        assert (bank.inquire(reference).body or {})["refunded_amount"] == 900


def test_a_refund_that_conflicts_is_tried_again(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cancellation the books do not explain (DynamoDB's TransactionConflict) is retried."""
    books = dynamo_books(dynamodb)
    bank = SimulatedBank(books.ledger)
    captured(bank, 1000)
    original = dynamodb.transact_write_items
    attempts: list[int] = []

    def conflicting(**kwargs: Any) -> Any:
        attempts.append(1)
        if len(attempts) == 1:
            raise ClientError(
                {"Error": {"Code": "TransactionCanceledException", "Message": "TransactionConflict"}},
                "TransactWriteItems",
            )
        return original(**kwargs)

    monkeypatch.setattr(dynamodb, "transact_write_items", conflicting)
    assert bank.refund("pay_1", refund("re_1", 300)) == refunded("re_1", 300)
    assert len(attempts) == 2
    assert (bank.inquire("pay_1").body or {})["refunded_amount"] == 300


# --- the Lambda adapter behind the real local HTTP server -------------------------------------------


@pytest.fixture
def simulator_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("TABLE_NAME", raising=False)  # an in-memory ledger unless a test sets one
    monkeypatch.setenv("BANK_SIMULATOR_LATE_SECONDS", "0.4")
    bank_simulator._make_bank.cache_clear()
    yield
    bank_simulator._make_bank.cache_clear()


@pytest.fixture
def bank_server(simulator_env: None) -> Iterator[str]:
    server = LocalHTTPServer(0, Gateway(region="eu-west-1", routes=BANK_ROUTES), name="bank")
    server.start_in_thread()
    yield server.url
    server.stop()


REQUEST = parse_payment_request(payment_body(), ValidationRules(), date(2026, 11, 26))


def request_for(number: str) -> Any:
    return parse_payment_request(payment_body(number), ValidationRules(), date(2026, 11, 26))


@pytest.mark.parametrize("base", ["/payments", "/"])
def test_the_client_speaks_the_simulators_protocol(bank_server: str, base: str) -> None:
    client = HttpBank(bank_server + base, connect_timeout=1, read_timeout=2)
    decision = client.authorize("pay_1", REQUEST)
    assert decision.authorized and decision.authorization_code is not None
    assert client.authorize("pay_1", REQUEST) == decision
    record = BankRecord(BankStatus.AUTHORIZED, decision.authorization_code, 1050, "GBP")
    assert client.inquire("pay_1") == record
    assert client.inquire("pay_2") is None
    assert client.reverse("pay_1") == BankRecord(BankStatus.REVERSED, decision.authorization_code, 1050, "GBP")
    assert client.reverse("pay_2") == BankRecord(BankStatus.REVERSED)
    with pytest.raises(BankNotProcessed, match="409 reference_reversed"):
        client.authorize("pay_2", REQUEST)
    assert client.authorize("pay_3", request_for(VISA_DECLINED)) == BankDecision(False, None)


def refused(call: Callable[[], object]) -> str:
    with pytest.raises(BankRefusal) as raised:
        call()
    return raised.value.reason


@pytest.mark.parametrize("base", ["/payments", "/"])
def test_the_client_captures_refunds_and_voids_through_the_simulator(bank_server: str, base: str) -> None:
    client = HttpBank(bank_server + base, connect_timeout=1, read_timeout=2)
    code = client.authorize("pay_1", REQUEST).authorization_code
    assert client.capture("pay_1", 1000) == 1000
    assert client.capture("pay_1", 1000) == 1000
    assert refused(lambda: client.capture("pay_1", 900)) == "already_captured"
    assert refused(lambda: client.reverse("pay_1")) == "already_captured"
    client.refund("pay_1", "re_1", 300)
    client.refund("pay_1", "re_1", 300)
    assert refused(lambda: client.refund("pay_1", "re_1", 200)) == "refund_reference_reused"
    assert refused(lambda: client.refund("pay_1", "re_2", 701)) == "exceeds_captured"
    assert (client.refund_status("pay_1", "re_1"), client.refund_status("pay_1", "re_2")) == (300, None)
    assert client.inquire("pay_1") == BankRecord(
        BankStatus.CAPTURED, code, 1050, "GBP", captured_amount=1000, refunded_amount=300
    )
    assert client.authorize("pay_2", REQUEST, capture=True).captured
    record = client.inquire("pay_2")
    assert record is not None and (record.status, record.captured_amount) == (BankStatus.CAPTURED, 1050)
    assert refused(lambda: client.capture("pay_3", 100)) == "not_found"
    assert refused(lambda: client.refund("pay_3", "re_1", 100)) == "not_found"
    client.authorize("pay_4", REQUEST)
    assert refused(lambda: client.refund("pay_4", "re_1", 100)) == "not_captured"
    assert client.reverse("pay_4").status is BankStatus.REVERSED
    assert refused(lambda: client.capture("pay_4", 100)) == "reference_reversed"
    assert refused(lambda: client.capture("pay_1", 10_000)) == "refused"  # a 400: no documented code


@pytest.mark.parametrize("operation", ["capture", "refund"])
@pytest.mark.parametrize(("amount", "message"), [(1002, "did not answer within"), (1003, "lost"), (1004, "HTTP 500")])
def test_an_operations_fault_is_an_unknown_outcome_for_the_client_and_was_done(
    bank_server: str, operation: str, amount: int, message: str
) -> None:
    client = HttpBank(bank_server + "/payments", connect_timeout=1, read_timeout=0.2)  # the late answer: 0.4 s
    client.authorize("pay_1", parse_payment_request(payment_body(amount=2000), ValidationRules(), date(2026, 11, 26)))
    if operation == "refund":
        assert client.capture("pay_1", 2000) == 2000
    with pytest.raises(BankOutcomeUnknown, match=message):
        client.capture("pay_1", amount) if operation == "capture" else client.refund("pay_1", "re_1", amount)
    record = HttpBank(bank_server + "/payments", connect_timeout=1, read_timeout=2).inquire("pay_1")
    assert record is not None
    assert (record.captured_amount if operation == "capture" else record.refunded_amount) == amount


def test_the_handler_keeps_its_ledger_in_the_table_named_by_table_name(
    bank_server: str, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TABLE_NAME", TABLE)
    monkeypatch.setenv("AWS_REGION", REGION)
    client = HttpBank(bank_server + "/payments", connect_timeout=1, read_timeout=2)
    decision = client.authorize("pay_1", REQUEST)
    [item] = dynamodb.scan(TableName=TABLE)["Items"]
    assert from_item(item).authorization_code == decision.authorization_code


def test_a_dropped_connection_closes_the_socket_without_a_response(bank_server: str) -> None:
    payload = json.dumps(body(CARD[Fault.DROPPED_CONNECTION])).encode()
    port = int(bank_server.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(
            b"POST /payments HTTP/1.1\r\nHost: bank\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload)
        )
        assert conn.recv(4096) == b""  # EOF: not one byte of a status line
    record = HttpBank(bank_server + "/payments", connect_timeout=1, read_timeout=2).inquire("pay_1")
    assert record is not None and record.status is BankStatus.AUTHORIZED


def test_a_dropped_connection_is_an_unknown_outcome_for_the_client_and_was_charged(bank_server: str) -> None:
    client = HttpBank(bank_server + "/payments", connect_timeout=1, read_timeout=2)
    with pytest.raises(BankOutcomeUnknown, match="answer was lost"):
        client.authorize("pay_1", request_for(CARD[Fault.DROPPED_CONNECTION]))
    record = client.inquire("pay_1")
    assert record is not None and record.status is BankStatus.AUTHORIZED


def test_a_500_after_the_charge_is_an_unknown_outcome_and_was_charged(bank_server: str) -> None:
    client = HttpBank(bank_server + "/payments", connect_timeout=1, read_timeout=2)
    with pytest.raises(BankOutcomeUnknown, match="HTTP 500"):
        client.authorize("pay_1", request_for(CARD[Fault.ERROR_AFTER_CHARGE]))
    record = client.inquire("pay_1")
    assert record is not None and record.status is BankStatus.AUTHORIZED


def test_the_late_answer_comes_after_the_configured_delay(bank_server: str) -> None:
    patient = HttpBank(bank_server + "/payments", connect_timeout=1, read_timeout=5)
    started = time.monotonic()
    decision = patient.authorize("pay_1", request_for(CARD[Fault.LATE_ANSWER]))
    assert time.monotonic() - started >= 0.4  # BANK_SIMULATOR_LATE_SECONDS (requested lower bound)
    assert decision.authorized


def test_the_late_answer_outlasts_a_shorter_deadline_but_the_charge_is_there(bank_server: str) -> None:
    client = HttpBank(bank_server + "/payments", connect_timeout=1, read_timeout=0.1)
    with pytest.raises(BankOutcomeUnknown, match="did not answer within"):
        client.authorize("pay_1", request_for(CARD[Fault.LATE_ANSWER]))
    record = HttpBank(bank_server + "/payments", connect_timeout=1, read_timeout=2).inquire("pay_1")
    assert record is not None and record.status is BankStatus.AUTHORIZED


def test_a_function_url_event_is_understood_and_a_drop_is_an_empty_502_there(simulator_env: None) -> None:
    """Payload 2.0 (the deployed Function URL): no connection to drop, so the nearest: an empty 502."""

    def event(method: str, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "version": "2.0",
            "rawPath": path,
            "requestContext": {"http": {"method": method, "path": path}},
            "body": json.dumps(payload) if payload is not None else None,
            "isBase64Encoded": False,
        }

    authorized = bank_simulator.handler(event("POST", "/", body()), None)
    assert authorized["statusCode"] == 200 and json.loads(authorized["body"])["authorized"] is True
    assert json.loads(bank_simulator.handler(event("GET", "/pay_1"), None)["body"])["status"] == "authorized"
    reversed_ = bank_simulator.handler(event("POST", "/pay_1/reversal"), None)
    assert json.loads(reversed_["body"])["status"] == "reversed"
    dropped = bank_simulator.handler(event("POST", "/", body(CARD[Fault.DROPPED_CONNECTION], reference="pay_2")), None)
    assert (dropped["statusCode"], dropped["body"]) == (502, "")
    assert dropped["headers"][lambda_proxy.DROP_CONNECTION_HEADER] == "true"
    assert bank_simulator.DROP_CONNECTION_HEADER == lambda_proxy.DROP_CONNECTION_HEADER


def test_the_bank_child_gets_its_ledgers_table_and_nothing_of_the_gateways(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BANK_URL", "http://127.0.0.1:9/payments")
    monkeypatch.setenv("FINGERPRINT_KEY", "secret")
    monkeypatch.setenv("BANK_SIMULATOR_LATE_SECONDS", "1.5")
    env = bank_environment(table_name="t", dynamodb_url="http://127.0.0.1:1", log_level="WARNING")
    assert (env["TABLE_NAME"], env["DYNAMODB_ENDPOINT_URL"], env["AWS_REGION"]) == ("t", "http://127.0.0.1:1", REGION)
    assert (env["LOG_LEVEL"], env["BANK_SIMULATOR_LATE_SECONDS"]) == ("WARNING", "1.5")
    assert "BANK_URL" not in env and "FINGERPRINT_KEY" not in env


def test_the_local_simulator_keeps_its_books_in_memory_unless_asked_for_the_table() -> None:
    """make run's default: no TABLE_NAME, so the simulator's ledger is its process's memory (a DynamoDB
    write per charge less on the shared emulator); --bank-ledger table gives it the table, as deployed."""
    default = parse_args([])
    assert default.bank_ledger == "memory"
    in_memory = bank_environment(table_name="t", dynamodb_url="http://127.0.0.1:1", ledger_in_table=False)
    assert "TABLE_NAME" not in in_memory
    assert isinstance(bank_simulator._ledger(in_memory), MemoryLedger)
    assert parse_args(["--bank-ledger", "table"]).bank_ledger == "table"
    with pytest.raises(SystemExit):
        parse_args(["--bank-ledger", "disk"])


def test_the_deployed_simulator_may_touch_only_its_ledgers_items() -> None:
    assert BANK_SIMULATOR.leading_keys == (schema.BANK_PREFIX + "*",)
    assert set(BANK_SIMULATOR.table_actions) == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}
    assert not BANK_SIMULATOR.calls_bank
