"""examples/merchant.py as a merchant would run it: against the local stack, and against a scripted
server that answers 409, drops the connection, answers 503, a 502 that is not the bank's, and 202
before the 201, to check that every retry reuses the payment's Idempotency-Key and honours
Retry-After, and that a 502 bank_unavailable is final. The lifecycle part likewise: a capture answered
409 then 202 (its outcome polled with GET), a refund answered 500 then 201, one answered 202, and a void
whose first connection drops, each retried with its own key and never sent as a new request."""

from __future__ import annotations

import json
import re
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
        (201, {}, {"id": "pay_auth", "status": "captured", "authorization_code": "C0DE", "created_at": CREATED_AT}),
        (
            201,
            {"Idempotent-Replayed": "true"},
            {"id": "pay_auth", "status": "captured", "authorization_code": "C0DE"},
        ),
    ],
    "2": [(201, {}, {"id": "pay_decl", "status": "declined", "authorization_code": None})],
    "0": [(502, {}, {"error": {"type": "bank_unavailable", "message": "nothing charged", "payment_id": "pay_fail"}})],
    "9": [DROP],  # never answers (the tour uses no such card)
}
PAGES = {None: (["pay_fail", "pay_decl"], "page-2"), "page-2": (["pay_auth"], None)}
BUSY = (409, {"Retry-After": "1"}, {"error": {"type": "request_in_progress", "message": "busy"}})
CRASHED = (500, {"Retry-After": "0"}, {"error": {"type": "internal_error", "message": "unknown"}})
# The n-th POST with one key of each lifecycle operation (a refund's script by which refund it is).
OPERATIONS: dict[str, list[Any]] = {
    "capture": [BUSY, "accepted"],  # 409, then 202: the outcome shows in the payment after two GETs
    "refund-1": [CRASHED, "done"],  # 500, then 201 succeeded
    "refund-2": ["accepted"],  # 202 pending: succeeded in the refunds' list after two GETs
    "void": [DROP, "done"],
}


@dataclass(frozen=True)
class Seen:
    method: str
    target: str
    key: str | None
    card: str | None
    at: float


class Scripted(ThreadingHTTPServer):
    """Also keeps the lifecycle's state: an accepted (202) operation shows after two GETs."""

    daemon_threads = True
    seen: list[Seen]
    payments_by_key: dict[str, str]
    payments: dict[str, dict[str, Any]]
    refunds: dict[str, dict[str, Any]]  # by Idempotency-Key

    def manual(self, key: str) -> dict[str, Any]:
        payment_id = self.payments_by_key.setdefault(key, f"pay_manual{len(self.payments_by_key) + 1}")
        payment = self.payments.setdefault(payment_id, {"id": payment_id, "status": "authorized", "amount_captured": 0})
        return self.shown(payment)

    def shown(self, payment: dict[str, Any], *, read: bool = False) -> dict[str, Any]:
        if read and "after" in payment:
            payment["gets"] -= 1
            if payment["gets"] == 0:
                payment.update(payment.pop("after"))
        refunded = sum(r["amount"] for r in self.listed(payment["id"], count=False) if r["status"] == "succeeded")
        body = {k: v for k, v in payment.items() if k not in ("after", "gets")}
        return {**body, "authorization_code": "C0DE5", "capture_method": "manual", "amount_refunded": refunded}

    def refund_of(self, key: str, payment_id: str, body: dict[str, Any]) -> dict[str, Any]:
        n = len(self.refunds) + 1
        return self.refunds.setdefault(
            key,
            {
                "id": f"re_{n}",
                "n": n,
                "payment_id": payment_id,
                "amount": body["amount"],
                "status": "pending",
                "gets": 2,
            },
        )

    def listed(self, payment_id: str, *, count: bool = True) -> list[dict[str, Any]]:
        shown = []
        for refund in self.refunds.values():
            if refund["payment_id"] != payment_id:
                continue
            if count and refund["status"] == "pending":
                refund["gets"] -= 1
                if refund["gets"] == 0:
                    refund["status"] = "succeeded"
            shown.append({k: v for k, v in refund.items() if k not in ("n", "gets")})
        return shown


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Scripted

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        key = self.headers["Idempotency-Key"]
        earlier = sum(1 for seen in self.server.seen if seen.key == key)
        card = body["card"]["number"] if "card" in body else None
        self.server.seen.append(Seen("POST", self.path, key, card, time.monotonic()))
        if card is None:
            self._operation(key, earlier, body)
            return
        if card[-1] == "5":  # the lifecycle's manual payments: one per key
            self._answer(201, {}, self.server.manual(key))
            return
        script = SCRIPTS[card[-1]]
        step = script[min(earlier, len(script) - 1)]
        if step == DROP:
            self.close_connection = True  # no status line at all: the client sees the connection end
            return
        self._answer(*step)

    def _operation(self, key: str, earlier: int, body: dict[str, Any]) -> None:
        payment_id, _, route = self.path.removeprefix("/v1/payments/").partition("/")
        payment = self.server.payments[payment_id]
        if route == "refunds":
            refund = self.server.refund_of(key, payment_id, body)
            script = OPERATIONS[f"refund-{refund['n']}"]
        else:
            script = OPERATIONS[route]
        step = script[min(earlier, len(script) - 1)]
        if step == DROP:
            self.close_connection = True
        elif isinstance(step, tuple):  # an error answer
            self._answer(*step)
        elif route == "refunds":
            if step == "done":
                refund["status"], refund["gets"] = "succeeded", 0
            shown = {k: v for k, v in refund.items() if k not in ("n", "gets")}
            status = 201 if step == "done" else 202
            self._answer(status, {"Retry-After": "0"} if status == 202 else {}, {**shown, "status": refund["status"]})
        else:
            after = {"capture": {"status": "captured", "amount_captured": body.get("amount", 1050)}}.get(
                route, {"status": "voided"}
            )
            if step == "accepted":
                payment["after"], payment["gets"] = after, 2
                self._answer(202, {"Retry-After": "0"}, self.server.shown(payment))
            else:
                payment.update(after)
                self._answer(200, {}, self.server.shown(payment))

    def do_GET(self) -> None:
        self.server.seen.append(Seen("GET", self.path, None, None, time.monotonic()))
        if self.path.startswith("/v1/payments/"):
            payment_id, _, route = self.path.removeprefix("/v1/payments/").partition("/")
            payment = self.server.payments[payment_id]
            if route == "refunds":
                self._answer(200, {}, {"data": self.server.listed(payment_id)})
            else:
                self._answer(200, {}, self.server.shown(payment, read=True))
            return
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
    server.seen, server.payments, server.refunds, server.payments_by_key = [], {}, {}, {}
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
    for line in ("=> captured pay_", "=> declined pay_", "=> failed", "Idempotent-Replayed: true", "among them"):
        assert line in run.stdout, run.stdout
    assert "pages (following next_cursor)" in run.stdout
    # The lifecycle: a manual payment, a partial capture, two partial refunds, and a void of another one.
    assert re.search(r"=> authorized pay_\w+ \(authorization code", run.stdout), run.stdout
    for line in ("capture 800 of pay_", "=> captured\n", "=> succeeded\n", "=> captured 800, refunded 500"):
        assert line in run.stdout, run.stdout
    assert run.stdout.count("=> succeeded\n") == 2
    assert "=> refunds, oldest first: [300, 200]" in run.stdout
    assert "then its void, voided expected:" in run.stdout and "\n  => voided\n" in run.stdout, run.stdout


def test_retries_keep_the_key_honour_retry_after_and_stop_at_a_502(scripted: Scripted) -> None:
    run = _run(f"http://127.0.0.1:{scripted.server_port}", "sk_test_scripted")

    assert run.returncode == 0, run.stdout + run.stderr
    posts = [seen for seen in scripted.seen if seen.method == "POST"]
    by_card = {digit: [seen for seen in posts if seen.card and seen.card[-1] == digit] for digit in "120"}
    authorized = by_card["1"]
    assert len(authorized) == 7  # 409, no answer, 503, 502 internal_error, 202, 201, then the tour's replay
    assert len({seen.key for seen in authorized}) == 1  # every retry, and the replay, with the one key
    assert authorized[1].at - authorized[0].at >= 1.0  # the 409's Retry-After: 1
    assert len(by_card["2"]) == 1
    assert len(by_card["0"]) == 1  # a 502 is final: neither retried with its key nor resent with a new one
    assert len({seen.key for digit in "120" for seen in by_card[digit]}) == 3  # a key per payment
    lists = [urlsplit(seen.target) for seen in scripted.seen if seen.method == "GET" and "?" in seen.target]
    assert [parse_qs(target.query).get("cursor") for target in lists] == [None, ["page-2"]]
    assert parse_qs(lists[0].query)["created_from"] == [CREATED_AT]
    assert "=> captured pay_auth (authorization code C0DE)" in run.stdout
    assert "=> failed pay_fail: nothing was charged" in run.stdout
    assert "3 payments in 2 pages" in run.stdout


def test_an_answer_that_never_comes_is_pending_with_its_key_never_a_new_payment(scripted: Scripted) -> None:
    url = f"http://127.0.0.1:{scripted.server_port}"
    run = _run(url, "sk_test_scripted", "--card", "4111111111111129", "--give-up-after", "2")

    assert run.returncode == 0, run.stdout + run.stderr
    posts = [seen for seen in scripted.seen if seen.method == "POST"]
    assert len(posts) >= 2 and len({seen.key for seen in posts}) == 1
    assert f"=> pending: not final yet; replay key {posts[0].key} later" in run.stdout


def test_captures_refunds_and_voids_keep_their_keys_and_poll_a_202s_outcome(scripted: Scripted) -> None:
    run = _run(f"http://127.0.0.1:{scripted.server_port}", "sk_test_scripted")

    assert run.returncode == 0, run.stdout + run.stderr
    posts = [seen for seen in scripted.seen if seen.method == "POST"]
    manual = sorted({seen.key for seen in posts if seen.card and seen.card[-1] == "5"})
    assert len(manual) == 2  # the captured one and the voided one, a key each
    by_route: dict[str, list[Seen]] = {}
    for seen in posts:
        if seen.card is None:
            by_route.setdefault(seen.target.rsplit("/", 1)[1], []).append(seen)
    capture, refunds, void = by_route["capture"], by_route["refunds"], by_route["void"]
    assert len(capture) == 2 and len({seen.key for seen in capture}) == 1  # 409, then the same key: 202
    assert capture[1].at - capture[0].at >= 1.0  # the 409's Retry-After: 1
    gets = [seen for seen in scripted.seen if seen.method == "GET" and seen.target == "/v1/payments/pay_manual1"]
    assert len(gets) >= 3 and gets[0].at > capture[1].at  # the 202's outcome, polled until it showed (then read)
    keys = [seen.key for seen in refunds]
    assert len(refunds) == 3 and keys[0] == keys[1] != keys[2]  # 500 then the same key; the second refund its own
    assert len(void) == 2 and void[0].key == void[1].key  # no answer, then the same key
    assert len({seen.key for seen in posts}) == 3 + 2 + 1 + 2 + 1  # the tour's 3, 2 manual, capture, 2 refunds, void
    assert "=> captured 800, refunded 500" in run.stdout
    assert "=> refunds, oldest first: [300, 200]" in run.stdout
    assert "\n  => voided\n" in run.stdout
