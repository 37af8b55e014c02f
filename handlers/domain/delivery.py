"""The webhook sender: deliver each stored event to its merchant's endpoints. Plain Python over the ports.

A run (the scheduled function every minute; the local stack's loop every second) takes the events due
in its region's partitions of the sparse index, and those of a region whose resolver has been silent
for longer than the takeover bound (the resolver's heartbeat rule, ResolutionPolicy.silent). For each:

- at its first attempt, the merchant's enabled endpoints subscribed to its type become its deliveries
  (one each); an endpoint registered later does not get it (a resend does);
- each delivery due is posted: the stored body, exactly as signed, with the Standard Webhooks headers
  (webhook-id = the event id, the same on every retry), signed with every current secret of the
  endpoint (both during a rotation). The URL is checked again first (DNS may have changed since the
  registration) and the connection goes to the address that was checked; no redirect is followed (a
  3xx is a failure); an attempt gets `timeout_seconds`;
- each attempt is recorded (endpoint, time, status or error, duration); a 2xx finishes the delivery,
  a 410 finishes it and disables the endpoint at once, anything else is tried again on the schedule
  (`Retry-After` is honoured within its bounds) until the schedule ends;
- an endpoint whose every attempt has failed for `disable_after_seconds` is disabled with the reason;
- the event is written back with a version-conditioned write: it leaves the index (due_at None) once
  every delivery is finished. A lost condition (another region's takeover, a resend) drops this run's
  write: the event is read again next run, so a delivery may repeat (same webhook-id), never vanish.

Delivery order is not promised: the body's `created_at` and the object's state let a receiver ignore a
stale event. A delivery is posted before it is written: a crash in between posts it again (at least once).
"""

from __future__ import annotations

import collections
import itertools
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Protocol
from urllib.parse import urlsplit

import attrs

from handlers.domain import webhooks
from handlers.domain.errors import ConditionFailed
from handlers.domain.models import Heartbeat
from handlers.domain.settlement import Clock, ResolutionPolicy, utc_now
from handlers.domain.webhook_pages import DueCursor, DuePage
from handlers.domain.webhooks import Attempt, Delivery, Endpoint, EndpointStatus, StoredEvent, UrlPolicy

logger = logging.getLogger(__name__)

# Seconds to wait before each attempt, from the previous one (the first: from the event's write): at
# once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, then daily twice. The last attempt comes 75.6 h
# (over 3 days) after the first; then the delivery has failed for good (a resend starts it again).
DEFAULT_RETRY_DELAYS: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000, 86400, 86400)
DISABLE_AFTER_SECONDS = 5 * 24 * 3600.0
ATTEMPT_TIMEOUT_SECONDS = 10.0
MAX_STORED_ATTEMPTS = 200  # an event's attempts listed by GET /v1/events/{id}: the newest are kept
GONE = 410
# An endpoint's last failure is written at most this often (not once per failed attempt).
FAILURE_NOTED_EVERY = timedelta(hours=1)


class Outcome:
    """WebhookDeliveries' `Outcome` dimension."""

    DELIVERED = "delivered"  # a 2xx answer
    RETRYING = "retrying"  # failed, due again on the schedule
    EXHAUSTED = "exhausted"  # failed, and the schedule is over
    GONE = "gone"  # 410: the endpoint is disabled
    SKIPPED = "skipped"  # the endpoint was deleted or disabled before this attempt


@attrs.frozen
class PostResult:
    status: int | None  # None: no HTTP answer (see error)
    error: str | None = None  # "timeout", "connection refused", ...
    retry_after: float | None = None  # seconds, from the answer's Retry-After
    duration_ms: int = 0


class Poster(Protocol):
    def post(self, url: str, address: str, headers: Mapping[str, str], body: str, timeout: float) -> PostResult:
        """POST `body` to `url`, connecting to `address` (the one check_url accepted), never following
        a redirect; any failure is a PostResult with `error`, never an exception."""


class SenderStore(Protocol):
    """What the sender reads and writes (handlers.adapters.dynamo_deliveries implements it)."""

    def due_events(self, region: str, now: float, limit: int, cursor: DueCursor | None = None) -> DuePage:
        """About `limit` of `region`'s events due by `now`, each partition read in due order after
        `cursor` (the previous page's): a pass reads forward, so an event it cannot settle never stands
        in front of the others, and an index's stale copy of one it settled is not read again."""

    def replace_event(self, event: StoredEvent, previous_version: int) -> None: ...

    def endpoints(self, merchant_id: str) -> Sequence[Endpoint]: ...

    def update_endpoint(self, endpoint: Endpoint, previous: Endpoint) -> None:
        """Write the endpoint's health (failing_since, status, disabled_reason) unless the merchant
        changed it since `previous` was read (rotated, enabled, disabled, deleted): ConditionFailed."""

    def heartbeats(self) -> Mapping[str, Heartbeat]: ...


# Events delivered at once by a run: at the design load a region writes ~65 events/s (docs/cost.md).
DEFAULT_PARALLEL = 32


@attrs.frozen
class DeliveryPolicy:
    retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS
    disable_after_seconds: float = DISABLE_AFTER_SECONDS
    timeout_seconds: float = ATTEMPT_TIMEOUT_SECONDS
    url_policy: UrlPolicy = attrs.Factory(UrlPolicy)
    batch_size: int = 50
    # Events delivered at once: at the design load a region writes ~65 events/s (docs/cost.md).
    parallel: int = DEFAULT_PARALLEL
    # A run stops taking new events after this long (the function's timeout is longer by one attempt).
    run_budget_seconds: float = 40.0

    def series_gap(self) -> timedelta:
        """Longer than this between two failures, the endpoint was idle: a new series of failures. The
        last failure is noted up to an hour late, and a run may start late: two hours of margin."""
        return timedelta(seconds=max(self.retry_delays)) + 2 * FAILURE_NOTED_EVERY

    def next_delay(self, attempts_made: int, retry_after: float | None) -> float | None:
        """Seconds until the next attempt after `attempts_made` attempts (None: the schedule is over).
        A Retry-After may push it later than the schedule, never sooner, and never past the
        schedule's longest delay."""
        if attempts_made >= len(self.retry_delays):
            return None
        scheduled = self.retry_delays[attempts_made]
        if retry_after is None:
            return scheduled
        return min(max(scheduled, retry_after), max(self.retry_delays))


def schedule_from_retries(retries: Sequence[float]) -> tuple[float, ...]:
    """`--webhook-retry-delays 1,2,4`: the first attempt at once, then one retry after each delay."""
    if not retries or any(not 0 <= delay < 10**9 for delay in retries):
        raise ValueError("retry delays must be non-negative numbers of seconds")
    return (0.0, *retries)


@attrs.define
class SenderReport:
    region: str
    outcomes: collections.Counter[str] = attrs.Factory(collections.Counter)
    endpoints_disabled: int = 0
    events_written: int = 0
    lost_writes: int = 0  # a version condition lost: another writer had the event (read again next run)
    failures: int = 0  # an event that could not be handled at all (logged)
    took_over: tuple[str, ...] = ()
    # Seconds the most overdue delivery of this region has waited past its due time (None: none due).
    # A delivery waiting for a retry later on the schedule is not late: it does not count.
    oldest_undelivered_age: float | None = None

    def merge(self, other: SenderReport) -> None:
        """Add what one event's delivery did (run on another thread) to the run's report."""
        self.outcomes.update(other.outcomes)
        self.endpoints_disabled += other.endpoints_disabled
        self.events_written += other.events_written
        self.lost_writes += other.lost_writes
        self.failures += other.failures


class WebhookSender:
    def __init__(
        self,
        *,
        store: SenderStore,
        poster: Poster,
        resolve: webhooks.Resolver,
        region: str,
        policy: DeliveryPolicy,
        resolution: ResolutionPolicy,
        peers: Sequence[str] = (),
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._poster = poster
        self._resolve = resolve
        self._region = region
        self._policy = policy
        self._resolution = resolution
        self._peers = tuple(peer for peer in peers if peer != region)
        self._clock = clock

    def run(self) -> SenderReport:
        """One pass: this region's due events, then those of regions out of service."""
        now = self._clock().timestamp()
        beats = self._store.heartbeats()
        ages = {peer: now - beats[peer].at if peer in beats else None for peer in self._peers}
        report = SenderReport(
            self._region, took_over=tuple(p for p, age in ages.items() if self._resolution.silent(age))
        )
        deadline = time.monotonic() + self._policy.run_budget_seconds
        for region in (self._region, *report.took_over):
            most_overdue = self._deliver_region(region, report, deadline)
            if region == self._region and most_overdue is not None:
                report.oldest_undelivered_age = max(0.0, now - most_overdue)
        return report

    def _deliver_region(self, region: str, report: SenderReport, deadline: float) -> float | None:
        """Page after page of the events due when the pass began, read forward, until none is left or
        the run's time is up; the due time of the most overdue one (None: none was due). An event the
        pass could not settle (its write lost, or failed) is tried again by the next run; one the pass
        tried is never tried twice in it. One event's failure is logged and counted; the run goes on."""
        now = self._clock().timestamp()
        tried: set[str] = set()
        most_overdue: float | None = None
        cursor: DueCursor | None = None
        while time.monotonic() < deadline:
            page = self._store.due_events(region, now, self._policy.batch_size, cursor)
            batch = list({event.id: event for event in page.events if event.id not in tried}.values())
            if batch:  # each event once, though the index may hand one back twice
                most_overdue = batch[0].due_at if most_overdue is None else most_overdue
                tried.update(event.id for event in batch)
                self._deliver_batch(batch, report, deadline)
            if page.cursor is None:
                break
            cursor = page.cursor
        return most_overdue

    def _deliver_batch(self, batch: Sequence[StoredEvent], report: SenderReport, deadline: float) -> None:
        """Events at once (each event's endpoints one after another): a batch of slow receivers takes
        about one attempt's timeout, not one per event. The batch reads each merchant's endpoints once.
        Each task reports apart, merged after."""
        endpoints = _EndpointBook(self._store)
        with ThreadPoolExecutor(max_workers=self._policy.parallel) as pool:
            for part in pool.map(self._deliver_one, batch, itertools.repeat(endpoints), itertools.repeat(deadline)):
                report.merge(part)

    def _deliver_one(self, event: StoredEvent, endpoints: _EndpointBook, deadline: float) -> SenderReport:
        part = SenderReport(self._region)
        try:
            self.deliver(event, part, deadline=deadline, endpoints=endpoints)
        except Exception:
            logger.exception("webhook_event_failed", extra={"event_id": event.id})
            part.failures += 1
        return part

    def deliver(
        self,
        event: StoredEvent,
        report: SenderReport,
        *,
        deadline: float | None = None,
        endpoints: _EndpointBook | None = None,
    ) -> StoredEvent | None:
        """Post each due delivery of `event` and write what happened; the event as written (None: the
        write lost its condition). Past `deadline` (monotonic) no attempt starts: the rest stay due.
        `endpoints`: the batch's book of endpoints (None: the merchant's are read now)."""
        book = endpoints or _EndpointBook(self._store)
        return self._deliver_with(event, book.of(event.merchant_id), report, deadline)

    def _deliver_with(
        self, event: StoredEvent, endpoints: _Endpoints, report: SenderReport, deadline: float | None
    ) -> StoredEvent | None:
        now = self._clock()
        deliveries = event.deliveries or tuple(
            Delivery(endpoint.id, next_at=now.timestamp())
            for endpoint in endpoints.all()
            if endpoint.status is EndpointStatus.ENABLED and endpoint.subscribed(event.type)
        )
        attempts = list(event.attempts)
        updated: list[Delivery] = []
        for delivery in deliveries:
            due = delivery.next_at is not None and delivery.next_at <= self._clock().timestamp()
            in_time = deadline is None or time.monotonic() < deadline
            updated.append(self._attempt(event, delivery, endpoints, attempts, report) if due and in_time else delivery)
        pending = [d.next_at for d in updated if d.next_at is not None]
        written = attrs.evolve(
            event,
            deliveries=tuple(updated),
            attempts=tuple(attempts[-MAX_STORED_ATTEMPTS:]),
            due_at=min(pending) if pending else None,
            version=event.version + 1,
        )
        try:
            self._store.replace_event(written, event.version)
        except ConditionFailed:
            logger.warning("webhook_event_write_lost", extra={"event_id": event.id})
            report.lost_writes += 1
            return None
        report.events_written += 1
        return written

    def _attempt(
        self,
        event: StoredEvent,
        delivery: Delivery,
        endpoints: _Endpoints,
        attempts: list[Attempt],
        report: SenderReport,
    ) -> Delivery:
        endpoint = endpoints.get(delivery.endpoint_id)
        if endpoint is None or endpoint.status is not EndpointStatus.ENABLED:
            # Deleted or disabled since: finished, not delivered (kept in the events list; resendable).
            report.outcomes[Outcome.SKIPPED] += 1
            return attrs.evolve(delivery, next_at=None)
        started = self._clock()
        result = self._post(event, endpoint, started)
        attempts.append(Attempt(endpoint.id, started, result.status, result.error, result.duration_ms))
        made = delivery.attempts + 1
        if result.status is not None and 200 <= result.status < 300:
            report.outcomes[Outcome.DELIVERED] += 1
            endpoints.succeeded(endpoint.id)
            return Delivery(endpoint.id, attempts=made, next_at=None, delivered=True)
        if result.status == GONE:
            report.outcomes[Outcome.GONE] += 1
            endpoints.disable(endpoint.id, "the endpoint answered 410 Gone", report)
            return Delivery(endpoint.id, attempts=made, next_at=None)
        endpoints.failed(endpoint.id, started, self._policy, report)
        delay = self._policy.next_delay(made, result.retry_after)
        if delay is None:
            report.outcomes[Outcome.EXHAUSTED] += 1
            return Delivery(endpoint.id, attempts=made, next_at=None)
        report.outcomes[Outcome.RETRYING] += 1
        return Delivery(endpoint.id, attempts=made, next_at=started.timestamp() + delay)

    def _post(self, event: StoredEvent, endpoint: Endpoint, now: datetime) -> PostResult:
        """Check the URL against the addresses its host resolves to now, then post to one of those."""
        host = urlsplit(endpoint.url).hostname or ""
        try:
            addresses = list(self._resolve(host))
        except (OSError, UnicodeError, ValueError):
            addresses = []
        problem = webhooks.check_url(endpoint.url, self._policy.url_policy, lambda _: addresses)
        if problem is not None:
            return PostResult(None, f"refused URL: {problem}")
        timestamp = int(now.timestamp())
        signed = webhooks.headers(endpoint.signing_secrets(now), event.id, timestamp, event.body)
        return self._poster.post(endpoint.url, addresses[0], signed, event.body, self._policy.timeout_seconds)


class _EndpointBook:
    """A batch's endpoints: each merchant's read once (not once per event), shared by the batch's threads."""

    def __init__(self, store: SenderStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._merchants: dict[str, _Endpoints] = {}

    def of(self, merchant_id: str) -> _Endpoints:
        with self._lock:  # only the dictionary: each merchant's read happens under its own lock
            found = self._merchants.get(merchant_id)
            if found is None:
                found = self._merchants[merchant_id] = _Endpoints(self._store, merchant_id)
            return found


class _Endpoints:
    """One merchant's endpoints, read at first use, and their health written as it changes. One lock:
    a check and the write it decides (first failure, disable) are one step for the batch's threads, so
    a change is written once and seen by the rest of the batch. A write that finds the merchant changed
    the endpoint meanwhile reads them all again: the fresh copy, not a stale one nor none, serves on."""

    def __init__(self, store: SenderStore, merchant_id: str) -> None:
        self._store = store
        self._merchant_id = merchant_id
        self._lock = threading.RLock()
        self._by_id: dict[str, Endpoint] | None = None

    def all(self) -> list[Endpoint]:
        with self._lock:
            return list(self._read().values())

    def get(self, endpoint_id: str) -> Endpoint | None:
        with self._lock:
            return self._read().get(endpoint_id)

    def succeeded(self, endpoint_id: str) -> None:
        with self._lock:
            endpoint = self._read().get(endpoint_id)
            if endpoint is not None and (endpoint.failing_since or endpoint.last_failure_at) is not None:
                self._write(endpoint, attrs.evolve(endpoint, failing_since=None, last_failure_at=None))

    def failed(self, endpoint_id: str, at: datetime, policy: DeliveryPolicy, report: SenderReport) -> None:
        """A failed attempt: the first of a series starts it; one after `disable_after_seconds` of them
        disables the endpoint. A series ends when the endpoint was not tried for longer than the
        schedule's longest wait (an idle endpoint is not failing); the last failure is noted hourly."""
        with self._lock:
            endpoint = self._read().get(endpoint_id)
            if endpoint is None or endpoint.status is not EndpointStatus.ENABLED:
                return
            last = endpoint.last_failure_at or endpoint.failing_since  # an endpoint written before the note
            if endpoint.failing_since is None or (last is not None and at - last > policy.series_gap()):
                self._write(endpoint, attrs.evolve(endpoint, failing_since=at, last_failure_at=at))
            elif at - endpoint.failing_since >= timedelta(seconds=policy.disable_after_seconds):
                since = endpoint.failing_since.astimezone(UTC).isoformat(timespec="seconds")
                days = _days(policy.disable_after_seconds)
                self.disable(endpoint_id, f"every delivery attempt failed since {since} ({days})", report)
            elif last is None or at - last >= FAILURE_NOTED_EVERY:
                self._write(endpoint, attrs.evolve(endpoint, last_failure_at=at))

    def disable(self, endpoint_id: str, reason: str, report: SenderReport) -> None:
        with self._lock:
            endpoint = self._read().get(endpoint_id)
            if endpoint is None or endpoint.status is not EndpointStatus.ENABLED:
                return  # another event of the batch disabled it first: once
            changed = attrs.evolve(endpoint, status=EndpointStatus.DISABLED, disabled_reason=reason)
            if self._write(endpoint, changed):
                report.endpoints_disabled += 1  # this task's own report: merged after the batch
                logger.warning("webhook_endpoint_disabled", extra={"endpoint_id": endpoint.id, "reason": reason})

    def _read(self) -> dict[str, Endpoint]:
        if self._by_id is None:
            self._by_id = {endpoint.id: endpoint for endpoint in self._store.endpoints(self._merchant_id)}
        return self._by_id

    def _write(self, previous: Endpoint, endpoint: Endpoint) -> bool:
        try:
            self._store.update_endpoint(endpoint, previous)
        except ConditionFailed:  # the merchant changed or deleted it meanwhile: theirs wins, read again
            self._by_id = None
            return False
        except Exception:  # health is a note: a storage failure must not cost the event its write
            logger.exception("webhook_endpoint_health_not_written", extra={"endpoint_id": endpoint.id})
            return False
        self._read()[endpoint.id] = endpoint
        return True


def _days(seconds: float) -> str:
    return f"{seconds / 86400:g} days" if seconds >= 86400 else f"{seconds:g} s"
