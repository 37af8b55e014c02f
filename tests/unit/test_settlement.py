"""Settlement over in-memory ports: who may write a payment, and what a settle answers after a lost race.

Most of its behaviour is held through the request (test_service.py) and the resolver (test_resolver.py);
these are the rules neither path shows on its own."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from handlers.contract.resolution import UnknownOutcome
from handlers.domain.errors import BankNotProcessed, BankOutcomeUnknown, ConditionFailed
from handlers.domain.models import Heartbeat, PaymentStatus, StoredPayment
from handlers.domain.service import PaymentService
from handlers.domain.settlement import ResolutionPolicy, Settlement, settled
from tests.commands import payment_command
from tests.fakes import FakeClock, MemoryRepository, ScriptedBank
from tests.support import payment_body

MERCHANT = "mer_a"
EU, US = "eu-west-1", "us-east-1"


def settlement(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock, region: str = EU, **policy: object
) -> Settlement:
    return Settlement(payments=repo, bank=bank, region=region, policy=ResolutionPolicy(**policy), clock=clock)  # type: ignore[arg-type]


def pending(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock, *, key: str | None = None, region: str = EU
) -> StoredPayment:
    """A payment its request left pending: the bank charged it and the answer was lost (or, with a
    key and `bank.fail_with` set, the bank refused it and has no record)."""
    if bank.fail_with is None:
        bank.fail_after_charge = BankOutcomeUnknown("the answer was lost")
    service = PaymentService(payments=repo, bank=bank, region=region, fingerprint_key=b"k", clock=clock)
    payment = service.create_payment(payment_command(MERCHANT, payment_body(), key)).payment
    bank.fail_after_charge, bank.fail_with = None, None
    stored = repo.get_payment(MERCHANT, payment.id)
    assert stored is not None and stored.status is PaymentStatus.PENDING
    return stored


def alive(repo: MemoryRepository, clock: FakeClock, region: str) -> None:
    now = clock.now.timestamp()
    repo.record_heartbeat(region, Heartbeat(now, now - 10_000))


def before_the_write(repo: MemoryRepository, other_writer: Callable[[StoredPayment], None]) -> None:
    """The next payment write loses a race: `other_writer` writes first (once), then the write is tried."""
    real = repo.transition

    def raced(stored: StoredPayment, previous: PaymentStatus, attempt: int, *, event: object = None) -> None:
        repo.transition = real  # type: ignore[method-assign]
        other_writer(stored)
        real(stored, previous, attempt, event=event)  # type: ignore[arg-type]

    repo.transition = raced  # type: ignore[method-assign]


def test_a_replay_of_another_regions_payment_is_only_looked_up_even_while_this_regions_resolver_is_alive(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    theirs = pending(repo, bank, clock, region=US)
    alive(repo, clock, EU)
    writes = repo.writes
    assert settlement(repo, bank, clock).on_replay(theirs).status is PaymentStatus.AUTHORIZED
    assert repo.writes == writes and repo.get_payment(MERCHANT, theirs.payment.id) == theirs


def test_a_replay_before_a_keys_reference_may_be_reversed_writes_nothing(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    """A keyed refusal without a bank record: only the owner's resolver run postpones it; a replay
    (a request) leaves it as it is."""
    bank.fail_with = BankNotProcessed("HTTP 503")
    refused = pending(repo, bank, clock, key="order-1")
    alive(repo, clock, EU)
    clock.advance(seconds=ResolutionPolicy().resolve_after_seconds + 1)
    writes = repo.writes
    assert settlement(repo, bank, clock).on_replay(refused).status is PaymentStatus.PENDING
    assert repo.writes == writes and repo.get_payment(MERCHANT, refused.payment.id) == refused
    assert bank.reversals == []


def test_a_payment_no_longer_pending_is_left_as_it_is_without_asking_the_bank(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    final = settled(pending(repo, bank, clock), PaymentStatus.AUTHORIZED, "AUTH1")
    inquiries = len(bank.inquiries)
    assert settlement(repo, bank, clock).settle(final, reschedule=True) == final
    assert len(bank.inquiries) == inquiries


def test_a_requests_write_that_loses_to_the_resolver_answers_what_the_table_holds(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    """Under `reverse` the resolver gave back the authorization while the request's write was on its
    way: the merchant is told `reversed`, never 201 `authorized` for money that went back."""
    resolver = settlement(repo, bank, clock, unknown_outcome=UnknownOutcome.REVERSE)
    before_the_write(repo, lambda final: resolver.settle(repo.get_payment(MERCHANT, final.payment.id)))  # type: ignore[arg-type]
    service = PaymentService(payments=repo, bank=bank, region=EU, fingerprint_key=b"k", clock=clock)
    payment = service.create_payment(payment_command(MERCHANT, payment_body(), None)).payment
    assert payment.status is PaymentStatus.REVERSED and bank.reversals == [payment.id]


def test_a_requests_write_refused_with_nothing_to_read_back_is_left_pending_and_loud(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    not_stored: list[int] = []
    service = PaymentService(
        payments=repo,
        bank=bank,
        region=EU,
        fingerprint_key=b"k",
        clock=clock,
        on_not_stored=lambda: not_stored.append(1),
    )

    def refused_and_gone(*_: object, **__: object) -> None:
        repo.payments.clear()
        raise ConditionFailed("status or attempt changed")

    repo.transition = refused_and_gone  # type: ignore[method-assign]
    payment = service.create_payment(payment_command(MERCHANT, payment_body(), None)).payment
    assert payment.status is PaymentStatus.PENDING and not_stored == [1]
    assert any(r.getMessage() == "payment_not_stored" for r in caplog.records)


def test_a_settle_that_loses_a_race_answers_what_the_table_holds(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    """`settle` returns what the table holds afterwards (what the operator's resolve command prints),
    not the write it tried: here another writer's status, whatever it is."""
    stored = pending(repo, bank, clock)
    theirs = settled(stored, PaymentStatus.DECLINED, None)
    before_the_write(repo, lambda _: repo.transition(theirs, PaymentStatus.PENDING, stored.attempt))
    assert settlement(repo, bank, clock).settle(stored) == theirs


def test_a_reschedule_that_loses_a_race_answers_what_the_table_holds(
    repo: MemoryRepository, bank: ScriptedBank, clock: FakeClock
) -> None:
    stored = pending(repo, bank, clock)
    bank.unreachable = True
    theirs = settled(stored, PaymentStatus.AUTHORIZED, "AUTH1")  # the request's own write, late
    before_the_write(repo, lambda _: repo.transition(theirs, PaymentStatus.PENDING, stored.attempt))
    assert settlement(repo, bank, clock).settle(stored, reschedule=True) == theirs
