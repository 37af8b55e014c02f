"""The resolver over in-memory ports: every pending payment reaches the bank's final status."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from handlers.contract.resolution import UnknownOutcome
from handlers.domain import ids
from handlers.domain.errors import BankNotProcessed, BankOutcomeUnknown, BankUnreachable, StorageUnavailable
from handlers.domain.models import (
    ALLOWED_MOVES,
    BankRecord,
    BankStatus,
    Heartbeat,
    PaymentStatus,
    StoredPayment,
    can_move,
)
from handlers.domain.resolver import PaymentResolver
from handlers.domain.service import PaymentService
from handlers.domain.settlement import ResolutionPolicy, Settlement, gateway_status, settled
from tests.commands import payment_command
from tests.fakes import FakeClock, MemoryRepository, ScriptedBank
from tests.support import VISA_AUTHORIZED, VISA_DECLINED, payment_body

MERCHANT = "mer_a"
EU, US = "eu-west-1", "us-east-1"
POLICY = ResolutionPolicy()


def resolver(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock, region: str = EU, **policy: object
) -> PaymentResolver:
    return PaymentResolver(
        payments=repo,
        bank=bank,
        region=region,
        policy=attrs.evolve(POLICY, **policy),
        clock=clock,
        peers=(EU, US),
    )


def settlement(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock, region: str = EU, **policy: object
) -> Settlement:
    return Settlement(payments=repo, bank=bank, region=region, policy=attrs.evolve(POLICY, **policy), clock=clock)


def pending_payment(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock, *, card: str = VISA_AUTHORIZED, region: str = EU
) -> StoredPayment:
    """A payment whose request ended without an outcome (the bank charged it, or never saw it)."""
    service = PaymentService(payments=repo, bank=bank, region=region, fingerprint_key=b"k", clock=clock)
    payment = service.create_payment(payment_command(MERCHANT, payment_body(card), None)).payment
    assert payment.status is PaymentStatus.PENDING
    stored = repo.get_payment(MERCHANT, payment.id)
    assert stored is not None
    return stored


def due(clock: FakeClock) -> None:
    clock.advance(seconds=POLICY.resolve_after_seconds + 1)


def test_the_transition_table_allows_only_pending_to_final_and_authorized_onwards() -> None:
    finals = set(PaymentStatus) - {PaymentStatus.PENDING}
    assert ALLOWED_MOVES[PaymentStatus.PENDING] == finals
    after_authorized = {PaymentStatus.CAPTURED, PaymentStatus.VOIDED, PaymentStatus.EXPIRED, PaymentStatus.REVERSED}
    moves = {(old, new) for old in PaymentStatus for new in PaymentStatus if can_move(old, new)}
    assert moves == {(PaymentStatus.PENDING, s) for s in finals} | {
        (PaymentStatus.AUTHORIZED, s) for s in after_authorized
    }


def test_a_final_status_never_moves_back(repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock) -> None:
    bank.fail_after_charge = BankOutcomeUnknown("late")
    stored = pending_payment(repo, bank, clock)
    final = settled(stored, PaymentStatus.DECLINED, None)
    for target in PaymentStatus:
        if target is not PaymentStatus.REVERSED:
            with pytest.raises(ValueError, match="cannot become"):
                settled(final, target, None)


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (BankRecord(BankStatus.AUTHORIZED, "C1", 1050, "GBP"), (PaymentStatus.AUTHORIZED, "C1")),
        (BankRecord(BankStatus.DECLINED, None, 1050, "GBP"), (PaymentStatus.DECLINED, None)),
        (BankRecord(BankStatus.REVERSED, "C1", 1050, "GBP"), (PaymentStatus.REVERSED, "C1")),
        (BankRecord(BankStatus.REVERSED), (PaymentStatus.FAILED, None)),
    ],
)
def test_the_banks_record_decides_the_status(record: BankRecord, expected: tuple[PaymentStatus, str | None]) -> None:
    assert gateway_status(record) == expected


@pytest.mark.parametrize(("card", "status"), [(VISA_AUTHORIZED, "authorized"), (VISA_DECLINED, "declined")])
def test_a_charge_whose_answer_was_lost_is_settled_with_the_banks_answer(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock, card: str, status: str
) -> None:
    bank.fail_after_charge = BankOutcomeUnknown("dropped connection")
    stored = pending_payment(repo, bank, clock, card=card)
    due(clock)
    report = resolver(repo, bank, clock).run()
    final = repo.get_payment(MERCHANT, stored.payment.id)
    assert final is not None and final.status.value == status
    assert final.payment.authorization_code == bank.ledger[stored.bank_reference].authorization_code
    assert final.due_at is None and report.settled == {status: 1} and report.pending == 0
    assert bank.reversals == [] and len(bank.calls) == 1


def test_nothing_is_touched_before_it_is_due(repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock) -> None:
    bank.fail_after_charge = BankOutcomeUnknown("late")
    stored = pending_payment(repo, bank, clock)
    clock.advance(seconds=POLICY.resolve_after_seconds - 1)
    report = resolver(repo, bank, clock).run()
    assert bank.inquiries == [] and report.pending == 1
    assert repo.get_payment(MERCHANT, stored.payment.id).status is PaymentStatus.PENDING  # type: ignore[union-attr]


def test_no_record_at_the_bank_is_reversed_first_so_a_late_authorization_cannot_land(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    bank.fail_with = BankOutcomeUnknown("timeout before the bank saw it")
    stored = pending_payment(repo, bank, clock)
    due(clock)
    report = resolver(repo, bank, clock).run()
    assert bank.reversals == [stored.bank_reference] and report.reversals == 1
    assert repo.get_payment(MERCHANT, stored.payment.id).status is PaymentStatus.FAILED  # type: ignore[union-attr]
    bank.fail_with = None
    with pytest.raises(BankNotProcessed):  # the request finally arrives: refused, never charged
        bank.authorize(stored.bank_reference, bank.calls[0][1])
    assert bank.charges == {}


def test_an_authorization_that_lands_between_inquiry_and_reversal_is_recorded_reversed(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    bank.fail_with = BankOutcomeUnknown("slow network")
    stored = pending_payment(repo, bank, clock)
    request = bank.calls[0][1]
    bank.fail_with = None
    # The delayed request reaches the bank just after it answered the inquiry "no such payment"
    bank.after_inquiry = lambda reference: bank.authorize(reference, request) and None
    due(clock)
    resolver(repo, bank, clock).run()
    final = repo.get_payment(MERCHANT, stored.payment.id)
    assert final is not None and final.status is PaymentStatus.REVERSED and final.payment.authorization_code
    assert bank.ledger[stored.bank_reference].status is BankStatus.REVERSED


def test_policy_reverse_reverses_an_authorization_found_late(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    bank.fail_after_charge = BankOutcomeUnknown("late")
    stored = pending_payment(repo, bank, clock)
    due(clock)
    resolver(repo, bank, clock, unknown_outcome=UnknownOutcome.REVERSE).run()
    final = repo.get_payment(MERCHANT, stored.payment.id)
    assert final is not None and final.status is PaymentStatus.REVERSED
    assert final.payment.authorization_code == bank.ledger[stored.bank_reference].authorization_code
    assert bank.ledger[stored.bank_reference].status is BankStatus.REVERSED


def test_policy_reverse_leaves_a_late_decline_declined(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    bank.fail_after_charge = BankOutcomeUnknown("late")
    stored = pending_payment(repo, bank, clock, card=VISA_DECLINED)
    due(clock)
    resolver(repo, bank, clock, unknown_outcome=UnknownOutcome.REVERSE).run()
    assert repo.get_payment(MERCHANT, stored.payment.id).status is PaymentStatus.DECLINED  # type: ignore[union-attr]
    assert bank.reversals == []


def test_an_unreachable_bank_is_retried_with_growing_delays(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    bank.fail_after_charge = BankOutcomeUnknown("late")
    stored = pending_payment(repo, bank, clock)
    bank.unreachable = True
    due(clock)
    now = clock.now.timestamp()
    repo.record_heartbeat(EU, Heartbeat(now, now - POLICY.takeover_after_seconds - 1))  # alive for a while
    run = resolver(repo, bank, clock, retry_base_seconds=30.0, retry_max_seconds=100.0)
    delays = []
    for _ in range(4):
        before = len(bank.inquiries)
        assert run.run().failures == 1 and len(bank.inquiries) == before + 1
        later = repo.get_payment(MERCHANT, stored.payment.id)
        assert later is not None and later.due_at is not None
        delays.append(later.due_at - clock.now.timestamp())
        clock.advance(seconds=delays[-1] - 1)
        assert run.run().failures == 0  # not due again yet: no inquiry
        clock.advance(seconds=1)
    assert delays == [30.0, 60.0, 100.0, 100.0]
    bank.unreachable = False
    run.run()
    assert repo.get_payment(MERCHANT, stored.payment.id).status is PaymentStatus.AUTHORIZED  # type: ignore[union-attr]


def test_a_region_settles_only_its_own_until_the_owners_heartbeat_is_older_than_the_bound(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    bank.fail_after_charge = BankOutcomeUnknown("late")
    theirs = pending_payment(repo, bank, clock, region=US)
    us, eu = resolver(repo, bank, clock, region=US), resolver(repo, bank, clock, region=EU)
    us.run()  # us is alive: its heartbeat is fresh
    due(clock)
    assert eu.run().took_over == () and bank.inquiries == []
    clock.advance(seconds=POLICY.takeover_after_seconds)
    report = eu.run()  # us has been silent for longer than the bound
    assert report.took_over == (US,) and report.peer_heartbeat_ages[US] > POLICY.takeover_after_seconds
    assert repo.get_payment(MERCHANT, theirs.payment.id).status is PaymentStatus.AUTHORIZED  # type: ignore[union-attr]


def test_two_regions_settling_one_payment_write_the_same_value(bank: ScriptedBank, clock: FakeClock) -> None:
    """Each replica holds the pending record (replicated); both resolvers ask the one bank."""
    eu_repo, us_repo = MemoryRepository(), MemoryRepository()
    bank.fail_after_charge = BankOutcomeUnknown("late")
    stored = pending_payment(eu_repo, bank, clock)
    us_repo.save_pending(stored)
    us_repo.record_heartbeat(
        EU, Heartbeat(clock.now.timestamp(), clock.now.timestamp())
    )  # the last of eu's beats that reached us
    due(clock)
    clock.advance(seconds=POLICY.takeover_after_seconds + 1)
    resolver(eu_repo, bank, clock, region=EU).run()
    resolver(us_repo, bank, clock, region=US).run()  # eu's heartbeat has not replicated to this replica
    assert eu_repo.get_payment(MERCHANT, stored.payment.id) == us_repo.get_payment(MERCHANT, stored.payment.id)
    assert sum(bank.charges.values()) == 1


def test_the_report_counts_pending_payments_and_the_oldest_ones_age(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    bank.fail_after_charge = BankOutcomeUnknown("late")
    pending_payment(repo, bank, clock)
    clock.advance(seconds=3)
    pending_payment(repo, bank, clock, card=VISA_DECLINED)
    clock.advance(seconds=2)
    report = resolver(repo, bank, clock).run()
    assert report.pending == 2 and report.oldest_pending_age == pytest.approx(5.0, abs=0.01)
    assert report.settled == {}


def test_a_peer_without_any_heartbeat_yet_is_not_taken_over(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    bank.fail_after_charge = BankOutcomeUnknown("late")
    pending_payment(repo, bank, clock, region=US)
    clock.advance(seconds=POLICY.takeover_after_seconds * 10)
    report = resolver(repo, bank, clock, region=EU).run()
    assert report.took_over == () and report.peer_heartbeat_ages == {US: None} and bank.inquiries == []


def test_a_region_taking_over_never_reschedules_so_it_cannot_outwrite_the_owner(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    bank.fail_after_charge = BankOutcomeUnknown("late")
    theirs = pending_payment(repo, bank, clock, region=US)
    now = clock.now.timestamp()
    repo.record_heartbeat(US, Heartbeat(now, now))
    repo.record_heartbeat(EU, Heartbeat(now, now - 10_000))  # eu has been alive for hours: it reschedules its own
    clock.advance(seconds=POLICY.takeover_after_seconds / 2)
    resolver(repo, bank, clock, region=EU).run()  # an unbroken series of eu's beats
    clock.advance(seconds=POLICY.takeover_after_seconds / 2 + 1)
    bank.unreachable = True
    writes = repo.writes
    report = resolver(repo, bank, clock, region=EU).run()
    assert report.took_over == (US,) and report.failures == 1
    assert repo.writes == writes  # no payment write (the fake counts no heartbeat)
    assert repo.get_payment(MERCHANT, theirs.payment.id) == theirs


def test_another_regions_payment_is_only_looked_up_never_written(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    bank.fail_after_charge = BankOutcomeUnknown("late")
    theirs = pending_payment(repo, bank, clock, region=US)
    eu = settlement(repo, bank, clock, region=EU)
    with pytest.raises(ValueError, match="does not settle"):
        eu.settle(theirs)
    found = eu.look_up(theirs)
    assert found.status is PaymentStatus.AUTHORIZED and found.authorization_code == "AUTH1"
    assert repo.get_payment(MERCHANT, theirs.payment.id) == theirs and bank.reversals == []


def test_a_region_back_from_a_silence_does_not_reschedule_until_a_takeover_would_have_replicated(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    """Another region may have settled its payments meanwhile; a reschedule could win over that."""
    bank.fail_after_charge = BankOutcomeUnknown("late")
    stored = pending_payment(repo, bank, clock)
    now = clock.now.timestamp()
    repo.record_heartbeat(EU, Heartbeat(now, now - 10_000))
    clock.advance(seconds=POLICY.takeover_after_seconds + 1)  # silent for longer than a takeover
    bank.unreachable = True
    eu = resolver(repo, bank, clock)
    assert eu.run().failures == 1
    assert repo.get_payment(MERCHANT, stored.payment.id) == stored  # not rescheduled
    assert repo.heartbeats()[EU].alive_since == clock.now.timestamp()
    for _ in range(3):  # unbroken runs for longer than a takeover: rescheduling again
        clock.advance(seconds=POLICY.takeover_after_seconds / 2)
        eu.run()
    later = repo.get_payment(MERCHANT, stored.payment.id)
    assert later is not None and later.resolve_failures == 1 and later.due_at is not None


def test_a_run_goes_through_every_due_payment_batch_after_batch(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    bank.fail_after_charge = BankOutcomeUnknown("late")
    made = [pending_payment(repo, bank, clock) for _ in range(7)]
    due(clock)
    report = resolver(repo, bank, clock, batch_size=3).run()
    assert report.settled == {"authorized": 7} and report.pending == 0
    assert all(repo.get_payment(MERCHANT, p.payment.id).status is PaymentStatus.AUTHORIZED for p in made)  # type: ignore[union-attr]


def test_a_run_stops_taking_payments_when_its_time_is_up(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    bank.fail_after_charge = BankOutcomeUnknown("late")
    for _ in range(3):
        pending_payment(repo, bank, clock)
    due(clock)
    report = resolver(repo, bank, clock, run_budget_seconds=0.0).run()
    assert report.settled == {} and report.pending == 3 and bank.inquiries == []  # the next run goes on


def test_one_payments_storage_failure_does_not_stop_the_run(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    bank.fail_after_charge = BankOutcomeUnknown("late")
    first, second = pending_payment(repo, bank, clock), pending_payment(repo, bank, clock)
    due(clock)
    real = repo.transition

    def flaky(stored: StoredPayment, previous: PaymentStatus, attempt: int, *, event: object = None) -> None:
        if stored.payment.id == first.payment.id:
            raise StorageUnavailable("throttled")
        real(stored, previous, attempt, event=event)  # type: ignore[arg-type]

    repo.transition = flaky  # type: ignore[method-assign]
    report = resolver(repo, bank, clock).run()
    assert report.failures == 1 and report.settled == {"authorized": 1}
    assert repo.get_payment(MERCHANT, second.payment.id).status is PaymentStatus.AUTHORIZED  # type: ignore[union-attr]


def test_a_replay_in_a_region_whose_resolver_is_silent_only_looks_the_payment_up(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    """The other region may be settling it by now (a takeover): two writers would race."""
    bank.fail_after_charge = BankOutcomeUnknown("late")
    stored = pending_payment(repo, bank, clock)
    now = clock.now.timestamp()
    repo.record_heartbeat(EU, Heartbeat(now - POLICY.takeover_after_seconds - 1, now - 10_000))
    eu = settlement(repo, bank, clock)
    assert eu.on_replay(stored).status is PaymentStatus.AUTHORIZED
    assert repo.get_payment(MERCHANT, stored.payment.id) == stored  # written by nobody here
    repo.record_heartbeat(EU, Heartbeat(now, now - 10_000))  # alive: the owner settles it
    assert eu.on_replay(stored).status is PaymentStatus.AUTHORIZED
    assert repo.get_payment(MERCHANT, stored.payment.id).status is PaymentStatus.AUTHORIZED  # type: ignore[union-attr]


# --- a key's shared reference (issue 15) ---------------------------------------------------------


def keyed_refusal(repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock, region: str = EU) -> StoredPayment:
    """A keyed request refused by the bank, whose inquiry found no record: pending, nothing reversed."""
    service = PaymentService(payments=repo, bank=bank, region=region, fingerprint_key=b"k", clock=clock)
    bank.fail_with = BankNotProcessed("HTTP 503")
    payment = service.create_payment(payment_command(MERCHANT, payment_body(), "order-1")).payment
    bank.fail_with = None
    stored = repo.get_payment(MERCHANT, payment.id)
    assert stored is not None and stored.status is PaymentStatus.PENDING
    return stored


def test_a_keys_reference_is_not_reversed_while_the_other_region_may_still_send_it(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    """The other region's retry of the key authorized between this resolver's inquiry and reversal
    would record `authorized` (201) for a reversed charge. So the resolver waits until no request
    can still send the reference, then reverses (and the bank blocks it for good)."""
    stored = keyed_refusal(repo, bank, clock)
    us_repo = MemoryRepository()
    us = PaymentService(payments=us_repo, bank=bank, region=US, fingerprint_key=b"k", clock=clock)
    us_answers: list[PaymentStatus] = []
    bank.after_inquiry = lambda _: us_answers.append(
        us.create_payment(payment_command(MERCHANT, payment_body(), "order-1")).payment.status
    )
    now = clock.now.timestamp()
    repo.record_heartbeat(EU, Heartbeat(now, now - 10_000))  # alive for long: it reschedules
    due(clock)
    report = resolver(repo, bank, clock).run()
    bank.after_inquiry = None
    assert us_answers == [PaymentStatus.AUTHORIZED] and bank.reversals == [] and report.reversals == 0
    later = repo.get_payment(MERCHANT, stored.payment.id)
    assert later is not None and later.status is PaymentStatus.PENDING and later.resolve_failures == 0
    assert later.due_at == stored.payment.created_at.timestamp() + POLICY.takeover_after_seconds  # postponed
    clock.now = stored.payment.created_at + timedelta(seconds=POLICY.takeover_after_seconds)
    resolver(repo, bank, clock).run()
    final = repo.get_payment(MERCHANT, stored.payment.id)
    assert final is not None and final.status is PaymentStatus.AUTHORIZED and bank.reversals == []


def test_a_keys_reference_with_no_record_is_reversed_and_failed_once_no_request_can_send_it(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    stored = keyed_refusal(repo, bank, clock)
    clock.now = stored.payment.created_at + timedelta(seconds=POLICY.takeover_after_seconds - 1)
    assert resolver(repo, bank, clock).run().reversals == 0
    clock.advance(seconds=1)
    assert resolver(repo, bank, clock).run().reversals == 1
    assert repo.get_payment(MERCHANT, stored.payment.id).status is PaymentStatus.FAILED  # type: ignore[union-attr]
    assert bank.ledger[stored.bank_reference] == BankRecord(BankStatus.REVERSED)


def test_policy_reverse_never_reverses_an_authorization_another_record_holds_as_final(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    """The key's other payment (the other region's, replicated here) answered 201 for this charge."""
    stored = keyed_refusal(repo, bank, clock)
    code = bank.authorize(stored.bank_reference, bank.calls[0][1]).authorization_code
    other_id = ids.new_payment_id(clock.now)
    other = attrs.evolve(
        stored,
        payment=attrs.evolve(
            stored.payment, id=other_id, region=US, status=PaymentStatus.AUTHORIZED, authorization_code=code
        ),
        due_at=None,
    )
    repo.receive(other)
    clock.advance(seconds=POLICY.takeover_after_seconds + 1)
    resolver(repo, bank, clock, unknown_outcome=UnknownOutcome.REVERSE).run()
    final = repo.get_payment(MERCHANT, stored.payment.id)
    assert final is not None and final.status is PaymentStatus.AUTHORIZED and final.payment.authorization_code == code
    assert bank.reversals == []
    eu = settlement(repo, bank, clock, region=US, unknown_outcome=UnknownOutcome.REVERSE)
    assert (
        eu.look_up(attrs.evolve(stored, payment=attrs.evolve(stored.payment, region=US))).status
        is PaymentStatus.AUTHORIZED
    )


def test_policy_reverse_look_up_says_pending_for_an_authorization_its_owner_will_reverse(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    bank.fail_after_charge = BankOutcomeUnknown("late")
    theirs = pending_payment(repo, bank, clock, region=US)
    eu = settlement(repo, bank, clock, region=EU, unknown_outcome=UnknownOutcome.REVERSE)
    assert eu.look_up(theirs).status is PaymentStatus.PENDING
    due(clock)
    resolver(repo, bank, clock, region=US, unknown_outcome=UnknownOutcome.REVERSE).run()
    assert repo.get_payment(MERCHANT, theirs.payment.id).status is PaymentStatus.REVERSED  # type: ignore[union-attr]


def test_policy_reverse_never_reverses_a_keys_authorization_another_record_outside_its_window_holds(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    """A key and body sent again after the claim's 24 h share the first payment's reference: the
    bank's authorization may be that payment's 201, which no search around this one's creation finds."""
    stored = keyed_refusal(repo, bank, clock)
    code = bank.authorize(stored.bank_reference, bank.calls[0][1]).authorization_code
    first = attrs.evolve(
        stored,
        payment=attrs.evolve(
            stored.payment,
            id=ids.new_payment_id(clock.now - timedelta(hours=25)),
            status=PaymentStatus.AUTHORIZED,
            authorization_code=code,
        ),
        due_at=None,
    )
    repo.receive(first)
    clock.advance(seconds=POLICY.takeover_after_seconds + 1)
    us = settlement(repo, bank, clock, region=US, unknown_outcome=UnknownOutcome.REVERSE)
    assert us.look_up(attrs.evolve(stored, payment=attrs.evolve(stored.payment, region=US))).status is (
        PaymentStatus.AUTHORIZED
    )
    resolver(repo, bank, clock, unknown_outcome=UnknownOutcome.REVERSE).run()
    assert bank.reversals == []
    for payment_id in (first.payment.id, stored.payment.id):
        held = repo.get_payment(MERCHANT, payment_id)
        assert held is not None and held.status is PaymentStatus.AUTHORIZED


# --- one payment never stops a run (issue 15, point 3) -------------------------------------------


def test_the_backoff_is_capped_however_many_times_the_bank_was_unreachable(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    """30 s * 2 ** 1024 overflows a float: after ~11 days of failures the run would stop there."""
    bank.fail_after_charge = BankOutcomeUnknown("late")
    stored = pending_payment(repo, bank, clock)
    repo.transition(attrs.evolve(stored, resolve_failures=5000), PaymentStatus.PENDING, stored.attempt)
    bank.unreachable = True
    due(clock)
    now = clock.now.timestamp()
    repo.record_heartbeat(EU, Heartbeat(now, now - 10_000))
    assert resolver(repo, bank, clock).run().failures == 1
    later = repo.get_payment(MERCHANT, stored.payment.id)
    assert later is not None and later.resolve_failures == 5001
    assert later.due_at == clock.now.timestamp() + POLICY.retry_max_seconds


def test_any_failure_of_one_payment_is_counted_and_the_run_goes_on(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    bank.fail_after_charge = BankOutcomeUnknown("late")
    first, second = pending_payment(repo, bank, clock), pending_payment(repo, bank, clock)
    due(clock)
    real = repo.transition

    def broken(stored: StoredPayment, previous: PaymentStatus, attempt: int, *, event: object = None) -> None:
        if stored.payment.id == first.payment.id:
            raise RuntimeError("ValidationException: an item the adapter cannot write")
        real(stored, previous, attempt, event=event)  # type: ignore[arg-type]

    repo.transition = broken  # type: ignore[method-assign]
    report = resolver(repo, bank, clock).run()
    assert report.failures == 1 and report.settled == {"authorized": 1}
    assert repo.get_payment(MERCHANT, second.payment.id).status is PaymentStatus.AUTHORIZED  # type: ignore[union-attr]
    assert any(r.getMessage() == "resolver_payment_failed" for r in caplog.records)


def test_a_run_reaches_every_due_payment_past_more_unanswerable_ones_than_a_batch(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    """A region just back from a silence (here: its first run) never reschedules, so unanswered
    payments stay due at the head of the index; each batch must start after the last one tried."""
    bank.fail_after_charge = BankOutcomeUnknown("late")
    stuck = [pending_payment(repo, bank, clock) for _ in range(3)]
    clock.advance(seconds=1)
    answerable = [pending_payment(repo, bank, clock) for _ in range(2)]
    unanswerable = {s.bank_reference for s in stuck}

    def unreachable_for_the_stuck(reference: str) -> None:
        if reference in unanswerable:
            raise BankUnreachable("no answer for this one")

    bank.after_inquiry = unreachable_for_the_stuck
    due(clock)
    report = resolver(repo, bank, clock, batch_size=2).run()
    assert report.settled == {"authorized": 2} and report.failures == 3
    assert all(repo.get_payment(MERCHANT, p.payment.id).status is PaymentStatus.AUTHORIZED for p in answerable)  # type: ignore[union-attr]
    assert sorted(bank.inquiries) == sorted(s.bank_reference for s in stuck + answerable)  # each once
