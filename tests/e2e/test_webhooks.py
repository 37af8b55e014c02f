"""Webhooks on the local stack (`python -m local_gateway`, as `make run`): each region's process runs the
sender, which delivers for real to a loopback receiver, signed (verified with `standardwebhooks`); and a
region's process killed (SIGKILL) with events undelivered loses none: the restarted process delivers
every one, with the same webhook-id.

Endpoints are written into the table directly (the merchant API for them is not this test's subject)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from standardwebhooks import Webhook

from handlers.adapters.attribute_values import to_item
from handlers.contract import schema
from handlers.domain.webhooks import Endpoint, EndpointStatus, new_secret
from handlers.wire.webhooks import endpoint_to_item
from local_gateway import launch
from tests.e2e.conftest import Api, _free_port_block
from tests.webhook_receivers import Answer, Receiver, receiving

KEY = "sk_test_e2e-webhooks-0123456789abcdefghijklmnopqrstuvwxyz"
MERCHANT = "m_hooks"
RETRIES = "1,2,2,2,5,5,10,10"  # 37 s of retries: a killed region's restart fits well within


class Stack:
    def __init__(self, launched: launch.Launched, port: int) -> None:
        self.launched = launched
        self.eu = Api(f"http://127.0.0.1:{port + 1}", KEY)
        self.table = boto3.client(
            "dynamodb",
            endpoint_url=launched.urls["DynamoDB (moto)"].split()[0],
            region_name="eu-west-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def add_endpoint(self, url: str, endpoint_id: str) -> Endpoint:
        endpoint = Endpoint(
            id=endpoint_id,
            merchant_id=MERCHANT,
            url=url,
            events=(),
            status=EndpointStatus.ENABLED,
            secret=new_secret(),
            created_at=datetime.now(UTC),
        )
        self.table.put_item(TableName=schema.DEFAULT_TABLE_NAME, Item=to_item(endpoint_to_item(endpoint)))
        return endpoint

    def remove_endpoint(self, endpoint: Endpoint) -> None:
        key = {"pk": {"S": schema.merchant_pk(MERCHANT)}, "sk": {"S": schema.endpoint_sk(endpoint.id)}}
        self.table.delete_item(TableName=schema.DEFAULT_TABLE_NAME, Key=key)

    def undelivered(self) -> list[str]:
        answer = self.table.query(
            TableName=schema.DEFAULT_TABLE_NAME,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :event)",
            ExpressionAttributeValues={
                ":pk": {"S": schema.merchant_pk(MERCHANT)},
                ":event": {"S": schema.EVENT_PREFIX},
            },
            ConsistentRead=True,
        )
        return [item["id"]["S"] for item in answer["Items"] if schema.WEBHOOK_PARTITION_KEY in item]

    def region_pid(self, region: str) -> int:
        for pid in launch.descendants(self.launched.process.pid):
            with contextlib.suppress(OSError):
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if b"local_gateway.child" in argv and region.encode() in argv:
                    return pid
        raise AssertionError(f"no process serves {region}")

    def captured_payment(self) -> str:
        reply = self.eu.create_payment(capture_method="automatic")
        assert reply.status == 201, reply
        return str(reply.body["id"])


@pytest.fixture(scope="module", params=["lambda", "container"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not Path("/proc").is_dir():
        pytest.skip("finding a region's process reads Linux's /proc")
    port = _free_port_block(4)
    log = tmp_path_factory.mktemp(f"webhooks-{request.param}") / "stack.log"
    command = launch.runner_command(
        port=port, merchants={MERCHANT: KEY}, webhook_retry_delays=RETRIES, compute=request.param
    )
    with launch.launched(command, log=log) as launched:
        yield Stack(launched, port)


def _wait_for(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _ids(receiver: Receiver, status: int | None = None) -> set[str]:
    return {r.headers["webhook-id"] for r in receiver.received if status in (None, r.status)}


def test_the_local_stack_delivers_signed_events_to_a_loopback_receiver(stack: Stack) -> None:
    with receiving(Answer(200)) as receiver:
        endpoint = stack.add_endpoint(receiver.url, "we_e2e_live")
        try:
            payment_id = stack.captured_payment()
            (got,) = receiver.wait_for(1, timeout=30)
        finally:
            stack.remove_endpoint(endpoint)
    payload = Webhook(endpoint.secret).verify(got.body, got.headers)
    assert payload["type"] == "payment.captured" and payload["data"]["id"] == payment_id
    assert payload["data"]["status"] == "captured" and got.headers["webhook-id"] == payload["id"]
    _wait_for(lambda: not stack.undelivered(), 30, "the event to leave the index")


def test_a_region_killed_with_events_undelivered_delivers_every_one_after(stack: Stack) -> None:
    with receiving(Answer(500)) as receiver:
        endpoint = stack.add_endpoint(receiver.url, "we_e2e_crash")
        try:
            payments = [stack.captured_payment() for _ in range(5)]
            _wait_for(lambda: len(_ids(receiver)) >= len(payments), 30, "a first (failed) attempt of each event")
            undelivered = set(stack.undelivered())
            assert len(undelivered) == len(payments)
            victim = stack.region_pid("eu-west-1")
            os.kill(victim, signal.SIGKILL)
            receiver.script[:] = [Answer(200)]  # the receiver recovers while the region is down
            _wait_for(lambda: not stack.undelivered(), 90, "every event delivered after the restart")
            assert stack.region_pid("eu-west-1") != victim
        finally:
            stack.remove_endpoint(endpoint)
    delivered = [r for r in receiver.received if r.status == 200]
    assert _ids(receiver) == _ids(receiver, 200) == undelivered  # each one answered 2xx, same webhook-ids
    for received in delivered:
        Webhook(endpoint.secret).verify(received.body, received.headers)
