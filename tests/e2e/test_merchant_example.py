"""examples/merchant.py as a merchant would run it: against the local stack, and against a scripted
server that answers 409, drops the connection, answers 503, a 502 that is not the bank's, and 202
before the 201, to check that every retry reuses the payment's Idempotency-Key and honours
Retry-After, and that a 502 bank_unavailable is final."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.e2e.conftest import KEY_A, LocalStack

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "merchant.py"
CREATED_AT = "2026-12-01T10:00:00.000Z"
DROP = "drop the connection"
# What the scripted server answers to the n-th POST with one key, by the card's last digit.
SCRIPTS: dict[str, list[Any]] = {
    "1": [
        (409, {"Retry-After": "1"}, {"error": {"type": "request_in_progress", "message": "busy"}}),
        DROP,
        (503, {"Retry-After": "0"}, {"error": {"type": "service_unavailable", "message": "later"}}),
        (502, {"Retry-After": "0"}, {"error": {"type": "internal_error", "message": "the Lambda failed"}}),
        (202, {"Retry-After": "0"}, {"id": "pay_auth", "status": "pending", "created_at": CREATED_AT}),
        (201, {}, {"id": "pay_auth", "status": "authorized", "authorization_code": "C0DE", "created_at": CREATED_AT}),
        (
            201,
            {"Idempotent-Replayed": "true"},
            {"id": "pay_auth", "status": "authorized", "authorization_code": "C0DE"},
        ),
    ],
    "2": [(201, {}, {"id": "pay_decl", "status": "declined", "authorization_code": None})],
    "0": [(502, {}, {"error": {"type": "bank_unavailable", "message": "nothing charged", "payment_id": "pay_fail"}})],
    "9": [DROP],  # never answers (the tour uses no such card)
}
PAGES = {None: (["pay_fail", "pay_decl"], "page-2"), "page-2": (["pay_auth"], None)}


@dataclass(frozen=True)
class Seen:
    method: str
    target: str
    key: str | None
    card: str | None
    at: float


class Scripted(ThreadingHTTPServer):
    daemon_threads = True
    seen: list[Seen]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Scripted

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        key, card = self.headers["Idempotency-Key"], body["card"]["number"]
        earlier = sum(1 for seen in self.server.seen if seen.key == key)
        self.server.seen.append(Seen("POST", self.path, key, card, time.monotonic()))
        script = SCRIPTS[card[-1]]
        step = script[min(earlier, len(script) - 1)]
        if step == DROP:
            self.close_connection = True  # no status line at all: the client sees the connection end
            return
        self._answer(*step)

    def do_GET(self) -> None:
        self.server.seen.append(Seen("GET", self.path, None, None, time.monotonic()))
        cursor = parse_qs(urlsplit(self.path).query).get("cursor", [None])[0]
        ids, next_cursor = PAGES[cursor]
        self._answer(200, {}, {"data": [{"id": payment_id} for payment_id in ids], "next_cursor": next_cursor})

    def _answer(self, status: int, headers: dict[str, str], body: object) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    server = Scripted(("127.0.0.1", 0), _Handler)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _run(url: str, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(EXAMPLE), "--url", url, "--key", key, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


def test_against_the_local_stack_each_card_has_its_outcome_and_the_list_is_paged(stack: LocalStack) -> None:
    run = _run(stack.global_url, KEY_A)

    assert run.returncode == 0, run.stdout + run.stderr
    for line in ("=> authorized pay_", "=> declined pay_", "=> failed", "Idempotent-Replayed: true", "among them"):
        assert line in run.stdout, run.stdout
    assert "pages (following next_cursor)" in run.stdout


def test_retries_keep_the_key_honour_retry_after_and_stop_at_a_502(scripted: Scripted) -> None:
    run = _run(f"http://127.0.0.1:{scripted.server_port}", "pgw_scripted")

    assert run.returncode == 0, run.stdout + run.stderr
    posts = [seen for seen in scripted.seen if seen.method == "POST"]
    by_card = {digit: [seen for seen in posts if seen.card and seen.card[-1] == digit] for digit in "120"}
    authorized = by_card["1"]
    assert len(authorized) == 7  # 409, no answer, 503, 502 internal_error, 202, 201, then the tour's replay
    assert len({seen.key for seen in authorized}) == 1  # every retry, and the replay, with the one key
    assert authorized[1].at - authorized[0].at >= 1.0  # the 409's Retry-After: 1
    assert len(by_card["2"]) == 1
    assert len(by_card["0"]) == 1  # a 502 is final: neither retried with its key nor resent with a new one
    assert len({seen.key for seen in posts}) == 3  # a key per payment
    lists = [urlsplit(seen.target) for seen in scripted.seen if seen.method == "GET"]
    assert [parse_qs(target.query).get("cursor") for target in lists] == [None, ["page-2"]]
    assert parse_qs(lists[0].query)["created_from"] == [CREATED_AT]
    assert "=> authorized pay_auth (authorization code C0DE)" in run.stdout
    assert "=> failed pay_fail: nothing was charged" in run.stdout
    assert "3 payments in 2 pages" in run.stdout


def test_an_answer_that_never_comes_is_pending_with_its_key_never_a_new_payment(scripted: Scripted) -> None:
    url = f"http://127.0.0.1:{scripted.server_port}"
    run = _run(url, "pgw_scripted", "--card", "4111111111111129", "--give-up-after", "2")

    assert run.returncode == 0, run.stdout + run.stderr
    posts = [seen for seen in scripted.seen if seen.method == "POST"]
    assert len(posts) >= 2 and len({seen.key for seen in posts}) == 1
    assert f"=> pending: not final yet; replay key {posts[0].key} later" in run.stdout
