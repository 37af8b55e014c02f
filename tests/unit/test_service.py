"""The payment use cases over in-memory ports: given / when / then."""

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from handlers import ids
from handlers.errors import (
    BankNotProcessed,
    BankOutcomeUnknown,
    BankUnavailable,
    IdempotencyKeyReused,
    InvalidRequest,
    NotFound,
    RequestInProgress,
    StorageUnavailable,
)
from handlers.models import IdempotencyClaim, PaymentStatus, StoredPayment
from handlers.resolver import ResolutionPolicy
from handlers.service import IdempotencyPolicy, PaymentReader, PaymentService
from tests.fakes import FakeClock, MemoryRepository, ScriptedBank
from tests.support import AMEX, VISA_AUTHORIZED, VISA_BANK_DOWN, VISA_DECLINED, payment_body

MERCHANT = "mer_a"


@pytest.fixture
def service(repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock) -> PaymentService:
    return PaymentService(payments=repo, bank=bank, region="eu-west-1", fingerprint_key=b"test-key", clock=clock)


def test_authorized_payment_is_stored_with_card_summary_only(
    service: PaymentService, repo: MemoryRepository, bank: ScriptedBank
) -> None:
    payment = service.create_payment(MERCHANT, payment_body(), None).payment
    assert payment.status is PaymentStatus.AUTHORIZED
    assert payment.authorization_code == "AUTH1"
    assert (payment.card.brand, payment.card.last4, payment.card.expiry_month) == ("visa", "4291", 4)
    assert payment.region == "eu-west-1"
    assert ids.is_payment_id(payment.id)
    assert payment.created_at == ids.created_at(payment.id)
    assert repo.get_payment(MERCHANT, payment.id).payment == payment  # type: ignore[union-attr]
    assert bank.calls[0][0] == payment.id  # the bank gets the payment id as its reference


def test_declined_payment_has_no_authorization_code(service: PaymentService) -> None:
    payment = service.create_payment(MERCHANT, payment_body(VISA_DECLINED), None).payment
    assert payment.status is PaymentStatus.DECLINED
    assert payment.authorization_code is None


def test_invalid_request_neither_calls_the_bank_nor_stores(
    service: PaymentService, repo: MemoryRepository, bank: ScriptedBank
) -> None:
    with pytest.raises(InvalidRequest):
        service.create_payment(MERCHANT, payment_body(amount=0), "key-1")
    assert bank.calls == []
    assert repo.writes == 0


def test_bank_failure_records_a_failed_payment_named_in_the_error(
    service: PaymentService, repo: MemoryRepository
) -> None:
    with pytest.raises(BankUnavailable) as raised:
        service.create_payment(MERCHANT, payment_body(VISA_BANK_DOWN), None)  # the bank's 503: not processed
    stored = repo.get_payment(MERCHANT, raised.value.payment_id or "")
    assert stored is not None
    assert stored.payment.status is PaymentStatus.FAILED
    assert stored.payment.authorization_code is None


def test_same_key_same_body_replays_without_a_second_bank_call(
    service: PaymentService, bank: ScriptedBank, repo: MemoryRepository
) -> None:
    first = service.create_payment(MERCHANT, payment_body(), "key-1")
    again = service.create_payment(MERCHANT, payment_body(), "key-1")
    assert (first.replayed, again.replayed) == (False, True)
    assert again.payment == first.payment
    assert len(bank.calls) == 1
    assert len(repo.payments) == 1


def test_body_comparison_ignores_key_order(service: PaymentService, bank: ScriptedBank) -> None:
    body = payment_body()
    reordered = dict(reversed(list(body.items())))
    service.create_payment(MERCHANT, body, "key-1")
    assert service.create_payment(MERCHANT, reordered, "key-1").replayed
    assert len(bank.calls) == 1


def test_declined_outcome_is_replayed_too(service: PaymentService, bank: ScriptedBank) -> None:
    service.create_payment(MERCHANT, payment_body(VISA_DECLINED), "key-1")
    again = service.create_payment(MERCHANT, payment_body(VISA_DECLINED), "key-1")
    assert again.replayed and again.payment.status is PaymentStatus.DECLINED
    assert len(bank.calls) == 1


def test_same_key_different_body_is_refused(service: PaymentService, bank: ScriptedBank) -> None:
    service.create_payment(MERCHANT, payment_body(), "key-1")
    with pytest.raises(IdempotencyKeyReused):
        service.create_payment(MERCHANT, payment_body(amount=1051), "key-1")
    assert len(bank.calls) == 1


def test_same_key_while_in_flight_is_refused_without_a_bank_call(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    service = PaymentService(payments=repo, bank=bank, region="eu-west-1", fingerprint_key=b"k", clock=clock)
    outcomes: list[object] = []
    bank.before_answer = lambda: outcomes.append(_capture(service, "key-1"))
    service.create_payment(MERCHANT, payment_body(), "key-1")
    assert isinstance(outcomes[0], RequestInProgress)
    assert len(bank.calls) == 1


def _capture(service: PaymentService, key: str) -> object:
    try:
        return service.create_payment(MERCHANT, payment_body(), key)
    except Exception as e:
        return e


def test_every_payment_is_written_pending_before_the_bank_is_called(
    service: PaymentService, repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    """Write-ahead, with and without a key: whatever instant the process dies at, there is a record."""
    seen: list[StoredPayment] = []
    bank.before_answer = lambda: seen.extend(repo.payments.values())
    for key in (None, "order-1"):
        seen.clear()
        created = service.create_payment(MERCHANT, payment_body(AMEX, card__cvv="9876"), key).payment
        [pending] = seen
        assert pending.status is PaymentStatus.PENDING and pending.payment.id == created.id
        assert pending.bank_reference == bank.calls[-1][0]
        assert (pending.payment.amount, pending.payment.currency, pending.payment.region) == (1050, "GBP", "eu-west-1")
        assert (pending.payment.card.brand, pending.payment.card.last4) == ("amex", AMEX[-4:])
        assert pending.due_at == clock.now.timestamp() + ResolutionPolicy().resolve_after_seconds
        assert pending.attempt == 1 and pending.payment.authorization_code is None
        repo.payments.clear()


def test_a_claim_stores_the_payment_it_leads_to_and_no_raw_key(
    service: PaymentService, repo: MemoryRepository, clock: FakeClock
) -> None:
    payment = service.create_payment(MERCHANT, payment_body(), "order-5").payment
    [claim] = repo.claims.values()
    assert claim.payment_id == payment.id and claim.attempt == 1 and claim.merchant_id == MERCHANT
    assert claim.lease_until == clock.now.timestamp() + IdempotencyPolicy().lease_seconds
    assert claim.expires_at == int(clock.now.timestamp()) + IdempotencyPolicy().retention_seconds
    assert "order-5" not in repr(claim) and len(claim.fingerprint) == 64 and len(claim.owner) == 16


def test_not_processed_is_failed_and_every_replay_answers_the_same_502(
    service: PaymentService, repo: MemoryRepository, bank: ScriptedBank
) -> None:
    bank.fail_with = BankNotProcessed("connection refused")
    with pytest.raises(BankUnavailable) as first:
        service.create_payment(MERCHANT, payment_body(), "key-1")
    bank.fail_with = None
    with pytest.raises(BankUnavailable) as again:
        service.create_payment(MERCHANT, payment_body(), "key-1")
    assert first.value.payment_id == again.value.payment_id
    assert repo.get_payment(MERCHANT, first.value.payment_id or "").status is PaymentStatus.FAILED  # type: ignore[union-attr]
    assert len(bank.calls) == 1  # failed is final: a new attempt needs a new key
    assert "new Idempotency-Key" in str(first.value)


@pytest.mark.parametrize("key", [None, "key-1"], ids=["no-key", "key"])
def test_an_unknown_outcome_stays_pending_and_is_answered_as_pending(
    service: PaymentService, repo: MemoryRepository, bank: ScriptedBank, key: str | None
) -> None:
    bank.fail_after_charge = BankOutcomeUnknown("read timeout")
    payment = service.create_payment(MERCHANT, payment_body(), key).payment
    assert payment.status is PaymentStatus.PENDING
    assert repo.get_payment(MERCHANT, payment.id).status is PaymentStatus.PENDING  # type: ignore[union-attr]
    assert sum(bank.charges.values()) == 1  # charged, and the record says it is not known yet


def test_a_replay_of_a_pending_key_after_its_lease_asks_the_bank_and_never_authorizes_again(
    service: PaymentService, repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    bank.fail_after_charge = BankOutcomeUnknown("reset after sending")
    first = service.create_payment(MERCHANT, payment_body(), "key-1").payment
    bank.fail_after_charge = None
    with pytest.raises(RequestInProgress):  # within the lease its holder may still be at the bank
        service.create_payment(MERCHANT, payment_body(), "key-1")
    assert bank.inquiries == []
    clock.advance(seconds=IdempotencyPolicy().lease_seconds + 1)
    replay = service.create_payment(MERCHANT, payment_body(), "key-1")
    assert replay.replayed and replay.payment.id == first.id
    assert replay.payment.status is PaymentStatus.AUTHORIZED and replay.payment.authorization_code == "AUTH1"
    assert len(bank.calls) == 1 and bank.inquiries == [bank.calls[0][0]]


def test_a_key_whose_holder_died_before_the_write_ahead_is_taken_over_after_its_lease(
    service: PaymentService, repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    # Given a request that claimed the key and died before writing the payment (so before the bank)
    real_save = repo.save_pending
    repo.save_pending = _raise(StorageUnavailable("died"))  # type: ignore[method-assign]
    with pytest.raises(StorageUnavailable):
        service.create_payment(MERCHANT, payment_body(), "key-1")
    repo.save_pending = real_save  # type: ignore[method-assign]
    with pytest.raises(RequestInProgress):
        service.create_payment(MERCHANT, payment_body(), "key-1")
    # When the lease has run out
    clock.advance(seconds=IdempotencyPolicy().lease_seconds + 1)
    retried = service.create_payment(MERCHANT, payment_body(), "key-1")
    # Then the retry keeps the claim's payment id, as attempt 2, and is charged once
    [claim] = repo.claims.values()
    assert retried.payment.id == claim.payment_id and claim.attempt == 2
    assert repo.get_payment(MERCHANT, retried.payment.id).attempt == 2  # type: ignore[union-attr]
    assert len(bank.calls) == 1 and retried.payment.status is PaymentStatus.AUTHORIZED


def test_a_third_request_while_a_take_over_is_at_the_bank_is_refused_without_a_bank_call(
    service: PaymentService, repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    real_save = repo.save_pending
    repo.save_pending = _raise(StorageUnavailable("died"))  # type: ignore[method-assign]
    with pytest.raises(StorageUnavailable):
        service.create_payment(MERCHANT, payment_body(), "key-1")
    repo.save_pending = real_save  # type: ignore[method-assign]
    clock.advance(seconds=IdempotencyPolicy().lease_seconds + 1)
    third: list[object] = []
    bank.before_answer = lambda: third.append(_capture(service, "key-1"))
    service.create_payment(MERCHANT, payment_body(), "key-1")  # attempt 2, at the bank when the third arrives
    assert isinstance(third[0], RequestInProgress)
    assert len(bank.calls) == 1 and bank.inquiries == [] and bank.reversals == []


def test_keys_expire_after_the_retention(service: PaymentService, clock: FakeClock, bank: ScriptedBank) -> None:
    first = service.create_payment(MERCHANT, payment_body(), "key-1")
    clock.advance(seconds=IdempotencyPolicy().retention_seconds - 1)
    assert service.create_payment(MERCHANT, payment_body(), "key-1").replayed
    clock.advance(seconds=2)
    later = service.create_payment(MERCHANT, payment_body(), "key-1")
    assert not later.replayed and later.payment.id != first.payment.id


def test_two_merchants_with_the_same_key_never_interfere(service: PaymentService, bank: ScriptedBank) -> None:
    a = service.create_payment("mer_a", payment_body(), "shared")
    b = service.create_payment("mer_b", payment_body(amount=7), "shared")
    assert not b.replayed and a.payment.id != b.payment.id
    assert len(bank.calls) == 2


def test_concurrent_requests_with_one_key_make_one_bank_call(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    service = PaymentService(payments=repo, bank=bank, region="eu-west-1", fingerprint_key=b"k", clock=clock)
    start = threading.Barrier(20)

    def attempt(_: int) -> object:
        start.wait()
        return _capture(service, "key-1")

    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(attempt, range(20)))
    successes = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(bank.calls) == 1
    assert len(repo.payments) == 1
    assert all(isinstance(o, RequestInProgress) for o in outcomes if isinstance(o, Exception))
    assert len({o.payment.id for o in successes}) == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("key", [None, "order-1"], ids=["no-key", "key"])
def test_a_store_failure_after_the_bank_leaves_it_pending_and_loud_without_card_data(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock, caplog: pytest.LogCaptureFixture, key: str | None
) -> None:
    """The pending record is there: the merchant is told so (202), the resolver settles it."""
    not_stored: list[int] = []
    service = PaymentService(
        payments=repo,
        bank=bank,
        region="eu-west-1",
        fingerprint_key=b"k",
        clock=clock,
        on_not_stored=lambda: not_stored.append(1),
    )
    repo.transition = _raise(RuntimeError("ValidationException"))  # type: ignore[method-assign]
    payment = service.create_payment(MERCHANT, payment_body(AMEX, card__cvv="9876"), key).payment
    assert payment.status is PaymentStatus.PENDING and not_stored == [1]
    assert repo.get_payment(MERCHANT, payment.id).status is PaymentStatus.PENDING  # type: ignore[union-attr]
    record = next(r for r in caplog.records if r.getMessage() == "payment_not_stored")
    assert record.payment["status"] == "authorized"  # type: ignore[attr-defined]
    assert record.payment["authorization_code"]  # type: ignore[attr-defined]
    assert AMEX not in caplog.text and "9876" not in caplog.text


def _raise(error: Exception) -> Callable[..., None]:
    def fail(*_: object) -> None:
        raise error

    return fail


def test_a_holder_whose_lease_was_eaten_by_slow_storage_does_not_call_the_bank(
    service: PaymentService, repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    """Past lease - bank deadline a take-over could start while this holder is at the bank: it stops."""
    lease = IdempotencyPolicy().lease_seconds
    real_claim = repo.claim

    def slow_claim(claim: IdempotencyClaim, now: float) -> IdempotencyClaim | None:
        clock.advance(seconds=lease - 0.5)  # retries and backoff inside the claim write
        return real_claim(claim, now)

    repo.claim = slow_claim  # type: ignore[method-assign]
    with pytest.raises(StorageUnavailable):
        service.create_payment(MERCHANT, payment_body(), "slow-1")
    assert bank.calls == [] and repo.payments == {}
    repo.claim = real_claim  # type: ignore[method-assign]
    clock.advance(seconds=1)  # the lease is over: the retry takes the claim over
    payment = service.create_payment(MERCHANT, payment_body(), "slow-1").payment
    assert len(bank.calls) == 1 and payment.status is PaymentStatus.AUTHORIZED


def test_reader_hides_other_merchants_payments(service: PaymentService, repo: MemoryRepository) -> None:
    payment = service.create_payment("mer_a", payment_body(), None).payment
    reader = PaymentReader(repo)
    assert reader.get_payment("mer_a", payment.id) == payment
    with pytest.raises(NotFound) as other:
        reader.get_payment("mer_b", payment.id)
    with pytest.raises(NotFound) as missing:
        reader.get_payment("mer_b", ids.new_payment_id(payment.created_at))
    assert str(other.value) == str(missing.value)
    with pytest.raises(NotFound):
        reader.get_payment("mer_a", "../../etc/passwd")


def test_reader_lists_newest_first_with_filters(
    service: PaymentService, repo: MemoryRepository, clock: FakeClock
) -> None:
    made = []
    for number in (VISA_AUTHORIZED, VISA_DECLINED, VISA_AUTHORIZED):
        made.append(service.create_payment(MERCHANT, payment_body(number), None).payment)
        clock.advance(seconds=1)
    reader = PaymentReader(repo)
    assert [p.id for p in reader.list_payments(MERCHANT, {}).payments] == [p.id for p in reversed(made)]
    declined = reader.list_payments(MERCHANT, {"status": "declined"}).payments
    assert [p.id for p in declined] == [made[1].id]


def test_idempotency_keys_are_stored_only_as_keyed_hashes(service: PaymentService, repo: MemoryRepository) -> None:
    service.create_payment(MERCHANT, payment_body(), f"{VISA_AUTHORIZED}-order-7")
    [(merchant, stored_key)] = repo.claims
    assert merchant == MERCHANT and VISA_AUTHORIZED not in stored_key and len(stored_key) == 64
    assert service.create_payment(MERCHANT, payment_body(), f"{VISA_AUTHORIZED}-order-7").replayed


def test_the_bank_reference_of_a_key_is_the_same_in_every_region(bank: ScriptedBank, clock: FakeClock) -> None:
    """During replication lag a retry in the other region makes a new payment id; the bank must
    still see one reference, or a deduplicating acquirer charges twice."""
    regions = [
        PaymentService(payments=MemoryRepository(), bank=bank, region=r, fingerprint_key=b"k", clock=clock)
        for r in ("eu-west-1", "us-east-1")
    ]
    eu, us = (region.create_payment(MERCHANT, payment_body(), "order-9").payment for region in regions)
    assert eu.id != us.id
    assert bank.calls[0][0] == bank.calls[1][0] and bank.calls[0][0].startswith("idem_")
    other_merchant = regions[0].create_payment("mer_b", payment_body(), "order-9").payment
    assert bank.calls[2][0] != bank.calls[0][0] and other_merchant.id != eu.id
    unkeyed = regions[0].create_payment(MERCHANT, payment_body(), None).payment
    assert bank.calls[3][0] == unkeyed.id  # without a key the payment id is the reference


def test_a_keyed_refusal_is_settled_from_the_banks_record_of_the_shared_reference(
    service: PaymentService, repo: MemoryRepository, bank: ScriptedBank
) -> None:
    """Both regions send a key's reference: a refusal here does not prove the other did not charge it."""
    bank.fail_with = BankNotProcessed("HTTP 503")
    with pytest.raises(BankUnavailable) as refused:
        service.create_payment(MERCHANT, payment_body(), "key-9")
    [reference] = [call[0] for call in bank.calls]
    assert bank.inquiries == [reference] and bank.reversals == [reference]  # no record: blocked, then failed
    assert repo.get_payment(MERCHANT, refused.value.payment_id or "").status is PaymentStatus.FAILED  # type: ignore[union-attr]


def test_a_keyed_refusal_of_a_reference_charged_elsewhere_is_that_charge(
    service: PaymentService, repo: MemoryRepository, bank: ScriptedBank
) -> None:
    other_region = PaymentService(
        payments=MemoryRepository(), bank=bank, region="us-east-1", fingerprint_key=b"test-key"
    )
    bank.fail_after_charge = BankOutcomeUnknown("the answer was lost")
    other_region.create_payment(MERCHANT, payment_body(), "key-9")  # charged in us, lost, failed over
    bank.fail_after_charge = None
    bank.fail_with = BankNotProcessed("HTTP 503")
    created = service.create_payment(MERCHANT, payment_body(), "key-9")
    assert created.payment.status is PaymentStatus.AUTHORIZED and created.payment.authorization_code == "AUTH1"
    assert bank.reversals == [] and sum(bank.charges.values()) == 1
