"""The payment use cases over in-memory ports: given / when / then."""

import threading
from concurrent.futures import ThreadPoolExecutor

import attrs
import pytest

from handlers import ids
from handlers.errors import (
    BankUnavailable,
    IdempotencyKeyReused,
    InvalidRequest,
    NotFound,
    PaymentNotRecorded,
    RequestInProgress,
    StorageUnavailable,
)
from handlers.models import IdempotencyClaim, PaymentStatus
from handlers.service import IdempotencyPolicy, PaymentReader, PaymentService
from tests.fakes import FakeClock, MemoryRepository, ScriptedBank
from tests.support import AMEX, VISA_AUTHORIZED, VISA_BANK_DOWN, VISA_DECLINED, payment_body

MERCHANT = "mer_a"


@pytest.fixture
def repo() -> MemoryRepository:
    return MemoryRepository()


@pytest.fixture
def bank() -> ScriptedBank:
    return ScriptedBank()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


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
        service.create_payment(MERCHANT, payment_body(VISA_BANK_DOWN), None)
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


def test_retry_after_bank_failure_tries_the_bank_again_under_the_same_payment(
    service: PaymentService, bank: ScriptedBank, repo: MemoryRepository
) -> None:
    bank.fail_with = BankUnavailable("timeout")
    with pytest.raises(BankUnavailable) as raised:
        service.create_payment(MERCHANT, payment_body(), "key-1")
    bank.fail_with = None
    retried = service.create_payment(MERCHANT, payment_body(), "key-1")
    assert not retried.replayed
    assert retried.payment.id == raised.value.payment_id
    assert retried.payment.status is PaymentStatus.AUTHORIZED
    assert len(bank.calls) == 2
    assert len(repo.payments) == 1
    # and now it is final: a third call replays
    assert service.create_payment(MERCHANT, payment_body(), "key-1").replayed
    assert len(bank.calls) == 2


def test_abandoned_claim_is_taken_over_after_its_lease(
    service: PaymentService, repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    # Given a request that claimed the key and died before storing anything
    bank.fail_with = StorageUnavailable("died")  # stands in for a crash between claim and save
    with pytest.raises(StorageUnavailable):
        service.create_payment(MERCHANT, payment_body(), "key-1")
    bank.fail_with = None
    with pytest.raises(RequestInProgress):
        service.create_payment(MERCHANT, payment_body(), "key-1")
    # When the lease has run out
    clock.advance(seconds=IdempotencyPolicy().lease_seconds + 1)
    retried = service.create_payment(MERCHANT, payment_body(), "key-1")
    # Then the retry reuses the claim's payment id and sends the bank the same reference
    assert bank.calls[0][0] == bank.calls[1][0]
    assert [stored.bank_reference for stored in repo.payments.values()] == [bank.calls[0][0]]
    assert list(repo.payments) == [(MERCHANT, retried.payment.id)]


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


@pytest.mark.parametrize(
    ("key", "raised"), [(None, PaymentNotRecorded), ("order-1", StorageUnavailable)], ids=["no-key", "key"]
)
def test_storage_failure_after_the_bank_is_logged_without_card_data(
    service: PaymentService, repo: MemoryRepository, caplog: pytest.LogCaptureFixture, key: str | None, raised: type
) -> None:
    """With a key the 503 invites a safe resend; without one the error names the payment instead."""

    def broken_save(_: object) -> None:
        raise StorageUnavailable("throttled")

    repo.save_payment = broken_save  # type: ignore[method-assign]
    with pytest.raises(raised) as error:
        service.create_payment(MERCHANT, payment_body(AMEX, card__cvv="9876"), key)
    record = next(r for r in caplog.records if r.getMessage() == "payment_not_stored")
    assert record.payment["status"] == "authorized"  # type: ignore[attr-defined]
    assert record.payment["authorization_code"]  # type: ignore[attr-defined]
    assert getattr(error.value, "payment_id", record.payment["id"]) == record.payment["id"]  # type: ignore[attr-defined]
    assert AMEX not in caplog.text and "9876" not in caplog.text


def test_without_a_key_any_store_error_after_the_bank_names_the_payment(
    service: PaymentService, repo: MemoryRepository, bank: ScriptedBank
) -> None:
    """Not only throttling: a permanent error (a bad deploy) after the charge must not read 'retry'."""

    def broken_save(_: object) -> None:
        raise RuntimeError("ValidationException")

    repo.save_payment = broken_save  # type: ignore[method-assign]
    with pytest.raises(PaymentNotRecorded) as error:
        service.create_payment(MERCHANT, payment_body(), None)
    assert error.value.payment_id == bank.calls[0][0]


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


def test_a_retry_sends_the_bank_the_reference_the_failed_attempt_was_sent(
    service: PaymentService, repo: MemoryRepository, bank: ScriptedBank
) -> None:
    """As stored, not recomputed: a reference made by another formula (an older deploy) still matches."""
    bank.fail_with = BankUnavailable("down")
    with pytest.raises(BankUnavailable):
        service.create_payment(MERCHANT, payment_body(), "legacy-1")
    [(key, stored)] = repo.payments.items()
    repo.payments[key] = attrs.evolve(stored, bank_reference="idem_made-by-an-older-formula")
    bank.fail_with = None
    service.create_payment(MERCHANT, payment_body(), "legacy-1")
    assert [c[0] for c in bank.calls][-1] == "idem_made-by-an-older-formula"


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
