"""An open-loop HTTP load generator: fixed arrival rate, latency from the scheduled send time.

Request i is due at start + i/rate whatever happened to the earlier ones (open loop), so a slow
server cannot slow the generator down and hide its own queueing (coordinated omission): a
request that waits for a free connection, or that the event loop starts late, is charged from
the moment it was due. HTTP/1.1 keep-alive over asyncio streams, standard library only.

The mix is drawn from a seeded RNG: POST /v1/payments with a fresh Idempotency-Key,
GET /v1/payments/{id} of a payment this run created, GET /v1/payments?limit=20.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bench import events
from bench.stats import Summary

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
DEFAULT_MIX = (("post", 0.6), ("get", 0.3), ("list", 0.1))
# Issue 19's design load: 80% keyed payments, 20% GET by id, plus 5% list calls (weights: 76/19/5%).
DESIGN_MIX = (("post", 0.80), ("get", 0.20), ("list", 0.05))
EXPECTED_STATUS = {"post": 201, "get": 200, "list": 200, "readback": 200}


# --- the open loop ---------------------------------------------------------------------------------


def schedule(rate: float, duration: float) -> list[float]:
    """Offsets (s from the start) at which requests are due: a fixed arrival rate."""
    if rate <= 0 or duration <= 0:
        raise ValueError("rate and duration must be positive")
    return [i / rate for i in range(round(rate * duration))]


async def run_open_loop(
    offsets: Sequence[float],
    issue: Callable[[int, float], Awaitable[None]],
    *,
    clock: Clock = time.perf_counter,
    sleep: Sleep = asyncio.sleep,
) -> float:
    """Start issue(i, due) at each due time (absolute, on `clock`) without waiting for earlier ones.

    `issue` measures its latency as clock() - due. Returns the start time.
    """
    start = clock()
    tasks: list[asyncio.Task[None]] = []
    for index, offset in enumerate(offsets):
        due = start + offset
        delay = due - clock()
        if delay > 0:
            await sleep(delay)
        tasks.append(asyncio.ensure_future(issue(index, due)))
    await asyncio.gather(*tasks)
    return start


def choose_kinds(count: int, mix: Sequence[tuple[str, float]], seed: int) -> list[str]:
    rng = random.Random(seed)
    names = [name for name, _ in mix]
    weights = [weight for _, weight in mix]
    return rng.choices(names, weights=weights, k=count)


# --- a minimal keep-alive HTTP/1.1 client ------------------------------------------------------------


class HttpError(Exception):
    pass


@dataclass
class Response:
    status: int
    body: bytes
    keep_alive: bool


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self._reader = reader
        self._writer = writer
        self._host = host
        self.used = False

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        self.used = True
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self._host}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await self._writer.drain()
        status_line = await self._reader.readline()
        if not status_line:
            raise HttpError("connection closed before a response")
        status = int(status_line.split(b" ", 2)[1])
        length: int | None = None
        keep_alive = True
        while True:
            line = await self._reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "connection" and value.strip().lower() == "close":
                keep_alive = False
        if length is None:
            return Response(status, await self._reader.read(), keep_alive=False)
        return Response(status, await self._reader.readexactly(length), keep_alive)

    def close(self) -> None:
        self._writer.close()


class Pool:
    """Up to `size` keep-alive connections to one host; a request waits for a free one."""

    def __init__(self, base_url: str, size: int) -> None:
        parts = urlsplit(base_url)
        if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the benchmarks only send traffic to this machine")
        self._host = parts.hostname
        self._port = parts.port or 80
        self._idle: list[Connection] = []
        self._slots = asyncio.Semaphore(size)
        self.opened = 0

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> Response:
        async with self._slots:
            for attempt in range(2):
                connection = self._idle.pop() if self._idle else await self._open()
                reused = connection.used
                try:
                    response = await connection.request(method, path, headers, body)
                except (HttpError, ConnectionError, asyncio.IncompleteReadError):
                    connection.close()
                    if reused and attempt == 0:  # the server closed an idle connection: once more, fresh
                        continue
                    raise
                except BaseException:
                    connection.close()
                    raise
                if response.keep_alive:
                    self._idle.append(connection)
                else:
                    connection.close()
                return response
        raise HttpError("unreachable")

    async def _open(self) -> Connection:
        reader, writer = await asyncio.open_connection(self._host, self._port)
        self.opened += 1
        return Connection(reader, writer, f"{self._host}:{self._port}")

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()


# --- the payment workload ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    kind: str
    due: float  # seconds since the run's start
    finished: float
    status: int  # 0: no HTTP answer (see error)
    error: str | None = None
    payment_id: str | None = None
    payment_status: str | None = None
    merchant_id: str | None = None
    detail: str | None = None  # the API's error type, for an unexpected status

    @property
    def latency(self) -> float:
        return self.finished - self.due

    @property
    def ok(self) -> bool:
        return self.error is None and self.status == EXPECTED_STATUS[self.kind]


@dataclass
class LoadResult:
    rate: float
    duration: float
    outcomes: list[Outcome] = field(default_factory=list)
    connections: int = 0

    @property
    def errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def latency(self) -> Summary:
        return Summary.of([o.latency for o in self.outcomes])

    def achieved_rate(self) -> float:
        """Answers per second over the time from the first due send to the last answer."""
        if not self.outcomes:
            return 0.0
        return len(self.outcomes) / max(self.duration, *(o.finished for o in self.outcomes))

    def created(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.kind == "post" and o.status == 201 and o.payment_id]


@dataclass(frozen=True)
class Merchant:
    id: str
    api_key: str


def bench_merchants(count: int) -> list[Merchant]:
    """Merchant ids and keys for the local stack's --merchant flags (benchmark-only secrets)."""
    # No long run of digits: the stack refuses a merchant name (here its id) that could be a card number.
    return [Merchant(f"mer_01JBENCH{n:04d}{'X' * 14}", f"sk_test_bench-{n:04d}-{'k' * 40}") for n in range(count)]


class Workload:
    """Builds each request when it is due (a GET needs a payment that already exists)."""

    def __init__(self, merchants: Sequence[Merchant], seed: int) -> None:
        self._merchants = list(merchants)
        self._rng = random.Random(seed)
        self.created: list[tuple[Merchant, str]] = []

    def request(self, kind: str) -> tuple[Merchant, str, str, bytes, dict[str, str]]:
        if kind == "get" and not self.created:
            kind = "list"
        merchant = self._rng.choice(self._merchants)
        headers = {"Authorization": f"Bearer {merchant.api_key}"}
        if kind == "post":
            headers["Content-Type"] = "application/json"
            headers["Idempotency-Key"] = str(uuid.uuid4())
            body = json.dumps(events.payment_body(reference=f"load-{self._rng.randrange(10**9)}")).encode()
            return merchant, "POST", "/v1/payments", body, headers
        if kind == "get":
            merchant, payment_id = self._rng.choice(self.created)
            headers["Authorization"] = f"Bearer {merchant.api_key}"
            return merchant, "GET", f"/v1/payments/{payment_id}", b"", headers
        return merchant, "GET", "/v1/payments?limit=20", b"", headers


async def run_load(
    base_url: str,
    *,
    rate: float,
    duration: float,
    merchants: Sequence[Merchant],
    mix: Sequence[tuple[str, float]] = DEFAULT_MIX,
    seed: int = 1,
    timeout: float = 10.0,
    connections: int = 256,
    seed_payments: int = 20,
) -> LoadResult:
    pool = Pool(base_url, connections)
    workload = Workload(merchants, seed)
    result = LoadResult(rate=rate, duration=duration)
    try:
        for _ in range(seed_payments):  # untimed: GETs need payments to read
            merchant, method, path, body, headers = workload.request("post")
            answer = await asyncio.wait_for(pool.request(method, path, headers, body), timeout)
            if answer.status == 201:
                workload.created.append((merchant, json.loads(answer.body)["id"]))
        kinds = choose_kinds(len(schedule(rate, duration)), mix, seed)
        start = time.perf_counter()

        async def issue(index: int, due: float) -> None:
            kind = kinds[index]
            if kind == "get" and not workload.created:
                kind = "list"
            merchant, method, path, body, headers = workload.request(kind)
            outcome = await _send(pool, kind, method, path, headers, body, due - start, start, timeout)
            outcome = dataclasses.replace(outcome, merchant_id=merchant.id)
            if outcome.kind == "post" and outcome.status == 201 and outcome.payment_id:
                workload.created.append((merchant, outcome.payment_id))
            result.outcomes.append(outcome)

        await run_open_loop(schedule(rate, duration), issue)
    finally:
        result.connections = pool.opened
        pool.close()
    return result


async def _send(
    pool: Pool,
    kind: str,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    due: float,
    start: float,
    timeout: float,
) -> Outcome:
    try:
        answer = await asyncio.wait_for(pool.request(method, path, headers, body), timeout)
    except TimeoutError:
        return Outcome(kind, due, time.perf_counter() - start, 0, "timeout")
    except (OSError, HttpError, asyncio.IncompleteReadError, ValueError) as e:
        return Outcome(kind, due, time.perf_counter() - start, 0, type(e).__name__)
    finished = time.perf_counter() - start
    payment_id = payment_status = None
    if answer.status != EXPECTED_STATUS[kind]:
        return Outcome(kind, due, finished, answer.status, detail=error_type(answer.body))
    if kind in ("post", "readback"):
        try:
            payload = json.loads(answer.body)
            payment_id, payment_status = payload.get("id"), payload.get("status")
        except ValueError:
            return Outcome(kind, due, finished, answer.status, "bad JSON")
    return Outcome(kind, due, finished, answer.status, None, payment_id, payment_status)


def error_type(body: bytes) -> str | None:
    """`{"error": {"type": "service_unavailable", ...}}` -> "service_unavailable"."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    error = payload.get("error") if isinstance(payload, dict) else None
    kind = error.get("type") if isinstance(error, dict) else None
    return str(kind) if kind else None


READ_BACK_ATTEMPTS = 12


@dataclass
class ReadBack:
    checked: int = 0
    missing: int = 0
    mismatched: int = 0
    errors: int = 0

    def count(self, post: Outcome, read: Outcome) -> None:
        self.checked += 1
        if read.status == 404:
            self.missing += 1
        elif not read.ok:
            self.errors += 1
        elif (read.payment_id, read.payment_status) != (post.payment_id, post.payment_status):
            self.mismatched += 1


def backoff(attempts: int, first: float, cap: float) -> list[float]:
    """The pauses before each retry: doubling from `first`, at most `cap` each."""
    return [min(first * 2**i, cap) for i in range(attempts - 1)]


async def _read_until_final(
    pool: Pool, path: str, headers: dict[str, str], timeout: float, pauses: Sequence[float], deadline: float
) -> Outcome:
    outcome = await _send(pool, "readback", "GET", path, headers, b"", 0.0, time.perf_counter(), timeout)
    for pause in pauses:
        if outcome.ok or outcome.status == 404 or time.monotonic() + pause > deadline:
            break
        await asyncio.sleep(pause)
        outcome = await _send(pool, "readback", "GET", path, headers, b"", 0.0, time.perf_counter(), timeout)
    return outcome


async def read_back(
    base_url: str,
    created: Sequence[Outcome],
    merchants: Sequence[Merchant],
    *,
    concurrency: int = 8,
    timeout: float = 10.0,
    attempts: int = READ_BACK_ATTEMPTS,
    pause: float = 1.0,
    budget: float = 300.0,
) -> ReadBack:
    """GET every payment that was answered 201: it must exist, with the status it was created with.

    A read that fails for another reason than 404 (the stack still draining an overload: after a
    minute at 3x moto's capacity that takes minutes) is tried again, `attempts` times in all with
    doubling pauses of at most 16 s (~2 min): the question is whether the payment was lost, not
    whether the stack is still busy. A 404 is final: the payment was acknowledged, then not found.
    After `budget` seconds in all, reads are no longer retried: a stack that never drains cannot
    hold the benchmark for hours, and what is left counts as unreadable.
    """
    pool = Pool(base_url, concurrency)
    deadline = time.monotonic() + budget
    keys = {merchant.id: merchant.api_key for merchant in merchants}
    report = ReadBack()
    queue = list(created)

    async def worker() -> None:
        while queue:
            post = queue.pop()
            headers = {"Authorization": f"Bearer {keys[str(post.merchant_id)]}"}
            path = f"/v1/payments/{post.payment_id}"
            report.count(
                post, await _read_until_final(pool, path, headers, timeout, backoff(attempts, pause, 16.0), deadline)
            )

    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        pool.close()
    return report
