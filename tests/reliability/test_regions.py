"""Two regions, two replicas: what one Idempotency-Key means when a retry lands in the other region.

The local stack shares one table between its regions, so replication lag cannot be seen there.
Here each region has its own table (moto keeps regions apart) and nothing replicates, which is
what a global table in the default mode (MREC: asynchronous, last writer wins) looks like during
its replication lag: a conditional write is checked against the local replica only. The services,
repositories and bank client are the real ones.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from handlers.bank import HttpBank
from handlers.dynamo import DynamoRepository
from handlers.errors import BankUnavailable
from handlers.service import PaymentService
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
def regions(bank: FaultBank, clock: FakeClock, request: pytest.FixtureRequest) -> Iterator[dict[str, PaymentService]]:
    with mock_aws():
        services = {}
        clients = []
        for region in ("eu-west-1", "us-east-1"):
            client = boto3.client(
                "dynamodb", region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing"
            )
            create_table(client, TABLE)
            clients.append(client)
            services[region] = PaymentService(
                payments=DynamoRepository(client, TABLE),
                bank=HttpBank(bank.url, connect_timeout=0.25, read_timeout=0.6),
                region=region,
                fingerprint_key=b"one-key-in-every-region",
                clock=clock,
            )
        yield services
        for client in clients:
            problems = AUDIT.check_items(client.scan(TableName=TABLE)["Items"], request.node.nodeid)
            assert not problems, problems


def test_a_retry_in_the_same_region_charges_once(regions: dict[str, PaymentService], bank: FaultBank) -> None:
    eu = regions["eu-west-1"]
    bank.then(Fault.TIMEOUT, 1.6)  # charged, answer lost
    with pytest.raises(BankUnavailable):
        eu.create_payment("mer_a", card_body(VISA_AUTHORIZED), "order-9")
    eu.create_payment("mer_a", card_body(VISA_AUTHORIZED), "order-9")
    assert sum(bank.charges.values()) == 1


def test_a_retry_that_fails_over_to_the_other_region_charges_once(
    regions: dict[str, PaymentService], bank: FaultBank
) -> None:
    bank.then(Fault.TIMEOUT, 1.6)  # eu's attempt reaches the bank, eu's answer is lost (or eu goes down)
    with pytest.raises(BankUnavailable):
        regions["eu-west-1"].create_payment("mer_a", card_body(VISA_AUTHORIZED), "order-9")
    regions["us-east-1"].create_payment("mer_a", card_body(VISA_AUTHORIZED), "order-9")  # the retry, in us
    assert sum(bank.charges.values()) == 1, bank.charged_references()


def test_one_key_sent_with_two_bodies_in_two_regions_charges_each_its_own(
    regions: dict[str, PaymentService], bank: FaultBank
) -> None:
    """During the lag the other region cannot see the first body (no 422 there): the bank must then
    see two references, or a deduplicating acquirer answers the second with the first's decision and
    a 201 goes out for money that never moved."""
    first = regions["eu-west-1"].create_payment("mer_a", card_body(VISA_AUTHORIZED), "order-9").payment
    second = regions["us-east-1"].create_payment("mer_a", card_body(VISA_AUTHORIZED, amount=2000), "order-9").payment
    assert sorted(bank.charges.values()) == [1, 1]
    assert {c["amount"] for c in bank.calls} == {first.amount, second.amount} == {1050, 2000}


def test_a_key_reused_after_its_retention_for_another_payment_is_charged_anew(
    regions: dict[str, PaymentService], bank: FaultBank, clock: FakeClock
) -> None:
    eu = regions["eu-west-1"]
    first = eu.create_payment("mer_a", card_body(VISA_AUTHORIZED), "order-7").payment
    clock.advance(hours=25)
    later = eu.create_payment("mer_a", card_body(VISA_AUTHORIZED, amount=2500), "order-7").payment
    assert later.id != first.id and later.amount == 2500
    assert sorted(bank.charges.values()) == [1, 1]
    assert later.authorization_code == bank.ledger[bank.calls[-1]["reference"]].authorization_code
