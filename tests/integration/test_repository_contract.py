"""One suite, two implementations: the DynamoDB adapter on moto and the in-memory fake the unit
tests use. If the fake drifts from DynamoDB's conditional-write behaviour, this fails."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from handlers import ids
from handlers.dynamo import DynamoRepository
from handlers.errors import ConditionFailed
from handlers.models import CardSummary, IdempotencyClaim, ListQuery, Merchant, Payment, PaymentStatus, StoredPayment
from tests.fakes import MemoryRepository
from tests.integration.conftest import TABLE

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


@pytest.fixture(params=["dynamodb", "memory"])
def repo(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryRepository()
    else:
        yield DynamoRepository(request.getfixturevalue("dynamodb"), TABLE)


def payment(at: datetime, status: PaymentStatus = PaymentStatus.AUTHORIZED, merchant: str = "mer_a") -> Payment:
    payment_id = ids.new_payment_id(at)
    return Payment(
        id=payment_id,
        merchant_id=merchant,
        status=status,
        amount=100,
        currency="EUR",
        reference=None,
        card=CardSummary("visa", "4291", 4, 2030),
        authorization_code="A1" if status is PaymentStatus.AUTHORIZED else None,
        created_at=ids.created_at(payment_id),
        region="eu-west-1",
    )


def claim(**changes: Any) -> IdempotencyClaim:
    base = IdempotencyClaim(
        "mer_a", "key-1", "f" * 64, ids.new_payment_id(T0), 1, T0.timestamp() + 10.5, 2_000_000_000, "owner-1"
    )
    return attrs.evolve(base, **changes)


def test_claim_is_taken_once_and_returns_the_holder(repo: Any) -> None:
    first = claim()
    assert repo.claim(first, T0.timestamp()) is None
    assert repo.claim(claim(payment_id="pay_other", owner="owner-2"), T0.timestamp()) == first


def test_a_claim_retried_by_its_own_writer_succeeds(repo: Any) -> None:
    """The SDK retries a write whose answer was lost; the item it finds is its own."""
    assert repo.claim(claim(), T0.timestamp()) is None
    assert repo.claim(claim(), T0.timestamp()) is None


def test_expired_claim_counts_as_free(repo: Any) -> None:
    repo.claim(claim(expires_at=int(T0.timestamp())), T0.timestamp())
    assert repo.claim(claim(), T0.timestamp() + 1) is None


def test_claims_are_scoped_per_merchant(repo: Any) -> None:
    assert repo.claim(claim(merchant_id="mer_a"), T0.timestamp()) is None
    assert repo.claim(claim(merchant_id="mer_b"), T0.timestamp()) is None


def test_take_over_needs_the_previous_attempt(repo: Any) -> None:
    repo.claim(claim(), T0.timestamp())
    repo.take_over(claim(attempt=2, owner="owner-2"))
    repo.take_over(claim(attempt=2, owner="owner-2"))  # its own write, retried by the SDK
    with pytest.raises(ConditionFailed):
        repo.take_over(claim(attempt=2, owner="owner-3"))  # someone else already took attempt 2
    assert repo.claim(claim(owner="owner-4"), T0.timestamp()).attempt == 2


def test_failed_payment_may_be_replaced_but_a_final_one_may_not(repo: Any) -> None:
    failed = payment(T0, PaymentStatus.FAILED)
    repo.save_payment(StoredPayment(failed, 1))
    authorized = attrs.evolve(failed, status=PaymentStatus.AUTHORIZED, authorization_code="A2")
    repo.save_payment(StoredPayment(authorized, 2))
    assert repo.get_payment("mer_a", failed.id) == StoredPayment(authorized, 2)
    with pytest.raises(ConditionFailed):
        repo.save_payment(StoredPayment(attrs.evolve(failed, status=PaymentStatus.FAILED), 3))


def test_payments_are_read_only_by_their_merchant(repo: Any) -> None:
    mine = payment(T0)
    repo.save_payment(StoredPayment(mine, 1))
    assert repo.get_payment("mer_a", mine.id).payment == mine
    assert repo.get_payment("mer_b", mine.id) is None


def _save_series(repo: Any, count: int) -> list[Payment]:
    made = [
        payment(T0 + timedelta(seconds=i), PaymentStatus.AUTHORIZED if i % 2 else PaymentStatus.DECLINED)
        for i in range(count)
    ]
    for p in made:
        repo.save_payment(StoredPayment(p, 1))
    repo.save_payment(StoredPayment(payment(T0, merchant="mer_b"), 1))
    repo.claim(claim(), T0.timestamp())  # claims share the partition and must never be listed
    return made


def test_list_pages_newest_first_without_gaps_or_repeats(repo: Any) -> None:
    made = _save_series(repo, 7)
    seen: list[str] = []
    after = None
    for _ in range(10):
        page = repo.list_payments("mer_a", ListQuery(limit=3, after_id=after))
        seen += [p.id for p in page.payments]
        after = page.next_after_id
        if after is None:
            break
    assert seen == [p.id for p in reversed(made)]


def test_list_filters_by_status_and_time_range(repo: Any) -> None:
    made = _save_series(repo, 6)
    declined = repo.list_payments("mer_a", ListQuery(status=PaymentStatus.DECLINED)).payments
    assert [p.id for p in declined] == [p.id for p in reversed(made) if p.status is PaymentStatus.DECLINED]
    window = ListQuery(created_from=T0 + timedelta(seconds=2), created_to=T0 + timedelta(seconds=4))
    assert [p.id for p in repo.list_payments("mer_a", window).payments] == [made[3].id, made[2].id]


def test_exact_page_has_no_next_cursor(repo: Any) -> None:
    _save_series(repo, 3)
    assert repo.list_payments("mer_a", ListQuery(limit=3)).next_after_id is None


def test_api_keys_resolve_and_revoke(repo: Any) -> None:
    repo.add_key("h1", Merchant("mer_a", "Acme"))
    assert repo.merchant_for_key("h1") == Merchant("mer_a", "Acme")
    assert repo.merchant_for_key("h2") is None
    with pytest.raises(ConditionFailed):
        repo.add_key("h1", Merchant("mer_b", "Other"))
    repo.revoke_key("h1")
    assert repo.merchant_for_key("h1") == Merchant("mer_a", "Acme", active=False)


def test_api_keys_lists_every_key_revoked_ones_too_and_no_other_item(repo: Any) -> None:
    repo.add_key("h1", Merchant("mer_a", "Acme"))
    repo.add_key("h2", Merchant("mer_b", "Other"))
    repo.revoke_key("h2")
    repo.save_payment(StoredPayment(payment(T0), 1))
    repo.claim(claim(), T0.timestamp())
    assert sorted(repo.api_keys()) == [("h1", Merchant("mer_a", "Acme")), ("h2", Merchant("mer_b", "Other", False))]
