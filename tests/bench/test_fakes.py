import json

import pytest

from bench import events, warm
from bench.fakes import SEEDED_PAYMENT_ID, BenchBank, seeded_repository
from handlers.domain.cards import mask_pans
from handlers.domain.errors import ConditionFailed
from handlers.domain.ids import MERCHANT_PREFIX, is_payment_id
from handlers.domain.models import ListQuery, PaymentStatus
from handlers.domain.service import PaymentService
from tests.commands import payment_command


def service() -> tuple[PaymentService, object]:
    repository = seeded_repository(events.MERCHANT_ID, events.API_KEY)
    return PaymentService(payments=repository, bank=BenchBank(), region="eu-west-1", fingerprint_key=b"k"), repository


def test_the_fakes_behave_like_the_repository_contract() -> None:
    payments, repository = service()
    first = payments.create_payment(payment_command(events.MERCHANT_ID, events.payment_body(), "key-1"))
    replay = payments.create_payment(payment_command(events.MERCHANT_ID, events.payment_body(), "key-1"))
    assert first.payment.status is PaymentStatus.CAPTURED  # automatic capture: the default
    assert replay.replayed and replay.payment.id == first.payment.id
    stored = repository.get_payment(events.MERCHANT_ID, first.payment.id)  # type: ignore[attr-defined]
    with pytest.raises(ConditionFailed):  # written once, ahead of the bank
        repository.save_pending(stored)  # type: ignore[attr-defined]
    with pytest.raises(ConditionFailed):  # a final status never moves back
        repository.transition(stored, PaymentStatus.PENDING, stored.attempt)  # type: ignore[attr-defined]


def test_list_is_newest_first_and_pages() -> None:
    payments, repository = service()
    created = [
        payments.create_payment(payment_command(events.MERCHANT_ID, events.payment_body(), None)).payment.id
        for _ in range(5)
    ]
    page = repository.list_payments(events.MERCHANT_ID, ListQuery(limit=3))  # type: ignore[attr-defined]
    everything = sorted([*created, SEEDED_PAYMENT_ID], reverse=True)
    assert [p.id for p in page.payments] == everything[:3]
    rest = repository.list_payments(events.MERCHANT_ID, ListQuery(limit=10, after_id=page.next_after_id))  # type: ignore[attr-defined]
    assert [p.id for p in rest.payments] == everything[3:]
    assert rest.next_after_id is None


def test_the_bank_fake_follows_the_simulator_rule() -> None:
    payments, _ = service()
    declined = payments.create_payment(
        payment_command(events.MERCHANT_ID, events.payment_body("4242424242424242"), None)
    )
    assert declined.payment.status is PaymentStatus.DECLINED


def test_the_canned_dynamodb_answers_what_the_adapter_sends() -> None:
    table = warm.CannedDynamoDB()
    item = {"pk": {"S": "MERCHANT#m"}, "sk": {"S": "PAYMENT#pay_2"}, "amount": {"N": "1"}}
    table.answer("PutItem", {"Item": item})
    table.answer("PutItem", {"Item": {**item, "sk": {"S": "PAYMENT#pay_1"}}})
    assert table.answer("GetItem", {"Key": {"pk": item["pk"], "sk": item["sk"]}}) == {"Item": item}
    query = {
        "ExpressionAttributeValues": {
            ":pk": {"S": "MERCHANT#m"},
            ":low": {"S": "PAYMENT#"},
            ":high": {"S": "PAYMENT#~"},
        },
        "Limit": 1,
    }
    assert [i["sk"]["S"] for i in table.answer("Query", query)["Items"]] == ["PAYMENT#pay_2"]


def test_events_are_what_the_handlers_accept() -> None:
    event = events.post_payment("key-1")
    assert json.loads(event["body"])["card"]["number"] == events.AUTHORIZED_CARD
    assert event["headers"]["Idempotency-Key"] == "key-1"
    assert event["requestContext"]["authorizer"]["merchant_id"] == events.MERCHANT_ID


def test_the_benchmarks_merchant_id_is_a_merchant_id_the_card_mask_leaves_alone() -> None:
    """A benchmark's log lines must cost what a real merchant's do: no card number in its id."""
    assert mask_pans(events.MERCHANT_ID) == events.MERCHANT_ID
    assert is_payment_id("pay_" + events.MERCHANT_ID.removeprefix(MERCHANT_PREFIX))  # a ULID, as ours
