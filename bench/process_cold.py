"""Cold start as a whole process: import, real adapters and the first request, against an instant fake.

bench.coldstart swaps the adapters for in-process fakes, so it leaves out what the first real
DynamoDB call and the first bank call build (the service model's shapes, endpoint rules, signing,
sockets). Here each round starts two fresh interpreters (bench.process_child), in alternating
order: the floor (`import boto3`, one client, one PutItem) and the payments function serving one
keyed POST. Both talk to one fake on 127.0.0.1 that answers DynamoDB (by X-Amz-Target) and the
bank (below /bank) at once, so the figure is the function's own cost. The ratio is the median of
the per-round ratios (target: at most 1.15). Each child's own CPU time (user + system, from the
kernel's accounting of the finished child) is reported beside it: on a machine shared with other
work, wall time mostly measures the neighbours, CPU time much less so.

The code root is the Lambda archive as components.packaging builds it (bytecode included), unpacked.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.coldstart import REPO, ColdStartResult, child_environment, parse_child_output
from bench.process_child import BOOT

TARGET_RATIO = 1.15
CHILD_TIMEOUT_SECONDS = 60
BANK_PATH = "/bank"
# What DynamoDB answers an unconditional success: no attributes back, an empty read.
_DYNAMODB_ANSWERS: dict[str, dict[str, object]] = {
    "PutItem": {},
    "UpdateItem": {},
    "TransactWriteItems": {},  # a status written with its webhook event
    "GetItem": {},
    "Query": {"Items": [], "Count": 0, "ScannedCount": 0},
}
_BANK_ANSWER = {"authorized": True, "authorization_code": "BENCH1", "captured": True}


class _InstantUpstream(BaseHTTPRequestHandler):
    """DynamoDB's JSON protocol and the bank's authorization, each answered without delay."""

    protocol_version = "HTTP/1.1"  # keep-alive, as both real upstreams
    disable_nagle_algorithm = True  # or every keep-alive answer waits ~40 ms for the next segment

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith(BANK_PATH):
            self._answer(200, "application/json", _BANK_ANSWER)
            return
        operation = (self.headers.get("X-Amz-Target") or "").rpartition(".")[2]
        if operation not in _DYNAMODB_ANSWERS:
            self._answer(400, "application/x-amz-json-1.0", {"__type": "UnknownOperationException"})
            return
        self._answer(200, "application/x-amz-json-1.0", _DYNAMODB_ANSWERS[operation])

    def _answer(self, status: int, content_type: str, body: object) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("x-amzn-RequestId", "bench")
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def instant_upstream() -> Iterator[str]:
    """The fake's base URL, served from a thread of this process while the context lasts."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _InstantUpstream)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="instant-upstream", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def process_environment(base: Mapping[str, str], fake_url: str) -> dict[str, str]:
    """bench.coldstart's function environment, with both upstreams at the fake."""
    env = child_environment(base)
    env["DYNAMODB_ENDPOINT_URL"] = fake_url
    env["BANK_URL"] = fake_url + BANK_PATH
    return env


def run_child(mode: str, code_root: Path, fake_url: str, env: Mapping[str, str]) -> dict[str, object]:
    """The child's answer, with "cpu_ms": the CPU time it used (its own, from start to exit)."""
    before = _children_cpu_seconds()
    completed = subprocess.run(
        [sys.executable, "-c", BOOT, str(code_root), str(REPO), mode, fake_url],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_SECONDS,
        check=False,
        cwd=tempfile.gettempdir(),  # not the repository: sys.path[0] must not shadow the code root
    )
    result = parse_child_output(completed.stdout)
    if completed.returncode != 0 or result is None:
        raise RuntimeError(f"whole-process child {mode!r} failed ({completed.returncode}): {completed.stderr[-2000:]}")
    expected = 201 if mode == "post" else 200
    if result["status"] != expected:
        raise RuntimeError(f"whole-process child {mode!r} answered {result['status']}, expected {expected}")
    result["cpu_ms"] = (_children_cpu_seconds() - before) * 1000
    return result


def _children_cpu_seconds() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)  # waited-for children only: ours, one at a time
    return used.ru_utime + used.ru_stime


@dataclass(frozen=True)
class ProcessColdResult:
    wall: ColdStartResult
    cpu: ColdStartResult


def measure(
    rounds: int, code_root: Path, base_env: Mapping[str, str], progress: Callable[[str], None] = lambda _: None
) -> ProcessColdResult:
    result = ProcessColdResult(ColdStartResult(rounds, str(code_root)), ColdStartResult(rounds, str(code_root)))
    with instant_upstream() as fake_url:
        env = process_environment(base_env, fake_url)
        for _ in range(2):  # untimed: fill the OS page cache
            for mode in ("floor", "post"):
                run_child(mode, code_root, fake_url, env)
        for index in range(rounds):
            order = ("floor", "post") if index % 2 == 0 else ("post", "floor")
            for mode in order:
                answer = run_child(mode, code_root, fake_url, env)
                result.wall.samples[mode].append(float(str(answer["ms"])))
                result.cpu.samples[mode].append(float(str(answer["cpu_ms"])))
            progress(f"whole-process cold start round {index + 1}/{rounds}")
    return result
