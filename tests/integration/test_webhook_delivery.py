"""The webhook sender over moto's DynamoDB through its scheduled entry point (handlers.entrypoints.webhook_job),
posting to real HTTP receivers on localhost: an event written with its payment's change is delivered
signed, again on the schedule after a failure with the same webhook-id, leaves the index once delivered,
and the run publishes its EMF metrics."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from standardwebhooks import Webhook

from handlers.adapters.attribute_values import from_item, to_item
from handlers.adapters.dynamo import DynamoRepository
from handlers.adapters.webhook_http import HttpPoster, resolve_host
from handlers.contract import schema
from handlers.domain.delivery import DeliveryPolicy, WebhookSender
from handlers.domain.errors import ConditionFailed
from handlers.domain.settlement import ResolutionPolicy
from handlers.domain.webhooks import Endpoint, EndpointStatus, StoredEvent, UrlPolicy, new_secret
from handlers.entrypoints import api, webhook_job, wiring
from handlers.wire.webhooks import endpoint_to_item
from tests.integration.conftest import REGION, TABLE, reset_handler_caches
from tests.support import payment_body, proxy_event
from tests.webhook_receivers import Answer, receiving, refused_url

MERCHANT = "mer_a"
pytestmark = pytest.mark.usefixtures("lambda_env")


@pytest.fixture(autouse=True)
def local_delivery(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_ALLOW_LOOPBACK", "true")
    monkeypatch.setenv("WEBHOOK_RETRY_DELAYS", "0.5,0.5")
    reset_handler_caches()


def add_endpoint(dynamodb: Any, url: str, endpoint_id: str = "we_1", **fields: Any) -> Endpoint:
    endpoint = Endpoint(
        id=endpoint_id,
        merchant_id=MERCHANT,
        url=url,
        events=(),
        status=EndpointStatus.ENABLED,
        secret=new_secret(),
        created_at=datetime.now(UTC),
        **fields,
    )
    dynamodb.put_item(TableName=TABLE, Item=to_item(endpoint_to_item(endpoint)))
    return endpoint


def captured_payment() -> str:
    created = api.create_payment(
        proxy_event("POST", "/v1/payments", body=payment_body(capture_method="automatic")), None
    )
    assert created["statusCode"] == 201, created
    return str(json.loads(created["body"])["id"])


def events(dynamodb: Any) -> list[dict[str, Any]]:
    answer = dynamodb.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :event)",
        ExpressionAttributeValues={":pk": {"S": schema.merchant_pk(MERCHANT)}, ":event": {"S": schema.EVENT_PREFIX}},
    )
    return [from_item(item) for item in answer["Items"]]


def stored(dynamodb: Any) -> StoredEvent:
    (item,) = events(dynamodb)
    event = wiring.repository().get_event(MERCHANT, item["id"])
    assert event is not None
    return event


def test_an_event_is_delivered_signed_and_leaves_the_index(dynamodb: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with receiving(Answer(200)) as receiver:
        endpoint = add_endpoint(dynamodb, receiver.url)
        payment_id = captured_payment()
        assert stored(dynamodb).due_at is not None  # written with the change, due at once
        result = webhook_job.deliver(None, None)
        (got,) = receiver.wait_for(1, timeout=5)
    payload = Webhook(endpoint.secret).verify(got.body, got.headers)
    assert payload["type"] == "payment.captured" and payload["data"]["id"] == payment_id
    assert result["outcomes"] == {"delivered": 1}
    (item,) = events(dynamodb)
    assert schema.WEBHOOK_PARTITION_KEY not in item and schema.WEBHOOK_DUE_ATTRIBUTE not in item  # out of the index
    assert item["subject_id"] == payment_id and item["expires_at"] > time.time() + 29 * 86400
    event = stored(dynamodb)
    assert event.version == 1 and event.deliveries[0].delivered
    (attempt,) = event.attempts
    assert (attempt.endpoint_id, attempt.status, attempt.error) == ("we_1", 200, None)
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    by_name = {(m["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"], m.get("Outcome")): m for m in metrics}
    assert by_name[("WebhookDeliveries", "delivered")]["WebhookDeliveries"] == 1
    assert 0 <= by_name[("OldestUndeliveredAge", None)]["OldestUndeliveredAge"] < 5  # due at once, sent at once
    assert by_name[("EndpointsDisabled", None)]["EndpointsDisabled"] == 0


@pytest.mark.parametrize("failure", ["500", "connection refused"])
def test_a_failing_receiver_gets_it_again_on_the_schedule_with_the_same_id(dynamodb: Any, failure: str) -> None:
    answers = (Answer(500), Answer(200)) if failure == "500" else (Answer(200),)
    with receiving(*answers) as receiver:
        url = receiver.url if failure == "500" else refused_url()
        add_endpoint(dynamodb, url)
        captured_payment()
        first = webhook_job.deliver(None, None)
        assert first["outcomes"] == {"retrying": 1}
        assert webhook_job.deliver(None, None)["outcomes"] == {}  # not due before the schedule says
        time.sleep(0.6)
        if failure != "500":  # the receiver is up now, at the same URL's host
            table_endpoint = wiring.repository().endpoints(MERCHANT)[0]
            wiring.repository().update_endpoint(attrs.evolve(table_endpoint, url=receiver.url), table_endpoint)
        assert webhook_job.deliver(None, None)["outcomes"] == {"delivered": 1}
        received = receiver.wait_for(2 if failure == "500" else 1, timeout=5)
    event = stored(dynamodb)
    assert {r.headers["webhook-id"] for r in received} == {event.id}
    assert [a.status for a in event.attempts] == [500 if failure == "500" else None, 200]
    assert event.due_at is None


def test_a_receiver_that_times_out_gets_it_again(dynamodb: Any) -> None:
    with receiving(Answer(200, hang_seconds=1.5), Answer(200)) as receiver:
        add_endpoint(dynamodb, receiver.url)
        captured_payment()
        sender = WebhookSender(
            store=wiring.repository(),
            poster=HttpPoster(),
            resolve=resolve_host,
            region=REGION,
            policy=DeliveryPolicy(
                retry_delays=(0, 0.2), timeout_seconds=0.5, url_policy=UrlPolicy(allow_loopback=True)
            ),
            resolution=ResolutionPolicy(),
        )
        assert dict(sender.run().outcomes) == {"retrying": 1}
        time.sleep(0.3)
        assert dict(sender.run().outcomes) == {"delivered": 1}
        received = receiver.wait_for(2, timeout=5)
    event = stored(dynamodb)
    assert [(a.status, a.error) for a in event.attempts] == [(None, "timeout"), (200, None)]
    assert received[0].headers["webhook-id"] == received[1].headers["webhook-id"] == event.id


def test_410_disables_the_endpoint_and_retry_after_is_honoured(dynamodb: Any) -> None:
    with receiving(Answer(410)) as gone, receiving(Answer(503, (("Retry-After", "30"),))) as busy:
        add_endpoint(dynamodb, gone.url, "we_1")
        add_endpoint(dynamodb, busy.url, "we_2")
        captured_payment()
        result = webhook_job.deliver(None, None)
    assert result["outcomes"] == {"gone": 1, "retrying": 1} and result["endpoints_disabled"] == 1
    by_id = {endpoint.id: endpoint for endpoint in wiring.repository().endpoints(MERCHANT)}
    assert by_id["we_1"].status is EndpointStatus.DISABLED and "410" in str(by_id["we_1"].disabled_reason)
    assert by_id["we_2"].status is EndpointStatus.ENABLED and by_id["we_2"].failing_since is not None
    event = stored(dynamodb)
    retry = next(d for d in event.deliveries if d.endpoint_id == "we_2")
    # The local schedule's longest delay (0.5 s) bounds Retry-After's 30 s.
    assert retry.next_at == pytest.approx(event.attempts[-1].at.timestamp() + 0.5, abs=0.01)


def test_the_event_write_is_version_conditioned(dynamodb: Any) -> None:
    captured_payment()
    repository: DynamoRepository = wiring.repository()
    event = stored(dynamodb)
    moved = attrs.evolve(event, version=1)
    repository.replace_event(moved, 0)
    with pytest.raises(ConditionFailed):
        repository.replace_event(moved, 0)
    assert repository.due_events(REGION, time.time(), 10).events[0].version == 1


def put_event(dynamodb: Any, event_id: str, due_at: float | None, region: str = REGION) -> None:
    """An event item as the change's transaction writes it, due at `due_at` (None: delivered)."""
    item: dict[str, Any] = {
        schema.PARTITION_KEY: schema.merchant_pk(MERCHANT),
        schema.SORT_KEY: schema.event_sk(event_id),
        "id": event_id,
        "type": "payment.captured",
        "created_at": "2026-12-07T00:00:00.000Z",
        "region": region,
        "subject_id": "pay_1",
        "body": "{}",
    }
    if due_at is not None:
        item |= {
            schema.WEBHOOK_PARTITION_KEY: schema.webhook_partition(region, event_id),
            schema.WEBHOOK_DUE_ATTRIBUTE: due_at,
        }
    dynamodb.put_item(TableName=TABLE, Item=to_item(item))


def test_due_events_are_read_by_due_time_across_shards_and_a_later_retry_hides_nothing(dynamodb: Any) -> None:
    """Sixty events waiting for a retry an hour away, older than the due ones and in every shard, cost
    the due ones nothing: the index's sort key is the due time, so no filter runs after Limit."""
    now = time.time()
    waiting = [f"evt_01AAAAAAAAAAAAAAAAAAAAA{n:03d}" for n in range(60)]
    for event_id in waiting:
        put_event(dynamodb, event_id, now + 3600)
    due = {f"evt_01BBBBBBBBBBBBBBBBBBBBB{n:03d}": now - 60 + n for n in range(12)}
    for event_id, due_at in due.items():
        put_event(dynamodb, event_id, due_at)
    put_event(dynamodb, "evt_01CCCCCCCCCCCCCCCCCCCCC000", None)  # delivered: out of the index
    put_event(dynamodb, "evt_01DDDDDDDDDDDDDDDDDDDDD000", now - 3600, region="us-east-1")  # another sender's
    repository: DynamoRepository = wiring.repository()
    found = repository.due_events(REGION, now, 5).events  # a share of each shard: one each here
    assert 5 <= len(found) <= 8 and found[0].id == min(due, key=due.__getitem__)  # the most overdue first
    assert all(event.id in due for event in found)
    assert [event.due_at for event in found] == sorted(event.due_at for event in found)
    assert {event.id for event in repository.due_events(REGION, now, 50).events} == set(due)
    assert [event.id for event in repository.due_events("us-east-1", now, 50).events] == [
        "evt_01DDDDDDDDDDDDDDDDDDDDD000"
    ]


def test_a_pass_reads_every_shard_forward_to_its_end_and_never_an_event_twice(dynamodb: Any) -> None:
    """Pages of 8 over 8 shards: each page takes a share of each shard after where the last one left
    it, so events that stay due at a shard's head (writes lost every time) cannot hide the rest."""
    now = time.time()
    due = {f"evt_01EEEEEEEEEEEEEEEEEEEE{n:04d}": now - 100 + n for n in range(40)}
    for event_id, due_at in due.items():
        put_event(dynamodb, event_id, due_at)
    repository: DynamoRepository = wiring.repository()
    read: list[str] = []
    page = repository.due_events(REGION, now, 8)
    pages = 1
    while page.cursor is not None and pages < 20:  # a cursor that did not move on would never end
        read.extend(event.id for event in page.events)
        page = repository.due_events(REGION, now, 8, page.cursor)
        pages += 1
    read.extend(event.id for event in page.events)
    assert page.cursor is None and pages > 1
    assert sorted(read) == sorted(due) and len(read) == len(set(read))  # all, once each
