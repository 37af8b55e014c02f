"""One suite, two stores: the webhook API's endpoints and event log on DynamoDB (moto) and in memory
(tests.fakes.MemoryRepository), so the fake the unit tests use behaves as the table does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
from moto import mock_aws

from handlers.adapters.dynamo import DynamoRepository
from handlers.adapters.dynamo_events import conditional_put
from handlers.domain.errors import ConditionFailed
from handlers.domain.models import CaptureMethod, CardSummary, Payment, PaymentStatus
from handlers.domain.webhook_pages import EndpointQuery, EventQuery
from handlers.domain.webhooks import (
    Delivery,
    Endpoint,
    EndpointStatus,
    EventType,
    NewEvent,
    new_endpoint_id,
    new_event,
)
from handlers.wire import converter
from tests.fakes import MemoryRepository
from tests.integration.conftest import REGION, TABLE, create_table

NOW = datetime.now(UTC).replace(microsecond=0)  # the table keeps milliseconds


@pytest.fixture(params=["dynamodb", "memory"])
def store(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryRepository()
        return
    with mock_aws():
        import boto3  # noqa: PLC0415 - under moto's mock

        client = boto3.client("dynamodb", region_name=REGION)
        create_table(client, TABLE)
        yield DynamoRepository(client, TABLE)


def endpoint(merchant: str = "mer_a", at: datetime = NOW, **changes: Any) -> Endpoint:
    made = Endpoint(
        id=new_endpoint_id(at),
        merchant_id=merchant,
        url="https://hooks.example.com/in",
        events=(EventType.PAYMENT_CAPTURED,),
        status=EndpointStatus.ENABLED,
        secret="whsec_" + "A" * 32,
        created_at=at,
    )
    return attrs.evolve(made, **changes)


def payment(merchant: str, at: datetime) -> Payment:
    card = CardSummary(brand="visa", last4="4242", expiry_month=4, expiry_year=2030)
    return Payment(
        id=f"pay_{new_endpoint_id(at).removeprefix('we_')}",
        merchant_id=merchant,
        status=PaymentStatus.CAPTURED,
        amount=1000,
        currency="GBP",
        reference=None,
        card=card,
        authorization_code="A1",
        created_at=at,
        region=REGION,
        capture_method=CaptureMethod.AUTOMATIC,
        amount_captured=1000,
    )


def write_event(store: Any, event: NewEvent) -> None:
    """As a state change writes it (with its change, here alone)."""
    if isinstance(store, MemoryRepository):
        store.events[(event.merchant_id, event.id)] = event
        return
    put = {"TableName": TABLE, "Item": {"pk": {"S": "X"}, "sk": {"S": event.id}}}
    conditional_put(store.client, put, event=event)


def test_endpoints_round_trip_and_isolation(store: Any) -> None:
    first = endpoint()
    second = endpoint(at=NOW + timedelta(seconds=1), events=())
    store.save_endpoint(first)
    store.save_endpoint(second)
    store.save_endpoint(endpoint("mer_b"))
    with pytest.raises(ConditionFailed):
        store.save_endpoint(first)
    assert store.get_endpoint("mer_a", first.id) == first
    assert store.get_endpoint("mer_b", first.id) is None
    assert store.endpoints("mer_a") == [first, second]
    page = store.list_endpoints("mer_a", EndpointQuery(limit=1))
    assert (page.endpoints, page.next_after_id) == ((first,), first.id)
    rest = store.list_endpoints("mer_a", EndpointQuery(limit=1, after_id=first.id))
    assert (rest.endpoints, rest.next_after_id) == ((second,), None)
    rotated = attrs.evolve(first, secret="whsec_" + "B" * 32, previous_secret=first.secret, previous_secret_until=NOW)
    store.replace_endpoint(rotated, first)
    assert store.get_endpoint("mer_a", first.id) == rotated
    with pytest.raises(ConditionFailed):  # a write over a stale read (the secret changed since)
        store.replace_endpoint(attrs.evolve(first, status=EndpointStatus.DISABLED), first)
    back = attrs.evolve(rotated, previous_secret=None, previous_secret_until=None)
    store.replace_endpoint(back, rotated)  # unset fields are removed
    assert store.get_endpoint("mer_a", first.id) == back
    store.delete_endpoint("mer_a", first.id)
    assert store.get_endpoint("mer_a", first.id) is None
    with pytest.raises(ConditionFailed):
        store.delete_endpoint("mer_a", first.id)
    with pytest.raises(ConditionFailed):
        store.replace_endpoint(attrs.evolve(back, url="https://hooks.example.com/gone"), back)


def test_the_event_log(store: Any) -> None:
    made = [
        new_event(kind, payment("mer_a", NOW - timedelta(minutes=10 - n)), REGION, NOW - timedelta(minutes=10 - n))
        for n, kind in enumerate([EventType.PAYMENT_CAPTURED, EventType.PAYMENT_DECLINED, EventType.PAYMENT_CAPTURED])
    ]
    old = new_event(EventType.PAYMENT_CAPTURED, payment("mer_a", NOW), REGION, NOW - timedelta(days=31))
    for event in [*made, old, new_event(EventType.PAYMENT_CAPTURED, payment("mer_b", NOW), REGION, NOW)]:
        write_event(store, event)
    since = NOW - timedelta(days=30)
    page = store.list_events("mer_a", EventQuery(), since)
    assert [e.id for e in page.events] == [e.id for e in reversed(made)] and page.next_after_id is None
    stored = page.events[0]
    assert (stored.type, stored.region, stored.version, stored.deliveries) == (made[2].type, REGION, 0, ())
    assert stored.body == converter.event_body(made[2])
    captured = store.list_events("mer_a", EventQuery(limit=1, type=EventType.PAYMENT_CAPTURED), since)
    assert ([e.id for e in captured.events], captured.next_after_id) == ([made[2].id], made[2].id)
    after = store.list_events("mer_a", EventQuery(limit=1, after_id=made[2].id, type=EventType.PAYMENT_CAPTURED), since)
    assert [e.id for e in after.events] == [made[0].id]
    assert store.get_event("mer_b", made[0].id) is None
    assert store.get_event("mer_a", old.id) is not None  # read by id; the API hides it after 30 days

    due = NOW.timestamp()
    requeued = attrs.evolve(stored, deliveries=(Delivery("we_x", next_at=due),), due_at=due, version=1)
    store.requeue_event(requeued, 0)
    again = store.get_event("mer_a", stored.id)
    assert (again.deliveries, again.due_at, again.version, again.body) == (requeued.deliveries, due, 1, stored.body)
    with pytest.raises(ConditionFailed):
        store.requeue_event(attrs.evolve(requeued, version=2), 0)  # a stale version loses
