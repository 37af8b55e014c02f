"""Two regions, two replicas: what one Idempotency-Key means when a retry lands in the other region.

The local stack shares one table between its regions, so replication lag cannot be seen there.
Here each region has its own table (moto keeps regions apart) and nothing replicates, which is
what a global table in the default mode (MREC: asynchronous, last writer wins) looks like during
its replication lag: a conditional write is checked against the local replica only. The services,
repositories and bank client are the real ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from handlers.adapters.bank import HttpBank
from handlers.adapters.dynamo import DynamoRepository
from handlers.contract import schema
from handlers.domain.errors import StorageUnavailable
from handlers.domain.models import PaymentStatus
from handlers.domain.resolver import PaymentResolver
from handlers.domain.service import IdempotencyPolicy, PaymentService
from handlers.domain.settlement import ResolutionPolicy
from tests.commands import payment_command
from tests.fakes import FakeClock
from tests.integration.conftest import TABLE, create_table
from tests.reliability.audit import AUDIT
from tests.reliability.faultbank import Fault, FaultBank
from tests.reliability.gateway import card_body
from tests.support import VISA_AUTHORIZED


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def clients() -> Iterator[dict[str, Any]]:
    with mock_aws():
        made = {}
        for region in ("eu-west-1", "us-east-1"):
            client = boto3.client(
                "dynamodb", region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing"
            )
            create_table(client, TABLE)
            made[region] = client
        yield made


@pytest.fixture
def regions(
    bank: FaultBank, clock: FakeClock, clients: dict[str, Any], request: pytest.FixtureRequest
) -> Iterator[dict[str, PaymentService]]:
    services = {
        region: PaymentService(
            payments=DynamoRepository(client, TABLE),
            bank=HttpBank(bank.url, connect_timeout=0.25, read_timeout=0.6),
            region=region,
            fingerprint_key=b"one-key-in-every-region",
            clock=clock,
        )
        for region, client in clients.items()
    }
    yield services
    for client in clients.values():
        problems = AUDIT.check_items(client.scan(TableName=TABLE)["Items"], request.node.nodeid)
        assert not problems, problems


def replicate(source: Any, target: Any) -> None:
    """What the global table does once the lag is over: every item of one replica lands in the other
    (the later write wins; here the source's items are the later ones)."""
    for item in source.scan(TableName=TABLE)["Items"]:
        target.put_item(TableName=TABLE, Item=item)


def payments_of(client: Any) -> list[dict[str, Any]]:
    items = client.scan(TableName=TABLE)["Items"]
    return [i for i in items if i["sk"]["S"].startswith(schema.PAYMENT_PREFIX)]


def test_a_retry_in_the_same_region_asks_the_bank_and_charges_once(
    regions: dict[str, PaymentService], bank: FaultBank, clock: FakeClock
) -> None:
    eu = regions["eu-west-1"]
    bank.then(Fault.TIMEOUT, 1.6)  # charged, answer lost
    first = eu.create_payment(payment_command("mer_a", card_body(VISA_AUTHORIZED), "order-9")).payment
    assert first.status is PaymentStatus.PENDING
    clock.advance(seconds=IdempotencyPolicy().lease_seconds + 1)
    retry = eu.create_payment(payment_command("mer_a", card_body(VISA_AUTHORIZED), "order-9"))
    assert retry.replayed and (retry.payment.id, retry.payment.status) == (first.id, PaymentStatus.AUTHORIZED)
    assert sum(bank.charges.values()) == 1 and len(bank.calls) == 1


def test_a_retry_that_fails_over_to_the_other_region_charges_once(
    regions: dict[str, PaymentService], bank: FaultBank, clock: FakeClock, clients: dict[str, Any]
) -> None:
    bank.then(Fault.TIMEOUT, 1.6)  # eu's attempt reaches the bank, eu's answer is lost (or eu goes down)
    order = payment_command("mer_a", card_body(VISA_AUTHORIZED), "order-9")
    first = regions["eu-west-1"].create_payment(order).payment
    during_lag = regions["us-east-1"].create_payment(order).payment
    assert sum(bank.charges.values()) == 1, bank.charged_references()  # one reference in both regions
    assert during_lag.status is PaymentStatus.AUTHORIZED and during_lag.id != first.id
    replicate(clients["eu-west-1"], clients["us-east-1"])
    clock.advance(seconds=IdempotencyPolicy().lease_seconds + 1)
    after_lag = regions["us-east-1"].create_payment(order)
    # us sees eu's pending payment: it asks the bank and answers, but leaves the writing to eu
    assert after_lag.replayed and after_lag.payment.id == first.id
    assert after_lag.payment.authorization_code == during_lag.authorization_code
    assert sum(bank.charges.values()) == 1 and len(bank.calls) == 2  # eu's attempt, us's during the lag


def test_two_regions_taking_over_one_key_during_the_lag_end_with_one_charge_and_one_status(
    regions: dict[str, PaymentService], bank: FaultBank, clock: FakeClock, clients: dict[str, Any]
) -> None:
    """The race of the earlier code: two retries in two regions both take over attempt 2; one
    authorizes (201), the other's answer is lost. Earlier that one wrote `failed` a moment later and
    last-writer-wins kept it. Now a lost answer writes nothing but `pending`, and the resolver of the
    region that owns the surviving record writes the bank's single record."""
    eu, us = regions["eu-west-1"], regions["us-east-1"]
    repository = eu._payments  # the first holder claims the key and dies before its write-ahead
    real_save = repository.save_pending
    repository.save_pending = _raise(StorageUnavailable("the holder died"))  # type: ignore[method-assign]
    order = payment_command("mer_a", card_body(VISA_AUTHORIZED), "order-9")
    with pytest.raises(StorageUnavailable):
        eu.create_payment(order)
    repository.save_pending = real_save  # type: ignore[method-assign]
    replicate(clients["eu-west-1"], clients["us-east-1"])  # both replicas hold the claim, no payment
    clock.advance(seconds=IdempotencyPolicy().lease_seconds + 1)
    won = eu.create_payment(order).payment  # attempt 2 in eu
    bank.then(Fault.TIMEOUT, 1.6)
    lost = us.create_payment(order).payment  # attempt 2 in us too
    assert (won.status, lost.status, won.id) == (PaymentStatus.AUTHORIZED, PaymentStatus.PENDING, lost.id)
    replicate(clients["us-east-1"], clients["eu-west-1"])  # us wrote last: its pending record wins
    clock.advance(seconds=ResolutionPolicy().resolve_after_seconds + 1)
    for region, client in clients.items():
        PaymentResolver(
            payments=DynamoRepository(client, TABLE),
            bank=us._bank,
            region=region,
            policy=ResolutionPolicy(),
            clock=clock,
        ).run()
    replicate(clients["us-east-1"], clients["eu-west-1"])
    finals = [(p["status"]["S"], p["authorization_code"]["S"]) for c in clients.values() for p in payments_of(c)]
    assert finals == [("authorized", won.authorization_code)] * 2
    assert sum(bank.charges.values()) == 1


def _raise(error: Exception) -> Any:
    def fail(*_: object) -> None:
        raise error

    return fail


def test_one_key_sent_with_two_bodies_in_two_regions_charges_each_its_own(
    regions: dict[str, PaymentService], bank: FaultBank
) -> None:
    """During the lag the other region cannot see the first body (no 422 there): the bank must then
    see two references, or a deduplicating acquirer answers the second with the first's decision and
    a 201 goes out for money that never moved."""
    first = regions["eu-west-1"].create_payment(payment_command("mer_a", card_body(VISA_AUTHORIZED), "order-9")).payment
    other_body = payment_command("mer_a", card_body(VISA_AUTHORIZED, amount=2000), "order-9")
    second = regions["us-east-1"].create_payment(other_body).payment
    assert sorted(bank.charges.values()) == [1, 1]
    assert {c["amount"] for c in bank.calls} == {first.amount, second.amount} == {1050, 2000}


def test_a_key_reused_after_its_retention_for_another_payment_is_charged_anew(
    regions: dict[str, PaymentService], bank: FaultBank, clock: FakeClock
) -> None:
    eu = regions["eu-west-1"]
    first = eu.create_payment(payment_command("mer_a", card_body(VISA_AUTHORIZED), "order-7")).payment
    clock.advance(hours=25)
    later = eu.create_payment(payment_command("mer_a", card_body(VISA_AUTHORIZED, amount=2500), "order-7")).payment
    assert later.id != first.id and later.amount == 2500
    assert sorted(bank.charges.values()) == [1, 1]
    assert later.authorization_code == bank.ledger[bank.calls[-1]["reference"]].authorization_code
