"""A hypothesis state machine over interleavings of payments, crashes, retries in both regions,
replication and resolver runs, on the real service and resolver with in-memory ports.

Two regions each hold a replica (a MemoryRepository); every write is queued for the other replica
and applied later with last-writer-wins, as an MREC global table does. One bank ledger (the
acquirer is one system). Replication lag stays below the idempotency lease: the clock only moves
past it once the queue is drained (the replication alarm's threshold is far below the lease).

Invariants:
- the bank's ledger and the gateway's records agree: every final record says what the ledger
  says of its reference, and once everything is replicated and resolved nothing is pending and
  every charge at the bank has a record;
- no record's status ever moves backwards (only pending -> final and authorized -> reversed);
- once a key's claim has replicated, every replay in either region returns the same payment id;
- nothing is charged twice.
"""

from __future__ import annotations

import itertools
import os
from collections import deque
from typing import Any

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from handlers.domain.errors import BankNotProcessed, BankOutcomeUnknown, BankUnavailable, PaymentError
from handlers.domain.models import PaymentStatus, StoredPayment, can_move
from handlers.domain.resolver import PaymentResolver
from handlers.domain.service import IdempotencyPolicy, PaymentService
from handlers.domain.settlement import ResolutionPolicy, gateway_status
from tests.commands import payment_command
from tests.fakes import FakeClock, MemoryRepository, ScriptedBank
from tests.support import VISA_AUTHORIZED, VISA_BANK_DOWN, VISA_DECLINED, payment_body

REGIONS = ("eu-west-1", "us-east-1")
MERCHANT = "mer_a"
KEYS = ("k1", "k2", "k3")
CARDS = {"k1": VISA_AUTHORIZED, "k2": VISA_DECLINED, "k3": VISA_AUTHORIZED, None: VISA_AUTHORIZED}
LEASE = IdempotencyPolicy().lease_seconds
POLICY = ResolutionPolicy(resolve_after_seconds=LEASE, takeover_after_seconds=LEASE * 3)


class Crash(BaseException):
    """The process dies here: nothing after this line runs (a BaseException: no handler catches it)."""


class Replica(MemoryRepository):
    """A MemoryRepository whose writes are stamped and queued for the other replica."""

    def __init__(self, name: str, outbox: deque[tuple[str, str, Any, Any, int]], stamps: itertools.count[int]) -> None:
        super().__init__()
        self.name = name
        self._outbox = outbox
        self._stamps = stamps
        self.versions: dict[tuple[str, Any], int] = {}
        self.crash_on_transition = False
        self.crash_on_write_ahead = False

    def _sent(self, kind: str, key: Any, value: Any) -> None:
        stamp = next(self._stamps)
        self.versions[(kind, key)] = stamp
        self._outbox.append((self.name, kind, key, value, stamp))

    def save_pending(self, stored: StoredPayment) -> None:
        if self.crash_on_write_ahead:  # claimed, then died: the key is taken over after its lease
            raise Crash
        super().save_pending(stored)
        self._sent("payment", (stored.payment.merchant_id, stored.payment.id), stored)

    def transition(
        self, stored: StoredPayment, previous: PaymentStatus, previous_attempt: int, *, event: Any = None
    ) -> None:
        if self.crash_on_transition:
            raise Crash
        super().transition(stored, previous, previous_attempt, event=event)
        self._sent("payment", (stored.payment.merchant_id, stored.payment.id), stored)
        if event is not None:
            self._sent("event", (event.merchant_id, event.id), event)

    def claim(self, claim: Any, now: float) -> Any:
        held = super().claim(claim, now)
        if held is None:
            self._sent("claim", (claim.merchant_id, claim.key), claim)
        return held

    def take_over(self, claim: Any) -> None:
        super().take_over(claim)
        self._sent("claim", (claim.merchant_id, claim.key), claim)

    def record_heartbeat(self, region: str, beat: Any) -> None:
        super().record_heartbeat(region, beat)
        self._sent("beat", region, beat)

    def apply(self, kind: str, key: Any, value: Any, stamp: int) -> None:
        """Last writer wins, as DynamoDB global tables settle concurrent writes to one item."""
        if self.versions.get((kind, key), -1) > stamp:
            return
        self.versions[(kind, key)] = stamp
        if kind == "payment":
            if key not in self.payments:
                self._ids_by_merchant.setdefault(key[0], []).append(key[1])
                self._ids_by_merchant[key[0]].sort()
            self.payments[key] = value
        elif kind == "claim":
            self.claims[key] = value
        elif kind == "event":
            self.events[key] = value
        else:
            self.beats[key] = value


class Outcomes(RuleBasedStateMachine):
    replica_type: type[Replica] = Replica  # the lifecycle's machine (test_lifecycle_machine.py) queues operations too

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.bank = ScriptedBank()
        self.outbox: deque[tuple[str, str, Any, Any, int]] = deque()
        stamps = itertools.count()
        self.replicas = {region: self.replica_type(region, self.outbox, stamps) for region in REGIONS}
        self.services = {
            region: PaymentService(
                payments=self.replicas[region],
                bank=self.bank,
                region=region,
                fingerprint_key=b"machine-key",
                resolution=POLICY,
                clock=self.clock,
            )
            for region in REGIONS
        }
        self.resolvers = {
            region: PaymentResolver(
                payments=self.replicas[region],
                bank=self.bank,
                region=region,
                policy=POLICY,
                clock=self.clock,
                peers=REGIONS,
            )
            for region in REGIONS
        }
        self.history: dict[tuple[str, str], list[PaymentStatus]] = {}
        self.converged: dict[str, str] = {}  # key -> the payment id every replay must return
        self.inside_answers: list[tuple[str, Any]] = []  # answers of requests run inside another

    # --- what clients, crashes and the platform do ----------------------------------------------

    @rule(
        region=st.sampled_from(REGIONS),
        key=st.sampled_from((*KEYS, None)),
        fault=st.sampled_from(
            [
                "none",
                "crash_before_write_ahead",
                "crash_before_bank",
                "crash_after_charge",
                "crash_before_write",
                "unknown",
                "refused",
                "refused_while_the_other_region_pays",
            ]
        ),
    )
    def pay(self, region: str, key: str | None, fault: str) -> None:
        replica, card = self.replicas[region], CARDS[key]
        if fault.startswith("refused"):  # never sent: a refused connection, or the bank's 503 (card ending 0)
            card = VISA_BANK_DOWN if key is None else card
            self.bank.fail_with = BankNotProcessed("refused") if key is not None else None
        if fault == "refused_while_the_other_region_pays" and key is not None:
            # Two requests inside one another: the other region's retry of the key reaches the bank
            # between this refused request's inquiry and whatever this request does next.
            self.bank.after_inquiry = lambda _: self._pay_inside(_other(region), key)
        self.bank.before_answer = _raise(Crash()) if fault == "crash_before_bank" else None
        self.bank.fail_after_charge = {"crash_after_charge": Crash(), "unknown": BankOutcomeUnknown("lost")}.get(fault)
        replica.crash_on_transition = fault == "crash_before_write"
        replica.crash_on_write_ahead = fault == "crash_before_write_ahead"
        try:
            created = self.services[region].create_payment(payment_command(MERCHANT, payment_body(card), key))
        except Crash:
            return
        except BankUnavailable as failed:
            self._check_replay(key, failed.payment_id)
            return
        except PaymentError:
            return  # 409 while another holder's lease runs, 503 when the lease was eaten
        finally:
            self.bank.before_answer = None
            self.bank.fail_after_charge = None
            self.bank.fail_with = None
            self.bank.after_inquiry = None
            replica.crash_on_transition = False
        self._check_replay(key, created.payment.id)

    def _pay_inside(self, region: str, key: str) -> None:
        self.bank.after_inquiry, self.bank.fail_with = None, None
        try:
            created = self.services[region].create_payment(payment_command(MERCHANT, payment_body(CARDS[key]), key))
        except PaymentError:
            return
        self.inside_answers.append((region, created.payment))

    @precondition(lambda self: bool(self.outbox))
    @rule(count=st.integers(1, 5))
    def replicate(self, count: int) -> None:
        for _ in range(min(count, len(self.outbox))):
            source, kind, key, value, stamp = self.outbox.popleft()
            for region, replica in self.replicas.items():
                if region != source:
                    replica.apply(kind, key, value, stamp)
        if not self.outbox:
            self._note_converged_claims()

    @rule(region=st.sampled_from(REGIONS), unreachable=st.booleans())
    def resolve(self, region: str, unreachable: bool) -> None:
        self.bank.unreachable = unreachable
        try:
            self.resolvers[region].run()
        finally:
            self.bank.unreachable = False

    @rule(seconds=st.sampled_from([1.0, LEASE / 2, LEASE + 1, POLICY.takeover_after_seconds + 1]))
    def wait(self, seconds: float) -> None:
        if seconds >= LEASE:  # lag stays below the lease: drain replication before time passes it
            self.replicate(len(self.outbox))
        self.clock.advance(seconds=seconds)

    # --- invariants -------------------------------------------------------------------------------

    @invariant()
    def statuses_never_move_backwards(self) -> None:
        for region, replica in self.replicas.items():
            for (_, payment_id), stored in replica.payments.items():
                seen = self.history.setdefault((region, payment_id), [])
                if seen and seen[-1] is not stored.status:
                    assert can_move(seen[-1], stored.status), (region, payment_id, seen, stored.status)
                if not seen or seen[-1] is not stored.status:
                    seen.append(stored.status)

    @invariant()
    def final_records_say_what_the_bank_says(self) -> None:
        """A `failed` attempt was never seen by the bank; a sibling attempt with the same reference (a
        retry in the other region during replication lag) may still charge it, and has its own record."""
        for replica in self.replicas.values():
            for stored in replica.payments.values():
                if stored.status is PaymentStatus.PENDING:
                    continue
                record = self.bank.ledger.get(stored.bank_reference)
                if stored.status is PaymentStatus.FAILED:  # never charged under its reference, anywhere
                    assert record is None or not record.authorization_code, (stored, record)
                    continue
                assert record is not None and _agrees(stored, record), (stored, record)

    @invariant()
    def an_answer_given_inside_another_request_stays_true(self) -> None:
        """A final answer (201, 200 declined) given while another request of the key was between its
        inquiry and its next step still says what the bank's record says."""
        for _, payment in self.inside_answers:
            if payment.status is not PaymentStatus.PENDING:
                record = self.bank.ledger.get(
                    next(
                        s.bank_reference
                        for r in self.replicas.values()
                        for s in r.payments.values()
                        if s.payment.id == payment.id
                    )
                )
                assert record is not None and gateway_status(record) == (payment.status, payment.authorization_code)

    @invariant()
    def nothing_is_charged_twice(self) -> None:
        assert all(count == 1 for count in self.bank.charges.values()), self.bank.charges

    def teardown(self) -> None:
        """Quiescence: everything replicated and resolved, then nothing pending and nothing missing."""
        for _ in range(10):
            self.replicate(len(self.outbox))
            self.clock.advance(seconds=POLICY.takeover_after_seconds + 1)
            for resolver in self.resolvers.values():
                resolver.run()
        self.replicate(len(self.outbox))
        for replica in self.replicas.values():
            pending = [s for s in replica.payments.values() if s.status is PaymentStatus.PENDING]
            assert pending == [], pending
            agreeing = {
                s.bank_reference
                for s in replica.payments.values()
                if _agrees(s, self.bank.ledger.get(s.bank_reference))
            }
            charged = {ref for ref, record in self.bank.ledger.items() if record.authorization_code}
            assert charged <= agreeing, charged - agreeing
        self.final_records_say_what_the_bank_says()
        assert self.replicas[REGIONS[0]].payments == self.replicas[REGIONS[1]].payments

    # --- helpers ----------------------------------------------------------------------------------

    def _note_converged_claims(self) -> None:
        for (_, key_digest), claim in self.replicas[REGIONS[0]].claims.items():
            self.converged.setdefault(key_digest, claim.payment_id)

    def _check_replay(self, key: str | None, payment_id: str | None) -> None:
        if key is None or payment_id is None:
            return
        digest = next(
            (d for (_, d), claim in self.replicas[REGIONS[0]].claims.items() if claim.payment_id == payment_id), None
        )
        if digest is not None and digest in self.converged:
            assert self.converged[digest] == payment_id


def _other(region: str) -> str:
    return next(other for other in REGIONS if other != region)


def _agrees(stored: StoredPayment, record: Any) -> bool:
    if record is None:
        return stored.status is PaymentStatus.FAILED
    status, code = gateway_status(record)
    return (stored.status, stored.payment.authorization_code) == (status, code)


def _raise(error: BaseException) -> Any:
    def fail() -> None:
        raise error

    return fail


TestOutcomes = Outcomes.TestCase
# The suite's run is derandomized: a random one can reach the known double take-over below (strict xfail)
# and turn CI red by chance. MACHINE_RANDOM=1 (and a larger MACHINE_EXAMPLES) explores at random.
TestOutcomes.settings = settings(
    max_examples=int(os.environ.get("MACHINE_EXAMPLES", "60")),
    stateful_step_count=30,
    deadline=None,
    derandomize=os.environ.get("MACHINE_RANDOM") != "1",
)


def test_the_machine_agrees_with_itself_on_a_settled_replay() -> None:
    """A sanity run without hypothesis: a lost answer, replicated, resolved, replayed everywhere."""
    machine = Outcomes()
    machine.pay("eu-west-1", "k1", "unknown")
    machine.replicate(10)
    machine.wait(LEASE + 1)
    machine.resolve("eu-west-1", False)
    machine.replicate(10)
    stored = next(iter(machine.replicas["us-east-1"].payments.values()))
    assert stored.status is PaymentStatus.AUTHORIZED
    replay = machine.services["us-east-1"].create_payment(
        payment_command(MERCHANT, payment_body(VISA_AUTHORIZED), "k1")
    )
    assert replay.replayed and replay.payment.id == stored.payment.id
    machine.teardown()
    assert attrs.has(type(stored))


@pytest.mark.xfail(
    strict=True,
    reason="pre-existing (reproduces on main): both regions take over one dead claim at once and write "
    "the same payment id; last-writer-wins moves eu's `authorized` back to us's `pending` for a while",
)
def test_two_regions_taking_over_one_dead_claim_at_once_never_move_a_status_back() -> None:
    """Found by this machine during issue 15's review; left for its own fix (one writer per payment
    id: a take-over in a region that does not own the claim's first attempt)."""
    machine = Outcomes()
    steps = [
        lambda: machine.pay("eu-west-1", "k1", "crash_before_write_ahead"),
        lambda: machine.replicate(1),  # the dead holder's claim reaches us
        lambda: machine.wait(5.0),
        lambda: machine.wait(5.0),  # its lease is over; the writes below do not replicate in between
        lambda: machine.pay("eu-west-1", "k1", "none"),
        lambda: machine.pay("us-east-1", "k1", "none"),
        lambda: machine.replicate(1),
        lambda: machine.replicate(5),  # eu's event is in the queue too (written with its status)
    ]
    for step in steps:
        step()
        machine.statuses_never_move_backwards()
