"""The payment use cases over in-memory ports: given / when / then."""

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from handlers.contract.resolution import UnknownOutcome
from handlers.domain import ids
from handlers.domain.errors import (
    BankNotProcessed,
    BankOutcomeUnknown,
    BankUnavailable,
    IdempotencyKeyReused,
    InvalidRequest,
    NotFound,
    RequestInProgress,
    StorageUnavailable,
)
from handlers.domain.models import BankStatus, IdempotencyClaim, ListQuery, Payment, PaymentStatus, StoredPayment
from handlers.domain.resolver import PaymentResolver
from handlers.domain.service import IdempotencyPolicy, PaymentReader, PaymentService
from handlers.domain.settlement import ResolutionPolicy
from tests.commands import payment_command
from tests.fakes import FakeClock, MemoryRepository, ScriptedBank
from tests.support import AMEX, VISA_AUTHORIZED, VISA_BANK_DOWN, VISA_DECLINED, payment_body

MERCHANT = "mer_a"


@pytest.fixture
def service(repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock) -> PaymentService:
    return PaymentService(payments=repo, bank=bank, region="eu-west-1", fingerprint_key=b"test-key", clock=clock)


def test_authorized_payment_is_stored_with_card_summary_only(
    service: PaymentService, repo: MemoryRepository, bank: ScriptedBank
) -> None:
    payment = service.create_payment(payment_command(MERCHANT, payment_body(), None)).payment
    assert payment.status is PaymentStatus.AUTHORIZED
    assert payment.authorization_code == "AUTH1"
    assert (payment.card.brand, payment.card.last4, payment.card.expiry_month) == ("visa", "4291", 4)
    assert payment.region == "eu-west-1"
    assert ids.is_payment_id(payment.id)
    assert payment.created_at == ids.created_at(payment.id)
    assert repo.get_payment(MERCHANT, payment.id).payment == payment  # type: ignore[union-attr]
    assert bank.calls[0][0] == payment.id  # the bank gets the payment id as its reference


def test_declined_payment_has_no_authorization_code(service: PaymentService) -> None:
    payment = service.create_payment(payment_command(MERCHANT, payment_body(VISA_DECLINED), None)).payment
    assert payment.status is PaymentStatus.DECLINED
    assert payment.authorization_code is None


def test_invalid_request_neither_calls_the_bank_nor_stores(
    service: PaymentService, repo: MemoryRepository, bank: ScriptedBank
) -> None:
    with pytest.raises(InvalidRequest):
        service.create_payment(payment_command(MERCHANT, payment_body(amount=0), "key-1"))
    assert bank.calls == []
    assert repo.writes == 0


def test_bank_failure_records_a_failed_payment_named_in_the_error(
    service: PaymentService, repo: MemoryRepository
) -> None:
    with pytest.raises(BankUnavailable) as raised:  # the bank's 503: not processed
        service.create_payment(payment_command(MERCHANT, payment_body(VISA_BANK_DOWN), None))
    stored = repo.get_payment(MERCHANT, raised.value.payment_id or "")
    assert stored is not None
    assert stored.payment.status is PaymentStatus.FAILED
    assert stored.payment.authorization_code is None


def test_same_key_same_body_replays_without_a_second_bank_call(
    service: PaymentService, bank: ScriptedBank, repo: MemoryRepository
) -> None:
    first = service.create_payment(payment_command(MERCHANT, payment_body(), "key-1"))
    again = service.create_payment(payment_command(MERCHANT, payment_body(), "key-1"))
    assert (first.replayed, again.replayed) == (False, True)
    assert again.payment == first.payment
    assert len(bank.calls) == 1
    assert len(repo.payments) == 1


def test_body_comparison_ignores_key_order(service: PaymentService, bank: ScriptedBank) -> None:
    body = payment_body()
    reordered = dict(reversed(list(body.items())))
    service.create_payment(payment_command(MERCHANT, body, "key-1"))
    assert service.create_payment(payment_command(MERCHANT, reordered, "key-1")).replayed
    assert len(bank.calls) == 1


def test_declined_outcome_is_replayed_too(service: PaymentService, bank: ScriptedBank) -> None:
    service.create_payment(payment_command(MERCHANT, payment_body(VISA_DECLINED), "key-1"))
    again = service.create_payment(payment_command(MERCHANT, payment_body(VISA_DECLINED), "key-1"))
    assert again.replayed and again.payment.status is PaymentStatus.DECLINED
    assert len(bank.calls) == 1


def test_same_key_different_body_is_refused(service: PaymentService, bank: ScriptedBank) -> None:
    service.create_payment(payment_command(MERCHANT, payment_body(), "key-1"))
    with pytest.raises(IdempotencyKeyReused):
        service.create_payment(payment_command(MERCHANT, payment_body(amount=1051), "key-1"))
    assert len(bank.calls) == 1


def test_same_key_while_in_flight_is_refused_without_a_bank_call(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    service = PaymentService(payments=repo, bank=bank, region="eu-west-1", fingerprint_key=b"k", clock=clock)
    outcomes: list[object] = []
    bank.before_answer = lambda: outcomes.append(_capture(service, "key-1"))
    service.create_payment(payment_command(MERCHANT, payment_body(), "key-1"))
    assert isinstance(outcomes[0], RequestInProgress)
    assert len(bank.calls) == 1


def _capture(service: PaymentService, key: str) -> object:
    try:
        return service.create_payment(payment_command(MERCHANT, payment_body(), key))
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
        created = service.create_payment(payment_command(MERCHANT, payment_body(AMEX, card__cvv="9876"), key)).payment
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
    payment = service.create_payment(payment_command(MERCHANT, payment_body(), "order-5")).payment
    [claim] = repo.claims.values()
    assert claim.payment_id == payment.id and claim.attempt == 1 and claim.merchant_id == MERCHANT
    assert claim.lease_until == clock.now.timestamp() + IdempotencyPolicy().lease_seconds
    assert claim.expires_at == int(clock.now.timestamp()) + IdempotencyPolicy().retention_seconds
    assert "order-5" not in repr(claim) and len(claim.fingerprint) == 64 and len(claim.owner) == 16


def test_not_processed_is_failed_and_every_replay_answers_the_same_502(
    service: PaymentService, repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    """A keyed refusal is pending until its shared reference may be reversed, then failed for good."""
    bank.fail_with = BankNotProcessed("connection refused")
    first = service.create_payment(payment_command(MERCHANT, payment_body(), "key-1")).payment
    assert first.status is PaymentStatus.PENDING and bank.reversals == []
    bank.fail_with = None
    clock.advance(seconds=ResolutionPolicy().takeover_after_seconds + 1)
    PaymentResolver(payments=repo, bank=bank, region="eu-west-1", policy=ResolutionPolicy(), clock=clock).run()
    with pytest.raises(BankUnavailable) as again:
        service.create_payment(payment_command(MERCHANT, payment_body(), "key-1"))
    assert again.value.payment_id == first.id
    assert repo.get_payment(MERCHANT, first.id).status is PaymentStatus.FAILED  # type: ignore[union-attr]
    assert len(bank.calls) == 1  # failed is final: a new attempt needs a new key
    assert "new Idempotency-Key" in str(again.value)


@pytest.mark.parametrize("key", [None, "key-1"], ids=["no-key", "key"])
def test_an_unknown_outcome_stays_pending_and_is_answered_as_pending(
    service: PaymentService, repo: MemoryRepository, bank: ScriptedBank, key: str | None
) -> None:
    bank.fail_after_charge = BankOutcomeUnknown("read timeout")
    payment = service.create_payment(payment_command(MERCHANT, payment_body(), key)).payment
    assert payment.status is PaymentStatus.PENDING
    assert repo.get_payment(MERCHANT, payment.id).status is PaymentStatus.PENDING  # type: ignore[union-attr]
    assert sum(bank.charges.values()) == 1  # charged, and the record says it is not known yet


def test_a_replay_of_a_pending_key_after_its_lease_asks_the_bank_and_never_authorizes_again(
    service: PaymentService, repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    bank.fail_after_charge = BankOutcomeUnknown("reset after sending")
    first = service.create_payment(payment_command(MERCHANT, payment_body(), "key-1")).payment
    bank.fail_after_charge = None
    with pytest.raises(RequestInProgress):  # within the lease its holder may still be at the bank
        service.create_payment(payment_command(MERCHANT, payment_body(), "key-1"))
    assert bank.inquiries == []
    clock.advance(seconds=IdempotencyPolicy().lease_seconds + 1)
    replay = service.create_payment(payment_command(MERCHANT, payment_body(), "key-1"))
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
        service.create_payment(payment_command(MERCHANT, payment_body(), "key-1"))
    repo.save_pending = real_save  # type: ignore[method-assign]
    with pytest.raises(RequestInProgress):
        service.create_payment(payment_command(MERCHANT, payment_body(), "key-1"))
    # When the lease has run out
    clock.advance(seconds=IdempotencyPolicy().lease_seconds + 1)
    retried = service.create_payment(payment_command(MERCHANT, payment_body(), "key-1"))
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
        service.create_payment(payment_command(MERCHANT, payment_body(), "key-1"))
    repo.save_pending = real_save  # type: ignore[method-assign]
    clock.advance(seconds=IdempotencyPolicy().lease_seconds + 1)
    third: list[object] = []
    bank.before_answer = lambda: third.append(_capture(service, "key-1"))
    # attempt 2, at the bank when the third arrives
    service.create_payment(payment_command(MERCHANT, payment_body(), "key-1"))
    assert isinstance(third[0], RequestInProgress)
    assert len(bank.calls) == 1 and bank.inquiries == [] and bank.reversals == []


def test_keys_expire_after_the_retention(service: PaymentService, clock: FakeClock, bank: ScriptedBank) -> None:
    first = service.create_payment(payment_command(MERCHANT, payment_body(), "key-1"))
    clock.advance(seconds=IdempotencyPolicy().retention_seconds - 1)
    assert service.create_payment(payment_command(MERCHANT, payment_body(), "key-1")).replayed
    clock.advance(seconds=2)
    later = service.create_payment(payment_command(MERCHANT, payment_body(), "key-1"))
    assert not later.replayed and later.payment.id != first.payment.id


def test_two_merchants_with_the_same_key_never_interfere(service: PaymentService, bank: ScriptedBank) -> None:
    a = service.create_payment(payment_command("mer_a", payment_body(), "shared"))
    b = service.create_payment(payment_command("mer_b", payment_body(amount=7), "shared"))
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
    payment = service.create_payment(payment_command(MERCHANT, payment_body(AMEX, card__cvv="9876"), key)).payment
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
        service.create_payment(payment_command(MERCHANT, payment_body(), "slow-1"))
    assert bank.calls == [] and repo.payments == {}
    repo.claim = real_claim  # type: ignore[method-assign]
    clock.advance(seconds=1)  # the lease is over: the retry takes the claim over
    payment = service.create_payment(payment_command(MERCHANT, payment_body(), "slow-1")).payment
    assert len(bank.calls) == 1 and payment.status is PaymentStatus.AUTHORIZED


def test_reader_hides_other_merchants_payments(service: PaymentService, repo: MemoryRepository) -> None:
    payment = service.create_payment(payment_command("mer_a", payment_body(), None)).payment
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
        made.append(service.create_payment(payment_command(MERCHANT, payment_body(number), None)).payment)
        clock.advance(seconds=1)
    reader = PaymentReader(repo)
    assert [p.id for p in reader.list_payments(MERCHANT, ListQuery()).payments] == [p.id for p in reversed(made)]
    declined = reader.list_payments(MERCHANT, ListQuery(status=PaymentStatus.DECLINED)).payments
    assert [p.id for p in declined] == [made[1].id]


def test_idempotency_keys_are_stored_only_as_keyed_hashes(service: PaymentService, repo: MemoryRepository) -> None:
    service.create_payment(payment_command(MERCHANT, payment_body(), f"{VISA_AUTHORIZED}-order-7"))
    [(merchant, stored_key)] = repo.claims
    assert merchant == MERCHANT and VISA_AUTHORIZED not in stored_key and len(stored_key) == 64
    assert service.create_payment(payment_command(MERCHANT, payment_body(), f"{VISA_AUTHORIZED}-order-7")).replayed


def test_the_bank_reference_of_a_key_is_the_same_in_every_region(bank: ScriptedBank, clock: FakeClock) -> None:
    """During replication lag a retry in the other region makes a new payment id; the bank must
    still see one reference, or a deduplicating acquirer charges twice."""
    regions = [
        PaymentService(payments=MemoryRepository(), bank=bank, region=r, fingerprint_key=b"k", clock=clock)
        for r in ("eu-west-1", "us-east-1")
    ]
    eu, us = (region.create_payment(payment_command(MERCHANT, payment_body(), "order-9")).payment for region in regions)
    assert eu.id != us.id
    assert bank.calls[0][0] == bank.calls[1][0] and bank.calls[0][0].startswith("idem_")
    other_merchant = regions[0].create_payment(payment_command("mer_b", payment_body(), "order-9")).payment
    assert bank.calls[2][0] != bank.calls[0][0] and other_merchant.id != eu.id
    unkeyed = regions[0].create_payment(payment_command(MERCHANT, payment_body(), None)).payment
    assert bank.calls[3][0] == unkeyed.id  # without a key the payment id is the reference


def test_a_keyed_refusal_only_asks_the_bank_and_without_a_record_is_pending(
    service: PaymentService, repo: MemoryRepository, bank: ScriptedBank
) -> None:
    """Both regions send a key's reference: a refusal here does not prove the other did not charge
    it, nor that the other is not at the bank with it right now. Ask; never reverse from a request."""
    bank.fail_with = BankNotProcessed("HTTP 503")
    created = service.create_payment(payment_command(MERCHANT, payment_body(), "key-9"))
    [reference] = [call[0] for call in bank.calls]
    assert bank.inquiries == [reference] and bank.reversals == []
    assert created.payment.status is PaymentStatus.PENDING  # 202: the resolver settles it
    assert repo.get_payment(MERCHANT, created.payment.id).status is PaymentStatus.PENDING  # type: ignore[union-attr]


def test_a_keyed_refusal_of_a_reference_charged_elsewhere_is_that_charge(
    service: PaymentService, repo: MemoryRepository, bank: ScriptedBank
) -> None:
    other_region = PaymentService(
        payments=MemoryRepository(), bank=bank, region="us-east-1", fingerprint_key=b"test-key"
    )
    bank.fail_after_charge = BankOutcomeUnknown("the answer was lost")
    other_region.create_payment(payment_command(MERCHANT, payment_body(), "key-9"))  # charged in us, lost, failed over
    bank.fail_after_charge = None
    bank.fail_with = BankNotProcessed("HTTP 503")
    created = service.create_payment(payment_command(MERCHANT, payment_body(), "key-9"))
    assert created.payment.status is PaymentStatus.AUTHORIZED and created.payment.authorization_code == "AUTH1"
    assert bank.reversals == [] and sum(bank.charges.values()) == 1


# --- two regions, one key's shared reference (issue 15) -----------------------------------------

EU, US = "eu-west-1", "us-east-1"


def region_service(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock, region: str, **policy: object
) -> PaymentService:
    return PaymentService(
        payments=repo,
        bank=bank,
        region=region,
        fingerprint_key=b"test-key",
        clock=clock,
        resolution=ResolutionPolicy(**policy),  # type: ignore[arg-type]
    )


def replicate(*replicas: MemoryRepository) -> None:
    """Every replica receives the others' payments and claims (no conflicting writes here: a final
    status wins over pending, and the first claim stays)."""
    for source in replicas:
        for target in replicas:
            for key, stored in list(source.payments.items()):
                found = target.payments.get(key)
                if found is None or (found.status is PaymentStatus.PENDING and stored.status is not found.status):
                    target.receive(stored)
            target.claims.update({k: v for k, v in source.claims.items() if k not in target.claims})


def no_authorized_record_of_a_reversed_reference(bank: ScriptedBank, *replicas: MemoryRepository) -> None:
    for replica in replicas:
        for stored in replica.payments.values():
            record = bank.ledger.get(stored.bank_reference)
            if record is not None and record.status is BankStatus.REVERSED:
                assert stored.status is not PaymentStatus.AUTHORIZED, (stored, record)


def test_a_refusal_in_one_region_never_reverses_what_the_other_region_authorizes_meanwhile(
    bank: ScriptedBank, clock: FakeClock
) -> None:
    """Finding 1, interleaved inside one request: eu's keyed request is refused; us's retry of the
    same key (replication lag: us has not seen eu's claim) is authorized at the bank between eu's
    inquiry and the moment eu used to reverse the shared reference."""
    eu_repo, us_repo = MemoryRepository(), MemoryRepository()
    eu, us = region_service(eu_repo, bank, clock, EU), region_service(us_repo, bank, clock, US)
    answers: list[object] = []

    def the_other_region_pays(_: str) -> None:
        bank.after_inquiry, bank.fail_with = None, None
        answers.append(us.create_payment(payment_command(MERCHANT, payment_body(), "order-1")).payment)

    bank.fail_with = BankNotProcessed("HTTP 503")
    bank.after_inquiry = the_other_region_pays
    refused = eu.create_payment(payment_command(MERCHANT, payment_body(), "order-1")).payment
    [us_answer] = answers
    assert isinstance(us_answer, Payment) and us_answer.status is PaymentStatus.AUTHORIZED  # us said 201
    assert refused.status is PaymentStatus.PENDING and bank.reversals == []  # eu said 202, reversed nothing
    no_authorized_record_of_a_reversed_reference(bank, eu_repo, us_repo)
    # And once eu's resolver settles it, both records say what the bank says: one charge, authorized
    replicate(eu_repo, us_repo)
    clock.advance(seconds=ResolutionPolicy().takeover_after_seconds + 1)
    PaymentResolver(payments=eu_repo, bank=bank, region=EU, policy=ResolutionPolicy(), clock=clock).run()
    [record] = bank.ledger.values()
    assert record.status is BankStatus.AUTHORIZED and sum(bank.charges.values()) == 1
    assert eu_repo.get_payment(MERCHANT, refused.id).payment.authorization_code == us_answer.authorization_code  # type: ignore[union-attr]
    no_authorized_record_of_a_reversed_reference(bank, eu_repo, us_repo)


def test_under_reverse_a_failover_retry_follows_the_other_regions_201_instead_of_reversing_it(
    bank: ScriptedBank, clock: FakeClock
) -> None:
    """Finding 2a: us charged the key's reference and answered 201. The failover retry in eu is
    refused and cannot even ask the bank, so it is pending; eu's resolver finds the authorization
    "late", but us's record already holds it as final: eu's record follows it, nothing is reversed."""
    eu_repo, us_repo = MemoryRepository(), MemoryRepository()
    us = region_service(us_repo, bank, clock, US, unknown_outcome=UnknownOutcome.REVERSE)
    eu = region_service(eu_repo, bank, clock, EU, unknown_outcome=UnknownOutcome.REVERSE)
    charged = us.create_payment(payment_command(MERCHANT, payment_body(), "order-2")).payment
    assert charged.status is PaymentStatus.AUTHORIZED
    bank.fail_with, bank.unreachable = BankNotProcessed("connection refused"), True
    # us's claim has not replicated
    retry = eu.create_payment(payment_command(MERCHANT, payment_body(), "order-2")).payment
    bank.fail_with, bank.unreachable = None, False
    assert retry.status is PaymentStatus.PENDING
    replicate(eu_repo, us_repo)
    clock.advance(seconds=ResolutionPolicy().takeover_after_seconds + 1)
    policy = ResolutionPolicy(unknown_outcome=UnknownOutcome.REVERSE)
    PaymentResolver(payments=eu_repo, bank=bank, region=EU, policy=policy, clock=clock).run()
    assert bank.reversals == []
    settled_here = eu_repo.get_payment(MERCHANT, retry.id)
    assert settled_here is not None and settled_here.status is PaymentStatus.AUTHORIZED
    assert settled_here.payment.authorization_code == charged.authorization_code
    no_authorized_record_of_a_reversed_reference(bank, eu_repo, us_repo)


def test_under_reverse_a_replay_in_the_other_region_answers_what_the_owner_will_decide(
    bank: ScriptedBank, clock: FakeClock
) -> None:
    """Finding 2b: the answer was lost, the payment is pending in eu; after the lease a replay in us
    (not the owner) answers what eu's resolver will write. A key's reference is never reversed as a
    late authorization (it may be another record's 201), so both say authorized, and nothing is reversed."""
    eu_repo, us_repo = MemoryRepository(), MemoryRepository()
    eu = region_service(eu_repo, bank, clock, EU, unknown_outcome=UnknownOutcome.REVERSE)
    us = region_service(us_repo, bank, clock, US, unknown_outcome=UnknownOutcome.REVERSE)
    bank.fail_after_charge = BankOutcomeUnknown("the answer was lost")
    lost = eu.create_payment(payment_command(MERCHANT, payment_body(), "order-3")).payment
    bank.fail_after_charge = None
    replicate(eu_repo, us_repo)
    clock.advance(seconds=IdempotencyPolicy().lease_seconds + 1)
    replay = us.create_payment(payment_command(MERCHANT, payment_body(), "order-3"))
    assert replay.replayed and replay.payment.id == lost.id
    assert replay.payment.status is PaymentStatus.AUTHORIZED
    assert us_repo.get_payment(MERCHANT, lost.id).status is PaymentStatus.PENDING  # type: ignore[union-attr]
    clock.advance(seconds=ResolutionPolicy().takeover_after_seconds)
    policy = ResolutionPolicy(unknown_outcome=UnknownOutcome.REVERSE)
    PaymentResolver(payments=eu_repo, bank=bank, region=EU, policy=policy, clock=clock).run()
    assert eu_repo.get_payment(MERCHANT, lost.id).status is replay.payment.status  # type: ignore[union-attr]
    assert bank.reversals == []
    no_authorized_record_of_a_reversed_reference(bank, eu_repo, us_repo)


# --- one writer per payment, and the lease around the bank call (issue 15, point 7) -------------


def test_a_replay_of_another_regions_pending_payment_answers_from_the_bank_and_writes_nothing(
    bank: ScriptedBank, clock: FakeClock
) -> None:
    """Only the owner writes a payment: a second writer could lose to, or overwrite, the owner's
    write under last-writer-wins (conditions are checked only in the replica that gets the write)."""
    shared = MemoryRepository()  # us's claim and pending payment have replicated to eu
    us, eu = region_service(shared, bank, clock, US), region_service(shared, bank, clock, EU)
    bank.fail_after_charge = BankOutcomeUnknown("the answer was lost")
    lost = us.create_payment(payment_command(MERCHANT, payment_body(), "order-4")).payment
    bank.fail_after_charge = None
    before, writes = shared.get_payment(MERCHANT, lost.id), shared.writes
    clock.advance(seconds=IdempotencyPolicy().lease_seconds + 1)
    replay = eu.create_payment(payment_command(MERCHANT, payment_body(), "order-4"))
    assert replay.replayed and replay.payment.status is PaymentStatus.AUTHORIZED
    assert shared.writes == writes and shared.get_payment(MERCHANT, lost.id) == before
    assert bank.reversals == [] and len(bank.calls) == 1


def test_a_holder_whose_lease_was_eaten_by_a_slow_write_ahead_does_not_call_the_bank(
    service: PaymentService, repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    """The check after the write-ahead: the pending write itself may have taken the lease away."""
    real_save = repo.save_pending

    def slow_save(stored: StoredPayment) -> None:
        clock.advance(seconds=IdempotencyPolicy().lease_seconds - 0.5)  # retries inside the write
        real_save(stored)

    repo.save_pending = slow_save  # type: ignore[method-assign]
    with pytest.raises(StorageUnavailable):
        service.create_payment(payment_command(MERCHANT, payment_body(), "slow-2"))
    assert bank.calls == []
    [left] = repo.payments.values()
    assert left.status is PaymentStatus.PENDING  # the resolver fails it: nothing was sent


def test_a_key_taken_over_after_its_holder_died_never_sends_a_reference_another_payment_holds(
    bank: ScriptedBank, clock: FakeClock
) -> None:
    """eu's holder died between its claim and its write-ahead; us's retry of the key (during the lag)
    was refused and is pending. When us's resolver may reverse the shared reference, a replay in eu
    must not take the key over and charge that reference between us's inquiry and its reversal."""
    eu_repo, us_repo = MemoryRepository(), MemoryRepository()
    eu, us = region_service(eu_repo, bank, clock, EU), region_service(us_repo, bank, clock, US)
    real_save = eu_repo.save_pending
    eu_repo.save_pending = _raise(StorageUnavailable("died"))  # type: ignore[method-assign]
    with pytest.raises(StorageUnavailable):
        eu.create_payment(payment_command(MERCHANT, payment_body(), "order-5"))
    eu_repo.save_pending = real_save  # type: ignore[method-assign]
    bank.fail_with = BankNotProcessed("HTTP 503")
    refused = us.create_payment(payment_command(MERCHANT, payment_body(), "order-5")).payment
    bank.fail_with = None
    replicate(eu_repo, us_repo)  # eu keeps its own claim (the dead holder's), and gets us's payment
    clock.advance(seconds=ResolutionPolicy().takeover_after_seconds + 1)
    replays: list[Payment] = []

    def a_replay_in_eu(_: str) -> None:
        bank.after_inquiry = None
        replays.append(eu.create_payment(payment_command(MERCHANT, payment_body(), "order-5")).payment)

    bank.after_inquiry = a_replay_in_eu
    PaymentResolver(payments=us_repo, bank=bank, region=US, policy=ResolutionPolicy(), clock=clock).run()
    replicate(eu_repo, us_repo)
    assert len(bank.calls) == 1 and bank.charges == {}  # only us's refused attempt was ever sent
    assert [p.id for p in replays] == [refused.id] and replays[0].status is PaymentStatus.PENDING
    assert us_repo.get_payment(MERCHANT, refused.id).status is PaymentStatus.FAILED  # type: ignore[union-attr]
    no_authorized_record_of_a_reversed_reference(bank, eu_repo, us_repo)
