"""The payment lifecycle over in-memory ports: automatic and manual capture, capture, void, refunds,
expiry, their idempotency, lost answers settled by the resolver, and two regions racing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import attrs
import pytest

from handlers.domain.errors import (
    AmountTooLarge,
    BankNotProcessed,
    BankOutcomeUnknown,
    BankUnavailable,
    IdempotencyKeyReused,
    InvalidState,
    NotFound,
    OutcomeUnknown,
    StorageUnavailable,
)
from handlers.domain.lifecycle import distinct_refunds, fold
from handlers.domain.models import (
    BankStatus,
    CaptureMethod,
    Heartbeat,
    IdempotencyKey,
    Operation,
    OperationKind,
    OperationStatus,
    Payment,
    PaymentOperation,
    PaymentStatus,
)
from handlers.domain.operations import OperationResult, OperationService
from handlers.domain.resolver import PaymentResolver
from handlers.domain.service import PaymentReader, PaymentService
from handlers.domain.settlement import ResolutionPolicy
from tests.commands import payment_command
from tests.fakes import FakeClock, MemoryRepository, ScriptedBank
from tests.support import payment_body

MERCHANT = "mer_a"
EU, US = "eu-west-1", "us-east-1"
POLICY = ResolutionPolicy(resolve_after_seconds=10.0)
KEY = b"fingerprint-key"


@attrs.define
class Region:
    name: str
    repo: MemoryRepository
    payments: PaymentService
    operations: OperationService
    resolver: PaymentResolver

    def pay(self, capture_method: str = "manual", amount: int = 1000) -> Payment:
        body = payment_body(capture_method=capture_method, amount=amount)
        return self.payments.create_payment(payment_command(MERCHANT, body, None)).payment

    def run(
        self,
        kind: OperationKind,
        payment_id: str,
        amount: int | None = None,
        *,
        key: str | None = None,
        merchant: str = MERCHANT,
    ) -> OperationResult:
        body = {} if amount is None else {"amount": amount}
        idempotency = None if key is None else IdempotencyKey(key, repr(sorted(body.items())))
        command = PaymentOperation(merchant, payment_id, kind, amount, None, idempotency)
        return self.operations.run(command)

    def view(self, payment_id: str) -> Payment:
        return PaymentReader(self.repo).get_payment(MERCHANT, payment_id)


def region(name: str, bank: ScriptedBank, clock: FakeClock) -> Region:
    repo = MemoryRepository()
    return Region(
        name,
        repo,
        PaymentService(payments=repo, bank=bank, region=name, fingerprint_key=KEY, resolution=POLICY, clock=clock),
        OperationService(
            payments=repo, operations=repo, bank=bank, region=name, fingerprint_key=KEY, resolution=POLICY, clock=clock
        ),
        PaymentResolver(
            payments=repo, operations=repo, bank=bank, region=name, policy=POLICY, clock=clock, peers=(EU, US)
        ),
    )


def replicate(source: Region, target: Region) -> None:
    """Everything `source` holds arrives in `target`'s replica (as a global table replicates it)."""
    for stored in source.repo.payments.values():
        target.repo.receive(stored)
    for operation in source.repo.operations.values():
        target.repo.receive_operation(operation)
    target.repo.beats |= source.repo.beats


@pytest.fixture  # `bank` and `clock` are tests/unit/conftest.py's
def eu(bank: ScriptedBank, clock: FakeClock) -> Region:
    return region(EU, bank, clock)


@pytest.fixture
def us(bank: ScriptedBank, clock: FakeClock) -> Region:
    return region(US, bank, clock)


def due(clock: FakeClock) -> None:
    clock.advance(seconds=POLICY.resolve_after_seconds + 1)


# --- capture methods -------------------------------------------------------------------------------


def test_an_automatic_payment_is_captured_by_its_one_bank_message(eu: Region, bank: ScriptedBank) -> None:
    payment = eu.pay("automatic")
    assert (payment.status, payment.amount_captured, payment.amount_refunded) == (PaymentStatus.CAPTURED, 1000, 0)
    assert payment.capture_method is CaptureMethod.AUTOMATIC and payment.authorization_expires_at is None
    assert bank.captures_sent == [] and bank.ledger[payment.id].status is BankStatus.CAPTURED


def test_the_default_capture_method_is_automatic(eu: Region) -> None:
    body = payment_body()
    del body["capture_method"]
    payment = eu.payments.create_payment(payment_command(MERCHANT, body, None)).payment
    assert payment.status is PaymentStatus.CAPTURED and payment.capture_method is CaptureMethod.AUTOMATIC


def test_a_manual_payment_is_authorized_until_its_expiry(eu: Region, clock: FakeClock) -> None:
    payment = eu.pay("manual")
    assert (payment.status, payment.amount_captured) == (PaymentStatus.AUTHORIZED, 0)
    assert payment.authorization_expires_at == clock.now + timedelta(seconds=POLICY.authorization_ttl_seconds)


# --- capture and void --------------------------------------------------------------------------------


def test_a_partial_capture_takes_that_amount_once(eu: Region, bank: ScriptedBank) -> None:
    payment = eu.pay()
    result = eu.run(OperationKind.CAPTURE, payment.id, 600)
    assert (result.payment.status, result.payment.amount_captured) == (PaymentStatus.CAPTURED, 600)
    assert result.operation.status is OperationStatus.SUCCEEDED and not result.replayed
    assert bank.captures_sent == [(payment.id, 600)]
    assert eu.view(payment.id) == result.payment
    with pytest.raises(InvalidState) as refused:
        eu.run(OperationKind.CAPTURE, payment.id, 400)
    assert refused.value.status == "captured" and bank.captures_sent == [(payment.id, 600)]


def test_a_capture_without_an_amount_takes_the_whole_amount(eu: Region) -> None:
    payment = eu.pay()
    assert eu.run(OperationKind.CAPTURE, payment.id).payment.amount_captured == payment.amount


@pytest.mark.parametrize("amount", [1001, 0])
def test_a_capture_outside_1_to_the_amount_names_the_maximum(eu: Region, bank: ScriptedBank, amount: int) -> None:
    payment = eu.pay()
    with pytest.raises(AmountTooLarge) as refused:
        eu.run(OperationKind.CAPTURE, payment.id, amount)
    assert refused.value.maximum == 1000 and bank.captures_sent == []
    assert eu.repo.operations == {}


def test_a_void_releases_the_authorization_and_nothing_can_follow(eu: Region, bank: ScriptedBank) -> None:
    payment = eu.pay()
    result = eu.run(OperationKind.VOID, payment.id)
    assert result.payment.status is PaymentStatus.VOIDED and bank.ledger[payment.id].status is BankStatus.REVERSED
    for kind in OperationKind:
        with pytest.raises(InvalidState) as refused:
            eu.run(kind, payment.id)
        assert refused.value.status == "voided"
    assert bank.captures_sent == []


@pytest.mark.parametrize("kind", [OperationKind.CAPTURE, OperationKind.VOID])
def test_capture_and_void_need_an_authorized_payment(eu: Region, kind: OperationKind) -> None:
    captured = eu.pay("automatic")
    with pytest.raises(InvalidState) as refused:
        eu.run(kind, captured.id)
    assert refused.value.status == "captured"


def test_another_merchants_payment_is_not_found(eu: Region) -> None:
    payment = eu.pay()
    for kind in OperationKind:
        with pytest.raises(NotFound):
            eu.run(kind, payment.id, merchant="mer_b")
    with pytest.raises(NotFound):
        PaymentReader(eu.repo).refunds("mer_b", payment.id)


def test_a_capture_the_bank_did_not_process_is_failed_and_answered_502(eu: Region, bank: ScriptedBank) -> None:
    payment = eu.pay()
    bank.operation_fails_with = BankNotProcessed("503")
    with pytest.raises(BankUnavailable):
        eu.run(OperationKind.CAPTURE, payment.id)
    (operation,) = eu.repo.operations.values()
    assert operation.status is OperationStatus.FAILED and eu.view(payment.id).status is PaymentStatus.AUTHORIZED
    bank.operation_fails_with = None
    assert eu.run(OperationKind.CAPTURE, payment.id).payment.status is PaymentStatus.CAPTURED


# --- refunds -----------------------------------------------------------------------------------------


def test_partial_refunds_add_up_to_the_captured_amount_and_no_further(eu: Region, bank: ScriptedBank) -> None:
    payment = eu.pay("automatic")
    first = eu.run(OperationKind.REFUND, payment.id, 300)
    second = eu.run(OperationKind.REFUND, payment.id, 200)
    assert (first.operation.status, second.operation.status) == (OperationStatus.SUCCEEDED,) * 2
    assert second.payment.amount_refunded == 500 and second.payment.status is PaymentStatus.CAPTURED
    with pytest.raises(AmountTooLarge) as refused:
        eu.run(OperationKind.REFUND, payment.id, 501)
    assert refused.value.maximum == 500
    rest = eu.run(OperationKind.REFUND, payment.id)  # the default: what is left
    assert rest.operation.amount == 500 and rest.payment.amount_refunded == 1000
    with pytest.raises(AmountTooLarge):
        eu.run(OperationKind.REFUND, payment.id)
    assert bank.ledger[payment.id].refunded_amount == 1000
    refunds = PaymentReader(eu.repo).refunds(MERCHANT, payment.id)
    assert [r.amount for r in refunds] == [300, 200, 500] and [r.id for r in refunds] == sorted(r.id for r in refunds)


def test_a_refund_needs_a_captured_payment(eu: Region) -> None:
    payment = eu.pay()
    with pytest.raises(InvalidState) as refused:
        eu.run(OperationKind.REFUND, payment.id)
    assert refused.value.status == "authorized"


def test_without_a_key_two_refund_requests_are_two_refunds(eu: Region, bank: ScriptedBank) -> None:
    payment = eu.pay("automatic")
    eu.run(OperationKind.REFUND, payment.id, 100)
    eu.run(OperationKind.REFUND, payment.id, 100)
    assert len(bank.refunds) == 2 and eu.view(payment.id).amount_refunded == 200


def test_a_refund_the_bank_refuses_is_a_failed_refund_that_does_not_count(eu: Region, us: Region) -> None:
    """The other region refunded meanwhile (not replicated yet): the bank keeps the sum."""
    payment = eu.pay("automatic")
    replicate(eu, us)
    us.run(OperationKind.REFUND, payment.id, 800)
    result = eu.run(OperationKind.REFUND, payment.id, 800)
    assert result.operation.status is OperationStatus.FAILED and result.operation.failure_reason == "exceeds_captured"
    replicate(us, eu)
    assert eu.view(payment.id).amount_refunded == 800 == us.view(payment.id).amount_refunded


# --- idempotency -------------------------------------------------------------------------------------


def test_a_keyed_capture_is_replayed_and_the_bank_called_once(eu: Region, bank: ScriptedBank) -> None:
    payment = eu.pay()
    first = eu.run(OperationKind.CAPTURE, payment.id, 500, key="k1")
    again = eu.run(OperationKind.CAPTURE, payment.id, 500, key="k1")
    assert again.replayed and again.operation == first.operation and again.payment == first.payment
    assert bank.captures_sent == [(payment.id, 500)]


def test_a_key_reused_for_another_body_or_operation_is_refused(eu: Region) -> None:
    payment = eu.pay("automatic")
    eu.run(OperationKind.REFUND, payment.id, 100, key="k1")
    with pytest.raises(IdempotencyKeyReused):
        eu.run(OperationKind.REFUND, payment.id, 200, key="k1")
    other = eu.pay("automatic")
    with pytest.raises(IdempotencyKeyReused):
        eu.run(OperationKind.REFUND, other.id, 100, key="k1")


def test_a_refused_request_frees_its_key_at_once(eu: Region) -> None:
    payment = eu.pay()
    with pytest.raises(InvalidState):
        eu.run(OperationKind.REFUND, payment.id, 100, key="k1")
    eu.run(OperationKind.CAPTURE, payment.id)
    assert eu.run(OperationKind.REFUND, payment.id, 100, key="k1").operation.status is OperationStatus.SUCCEEDED


def test_a_keyed_refund_retried_in_the_other_region_during_the_lag_is_refunded_once(
    eu: Region, us: Region, bank: ScriptedBank
) -> None:
    payment = eu.pay("automatic")
    replicate(eu, us)
    eu.run(OperationKind.REFUND, payment.id, 300, key="k1")
    us.run(OperationKind.REFUND, payment.id, 300, key="k1")  # the claim had not replicated
    assert len(bank.refunds) == 1 and bank.ledger[payment.id].refunded_amount == 300
    replicate(us, eu)
    replicate(eu, us)
    for side in (eu, us):
        assert side.view(payment.id).amount_refunded == 300
        assert len(PaymentReader(side.repo).refunds(MERCHANT, payment.id)) == 1


# --- lost answers: the resolver finishes under the same reference ----------------------------------


@pytest.fixture
def lost_answer(bank: ScriptedBank) -> Iterator[None]:
    bank.operation_fails_after = BankOutcomeUnknown("the answer was lost")
    yield
    bank.operation_fails_after = None


@pytest.mark.usefixtures("lost_answer")
def test_a_capture_whose_answer_was_lost_is_pending_then_settled_from_the_bank(
    eu: Region, bank: ScriptedBank, clock: FakeClock
) -> None:
    payment = eu.pay()
    result = eu.run(OperationKind.CAPTURE, payment.id, 700)
    assert result.operation.status is OperationStatus.PENDING and result.payment.status is PaymentStatus.AUTHORIZED
    with pytest.raises(Exception, match="being processed"):
        eu.run(OperationKind.VOID, payment.id)  # one capture or void at a time
    due(clock)
    report = eu.resolver.run()
    assert report.operations_settled == {"capture.succeeded": 1}
    assert bank.captures_sent == [(payment.id, 700)]  # settled from the inquiry: not sent again
    assert (eu.view(payment.id).status, eu.view(payment.id).amount_captured) == (PaymentStatus.CAPTURED, 700)


def test_a_capture_that_never_reached_the_bank_is_sent_again_under_the_same_reference(
    eu: Region, bank: ScriptedBank, clock: FakeClock
) -> None:
    payment = eu.pay()
    bank.operation_fails_with = BankOutcomeUnknown("timed out before the bank acted")
    assert eu.run(OperationKind.CAPTURE, payment.id, 700).operation.status is OperationStatus.PENDING
    bank.operation_fails_with = None
    due(clock)
    eu.resolver.run()
    assert bank.captures_sent == [(payment.id, 700), (payment.id, 700)]
    assert bank.ledger[payment.id].captured_amount == 700 and eu.view(payment.id).amount_captured == 700


@pytest.mark.usefixtures("lost_answer")
def test_a_refund_whose_answer_was_lost_is_settled_once(eu: Region, bank: ScriptedBank, clock: FakeClock) -> None:
    bank.operation_fails_after = None
    payment = eu.pay("automatic")
    bank.operation_fails_after = BankOutcomeUnknown("lost")
    pending = eu.run(OperationKind.REFUND, payment.id, 400)
    assert pending.operation.status is OperationStatus.PENDING
    with pytest.raises(AmountTooLarge) as refused:  # a pending refund counts against what is left
        eu.run(OperationKind.REFUND, payment.id, 601)
    assert refused.value.maximum == 600
    bank.operation_fails_after = None
    due(clock)
    eu.resolver.run()
    assert len(bank.refunds_sent) == 1 and bank.ledger[payment.id].refunded_amount == 400
    assert eu.view(payment.id).amount_refunded == 400


def test_the_resolver_backs_off_while_the_bank_is_unreachable(eu: Region, bank: ScriptedBank, clock: FakeClock) -> None:
    payment = eu.pay("automatic")
    bank.operation_fails_with = BankOutcomeUnknown("lost")
    eu.run(OperationKind.REFUND, payment.id, 400)
    bank.unreachable = True
    due(clock)
    now = clock.now.timestamp()  # a resolver alive for longer than a takeover reschedules (resolver.py)
    eu.repo.record_heartbeat(EU, Heartbeat(now - 1, now - POLICY.takeover_after_seconds - 1))
    report = eu.resolver.run()
    (operation,) = eu.repo.operations.values()
    assert report.pending_operations == 1 and operation.resolve_failures == 1
    assert operation.due_at is not None and operation.due_at > clock.now.timestamp()


# --- two regions: the bank arbitrates, one writer per item --------------------------------------------


def test_a_capture_and_a_void_racing_in_two_regions_end_as_the_bank_decided(eu: Region, us: Region) -> None:
    payment = eu.pay()
    replicate(eu, us)
    captured = eu.run(OperationKind.CAPTURE, payment.id)
    with pytest.raises(InvalidState) as refused:
        us.run(OperationKind.VOID, payment.id)  # us had not seen the capture: the bank refuses the void
    assert refused.value.status == "captured"
    replicate(eu, us)
    replicate(us, eu)
    assert eu.view(payment.id) == us.view(payment.id) == captured.payment
    assert {op.region for op in us.repo.operations.values()} == {EU, US}  # each wrote only its own item
    assert us.repo.payments[(MERCHANT, payment.id)].payment.status is PaymentStatus.AUTHORIZED  # eu's item


def test_a_capture_in_the_region_that_does_not_own_the_payment_is_seen_in_both(eu: Region, us: Region) -> None:
    payment = eu.pay()
    replicate(eu, us)
    result = us.run(OperationKind.CAPTURE, payment.id, 250)
    replicate(us, eu)
    assert eu.view(payment.id) == result.payment and eu.view(payment.id).amount_captured == 250


# --- expiry ------------------------------------------------------------------------------------------


def test_an_uncaptured_manual_authorization_expires_at_the_bank(
    eu: Region, bank: ScriptedBank, clock: FakeClock
) -> None:
    payment = eu.pay()
    clock.advance(seconds=POLICY.authorization_ttl_seconds - 1)
    assert eu.resolver.run().expired == 0
    clock.advance(seconds=2)
    assert eu.resolver.run().expired == 1
    assert eu.view(payment.id).status is PaymentStatus.EXPIRED and bank.ledger[payment.id].status is BankStatus.REVERSED
    with pytest.raises(InvalidState) as refused:
        eu.run(OperationKind.CAPTURE, payment.id)
    assert refused.value.status == "expired"


def test_expiry_records_a_capture_made_in_the_other_region_instead(
    eu: Region, us: Region, bank: ScriptedBank, clock: FakeClock
) -> None:
    payment = eu.pay()
    replicate(eu, us)
    us.run(OperationKind.CAPTURE, payment.id, 300)  # not replicated to eu yet
    clock.advance(seconds=POLICY.authorization_ttl_seconds + 1)
    assert eu.resolver.run().expired == 0
    stored = eu.repo.payments[(MERCHANT, payment.id)].payment
    assert (stored.status, stored.amount_captured) == (PaymentStatus.CAPTURED, 300)
    assert bank.ledger[payment.id].status is BankStatus.CAPTURED


def test_the_fold_applies_operations_only_to_an_authorized_payment() -> None:
    """An expired payment stays expired whatever a late capture item says (the bank refused it)."""
    bank, clock = ScriptedBank(), FakeClock()
    eu = region(EU, bank, clock)
    payment = eu.pay()
    expired = attrs.evolve(payment, status=PaymentStatus.EXPIRED)
    capture = eu.run(OperationKind.CAPTURE, payment.id).operation
    assert fold(expired, (capture,)) == expired


def test_a_refund_that_never_reached_the_bank_is_sent_again_under_its_refund_reference(
    eu: Region, bank: ScriptedBank, clock: FakeClock
) -> None:
    payment = eu.pay("automatic")
    bank.operation_fails_with = BankOutcomeUnknown("timed out before the bank acted")
    pending = eu.run(OperationKind.REFUND, payment.id, 400).operation
    bank.operation_fails_with = None
    assert bank.refunds == {}
    due(clock)
    assert eu.resolver.run().operations_settled == {"refund.succeeded": 1}
    reference = pending.refund_reference
    assert reference is not None
    assert [sent[1] for sent in bank.refunds_sent] == [reference, reference]
    assert bank.refunds == {(payment.id, reference): 400} and eu.view(payment.id).amount_refunded == 400


def test_a_void_whose_answer_was_lost_is_settled_from_the_bank(
    eu: Region, bank: ScriptedBank, clock: FakeClock
) -> None:
    payment = eu.pay()
    bank.unreachable = True  # the reversal's answer never came
    assert eu.run(OperationKind.VOID, payment.id).operation.status is OperationStatus.PENDING
    bank.unreachable = False
    due(clock)
    assert eu.resolver.run().operations_settled == {"void.succeeded": 1}
    assert eu.view(payment.id).status is PaymentStatus.VOIDED


# --- the store failing around the bank call (review of issue 17) ------------------------------------


class FlakyRepository(MemoryRepository):
    """Fails on demand: reads of a payment with its operations, or a write-ahead whose answer is lost."""

    fail_reads = False
    lose_write_answers = False
    during_write: Callable[[], None] | None = None

    def get_payment_with_operations(self, merchant_id: str, payment_id: str) -> Any:
        if self.fail_reads:
            raise StorageUnavailable("throttled")
        return super().get_payment_with_operations(merchant_id, payment_id)

    def save_pending_operation(self, operation: Operation) -> None:
        super().save_pending_operation(operation)
        if self.during_write:
            self.during_write()
        if self.lose_write_answers:
            raise StorageUnavailable("the answer was lost")


@pytest.fixture
def flaky(bank: ScriptedBank, clock: FakeClock) -> Region:
    eu = region(EU, bank, clock)
    repo = FlakyRepository()
    return attrs.evolve(
        eu,
        repo=repo,
        payments=PaymentService(
            payments=repo, bank=bank, region=EU, fingerprint_key=KEY, resolution=POLICY, clock=clock
        ),
        operations=OperationService(
            payments=repo, operations=repo, bank=bank, region=EU, fingerprint_key=KEY, resolution=POLICY, clock=clock
        ),
        resolver=PaymentResolver(payments=repo, operations=repo, bank=bank, region=EU, policy=POLICY, clock=clock),
    )


def test_a_refund_the_bank_made_is_answered_even_if_the_store_then_fails(flaky: Region, bank: ScriptedBank) -> None:
    """Never a 503 ('nothing was sent') after the bank acted: the answer is built from what was read."""
    payment = flaky.pay("automatic")
    repo = flaky.repo
    assert isinstance(repo, FlakyRepository)

    def reads_fail_from_now_on() -> None:
        repo.fail_reads = True

    repo.during_write = reads_fail_from_now_on
    result = flaky.run(OperationKind.REFUND, payment.id, 300)
    assert result.operation.status is OperationStatus.SUCCEEDED and result.payment.amount_refunded == 300
    assert bank.refunds_sent and len(bank.refunds) == 1


def test_a_write_ahead_whose_answer_was_lost_is_an_unknown_outcome_not_a_503(
    flaky: Region, bank: ScriptedBank, clock: FakeClock
) -> None:
    payment = flaky.pay("automatic")
    assert isinstance(flaky.repo, FlakyRepository)
    flaky.repo.lose_write_answers = True
    with pytest.raises(OutcomeUnknown):
        flaky.run(OperationKind.REFUND, payment.id, 300, key="k1")
    flaky.repo.lose_write_answers = False
    due(clock)
    flaky.resolver.run()  # the record was written: the resolver finishes it, once
    assert len(bank.refunds) == 1
    replay = flaky.run(OperationKind.REFUND, payment.id, 300, key="k1")
    assert replay.replayed and replay.operation.status is OperationStatus.SUCCEEDED


def test_a_lease_eaten_by_a_slow_write_ahead_is_a_202_and_the_resolver_sends_it(
    flaky: Region, bank: ScriptedBank, clock: FakeClock
) -> None:
    payment = flaky.pay()
    assert isinstance(flaky.repo, FlakyRepository)
    flaky.repo.during_write = lambda: clock.advance(seconds=9.5)  # of the 10 s lease
    result = flaky.run(OperationKind.CAPTURE, payment.id, 400, key="k1")
    assert result.operation.status is OperationStatus.PENDING and bank.captures_sent == []
    flaky.repo.during_write = None
    due(clock)
    flaky.resolver.run()
    assert bank.captures_sent == [(payment.id, 400)] and flaky.view(payment.id).amount_captured == 400


def test_a_key_taken_over_gets_a_new_operation_id_and_the_bank_acts_once(
    eu: Region, bank: ScriptedBank, clock: FakeClock
) -> None:
    """The dead holder's id may still be written in its own region: one writer per item."""
    payment = eu.pay("automatic")
    dead = eu.operations._new_claim(  # claimed, then the process died before its write-ahead
        PaymentOperation(
            MERCHANT, payment.id, OperationKind.REFUND, 300, None, IdempotencyKey("k1", repr([("amount", 300)]))
        ),
        clock.now,
    )
    assert eu.repo.claim(dead, clock.now.timestamp()) is None
    clock.advance(seconds=11)  # past its lease
    taken = eu.run(OperationKind.REFUND, payment.id, 300, key="k1")
    assert taken.operation.id != dead.operation_id and taken.operation.status is OperationStatus.SUCCEEDED
    assert len(bank.refunds) == 1


def test_of_two_items_of_one_bank_refund_the_succeeded_one_tells_the_outcome(eu: Region, clock: FakeClock) -> None:
    """eu's request was refused (bank 503, `failed`); us's retry of the key then refunded under the
    same refund reference: the refund counts, whichever item sorts first."""
    payment = eu.pay("automatic")
    first = eu.run(OperationKind.REFUND, payment.id, 400).operation
    failed = attrs.evolve(first, status=OperationStatus.FAILED, failure_reason="bank_unavailable")
    clock.advance(seconds=1)
    later = attrs.evolve(first, id="re_" + "7" + first.id[4:], created_at=clock.now, region=US)
    stored = eu.repo.payments[(MERCHANT, payment.id)]
    for items in ((failed, later), (later, failed)):
        view = fold(stored.payment, items)
        assert view.amount_refunded == 400
        assert [r.id for r in distinct_refunds(items)] == [min(failed.id, later.id)]


def test_a_region_taking_over_a_silent_one_never_sends_its_operations(
    eu: Region, us: Region, bank: ScriptedBank, clock: FakeClock
) -> None:
    """us may have answered the request (e.g. failed: 502, 'send it with a new key') in a write that
    has not replicated: eu only writes what the bank already holds."""
    payment = eu.pay("automatic")
    replicate(eu, us)
    us.resolver.run()  # us's heartbeat, then silence
    bank.operation_fails_with = BankOutcomeUnknown("never reached the bank")
    never_sent = us.run(OperationKind.REFUND, payment.id, 100).operation
    bank.operation_fails_with = None
    bank.operation_fails_after = BankOutcomeUnknown("lost")
    done_at_the_bank = us.run(OperationKind.REFUND, payment.id, 200).operation
    bank.operation_fails_after = None
    replicate(us, eu)
    clock.advance(seconds=POLICY.takeover_after_seconds + 1)
    report = eu.resolver.run()
    assert US in report.took_over and report.operations_settled == {"refund.succeeded": 1}
    assert len(bank.refunds) == 1  # nothing sent by the taker
    assert eu.repo.operations[(MERCHANT, payment.id, never_sent.id)].status is OperationStatus.PENDING
    assert eu.repo.operations[(MERCHANT, payment.id, done_at_the_bank.id)].status is OperationStatus.SUCCEEDED


def test_expiries_waiting_for_a_capture_do_not_hide_the_ones_behind_them(
    us: Region, bank: ScriptedBank, clock: FakeClock
) -> None:
    """Three expiries wait for captures us is still settling (its resolver is alive); with batches of
    two, the run goes on past them to the fourth."""
    eu = region(EU, bank, clock)
    small = attrs.evolve(POLICY, batch_size=2)
    resolver = PaymentResolver(payments=eu.repo, operations=eu.repo, bank=bank, region=EU, policy=small, clock=clock)
    waiting = [eu.pay() for _ in range(3)]
    last = eu.pay()
    replicate(eu, us)
    bank.operation_fails_with = BankOutcomeUnknown("lost")
    for payment in waiting:
        us.run(OperationKind.CAPTURE, payment.id)  # pending in us, replicated to eu
    bank.operation_fails_with = None
    replicate(us, eu)
    clock.advance(seconds=POLICY.authorization_ttl_seconds + 1)
    us.repo.record_heartbeat(US, Heartbeat(clock.now.timestamp(), clock.now.timestamp()))
    replicate(us, eu)  # us is alive: eu leaves its captures to it
    report = resolver.run()
    assert report.expired == 1 and eu.view(last.id).status is PaymentStatus.EXPIRED
    assert [eu.view(p.id).status for p in waiting] == [PaymentStatus.AUTHORIZED] * 3


def test_a_manual_payment_settled_late_expires_from_its_request_not_from_the_settling(
    eu: Region, bank: ScriptedBank, clock: FakeClock
) -> None:
    bank.fail_after_charge = BankOutcomeUnknown("lost")
    payment = eu.pay()
    bank.fail_after_charge = None
    clock.advance(seconds=120)
    eu.resolver.run()
    settled = eu.view(payment.id)
    assert settled.status is PaymentStatus.AUTHORIZED
    assert settled.authorization_expires_at == payment.created_at + timedelta(seconds=POLICY.authorization_ttl_seconds)
