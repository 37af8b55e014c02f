"""Warm per-request cost: own CPU time of each handler call in this process, thousands of times.

Two phases, each interleaving the routes with two baselines call by call (so drift on a noisy
machine hits all of them alike):
- fakes: DynamoDB and the bank as in-process fakes (bench.fakes). This is the figure with the
  target (at most 1 ms median per payment): it is the code we own.
- boto3: the real DynamoRepository and DynamoDB client (the lean client of
  handlers/adapters/dynamo_http.py), stopped at the socket: a `before-send` hook answers each
  serialized, signed request with a canned DynamoDB JSON answer, which the client then parses. This
  adds what the SDK layer costs per call on Lambda (billed duration), minus the network. Each call is
  interleaved with the same call on a botocore client with the same Config: the contrast.

Baselines: `noop` (an empty handler: the timer's own cost) and `json` (json.loads of the request
body plus json.dumps of the response body: the least a JSON API does per request).
CPU is time.thread_time_ns(); logs and metrics are formatted as on Lambda and written to /dev/null.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import io
import json
import logging
import os
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from bench import events
from bench.fakes import BenchBank, seeded_repository
from bench.stats import Summary
from handlers.adapters import dynamo
from handlers.contract import schema
from handlers.domain.auth import hash_api_key
from handlers.entrypoints import api, authorizer, wiring

ROUTES = ("post", "post_no_key", "get", "list", "authorizer")
BASELINES = ("noop", "json")
BOTOCORE = "+botocore_client"  # the same call with a botocore client in place of the lean one
ENVIRONMENT = {
    "AWS_REGION": events.REGION,
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_SESSION_TOKEN": "bench",
    "AWS_EC2_METADATA_DISABLED": "true",
    "TABLE_NAME": "payment-gateway",
    "BANK_URL": "http://127.0.0.1:9/never-called",
    "FINGERPRINT_KEY": "bench-fingerprint-key",
    "CURSOR_KEY": "bench-cursor-key",  # the list functions sign their cursors
    "API_KEY_MODE": "test",  # the benchmarks' key is a test key (events.API_KEY)
    "LOG_LEVEL": "INFO",
}
Handler = Callable[[Mapping[str, Any], Any], Any]


@dataclass
class WarmResult:
    phase: str
    iterations: int
    cpu_us: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    wall_us: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    log_bytes: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    storage_calls: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))

    def summary(self, name: str) -> Summary:
        return Summary.of(self.cpu_us[name])


def timed_call(call: Callable[[], object]) -> tuple[float, float, object]:
    """(own CPU µs, wall µs, result) of one call."""
    wall = time.perf_counter_ns()
    cpu = time.thread_time_ns()
    result = call()
    cpu_ns = time.thread_time_ns() - cpu
    wall_ns = time.perf_counter_ns() - wall
    return cpu_ns / 1000, wall_ns / 1000, result


class CountingSink(io.TextIOBase):
    """Stands in for Lambda's stdout: counts the bytes the handlers log (CloudWatch ingests them)."""

    def __init__(self) -> None:
        self.bytes = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.bytes += len(text.encode())
        return len(text)


@contextlib.contextmanager
def lambda_like_process() -> Iterator[CountingSink]:
    """The functions' environment, fresh handler caches, and stdout (logs, EMF metrics) counted, not kept."""
    saved_env = {name: os.environ.get(name) for name in ENVIRONMENT}
    saved_globals = {module: dict(vars(module)) for module in (wiring, authorizer)}
    os.environ.update(ENVIRONMENT)
    os.environ.pop("DYNAMODB_ENDPOINT_URL", None)
    _clear_caches()
    try:
        sink = CountingSink()
        with contextlib.redirect_stdout(sink):
            yield sink
    finally:
        for module, saved in saved_globals.items():
            vars(module).update(saved)
        _clear_caches()
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        logging.getLogger().handlers.clear()


def _clear_caches() -> None:
    for module in (wiring, authorizer):
        for value in list(vars(module).values()):
            if isinstance(value, functools._lru_cache_wrapper):
                value.cache_clear()


def _install_fakes() -> CannedDynamoDB | None:
    repository = seeded_repository(events.MERCHANT_ID, events.API_KEY)
    vars(wiring)["DynamoRepository"] = lambda client, table: repository
    vars(wiring)["HttpBank"] = BenchBank
    vars(authorizer)["DynamoRepository"] = lambda client, table: repository
    return None


def _install_canned_boto3() -> CannedDynamoDB | None:
    table = CannedDynamoDB()
    table.put(seeded_item())

    def make_client(*args: Any, **kwargs: Any) -> Any:
        lean = dynamo.make_client(*args, **kwargs)
        reference = _botocore_client(lean)
        for client in (lean, reference):
            client.meta.events.register("before-send.dynamodb", table)
        switch = SwitchableClient(lean, reference)
        table.clients.append(switch)
        return switch

    vars(wiring)["make_client"] = make_client
    vars(wiring)["HttpBank"] = BenchBank
    vars(authorizer)["make_client"] = make_client
    return table


def _botocore_client(lean: Any) -> Any:
    """A botocore client as handlers.adapters.dynamo made before the lean client: same region, endpoint and Config."""
    return botocore.session.get_session().create_client(
        "dynamodb", region_name=lean.meta.region_name, endpoint_url=lean.meta.endpoint_url, config=lean.meta.config
    )


class SwitchableClient:
    """The lean client, or a botocore client while `botocore` is set: the same call sites, interleaved."""

    def __init__(self, lean: Any, reference: Any) -> None:
        self.lean, self.reference, self.botocore = lean, reference, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.reference if self.botocore else self.lean, name)


@contextlib.contextmanager
def with_botocore_client(clients: list[Any]) -> Iterator[None]:
    for client in clients:
        client.botocore = True
    try:
        yield
    finally:
        for client in clients:
            client.botocore = False


def seeded_item() -> dict[str, Any]:
    """The seeded merchant key, as DynamoDB JSON (what the authorizer reads)."""
    return {
        schema.PARTITION_KEY: {"S": schema.api_key_pk(hash_api_key(events.API_KEY))},
        schema.SORT_KEY: {"S": schema.API_KEY_SORT},
        "merchant_id": {"S": events.MERCHANT_ID},
        "name": {"S": "Bench merchant"},
        "active": {"BOOL": True},
    }


class CannedDynamoDB:
    """A botocore `before-send` hook: answers PutItem/GetItem/Query from a dict, without a socket.

    Conditions are not evaluated (every benchmark write is to a fresh key, so they would pass).
    """

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.sort_keys: dict[str, list[str]] = defaultdict(list)
        self.own_cpu_ns = 0  # this hook's own CPU, subtracted from the handler's figure
        self.calls = 0  # DynamoDB requests answered: the storage calls per handler call
        self.clients: list[Any] = []

    def put(self, item: dict[str, Any]) -> None:
        pk, sk = item["pk"]["S"], item["sk"]["S"]
        if (pk, sk) not in self.items:
            bisect.insort(self.sort_keys[pk], sk)
        self.items[(pk, sk)] = item

    def answer(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        if operation == "PutItem":
            self.put(request["Item"])
            return {}
        if operation == "TransactWriteItems":  # a status written with its webhook event
            for write in request["TransactItems"]:
                self.put(write["Put"]["Item"])
            return {}
        if operation == "GetItem":
            key = request["Key"]
            item = self.items.get((key["pk"]["S"], key["sk"]["S"]))
            return {"Item": item} if item else {}
        if operation == "Query":
            return self._query(request)
        raise NotImplementedError(operation)

    def _query(self, request: dict[str, Any]) -> dict[str, Any]:
        """A list's key range (newest first, up to Limit), or a GET's sort-key prefix (a payment with
        its operations, oldest first)."""
        values = request["ExpressionAttributeValues"]
        keys = self.sort_keys[values[":pk"]["S"]]
        if ":prefix" in values:
            prefix = values[":prefix"]["S"]
            selected = keys[bisect.bisect_left(keys, prefix) : bisect.bisect_left(keys, prefix + "\uffff")]
        else:
            low, high = values[":low"]["S"], values[":high"]["S"]
            selected = keys[bisect.bisect_left(keys, low) : bisect.bisect_right(keys, high)]
            selected = list(reversed(selected[-request["Limit"] :]))
        found = [self.items[(values[":pk"]["S"], sk)] for sk in selected]
        return {"Items": found, "Count": len(found), "ScannedCount": len(found)}

    def __call__(self, request: Any, **_kwargs: Any) -> Any:
        started = time.thread_time_ns()
        self.calls += 1
        target = request.headers["X-Amz-Target"]
        operation = (target.decode() if isinstance(target, bytes) else target).rsplit(".", 1)[-1]
        body = json.dumps(self.answer(operation, json.loads(request.body))).encode()
        headers = HTTPHeaders.from_dict({"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "bench"})
        response = AWSResponse(request.url, 200, headers, _Raw(body))
        self.own_cpu_ns += time.thread_time_ns() - started
        return response


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_kwargs: Any) -> Iterator[bytes]:
        yield self._body


def _noop(_event: Mapping[str, Any], _context: Any) -> None:
    return None


def _json_round_trip(body: str, answer: object) -> str:
    json.loads(body)
    return json.dumps(answer, separators=(",", ":"))


def _route_calls(post_event: dict[str, Any], rng: random.Random, created: list[str]) -> dict[str, Callable[[], object]]:
    """One call of each route, with its event built now (outside the timed region)."""
    return {
        "post": functools.partial(api.create_payment, post_event, None),
        "post_no_key": functools.partial(api.create_payment, events.post_payment(None), None),
        "get": functools.partial(api.get_payment, events.get_payment(rng.choice(created or ["pay_x"])), None),
        "list": functools.partial(api.list_payments, events.list_payments(20), None),
        "authorizer": functools.partial(authorizer.handler, events.authorizer_request(), None),
    }


def measure(phase: str, iterations: int, warmup: int, seed: int = 5) -> WarmResult:
    """Interleave every route and baseline, call by call; `phase` is "fakes" or "boto3"."""
    rng = random.Random(seed)
    result = WarmResult(phase=phase, iterations=iterations)
    with lambda_like_process() as sink:
        canned = (_install_fakes if phase == "fakes" else _install_canned_boto3)()
        created: list[str] = []
        wire_example = json.loads(api.create_payment(events.post_payment("warm-0"), None)["body"])
        for index in range(warmup + iterations):
            post_event = events.post_payment(f"bench-{phase}-{index}")
            calls: dict[str, Callable[[], object]] = {
                "noop": functools.partial(_noop, post_event, None),
                "json": functools.partial(_json_round_trip, post_event["body"], wire_example),
                **_route_calls(post_event, rng, created),
            }
            if canned is not None:  # a botocore client, interleaved with the lean one
                other = _route_calls(events.post_payment(f"bench-{phase}-{index}-b"), rng, created)
                calls.update({f"{name}{BOTOCORE}": call for name, call in other.items()})
            order = list(calls)
            rng.shuffle(order)
            for name in order:
                hook_before = canned.own_cpu_ns if canned else 0
                storage_before = canned.calls if canned else 0
                logged_before = sink.bytes
                if name.endswith(BOTOCORE) and canned is not None:
                    with with_botocore_client(canned.clients):
                        cpu, wall, response = timed_call(calls[name])
                else:
                    cpu, wall, response = timed_call(calls[name])
                logged = sink.bytes - logged_before
                storage = (canned.calls if canned else 0) - storage_before
                hook_us = ((canned.own_cpu_ns if canned else 0) - hook_before) / 1000
                cpu, wall = cpu - hook_us, wall - hook_us
                _check(name.removesuffix(BOTOCORE), response)
                if name.removesuffix(BOTOCORE) == "post" and isinstance(response, dict):
                    created.append(json.loads(response["body"])["id"])
                if index >= warmup:
                    result.cpu_us[name].append(cpu)
                    result.wall_us[name].append(wall)
                    result.log_bytes[name].append(logged)
                    result.storage_calls[name].append(storage)
    return result


def _check(name: str, response: object) -> None:
    if name.startswith("post") or name in ("get", "list"):
        status = response.get("statusCode") if isinstance(response, dict) else None
        expected = 201 if name.startswith("post") else 200
        if status != expected and not (name == "get" and status == 404):
            raise RuntimeError(f"warm {name}: HTTP {status}: {response}")
