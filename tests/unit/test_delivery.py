"""The webhook sender (handlers.domain.delivery) over the in-memory store: what it posts (verified with
the `standardwebhooks` library on a real localhost receiver), the schedule, Retry-After, 410, the
5-day rule, the URL check at each delivery, takeover, and the version-conditioned writes."""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path

import attrs
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from handlers.adapters.webhook_http import HttpPoster, parse_retry_after
from handlers.domain.delivery import DeliveryPolicy, Outcome, PostResult, WebhookSender, schedule_from_retries
from handlers.domain.errors import ConditionFailed
from handlers.domain.models import (
    CardSummary,
    Heartbeat,
    Operation,
    OperationKind,
    OperationStatus,
    Payment,
    PaymentStatus,
)
from handlers.domain.settlement import ResolutionPolicy, utc_now
from handlers.domain.webhook_pages import DuePage
from handlers.domain.webhooks import (
    Endpoint,
    EndpointStatus,
    EventType,
    NewEvent,
    StoredEvent,
    UrlPolicy,
    check_url,
    new_event,
    new_secret,
)
from handlers.domain.webhooks import headers as webhook_headers
from tests.fakes import FakeClock, MemoryRepository
from tests.webhook_receivers import Answer, receiving

REGION = "eu-west-1"
PEER = "us-east-1"
LOOPBACK = UrlPolicy(allow_loopback=True)
SCHEDULE = (0.0, 5.0, 300.0, 1800.0)


def subject(event_type: EventType, now: datetime) -> Payment | Operation:
    card = CardSummary(brand="visa", last4="4242", expiry_month=12, expiry_year=2030)
    if event_type.value.startswith("refund."):
        status = OperationStatus.SUCCEEDED if event_type is EventType.REFUND_SUCCEEDED else OperationStatus.FAILED
        return Operation(
            id="re_01JD0000000000000000000000",
            payment_id="pay_01JD0000000000000000000000",
            merchant_id="m1",
            kind=OperationKind.REFUND,
            status=status,
            amount=500,
            created_at=now,
            region=REGION,
            bank_reference="pay_01JD0000000000000000000000",
            failure_reason=None if status is OperationStatus.SUCCEEDED else "exceeds_captured",
        )
    status = PaymentStatus(event_type.value.removeprefix("payment."))
    authorized = status in (
        PaymentStatus.AUTHORIZED,
        PaymentStatus.CAPTURED,
        PaymentStatus.VOIDED,
        PaymentStatus.EXPIRED,
        PaymentStatus.REVERSED,
    )
    return Payment(
        id="pay_01JD0000000000000000000000",
        merchant_id="m1",
        status=status,
        amount=1000,
        currency="EUR",
        reference="order-1",
        card=card,
        authorization_code="A1B2C3" if authorized else None,
        created_at=now,
        region=REGION,
        amount_captured=1000 if status is PaymentStatus.CAPTURED else 0,
    )


def write_event(repo: MemoryRepository, event_type: EventType, now: datetime, region: str = REGION) -> NewEvent:
    event = new_event(event_type, subject(event_type, now), region, now)
    repo.events[(event.merchant_id, event.id)] = event
    repo._store_event(event)
    return event


def endpoint(repo: MemoryRepository, url: str, now: datetime, **fields: object) -> Endpoint:
    values: dict[str, object] = {
        "id": f"we_{len(repo.webhook_endpoints)}",
        "merchant_id": "m1",
        "url": url,
        "events": (),
        "status": EndpointStatus.ENABLED,
        "secret": new_secret(),
        "created_at": now,
    } | fields
    created = Endpoint(**values)  # type: ignore[arg-type]
    repo.save_endpoint(created)
    return created


@attrs.define
class ScriptedPoster:
    """Answers in order (the last again); records each post."""

    answers: list[PostResult] = attrs.Factory(lambda: [PostResult(200)])
    posts: list[tuple[str, str, dict[str, str], str]] = attrs.Factory(list)

    def post(self, url: str, address: str, headers: Mapping[str, str], body: str, timeout: float) -> PostResult:
        self.posts.append((url, address, dict(headers), body))
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def sender(repo: MemoryRepository, poster: object, clock: object, **policy: object) -> WebhookSender:
    resolved: dict[str, list[str]] = {"127.0.0.1": ["127.0.0.1"], "hooks.example.com": ["93.184.216.34"]}
    return WebhookSender(
        store=repo,
        poster=poster,  # type: ignore[arg-type]
        resolve=lambda host: resolved.get(host, ["10.0.0.7"]),
        region=REGION,
        policy=DeliveryPolicy(**({"retry_delays": SCHEDULE, "url_policy": LOOPBACK} | policy)),  # type: ignore[arg-type]
        resolution=ResolutionPolicy(takeover_after_seconds=300),
        peers=(REGION, PEER),
        clock=clock,  # type: ignore[arg-type]
    )


def stored(repo: MemoryRepository, event: NewEvent) -> StoredEvent:
    found = repo.get_event(event.merchant_id, event.id)
    assert found is not None
    return found


# --- what is posted --------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", list(EventType))
def test_each_event_type_is_posted_signed_and_verifies_with_the_library(
    repo: MemoryRepository, event_type: EventType
) -> None:
    now = utc_now()
    event = write_event(repo, event_type, now)
    with receiving(Answer(204)) as receiver:
        hook = endpoint(repo, receiver.url, now)
        report = sender(repo, HttpPoster(), utc_now).run()
        (got,) = receiver.wait_for(1, timeout=5)
    assert report.outcomes == {"delivered": 1}
    payload = Webhook(hook.secret).verify(got.body, got.headers)
    assert payload == json.loads(stored(repo, event).body)
    assert payload["type"] == event_type.value and payload["id"] == event.id
    assert payload["data"]["id"] == event.subject.id and payload["created_at"]
    assert got.headers["webhook-id"] == event.id
    assert got.headers["content-type"] == "application/json"
    assert "card_number" not in got.body.decode() and "4242424242424242" not in got.body.decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(hook.secret).verify(got.body.replace(b'"amount":', b'"amount":1'), got.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(got.body, got.headers)
    assert stored(repo, event).due_at is None  # delivered everywhere: out of the index


def test_an_old_timestamp_is_refused_by_the_library(repo: MemoryRepository) -> None:
    past = FakeClock(utc_now() - timedelta(minutes=10))
    write_event(repo, EventType.PAYMENT_CAPTURED, past.now)
    with receiving() as receiver:
        hook = endpoint(repo, receiver.url, past.now)
        sender(repo, HttpPoster(), past).run()
        (got,) = receiver.wait_for(1, timeout=5)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(hook.secret).verify(got.body, got.headers)


def test_during_a_rotation_both_secrets_sign_then_only_the_new_one(repo: MemoryRepository) -> None:
    now = utc_now()
    old, new = new_secret(), new_secret()
    rotated = {"secret": new, "previous_secret": old, "previous_secret_until": now + timedelta(hours=24)}
    with receiving() as receiver:
        endpoint(repo, receiver.url, now, **rotated)
        write_event(repo, EventType.PAYMENT_CAPTURED, now)
        sender(repo, HttpPoster(), utc_now).run()
        (during,) = receiver.wait_for(1, timeout=5)
        assert len(during.headers["webhook-signature"].split(" ")) == 2
        for secret in (old, new):
            Webhook(secret).verify(during.body, during.headers)
        repo.webhook_endpoints[("m1", "we_0")] = attrs.evolve(
            repo.endpoint("m1", "we_0"), previous_secret_until=now - timedelta(seconds=1)
        )
        write_event(repo, EventType.PAYMENT_VOIDED, now)
        sender(repo, HttpPoster(), utc_now).run()
        after = receiver.wait_for(2, timeout=5)[1]
    Webhook(new).verify(after.body, after.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after.body, after.headers)


def test_only_enabled_endpoints_subscribed_at_the_first_attempt_get_it(
    repo: MemoryRepository, clock: FakeClock
) -> None:
    poster = ScriptedPoster()
    endpoint(repo, "https://hooks.example.com/all", clock.now)
    endpoint(repo, "https://hooks.example.com/refunds", clock.now, events=(EventType.REFUND_SUCCEEDED,))
    endpoint(repo, "https://hooks.example.com/captures", clock.now, events=(EventType.PAYMENT_CAPTURED,))
    endpoint(repo, "https://hooks.example.com/off", clock.now, status=EndpointStatus.DISABLED)
    event = write_event(repo, EventType.PAYMENT_CAPTURED, clock.now)
    sender(repo, poster, clock).run()
    assert sorted(url for url, *_ in poster.posts) == [
        "https://hooks.example.com/all",
        "https://hooks.example.com/captures",
    ]
    assert {d.endpoint_id for d in stored(repo, event).deliveries} == {"we_0", "we_2"}
    # The connection goes to the address the check accepted.
    assert {address for _, address, *_ in poster.posts} == {"93.184.216.34"}


# --- the schedule ----------------------------------------------------------------------------------


def test_a_failing_receiver_gets_it_again_on_the_schedule_with_the_same_id(
    repo: MemoryRepository, clock: FakeClock
) -> None:
    poster = ScriptedPoster([PostResult(500), PostResult(None, "timeout"), PostResult(None, "connection refused")])
    endpoint(repo, "https://hooks.example.com/h", clock.now)
    event = write_event(repo, EventType.PAYMENT_AUTHORIZED, clock.now)
    run = sender(repo, poster, clock)
    for delay in SCHEDULE:
        clock.advance(seconds=delay - 0.5)
        run.run()
        assert len(poster.posts) == SCHEDULE.index(delay)  # not before it is due
        clock.advance(seconds=0.5)
        run.run()
        assert len(poster.posts) == SCHEDULE.index(delay) + 1
    assert {headers["webhook-id"] for *_, headers, _ in poster.posts} == {event.id}
    final = stored(repo, event)
    assert final.due_at is None and final.deliveries[0].attempts == len(SCHEDULE)
    assert not final.deliveries[0].delivered
    assert [(a.status, a.error) for a in final.attempts] == [
        (500, None),
        (None, "timeout"),
        (None, "connection refused"),
        (None, "connection refused"),
    ]
    clock.advance(days=30)
    assert run.run().outcomes == {}  # the schedule is over: nothing more


def test_the_default_schedule_lasts_at_least_three_days() -> None:
    delays = DeliveryPolicy().retry_delays
    assert delays[:8] == (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
    assert sum(delays) >= 3 * 86400
    assert schedule_from_retries([1, 2, 4]) == (0.0, 1, 2, 4)


def test_a_success_after_failures_finishes_and_leaves_the_index(repo: MemoryRepository, clock: FakeClock) -> None:
    poster = ScriptedPoster([PostResult(503), PostResult(200)])
    endpoint(repo, "https://hooks.example.com/h", clock.now)
    event = write_event(repo, EventType.PAYMENT_CAPTURED, clock.now)
    run = sender(repo, poster, clock)
    run.run()
    assert repo.endpoint("m1", "we_0").failing_since == clock.now
    assert stored(repo, event).due_at == clock.now.timestamp() + 5
    clock.advance(seconds=5)
    assert run.run().outcomes == {"delivered": 1}
    assert stored(repo, event).due_at is None and stored(repo, event).deliveries[0].delivered
    assert repo.endpoint("m1", "we_0").failing_since is None


def test_the_event_stays_due_until_every_delivery_is_finished(repo: MemoryRepository, clock: FakeClock) -> None:
    poster = ScriptedPoster([PostResult(200), PostResult(500), PostResult(200)])
    endpoint(repo, "https://hooks.example.com/a", clock.now)
    endpoint(repo, "https://hooks.example.com/b", clock.now)
    event = write_event(repo, EventType.PAYMENT_CAPTURED, clock.now)
    run = sender(repo, poster, clock)
    run.run()
    assert stored(repo, event).due_at is not None
    clock.advance(seconds=5)
    run.run()
    assert len(poster.posts) == 3  # the delivered one is not posted again
    assert stored(repo, event).due_at is None


@pytest.mark.parametrize(
    ("retry_after", "expected"), [(60.0, 60.0), (1.0, 5.0), (10**6, 1800.0)], ids=["later", "sooner", "beyond"]
)
def test_retry_after_is_honoured_within_the_schedules_bounds(
    repo: MemoryRepository, clock: FakeClock, retry_after: float, expected: float
) -> None:
    poster = ScriptedPoster([PostResult(429, retry_after=retry_after)])
    endpoint(repo, "https://hooks.example.com/h", clock.now)
    event = write_event(repo, EventType.PAYMENT_CAPTURED, clock.now)
    sender(repo, poster, clock).run()
    assert stored(repo, event).due_at == clock.now.timestamp() + expected


def test_retry_after_is_read_as_seconds_or_a_date() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Thu, 01 Jan 2026 00:01:00 GMT", now) == 60
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


# --- disabling -------------------------------------------------------------------------------------


def test_410_disables_the_endpoint_at_once(repo: MemoryRepository, clock: FakeClock) -> None:
    poster = ScriptedPoster([PostResult(410)])
    endpoint(repo, "https://hooks.example.com/h", clock.now)
    event = write_event(repo, EventType.PAYMENT_CAPTURED, clock.now)
    report = sender(repo, poster, clock).run()
    gone = repo.endpoint("m1", "we_0")
    assert gone.status is EndpointStatus.DISABLED and "410" in (gone.disabled_reason or "")
    assert report.endpoints_disabled == 1 and report.outcomes == {"gone": 1}
    assert stored(repo, event).due_at is None
    later = write_event(repo, EventType.PAYMENT_VOIDED, clock.now)
    sender(repo, poster, clock).run()
    assert len(poster.posts) == 1 and stored(repo, later).deliveries == ()  # kept, not sent


def test_an_endpoint_failing_every_attempt_for_five_days_is_disabled(repo: MemoryRepository, clock: FakeClock) -> None:
    poster = ScriptedPoster([PostResult(500)])
    endpoint(repo, "https://hooks.example.com/h", clock.now)
    run = sender(repo, poster, clock, retry_delays=(0.0, 86400.0 * 3))
    for _ in range(3):
        write_event(repo, EventType.PAYMENT_CAPTURED, clock.now)
        report = run.run()
        assert repo.endpoint("m1", "we_0").status is EndpointStatus.ENABLED
        clock.advance(days=2)
    clock.advance(days=0.5)  # 6.5 days after the first failure, failing ever since
    write_event(repo, EventType.PAYMENT_CAPTURED, clock.now)
    report = run.run()
    disabled = repo.endpoint("m1", "we_0")
    assert disabled.status is EndpointStatus.DISABLED and "5 days" in (disabled.disabled_reason or "")
    assert report.endpoints_disabled == 1


def test_a_rotation_meanwhile_is_never_overwritten(repo: MemoryRepository, clock: FakeClock) -> None:
    hook = endpoint(repo, "https://hooks.example.com/h", clock.now)

    class RotatingPoster(ScriptedPoster):
        def post(self, *args: object, **kwargs: object) -> PostResult:
            repo.webhook_endpoints[("m1", hook.id)] = attrs.evolve(hook, secret=new_secret())
            return PostResult(410)

    write_event(repo, EventType.PAYMENT_CAPTURED, clock.now)
    sender(repo, RotatingPoster(), clock).run()
    assert repo.endpoint("m1", hook.id).secret != hook.secret  # the merchant's write stands
    assert repo.endpoint("m1", hook.id).status is EndpointStatus.ENABLED


# --- URL, regions, writes --------------------------------------------------------------------------


def test_the_url_is_checked_again_at_each_delivery(repo: MemoryRepository, clock: FakeClock) -> None:
    poster = ScriptedPoster()
    endpoint(repo, "https://rebound.example.com/h", clock.now)  # resolves to 10.0.0.7 now
    event = write_event(repo, EventType.PAYMENT_CAPTURED, clock.now)
    sender(repo, poster, clock).run()
    assert poster.posts == []
    (attempt,) = stored(repo, event).attempts
    assert attempt.status is None and "refused URL" in (attempt.error or "") and "private" in (attempt.error or "")
    deployed = ScriptedPoster()
    endpoint(repo, "http://127.0.0.1:9/h", clock.now)
    write_event(repo, EventType.PAYMENT_VOIDED, clock.now)
    sender(repo, deployed, clock, url_policy=UrlPolicy()).run()
    assert deployed.posts == []  # deployed, loopback is refused


def test_a_silent_regions_events_are_taken_over_and_a_live_ones_are_not(
    repo: MemoryRepository, clock: FakeClock
) -> None:
    poster = ScriptedPoster()
    endpoint(repo, "https://hooks.example.com/h", clock.now)
    theirs = write_event(repo, EventType.PAYMENT_CAPTURED, clock.now, region=PEER)
    repo.record_heartbeat(PEER, Heartbeat(clock.now.timestamp(), clock.now.timestamp()))
    clock.advance(seconds=200)
    assert sender(repo, poster, clock).run().took_over == () and poster.posts == []
    clock.advance(seconds=200)
    report = sender(repo, poster, clock).run()
    assert report.took_over == (PEER,) and len(poster.posts) == 1
    assert stored(repo, theirs).due_at is None and stored(repo, theirs).region == PEER


def test_a_write_lost_to_another_writer_is_dropped(repo: MemoryRepository, clock: FakeClock) -> None:
    endpoint(repo, "https://hooks.example.com/h", clock.now)
    event = write_event(repo, EventType.PAYMENT_CAPTURED, clock.now)
    first = stored(repo, event)
    run = sender(repo, ScriptedPoster([PostResult(500)]), clock)
    assert run.deliver(first, run.run()) is None  # the run wrote version 1; this copy is version 0
    assert stored(repo, event).version == 1
    with pytest.raises(ConditionFailed):
        repo.replace_event(first, 0)


def test_the_oldest_undelivered_age_is_how_late_the_most_overdue_delivery_is(
    repo: MemoryRepository, clock: FakeClock
) -> None:
    endpoint(repo, "https://hooks.example.com/h", clock.now)
    write_event(repo, EventType.PAYMENT_CAPTURED, clock.now)
    clock.advance(seconds=90)
    report = sender(repo, ScriptedPoster([PostResult(500)]), clock, retry_delays=(0.0, 60.0, 60.0)).run()
    assert report.oldest_undelivered_age == pytest.approx(90, abs=0.01)
    # Waiting for its retry a minute away is not late: nothing is due, nothing is overdue.
    clock.advance(seconds=30)
    assert sender(repo, ScriptedPoster(), clock, retry_delays=(0.0, 60.0, 60.0)).run().oldest_undelivered_age is None
    clock.advance(seconds=40)
    late = sender(repo, ScriptedPoster([PostResult(200)]), clock, retry_delays=(0.0, 60.0, 60.0)).run()
    assert late.oldest_undelivered_age == pytest.approx(10, abs=0.01)
    assert sender(repo, ScriptedPoster(), clock).run().oldest_undelivered_age is None  # delivered


def test_the_example_receiver_verifies_prints_one_line_and_ignores_a_duplicate(
    repo: MemoryRepository, capsys: pytest.CaptureFixture[str]
) -> None:
    path = Path(__file__).resolve().parents[2] / "examples" / "webhook_receiver.py"
    spec = importlib.util.spec_from_file_location("webhook_receiver", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    now = utc_now()
    secret = new_secret()
    server = ThreadingHTTPServer(("127.0.0.1", 0), example.make_handler(Webhook(secret), example.SeenIds()))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/webhooks"
        hook = endpoint(repo, url, now, secret=secret)
        event = write_event(repo, EventType.PAYMENT_CAPTURED, now)
        body = stored(repo, event).body
        signed = webhook_headers
        poster = HttpPoster()
        answers = [poster.post(url, "127.0.0.1", signed((hook.secret,), event.id, int(now.timestamp()), body), body, 5)]
        answers.append(
            poster.post(url, "127.0.0.1", signed((hook.secret,), event.id, int(now.timestamp()), body), body, 5)
        )
        answers.append(
            poster.post(url, "127.0.0.1", signed((new_secret(),), event.id, int(now.timestamp()), body), body, 5)
        )
    finally:
        server.shutdown()
        server.server_close()
    assert [a.status for a in answers] == [200, 200, 400]
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[1:4] == [event.id, "payment.captured", event.subject.id]
    assert lines[1] == f"duplicate {event.id} ignored" and lines[2].startswith("refused:")


# --- what a receiver cannot do to the sender (review of issue 18) ------------------------------------


def test_events_of_a_batch_are_delivered_at_once_not_one_after_another(
    repo: MemoryRepository, clock: FakeClock
) -> None:
    """Three posts meet at a barrier that only opens when all three are in flight together."""
    endpoint(repo, "http://127.0.0.1:9/hook", clock.now)
    for _ in range(3):
        write_event(repo, EventType.PAYMENT_CAPTURED, clock.now)
    together = threading.Barrier(3, timeout=10)

    class Meeting(ScriptedPoster):
        def post(self, url: str, address: str, headers: Mapping[str, str], body: str, timeout: float) -> PostResult:
            together.wait()  # BrokenBarrierError if the sender posts one at a time
            return super().post(url, address, headers, body, timeout)

    report = sender(repo, Meeting(), clock).run()
    assert report.outcomes[Outcome.DELIVERED] == 3 and report.failures == 0


def test_a_url_that_is_not_ascii_is_refused_at_registration() -> None:
    for url in ("https://hooks.example.com/wébhook", "https://hooks.example.com/a b", "https://hooks.example.com/\n"):
        assert check_url(url, UrlPolicy(), lambda _: ["93.184.216.34"]) is not None


# --- one batch, one read of a merchant's endpoints ------------------------------------------------------


class CountingRepository(MemoryRepository):
    def __init__(self) -> None:
        super().__init__()
        self.endpoint_reads = 0

    def endpoints(self, merchant_id: str) -> list[Endpoint]:
        self.endpoint_reads += 1
        return super().endpoints(merchant_id)


def test_a_batch_reads_a_merchants_endpoints_once_not_once_per_event(clock: FakeClock) -> None:
    repo = CountingRepository()
    endpoint(repo, "https://hooks.example.com/h", clock.now)
    for _ in range(12):
        write_event(repo, EventType.PAYMENT_CAPTURED, clock.now)
    poster = ScriptedPoster()
    report = sender(repo, poster, clock, batch_size=50).run()
    assert report.outcomes[Outcome.DELIVERED] == 12 and len(poster.posts) == 12
    assert repo.endpoint_reads == 1


def test_events_of_one_batch_failing_at_one_endpoint_record_its_first_failure_once(clock: FakeClock) -> None:
    repo = CountingRepository()
    endpoint(repo, "https://hooks.example.com/h", clock.now)
    writes: list[Endpoint] = []
    update = repo.update_endpoint

    def counted(changed: Endpoint, previous: Endpoint) -> None:
        writes.append(changed)
        update(changed, previous)

    repo.update_endpoint = counted  # type: ignore[method-assign]
    for _ in range(6):
        write_event(repo, EventType.PAYMENT_CAPTURED, clock.now)
    report = sender(repo, ScriptedPoster([PostResult(500)]), clock).run()
    assert report.outcomes[Outcome.RETRYING] == 6 and report.lost_writes == 0
    assert len(writes) == 1 and writes[0].failing_since == clock.now  # not one write per event
    assert repo.endpoint("m1", "we_0").failing_since == clock.now


def test_a_410_seen_by_several_events_of_a_batch_disables_the_endpoint_once(clock: FakeClock) -> None:
    repo = CountingRepository()
    endpoint(repo, "https://hooks.example.com/h", clock.now)
    written = [write_event(repo, EventType.PAYMENT_CAPTURED, clock.now) for _ in range(5)]
    report = sender(repo, ScriptedPoster([PostResult(410)]), clock, parallel=5).run()
    assert report.endpoints_disabled == 1 and report.outcomes[Outcome.GONE] >= 1
    assert repo.endpoint("m1", "we_0").status is EndpointStatus.DISABLED
    assert all(stored(repo, event).due_at is None for event in written)  # kept, resendable, not due


def test_the_most_overdue_event_is_sent_first_and_a_later_retry_hides_nothing(clock: FakeClock) -> None:
    """Events waiting for a retry hours away, written first, do not stand in front of due ones."""
    repo = CountingRepository()
    endpoint(repo, "https://hooks.example.com/h", clock.now)
    waiting = [write_event(repo, EventType.PAYMENT_CAPTURED, clock.now) for _ in range(6)]
    sender(repo, ScriptedPoster([PostResult(500)]), clock, retry_delays=(0.0, 3600.0), batch_size=2).run()
    assert all(stored(repo, event).due_at == clock.now.timestamp() + 3600 for event in waiting)
    clock.advance(seconds=10)
    late = write_event(repo, EventType.PAYMENT_VOIDED, clock.now)
    clock.advance(seconds=10)
    fresh = write_event(repo, EventType.PAYMENT_AUTHORIZED, clock.now)
    poster = ScriptedPoster()
    sender(repo, poster, clock, retry_delays=(0.0, 3600.0), batch_size=1).run()
    sent = [json.loads(body)["id"] for *_, body in poster.posts]
    assert sent == [late.id, fresh.id]  # most overdue first; the six waiting ones are not due


def test_an_event_whose_write_is_lost_is_not_taken_again_in_the_same_run(clock: FakeClock) -> None:
    repo = CountingRepository()
    endpoint(repo, "https://hooks.example.com/h", clock.now)
    first, second = (write_event(repo, EventType.PAYMENT_CAPTURED, clock.now) for _ in range(2))
    replace = repo.replace_event

    def lose_the_first(event: StoredEvent, previous_version: int) -> None:
        if event.id == first.id:
            raise ConditionFailed("a resend wrote it meanwhile")
        replace(event, previous_version)

    repo.replace_event = lose_the_first  # type: ignore[method-assign]
    poster = ScriptedPoster()
    report = sender(repo, poster, clock, batch_size=1).run()
    assert report.lost_writes == 1 and report.events_written == 1
    assert sorted(json.loads(body)["id"] for *_, body in poster.posts) == sorted([first.id, second.id])


# --- addresses an IPv6 form or a special block hides (review of issue 18) --------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "::10.0.0.1",  # IPv4-compatible
        "::127.0.0.1",
        "::169.254.169.254",
        "64:ff9b::10.0.0.1",  # NAT64, well-known prefix
        "64:ff9b::a9fe:a9fe",  # NAT64 of the instance metadata address
        "64:ff9b:1::a00:1",  # NAT64, local-use prefix
        "2002:a00:1::",  # 6to4 of 10.0.0.1
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
        "fec0::1",  # site-local
        "192.0.0.9",  # IETF protocol assignments
        "192.0.0.200",
        "::ffff:10.0.0.1",  # IPv4-mapped
        "::ffff:0:10.0.0.1",  # IPv4-translated (SIIT)
        "::ffff:0:a9fe:a9fe",
        "5f00::1",  # outside 2000::/3, though Python 3.11 calls it global
        "3fff::1",  # IPv6 documentation (RFC 9637)
        "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo
    ],
)
def test_an_address_hidden_in_an_ipv6_form_or_a_special_block_is_refused(address: str) -> None:
    url = f"https://[{address}]/" if ":" in address else f"https://{address}/"
    assert check_url(url, UrlPolicy(), lambda _: [address]) is not None


@pytest.mark.parametrize(
    "address", ["64:ff9b::808:808", "2002:808:808::", "::ffff:0:8.8.8.8", "8.8.8.8", "2606:4700::1111"]
)
def test_a_public_address_in_any_form_is_allowed(address: str) -> None:
    url = f"https://[{address}]/" if ":" in address else f"https://{address}/"
    assert check_url(url, UrlPolicy(), lambda _: [address]) is None


# --- the review of the shared endpoint book and the pass's cursor ---------------------------------------


def test_a_health_write_lost_to_the_merchant_drops_no_delivery_of_the_batch(clock: FakeClock) -> None:
    """The merchant rotates the secret while the batch's first failure is being written: the write is
    lost, the batch reads the endpoints again, and every event keeps its delivery (none skipped)."""
    repo = CountingRepository()
    hook = endpoint(repo, "https://hooks.example.com/h", clock.now)
    written = [write_event(repo, EventType.PAYMENT_CAPTURED, clock.now) for _ in range(5)]
    update = repo.update_endpoint
    rotated: list[bool] = []

    def rotation_meanwhile(changed: Endpoint, previous: Endpoint) -> None:
        if not rotated:
            rotated.append(True)
            repo.webhook_endpoints[("m1", hook.id)] = attrs.evolve(hook, secret=new_secret())
        update(changed, previous)

    repo.update_endpoint = rotation_meanwhile  # type: ignore[method-assign]
    report = sender(repo, ScriptedPoster([PostResult(500)]), clock, parallel=5).run()
    assert report.outcomes[Outcome.RETRYING] == 5 and report.outcomes[Outcome.SKIPPED] == 0
    assert all(len(stored(repo, event).deliveries) == 1 for event in written)
    assert all(stored(repo, event).due_at is not None for event in written)  # still to deliver


def test_a_pass_posts_each_event_once_though_the_index_hands_back_stale_copies(clock: FakeClock) -> None:
    """A GSI read is eventually consistent: a page may repeat an event the pass already settled."""
    repo = CountingRepository()
    endpoint(repo, "https://hooks.example.com/h", clock.now)
    for _ in range(6):
        write_event(repo, EventType.PAYMENT_CAPTURED, clock.now)
    due_events = repo.due_events
    seen: list[StoredEvent] = []

    def stale(region: str, now: float, limit: int, cursor: object = None) -> DuePage:
        page = due_events(region, now, limit, cursor)  # type: ignore[arg-type]
        repeated = DuePage((*seen, *page.events), page.cursor)
        seen.extend(page.events)
        return repeated

    repo.due_events = stale  # type: ignore[method-assign]
    poster = ScriptedPoster()
    sender(repo, poster, clock, batch_size=2).run()
    posted = [json.loads(body)["id"] for *_, body in poster.posts]
    assert len(posted) == 6 == len(set(posted))


def test_events_that_cannot_be_settled_never_stop_the_pass_behind_them(clock: FakeClock) -> None:
    repo = CountingRepository()
    endpoint(repo, "https://hooks.example.com/h", clock.now)
    stuck = {write_event(repo, EventType.PAYMENT_CAPTURED, clock.now).id for _ in range(12)}
    clock.advance(seconds=1)
    behind = {write_event(repo, EventType.PAYMENT_VOIDED, clock.now).id for _ in range(3)}
    replace = repo.replace_event

    def losing(event: StoredEvent, previous_version: int) -> None:
        if event.id in stuck:
            raise ConditionFailed("another writer, every time")
        replace(event, previous_version)

    repo.replace_event = losing  # type: ignore[method-assign]
    poster = ScriptedPoster()
    report = sender(repo, poster, clock, batch_size=4).run()
    assert {json.loads(body)["id"] for *_, body in poster.posts} == stuck | behind
    assert report.lost_writes == 12 and report.events_written == 3


def test_an_idle_endpoint_starts_a_new_series_of_failures_and_is_not_disabled_by_one(clock: FakeClock) -> None:
    """Its schedule exhausted, the endpoint got nothing for six days: its next failure is a first one."""
    repo = CountingRepository()
    endpoint(repo, "https://hooks.example.com/h", clock.now)
    run = sender(repo, ScriptedPoster([PostResult(500)]), clock, retry_delays=(0.0, 3600.0))
    write_event(repo, EventType.PAYMENT_CAPTURED, clock.now)
    run.run()
    first = clock.now
    clock.advance(seconds=3600)
    run.run()  # the last attempt: the schedule is over
    assert repo.endpoint("m1", "we_0").failing_since == first
    clock.advance(days=6)
    write_event(repo, EventType.PAYMENT_CAPTURED, clock.now)
    report = run.run()
    idle_then_failed = repo.endpoint("m1", "we_0")
    assert report.endpoints_disabled == 0 and idle_then_failed.status is EndpointStatus.ENABLED
    assert idle_then_failed.failing_since == clock.now  # a new series


def test_failures_without_a_pause_still_disable_after_five_days(clock: FakeClock) -> None:
    repo = CountingRepository()
    endpoint(repo, "https://hooks.example.com/h", clock.now)
    run = sender(repo, ScriptedPoster([PostResult(500)]), clock, retry_delays=(0.0, 43200.0, 43200.0))
    for _ in range(11):  # an event every 12 hours, each failing: never idle longer than the schedule's wait
        write_event(repo, EventType.PAYMENT_CAPTURED, clock.now)
        run.run()
        clock.advance(hours=12)
    assert repo.endpoint("m1", "we_0").status is EndpointStatus.DISABLED


def test_an_endpoint_failing_since_long_ago_without_a_noted_last_failure_is_not_disabled_by_one(
    clock: FakeClock,
) -> None:
    """An endpoint written before last_failure_at existed: its failing_since is its last known failure."""
    repo = CountingRepository()
    endpoint(repo, "https://hooks.example.com/h", clock.now, failing_since=clock.now - timedelta(days=6))
    write_event(repo, EventType.PAYMENT_CAPTURED, clock.now)
    report = sender(repo, ScriptedPoster([PostResult(500)]), clock).run()
    assert report.endpoints_disabled == 0 and repo.endpoint("m1", "we_0").failing_since == clock.now


def test_a_series_noted_an_hour_late_and_a_late_run_is_still_one_series(clock: FakeClock) -> None:
    repo = CountingRepository()
    started = clock.now - timedelta(days=4)
    noted = clock.now - timedelta(minutes=59, seconds=59)  # the note is up to an hour late
    endpoint(repo, "https://hooks.example.com/h", clock.now, failing_since=started, last_failure_at=noted)
    clock.advance(seconds=86400 + 60)  # the schedule's longest wait, and the run a minute late
    write_event(repo, EventType.PAYMENT_CAPTURED, clock.now)
    sender(repo, ScriptedPoster([PostResult(500)]), clock, retry_delays=(0.0, 86400.0)).run()
    assert repo.endpoint("m1", "we_0").failing_since == started  # not a new series


def test_a_health_write_that_fails_does_not_cost_the_event_its_write(clock: FakeClock) -> None:
    repo = CountingRepository()
    endpoint(repo, "https://hooks.example.com/h", clock.now)
    event = write_event(repo, EventType.PAYMENT_CAPTURED, clock.now)

    def throttled(changed: Endpoint, previous: Endpoint) -> None:
        raise RuntimeError("ProvisionedThroughputExceeded")

    repo.update_endpoint = throttled  # type: ignore[method-assign]
    report = sender(repo, ScriptedPoster([PostResult(500)]), clock).run()
    assert report.failures == 0 and report.events_written == 1
    assert stored(repo, event).deliveries[0].attempts == 1  # recorded: not posted again as new
