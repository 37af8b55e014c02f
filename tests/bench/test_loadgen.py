import asyncio
import json
from collections import Counter

import pytest

from bench import loadgen
from handlers.domain import cards


class FakeTime:
    """A clock that only moves when the code under test sleeps (or when a test moves it)."""

    def __init__(self, lag: float = 0.0) -> None:
        self.now = 100.0
        self.lag = lag  # how late every wake-up is, as on an overloaded event loop

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)  # let due tasks run at the current time, as a real sleep would
        self.now += seconds + self.lag


def test_schedule_is_a_fixed_arrival_rate() -> None:
    offsets = loadgen.schedule(rate=4, duration=2)
    assert offsets == [0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
    assert len(loadgen.schedule(rate=167, duration=60)) == 10_020


def test_schedule_refuses_a_zero_rate() -> None:
    with pytest.raises(ValueError):
        loadgen.schedule(0, 10)


def run_loop(time: FakeTime, offsets: list[float]) -> list[float]:
    latencies: list[float] = []

    async def issue(index: int, due: float) -> None:
        latencies.append(time.clock() - due)

    asyncio.run(loadgen.run_open_loop(offsets, issue, clock=time.clock, sleep=time.sleep))
    return latencies


def test_latency_is_measured_from_the_scheduled_time_not_the_actual_send() -> None:
    # Every wake-up is 50 ms late: a generator that timed from its own send would report 0.
    latencies = run_loop(FakeTime(lag=0.05), [0.0, 0.1, 0.2, 0.3])
    assert latencies[0] == pytest.approx(0.0)
    assert all(latency == pytest.approx(0.05) for latency in latencies[1:])


def test_requests_are_issued_without_waiting_for_earlier_answers() -> None:
    time = FakeTime()
    started: list[int] = []

    async def scenario() -> list[int]:
        release = asyncio.Event()

        async def issue(index: int, due: float) -> None:
            started.append(index)
            await release.wait()  # no answer until the test says so

        loop = asyncio.ensure_future(loadgen.run_open_loop([0.0, 0.1, 0.2], issue, clock=time.clock, sleep=time.sleep))
        for _ in range(100):  # a bounded number of event-loop turns, not a time limit
            await asyncio.sleep(0)
        seen = list(started)
        release.set()
        await loop
        return seen

    assert asyncio.run(scenario()) == [0, 1, 2]  # all three were sent while none had been answered


def test_the_mix_is_deterministic_and_close_to_its_weights() -> None:
    kinds = loadgen.choose_kinds(10_000, loadgen.DEFAULT_MIX, seed=3)
    assert kinds == loadgen.choose_kinds(10_000, loadgen.DEFAULT_MIX, seed=3)
    counts = Counter(kinds)
    assert counts["post"] / 10_000 == pytest.approx(0.6, abs=0.03)
    assert counts["get"] / 10_000 == pytest.approx(0.3, abs=0.03)
    assert counts["list"] / 10_000 == pytest.approx(0.1, abs=0.02)


def outcome(kind: str, status: int, due: float = 0.0, finished: float = 0.1, **extra: object) -> loadgen.Outcome:
    return loadgen.Outcome(kind, due, finished, status, **extra)  # type: ignore[arg-type]


def test_errors_are_unexpected_statuses_and_transport_failures() -> None:
    result = loadgen.LoadResult(rate=10, duration=1)
    result.outcomes = [
        outcome("post", 201, payment_id="pay_1", payment_status="authorized"),
        outcome("post", 503),
        outcome("get", 200),
        outcome("list", 0, error="timeout"),
    ]
    assert [o.status for o in result.errors] == [503, 0]
    assert [o.payment_id for o in result.created()] == ["pay_1"]


def test_latency_and_achieved_rate() -> None:
    result = loadgen.LoadResult(rate=2, duration=2)
    result.outcomes = [outcome("get", 200, due=0.0, finished=0.2), outcome("get", 200, due=0.5, finished=3.5)]
    assert result.latency().max == pytest.approx(3.0)
    assert result.achieved_rate() == pytest.approx(2 / 3.5)


def test_every_request_gets_a_fresh_idempotency_key_and_gets_read_created_payments() -> None:
    merchants = loadgen.bench_merchants(2)
    workload = loadgen.Workload(merchants, seed=1)
    keys = {workload.request("post")[4]["Idempotency-Key"] for _ in range(100)}
    assert len(keys) == 100
    assert workload.request("get")[2] == "/v1/payments?limit=20"  # nothing created yet: a list instead
    workload.created.append((merchants[1], "pay_X"))
    merchant, method, path, _, headers = workload.request("get")
    assert (merchant, method, path) == (merchants[1], "GET", "/v1/payments/pay_X")
    assert headers["Authorization"] == f"Bearer {merchants[1].api_key}"


def test_the_pool_only_talks_to_this_machine() -> None:
    with pytest.raises(ValueError):
        loadgen.Pool("http://example.com:80", 1)


def test_the_client_speaks_keep_alive_http() -> None:
    async def scenario() -> tuple[list[int], int, list[bytes]]:
        seen: list[bytes] = []

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = int(next(v for k, v in _headers(head) if k == "content-length"))
                seen.append(await reader.readexactly(length))
                body = json.dumps({"id": "pay_1"}).encode()
                writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
                if reader.at_eof():
                    break

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        pool = loadgen.Pool(f"http://127.0.0.1:{port}", 1)
        statuses = [(await pool.request("POST", "/v1/payments", {}, b"{}")).status for _ in range(3)]
        pool.close()
        server.close()
        return statuses, pool.opened, seen

    statuses, opened, bodies = asyncio.run(scenario())
    assert statuses == [201, 201, 201]
    assert opened == 1  # one connection, reused
    assert bodies == [b"{}"] * 3


def _headers(head: bytes) -> list[tuple[str, str]]:
    lines = head.decode().split("\r\n")[1:]
    return [(k.strip().lower(), v.strip()) for k, _, v in (line.partition(":") for line in lines if line)]


def test_error_type_is_read_from_the_api_error_shape() -> None:
    assert loadgen.error_type(b'{"error": {"type": "service_unavailable", "message": "x"}}') == "service_unavailable"
    assert loadgen.error_type(b"<html>bad gateway</html>") is None
    assert loadgen.error_type(b"[]") is None


def test_read_back_counts_lost_changed_and_unreadable_payments() -> None:
    check = loadgen.ReadBack()
    post = outcome("post", 201, payment_id="pay_1", payment_status="authorized")
    check.count(post, outcome("readback", 200, payment_id="pay_1", payment_status="authorized"))
    check.count(post, outcome("readback", 404))
    check.count(post, outcome("readback", 200, payment_id="pay_1", payment_status="declined"))
    check.count(post, outcome("readback", 503))
    assert (check.checked, check.missing, check.mismatched, check.errors) == (4, 1, 1, 1)


def test_read_back_pauses_double_up_to_a_cap() -> None:
    assert loadgen.backoff(6, 1.0, 16.0) == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert sum(loadgen.backoff(loadgen.READ_BACK_ATTEMPTS, 1.0, 16.0)) > 100  # outlasts a draining overload


def test_a_stack_that_never_drains_cannot_hold_the_read_back_past_its_budget() -> None:
    async def scenario() -> tuple[loadgen.ReadBack, int]:
        reads = 0

        async def always_busy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal reads
            while await reader.readuntil(b"\r\n\r\n"):
                reads += 1
                writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n\r\n{}")
                await writer.drain()

        server = await asyncio.start_server(always_busy, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        merchant = loadgen.Merchant("mer_1", "sk_test_key")
        created = [outcome("post", 201, payment_id=f"pay_{i}", merchant_id="mer_1") for i in range(4)]
        check = await loadgen.read_back(f"http://127.0.0.1:{port}", created, [merchant], pause=0.2, budget=0.5)
        server.close()
        return check, reads

    check, reads = asyncio.run(scenario())
    assert (check.checked, check.errors, check.missing) == (4, 4, 0)
    assert reads < 4 * loadgen.READ_BACK_ATTEMPTS  # retries stopped at the budget, not after all attempts


def test_bench_merchants_are_accepted_by_the_stack() -> None:
    """The runner seeds each merchant with its id as its name, and refuses a name that could hold a card number."""
    assert not [merchant.id for merchant in loadgen.bench_merchants(20) if cards.contains_pan(merchant.id)]
