"""`python -m handlers.admin endpoints`, `event` and `resend`: the operator's view of a merchant's webhook
endpoints (never a secret), of an event's deliveries and attempts, and requeuing an event, through the
command line over a repository that implements the webhook ports (handlers.domain.ports)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import attrs
import pytest

from handlers.domain.errors import ConditionFailed
from handlers.domain.webhooks import (
    Attempt,
    Delivery,
    Endpoint,
    EndpointStatus,
    EventType,
    StoredEvent,
    new_secret,
)
from handlers.ops import admin, webhooks

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
SECRET, OLD_SECRET = new_secret(), new_secret()


class WebhookStore:
    """EventRepository and EndpointRepository in memory, with the version check of replace_event."""

    def __init__(self) -> None:
        self.events: dict[tuple[str, str], StoredEvent] = {}
        self.merchant_endpoints: dict[str, list[Endpoint]] = {}

    def get_event(self, merchant_id: str, event_id: str) -> StoredEvent | None:
        return self.events.get((merchant_id, event_id))

    def replace_event(self, event: StoredEvent, previous_version: int) -> None:
        held = self.events.get((event.merchant_id, event.id))
        if held is None or held.version != previous_version:
            raise ConditionFailed()
        self.events[(event.merchant_id, event.id)] = event

    def endpoints(self, merchant_id: str) -> Sequence[Endpoint]:
        return list(self.merchant_endpoints.get(merchant_id, []))


def endpoint(endpoint_id: str, merchant_id: str = "mer_a", **changes: object) -> Endpoint:
    made = Endpoint(
        id=endpoint_id,
        merchant_id=merchant_id,
        url=f"https://hooks.example.com/{endpoint_id}",
        events=(),
        status=EndpointStatus.ENABLED,
        secret=SECRET,
        created_at=NOW - timedelta(days=2),
        previous_secret=OLD_SECRET,
        previous_secret_until=NOW + timedelta(hours=3),
    )
    return attrs.evolve(made, **changes)


def event(**changes: object) -> StoredEvent:
    made = StoredEvent(
        id="evt_01",
        merchant_id="mer_a",
        type=EventType.PAYMENT_CAPTURED,
        created_at=NOW - timedelta(hours=1),
        region="eu-west-1",
        body='{"id":"evt_01"}',
        due_at=None,
        deliveries=(
            Delivery("we_ok", attempts=1, next_at=None, delivered=True),
            Delivery("we_down", attempts=2, next_at=(NOW + timedelta(minutes=30)).timestamp()),
        ),
        attempts=(
            Attempt("we_ok", NOW - timedelta(minutes=59), 200, None, 85),
            Attempt("we_down", NOW - timedelta(minutes=59), 503, None, 1200),
            Attempt("we_down", NOW - timedelta(minutes=54), None, "timeout", 10000),
        ),
        version=3,
    )
    return attrs.evolve(made, **changes)


Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def store() -> WebhookStore:
    return WebhookStore()


@pytest.fixture
def cli(store: WebhookStore, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setattr(admin, "_repository", lambda *_: store)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = admin.main(["--table", "t", "--region", "eu-west-1", *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_endpoints_lists_the_merchants_own_never_a_secret(store: WebhookStore, cli: Cli) -> None:
    store.merchant_endpoints["mer_a"] = [
        endpoint("we_1", events=(EventType.PAYMENT_CAPTURED, EventType.REFUND_SUCCEEDED)),
        endpoint("we_2", status=EndpointStatus.DISABLED, disabled_reason="410 Gone"),
    ]
    store.merchant_endpoints["mer_b"] = [endpoint("we_other", merchant_id="mer_b")]
    code, out, err = cli("endpoints", "--merchant-id", "mer_a")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert [line.split("\t")[:2] for line in lines] == [["we_1", "enabled"], ["we_2", "disabled"]]
    assert "events=payment.captured,refund.succeeded" in lines[0] and "https://hooks.example.com/we_1" in lines[0]
    assert "events=all" in lines[1] and lines[1].endswith("disabled: 410 Gone")
    assert "we_other" not in out
    assert SECRET not in out and OLD_SECRET not in out and "whsec_" not in out
    assert cli("endpoints", "--merchant-id", "mer_c")[1] == "no endpoint\n"


def test_event_shows_each_delivery_and_every_attempt(store: WebhookStore, cli: Cli) -> None:
    store.events[("mer_a", "evt_01")] = event()
    code, out, _ = cli("event", "evt_01", "--merchant-id", "mer_a")
    assert code == 0
    head, *rest = out.splitlines()
    assert head.startswith("evt_01\tpayment.captured\tregion=eu-west-1") and head.endswith("due=-")
    deliveries = [line for line in rest if line.startswith("  delivery")]
    assert deliveries[0].startswith("  delivery we_ok\tdelivered\tattempts=1")
    assert deliveries[1].startswith("  delivery we_down\tpending\tattempts=2\tnext=2026-05-01T12:30:00")
    attempts = [line.split("\t")[2:] for line in rest if line.startswith("  attempt")]
    assert attempts == [["HTTP 200", "85 ms"], ["HTTP 503", "1200 ms"], ["error: timeout", "10000 ms"]]


def test_an_event_of_another_merchant_is_not_shown(store: WebhookStore, cli: Cli) -> None:
    store.events[("mer_a", "evt_01")] = event()
    code, out, err = cli("event", "evt_01", "--merchant-id", "mer_b")
    assert (code, out) == (1, "") and err == "error: No event evt_01 for merchant mer_b.\n"
    assert cli("resend", "evt_01", "--merchant-id", "mer_b")[0] == 1
    assert store.events[("mer_a", "evt_01")] == event()  # untouched


def test_resend_requeues_every_delivery_due_now_keeping_the_attempts(store: WebhookStore, cli: Cli) -> None:
    store.events[("mer_a", "evt_01")] = event()
    before = datetime.now(UTC).timestamp()
    code, out, _ = cli("resend", "evt_01", "--merchant-id", "mer_a")
    assert code == 0 and out.startswith("evt_01\trequeued: due now from eu-west-1's sender")
    again = store.events[("mer_a", "evt_01")]
    assert again.due_at is not None and before <= again.due_at <= datetime.now(UTC).timestamp()
    assert [(d.endpoint_id, d.delivered, d.next_at) for d in again.deliveries] == [
        ("we_ok", False, again.due_at),
        ("we_down", False, again.due_at),
    ]
    assert again.attempts == event().attempts and again.version == 4
    assert (again.id, again.body) == ("evt_01", event().body)  # the same webhook-id and body
    assert again.region == "eu-west-1"  # in its writer's partition: that sender delivers it


def test_resend_to_one_endpoint_leaves_the_others_alone(store: WebhookStore) -> None:
    store.events[("mer_a", "evt_01")] = event()
    again = webhooks.resend(store, "mer_a", "evt_01", NOW, "we_ok")
    assert [(d.endpoint_id, d.delivered, d.next_at) for d in again.deliveries] == [
        ("we_ok", False, NOW.timestamp()),
        ("we_down", False, event().deliveries[1].next_at),  # still due at its own time
    ]
    added = webhooks.requeued(event(), NOW, "we_new")
    assert [d.endpoint_id for d in added.deliveries] == ["we_ok", "we_down", "we_new"]
    assert added.deliveries[-1].next_at == NOW.timestamp() and added.deliveries[0].delivered
    fresh = webhooks.requeued(event(deliveries=(), attempts=()), NOW)
    assert fresh.deliveries == () and fresh.due_at == NOW.timestamp()  # the sender picks the endpoints
    # Even when one endpoint is named: the others subscribed must still get their first delivery.
    assert webhooks.requeued(event(deliveries=(), attempts=()), NOW, "we_ok").deliveries == ()


def test_resend_refuses_to_overwrite_what_the_sender_wrote_meanwhile(store: WebhookStore) -> None:
    class Racing(WebhookStore):
        def get_event(self, merchant_id: str, event_id: str) -> StoredEvent | None:
            read = super().get_event(merchant_id, event_id)
            self.events[(merchant_id, event_id)] = event(version=4)  # the sender's write after our read
            return read

    racing = Racing()
    racing.events[("mer_a", "evt_01")] = event()
    with pytest.raises(ConditionFailed):
        webhooks.resend(racing, "mer_a", "evt_01", NOW)
    assert racing.events[("mer_a", "evt_01")] == event(version=4)


def test_a_repository_without_webhook_storage_is_one_line_not_a_traceback(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(admin, "_repository", lambda *_: object())
    code, out, err = cli("endpoints", "--merchant-id", "mer_a")
    assert (code, out) == (1, "") and err.startswith("error: This build's table repository has no webhook storage")
