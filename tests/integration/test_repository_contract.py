"""One suite, two implementations: the DynamoDB adapter on moto and the in-memory fake the unit
tests use. If the fake drifts from DynamoDB's conditional-write behaviour, this fails."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from handlers.adapters.dynamo import DynamoRepository
from handlers.domain import ids
from handlers.domain.errors import ConditionFailed
from handlers.domain.models import (
    CardSummary,
    Heartbeat,
    IdempotencyClaim,
    ListQuery,
    Merchant,
    Payment,
    PaymentStatus,
    StoredPayment,
)
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
    assert repo.claim(claim(owner="owner-2"), T0.timestamp() + 1) is None


def test_a_claim_whose_lease_is_over_but_not_its_retention_is_still_held(repo: Any) -> None:
    first = claim()
    repo.claim(first, T0.timestamp())
    assert repo.claim(claim(owner="owner-2"), first.lease_until + 60) == first


def test_claims_are_scoped_per_merchant(repo: Any) -> None:
    assert repo.claim(claim(merchant_id="mer_a"), T0.timestamp()) is None
    assert repo.claim(claim(merchant_id="mer_b", owner="owner-2"), T0.timestamp()) is None


def test_take_over_needs_the_previous_attempt(repo: Any) -> None:
    repo.claim(claim(), T0.timestamp())
    repo.take_over(claim(attempt=2, owner="owner-2"))
    repo.take_over(claim(attempt=2, owner="owner-2"))  # its own write, retried by the SDK
    with pytest.raises(ConditionFailed):
        repo.take_over(claim(attempt=2, owner="owner-3"))  # someone else already took attempt 2
    assert repo.claim(claim(owner="owner-4"), T0.timestamp()).attempt == 2


def pending(at: datetime, *, region: str = "eu-west-1", due: float | None = None, attempt: int = 1) -> StoredPayment:
    made = attrs.evolve(payment(at, PaymentStatus.PENDING), region=region)
    return StoredPayment(made, attempt, "ref-" + made.id, due_at=at.timestamp() + 10 if due is None else due)


def test_a_pending_payment_is_written_once_and_read_back_whole(repo: Any) -> None:
    written = pending(T0)
    repo.save_pending(written)
    assert repo.get_payment("mer_a", written.payment.id) == written
    with pytest.raises(ConditionFailed):
        repo.save_pending(attrs.evolve(written, attempt=2))


def test_a_transition_needs_the_previous_status_and_attempt(repo: Any) -> None:
    written = pending(T0, attempt=2)
    repo.save_pending(written)
    final = attrs.evolve(written, payment=attrs.evolve(written.payment, status=PaymentStatus.DECLINED), due_at=None)
    with pytest.raises(ConditionFailed):
        repo.transition(final, PaymentStatus.PENDING, 1)  # another attempt's write
    with pytest.raises(ConditionFailed):
        repo.transition(final, PaymentStatus.AUTHORIZED, 2)  # another status
    repo.transition(final, PaymentStatus.PENDING, 2)
    assert repo.get_payment("mer_a", written.payment.id) == final
    with pytest.raises(ConditionFailed):  # a final status never moves back
        repo.transition(written, PaymentStatus.PENDING, 2)


def test_due_payments_come_from_the_owners_pending_index_oldest_first(repo: Any) -> None:
    now = T0.timestamp() + 100
    older, newer = pending(T0, due=now - 5), pending(T0 + timedelta(seconds=1), due=now - 50)
    backed_off = [pending(T0 - timedelta(seconds=30 - i), due=now + 60) for i in range(5)]  # ahead in id order
    not_due_yet = pending(T0 + timedelta(seconds=2), due=now + 1)
    theirs = pending(T0, region="us-east-1", due=now - 5)
    for stored in [older, newer, *backed_off, not_due_yet, theirs]:
        repo.save_pending(stored)
    before = ids.id_bound(T0 + timedelta(seconds=90), upper=True)
    assert repo.due_payments("eu-west-1", now, before, 3) == [older, newer]
    assert repo.due_payments("eu-west-1", now, before, 1) == [older]
    assert repo.due_payments("eu-west-1", now, ids.id_bound(T0, upper=True), 10) == [older]  # created_before
    assert repo.due_payments("us-east-1", now, before, 10) == [theirs]
    assert repo.pending_summary("eu-west-1") == (8, backed_off[0].payment.id)
    final = attrs.evolve(older, payment=attrs.evolve(older.payment, status=PaymentStatus.DECLINED), due_at=None)
    repo.transition(final, PaymentStatus.PENDING, 1)  # settled: it leaves the sparse index
    assert repo.due_payments("eu-west-1", now, before, 3) == [newer]
    assert repo.pending_summary("eu-west-1") == (7, backed_off[0].payment.id)
    assert repo.pending_summary("ap-south-1") == (0, None)


def test_due_payments_page_on_after_the_last_one_tried(repo: Any) -> None:
    now = T0.timestamp() + 100
    made = [pending(T0 + timedelta(milliseconds=i), due=now - 1) for i in range(5)]
    for stored in made:
        repo.save_pending(stored)
    before = ids.id_bound(T0 + timedelta(seconds=90), upper=True)
    assert repo.due_payments("eu-west-1", now, before, 2) == made[:2]
    assert repo.due_payments("eu-west-1", now, before, 2, after=made[1].payment.id) == made[2:4]
    assert repo.due_payments("eu-west-1", now, before, 2, after=made[3].payment.id) == made[4:]
    assert repo.due_payments("eu-west-1", now, before, 2, after=made[4].payment.id) == []


def test_payments_with_a_bank_reference_are_found_in_the_merchants_time_range(repo: Any) -> None:
    """A key's reference is shared by one payment per region: both replicas' records, one table."""
    ours = attrs.evolve(pending(T0), bank_reference="idem_shared")
    theirs = attrs.evolve(pending(T0 + timedelta(seconds=1), region="us-east-1"), bank_reference="idem_shared")
    theirs = attrs.evolve(
        theirs,
        payment=attrs.evolve(theirs.payment, status=PaymentStatus.AUTHORIZED, authorization_code="A1"),
        due_at=None,
    )
    other_reference = pending(T0 + timedelta(seconds=2))
    too_late = attrs.evolve(pending(T0 + timedelta(seconds=200)), bank_reference="idem_shared")
    other_merchant = attrs.evolve(pending(T0), bank_reference="idem_shared")
    other_merchant = attrs.evolve(other_merchant, payment=attrs.evolve(other_merchant.payment, merchant_id="mer_b"))
    for stored in (ours, other_reference, too_late, other_merchant):
        repo.save_pending(stored)
    repo.save_pending(
        attrs.evolve(
            theirs,
            payment=attrs.evolve(theirs.payment, status=PaymentStatus.PENDING, authorization_code=None),
            due_at=1.0,
        )
    )
    repo.transition(theirs, PaymentStatus.PENDING, 1)
    window = (T0 - timedelta(seconds=100), T0 + timedelta(seconds=100))
    assert repo.payments_with_reference("mer_a", "idem_shared", *window) == [ours, theirs]
    assert repo.payments_with_reference("mer_a", "idem_other", *window) == []
    assert repo.payments_with_reference("mer_b", "idem_shared", *window) == [other_merchant]


def test_heartbeats_are_kept_per_region(repo: Any) -> None:
    assert repo.heartbeats() == {}
    repo.record_heartbeat("eu-west-1", Heartbeat(100.5, 40.0))
    repo.record_heartbeat("us-east-1", Heartbeat(90.0, 90.0))
    repo.record_heartbeat("eu-west-1", Heartbeat(160.25, 40.0))
    assert repo.heartbeats() == {"eu-west-1": Heartbeat(160.25, 40.0), "us-east-1": Heartbeat(90.0, 90.0)}


def test_payments_are_read_only_by_their_merchant(repo: Any) -> None:
    mine = payment(T0)
    repo.save_pending(StoredPayment(mine, 1))
    assert repo.get_payment("mer_a", mine.id).payment == mine
    assert repo.get_payment("mer_b", mine.id) is None


def _save_series(repo: Any, count: int) -> list[Payment]:
    made = [
        payment(T0 + timedelta(seconds=i), PaymentStatus.AUTHORIZED if i % 2 else PaymentStatus.DECLINED)
        for i in range(count)
    ]
    for p in made:
        repo.save_pending(StoredPayment(p, 1))
    repo.save_pending(StoredPayment(payment(T0, merchant="mer_b"), 1))
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


def test_a_keys_kind_is_kept_and_a_key_without_one_reads_as_none(repo: Any) -> None:
    repo.add_key("h-live", Merchant("mer_a", "Acme", key_mode="live"))
    repo.add_key("h-old", Merchant("mer_a", "Acme"))  # made before keys had kinds
    assert repo.merchant_for_key("h-live").key_mode == "live"
    assert repo.merchant_for_key("h-old").key_mode is None
    assert {key_hash: merchant.key_mode for key_hash, merchant in repo.api_keys()} == {"h-live": "live", "h-old": None}


def test_api_keys_lists_every_key_revoked_ones_too_and_no_other_item(repo: Any) -> None:
    repo.add_key("h1", Merchant("mer_a", "Acme"))
    repo.add_key("h2", Merchant("mer_b", "Other"))
    repo.revoke_key("h2")
    repo.save_pending(StoredPayment(payment(T0), 1))
    repo.claim(claim(), T0.timestamp())
    assert sorted(repo.api_keys()) == [("h1", Merchant("mer_a", "Acme")), ("h2", Merchant("mer_b", "Other", False))]
