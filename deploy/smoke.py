"""`python -m deploy.smoke --url URL [--key KEY] [--pay]`: does a deployed (or the local) gateway answer?

    make smoke URL="$(pulumi stack output regionalApiUrl -s eu)" KEY=sk_live_...                 # any bank: no payment
    make smoke URL="$(pulumi stack output regionalApiUrl -s eu)" KEY=sk_test_... ARGS=--pay  # bankSimulator: true

Checks, one line each (`ok`, `FAIL` or `skip`, then what): health (GET /health 200); auth (no key and an
unknown key: 401 in the error shape); then, by default, for any bank: no payment at all, only the list and a
GET of an unknown id (404). With `--pay`, for a simulator deployment only, a manual payment with an authorized test
card (201 authorized), its replay (same id, `Idempotent-Replayed: true`), the bank-failure card (502
`bank_unavailable`), GET of the payment and the list that holds it, a partial capture of it (200 captured), a
partial refund (201 succeeded), and a void of a second manual payment (200 voided): test cards only, each POST
with its own Idempotency-Key, amounts the simulator never delays (their last digit is not 2, 3 or 4):
forgetting a flag never sends test cards to a real acquirer. `--pay` takes only a test key (`sk_test_`), which
no live stack accepts; it is for a `bankSimulator` stack only, as its checks expect the simulator's answers (an
acquirer's sandbox, `bankSandbox`, answers its own way: give it the read-only checks). `--read-only` (the
default) may be given to say so. Exit status: 0
every check passed, 1 one failed, 2 a usage error. Standard library only; the key may come from
`SMOKE_API_KEY` instead of `--key` (what `make smoke` does, so the key is not in the process list).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

AUTHORIZED_CARD = "4242424242424291"  # README, Test cards: authorized
FAILING_CARD = "4242424242424200"  # the simulator answers 503: failed, nothing charged
KEY_ENV = "SMOKE_API_KEY"
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
DEFAULT_TIMEOUT_SECONDS = 35.0  # longer than API Gateway's 29 s
USAGE_ERROR = 2
TEST_KEY_PREFIX, LIVE_KEY_PREFIX = "sk_test_", "sk_live_"  # handlers.domain.auth.KeyMode (stdlib only here)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: Any


class CheckFailed(Exception):
    """What a check expected and what came instead."""


class Client:
    """One connection per request to the base URL, whose path (a stage's `/live`) prefixes every route."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"--url must be an http(s) URL, not {url!r}")
        self._connection = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self._host, self._port, self._base = parts.hostname, parts.port, parts.path.rstrip("/")
        self._timeout = timeout

    def request(
        self, method: str, path: str, *, key: str | None = None, body: object = None, idempotency_key: str | None = None
    ) -> Answer:
        """Raises OSError or http.client.HTTPException when no answer came."""
        headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        payload = None
        if body is not None:
            payload, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        connection = self._connection(self._host, self._port, timeout=self._timeout)
        try:
            connection.request(method, self._base + path, body=payload, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, _json(raw))


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:  # a proxy's page: the status still says what happened
        return None


def payment_body(card_number: str) -> dict[str, Any]:
    card = {"number": card_number, "expiry_month": 12, "expiry_year": 2099, "cvv": "123"}
    return {"amount": 100, "currency": "EUR", "reference": "smoke-test", "capture_method": "manual", "card": card}


CAPTURE_AMOUNT = 60  # of the payment's 100; the rest is released
REFUND_AMOUNT = 10


def unknown_payment_id() -> str:
    """Well-formed (`pay_` + a ULID) and random, so it names no payment."""
    return "pay_" + secrets.choice("01234567") + "".join(secrets.choice(CROCKFORD) for _ in range(25))


def described(answer: Answer) -> str:
    """The status and, for an error, its type and message: never a request body (it holds a card)."""
    error = answer.body.get("error") if isinstance(answer.body, dict) else None
    if isinstance(error, dict):
        return f"{answer.status} {error.get('type')}: {str(error.get('message'))[:160]}"
    return str(answer.status)


def expect(answer: Answer, status: int) -> Any:
    if answer.status != status:
        raise CheckFailed(f"expected {status}, got {described(answer)}")
    return answer.body


def expect_error(answer: Answer, status: int, kind: str) -> str:
    """The one error shape: {"error": {"type": ..., "message": ...}}."""
    body = expect(answer, status)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("message"), str) or error.get("type") != kind:
        raise CheckFailed(f"expected a {status} {kind} in the error shape, got {json.dumps(body)[:200]}")
    return f"{status} {kind}"


def expect_payment(body: Any, status: str, payment_id: str | None = None) -> str:
    if not isinstance(body, dict) or not str(body.get("id", "")).startswith("pay_"):
        raise CheckFailed(f"expected a payment, got {json.dumps(body)[:200]}")
    if payment_id is not None and body["id"] != payment_id:
        raise CheckFailed(f"expected payment {payment_id}, got {body['id']}")
    if body.get("status") != status:
        raise CheckFailed(f"expected status {status}, got {body.get('status')}")
    return str(body["id"])


@dataclass
class Report:
    write: Callable[[str], None] = print
    counts: dict[str, int] = field(default_factory=lambda: {"ok": 0, "FAIL": 0, "skip": 0})

    def check(self, name: str, run: Callable[[], str]) -> bool:
        try:
            detail = run()
        except CheckFailed as e:
            return self._line("FAIL", name, str(e))
        except (OSError, http.client.HTTPException) as e:
            return self._line("FAIL", name, f"no answer ({type(e).__name__}: {e})")
        return self._line("ok", name, detail)

    def skip(self, name: str, why: str) -> None:
        self._line("skip", name, why)

    def _line(self, outcome: str, name: str, detail: str) -> bool:
        self.counts[outcome] += 1
        self.write(f"{outcome:<4} {name}: {detail}")
        return outcome == "ok"

    @property
    def failed(self) -> bool:
        return self.counts["FAIL"] > 0


@dataclass
class Smoke:
    client: Client
    key: str
    report: Report
    payment_id: str | None = None

    def run(self, *, read_only: bool) -> None:
        self.report.check("health", self.health)
        self.report.check("auth, no key", self.no_key)
        self.report.check("auth, unknown key", self.unknown_key)
        if read_only:
            self.report.check("list", self.list_page)
            self.report.check("get, unknown id", self.get_unknown)
            return
        idempotency_key = f"smoke-{uuid.uuid4()}"
        paid = self.report.check("payment", lambda: self.pay(idempotency_key))
        dependent = {"replay": lambda: self.replay(idempotency_key), "get": self.get, "list": self.listed}
        self.report.check("bank failure", self.bank_failure)
        for name, check in dependent.items():
            if paid:
                self.report.check(name, check)
            else:
                self.report.skip(name, "no payment to check (see payment)")
        captured = paid and self.report.check("capture", self.capture)
        if not paid:
            self.report.skip("capture", "no payment to capture (see payment)")
        if captured:
            self.report.check("refund", self.refund)
        else:
            self.report.skip("refund", "no captured payment to refund (see capture)")
        self.report.check("void", self.void)

    def health(self) -> str:
        body = expect(self.client.request("GET", "/health"), 200)
        if not isinstance(body, dict) or body.get("status") != "ok":
            raise CheckFailed(f"expected {{'status': 'ok', ...}}, got {json.dumps(body)[:200]}")
        return f"GET /health 200 (region {body.get('region')})"

    def no_key(self) -> str:
        return "GET /v1/payments without Authorization: " + expect_error(
            self.client.request("GET", "/v1/payments"), 401, "unauthorized"
        )

    def unknown_key(self) -> str:
        # Of the key's own kind: a key of the other kind is refused for that, before any lookup
        prefix = LIVE_KEY_PREFIX if self.key.startswith(LIVE_KEY_PREFIX) else TEST_KEY_PREFIX
        made_up = prefix + "smoke-" + secrets.token_urlsafe(32)
        return "GET /v1/payments with a made-up key: " + expect_error(
            self.client.request("GET", "/v1/payments", key=made_up), 401, "unauthorized"
        )

    def pay(self, idempotency_key: str) -> str:
        answer = self._post(AUTHORIZED_CARD, idempotency_key)
        self.payment_id = expect_payment(expect(answer, 201), "authorized")
        return f"POST /v1/payments, card ending {AUTHORIZED_CARD[-4:]}: 201 authorized ({self.payment_id})"

    def replay(self, idempotency_key: str) -> str:
        answer = self._post(AUTHORIZED_CARD, idempotency_key)
        expect_payment(expect(answer, 201), "authorized", self.payment_id)
        if answer.headers.get("idempotent-replayed") != "true":
            raise CheckFailed("the answer lacks Idempotent-Replayed: true")
        return f"the same Idempotency-Key again: 201 {self.payment_id}, Idempotent-Replayed: true"

    def bank_failure(self) -> str:
        # No Idempotency-Key: a key's reference is shared by both regions, so a refusal with a key is
        # pending (202) until the resolver may reverse it (docs/bank.md); without one it is final.
        answer = self._post(FAILING_CARD, None)
        kind = expect_error(answer, 502, "bank_unavailable")
        return f"POST /v1/payments, card ending {FAILING_CARD[-4:]}: {kind} (failed, nothing charged)"

    def capture(self) -> str:
        answer = self._operation("capture", self.payment_id, {"amount": CAPTURE_AMOUNT})
        body = expect(answer, 200)
        expect_payment(body, "captured", self.payment_id)
        if body.get("amount_captured") != CAPTURE_AMOUNT:
            raise CheckFailed(f"expected amount_captured {CAPTURE_AMOUNT}, got {body.get('amount_captured')}")
        return f"POST /v1/payments/{self.payment_id}/capture {CAPTURE_AMOUNT}: 200 captured"

    def refund(self) -> str:
        body = expect(self._operation("refunds", self.payment_id, {"amount": REFUND_AMOUNT}), 201)
        refund_id = body.get("id") if isinstance(body, dict) else None
        if not str(refund_id).startswith("re_") or body.get("status") != "succeeded":
            raise CheckFailed(f"expected a succeeded refund, got {json.dumps(body)[:200]}")
        if body.get("amount") != REFUND_AMOUNT or body.get("payment_id") != self.payment_id:
            raise CheckFailed(
                f"expected a refund of {REFUND_AMOUNT} of {self.payment_id}, got {json.dumps(body)[:200]}"
            )
        return f"POST /v1/payments/{self.payment_id}/refunds {REFUND_AMOUNT}: 201 succeeded ({refund_id})"

    def void(self) -> str:
        payment_id = expect_payment(expect(self._post(AUTHORIZED_CARD, f"smoke-{uuid.uuid4()}"), 201), "authorized")
        expect_payment(expect(self._operation("void", payment_id, None), 200), "voided", payment_id)
        return f"POST /v1/payments/{payment_id}/void (a second manual payment): 200 voided"

    def get(self) -> str:
        body = expect(self.client.request("GET", f"/v1/payments/{self.payment_id}", key=self.key), 200)
        expect_payment(body, "authorized", self.payment_id)
        return f"GET /v1/payments/{self.payment_id}: 200 authorized"

    def listed(self) -> str:
        body = expect(self.client.request("GET", "/v1/payments?limit=100", key=self.key), 200)
        ids = [p.get("id") for p in _page(body)]
        if self.payment_id not in ids:
            raise CheckFailed(f"{self.payment_id} is not among the {len(ids)} newest payments")
        return f"GET /v1/payments: 200, {self.payment_id} listed"

    def list_page(self) -> str:
        body = expect(self.client.request("GET", "/v1/payments?limit=1", key=self.key), 200)
        return f"GET /v1/payments?limit=1: 200 ({len(_page(body))} payment(s) on the page)"

    def get_unknown(self) -> str:
        payment_id = unknown_payment_id()
        answer = self.client.request("GET", f"/v1/payments/{payment_id}", key=self.key)
        return f"GET /v1/payments/{payment_id}: " + expect_error(answer, 404, "not_found")

    def _operation(self, route: str, payment_id: str | None, body: object) -> Answer:
        return self.client.request(
            "POST",
            f"/v1/payments/{payment_id}/{route}",
            key=self.key,
            body=body if body is not None else {},
            idempotency_key=f"smoke-{route}-{uuid.uuid4()}",
        )

    def _post(self, card_number: str, idempotency_key: str | None) -> Answer:
        return self.client.request(
            "POST", "/v1/payments", key=self.key, body=payment_body(card_number), idempotency_key=idempotency_key
        )


def _page(body: Any) -> list[dict[str, Any]]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or not all(isinstance(p, dict) for p in data):
        raise CheckFailed(f"expected a page {{'data': [...], 'next_cursor': ...}}, got {json.dumps(body)[:200]}")
    return data


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m deploy.smoke", description=(__doc__ or "").splitlines()[0])
    p.add_argument("--url", required=True, help="the API's base URL, e.g. the stack output regionalApiUrl")
    p.add_argument("--key", help=f"a merchant's API key (default: ${KEY_ENV})")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--pay",
        action="store_true",
        help="make payments with test cards, then capture, refund and void: only for a bank simulator",
    )
    mode.add_argument("--read-only", action="store_true", help="no payment (the default): for any bank")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS, help="seconds per request")
    return p


def main(argv: Sequence[str] | None = None, write: Callable[[str], None] = print) -> int:
    args = parser().parse_args(argv)
    key = args.key or os.environ.get(KEY_ENV)
    if not key:
        print(f"smoke: no API key: pass --key or set {KEY_ENV}", file=sys.stderr)
        return USAGE_ERROR
    if args.pay and not key.startswith(TEST_KEY_PREFIX):
        print(f"smoke: --pay sends test cards: it takes a test key ({TEST_KEY_PREFIX}...) only", file=sys.stderr)
        return USAGE_ERROR
    try:
        client = Client(args.url, args.timeout)
    except ValueError as e:
        print(f"smoke: {e}", file=sys.stderr)
        return USAGE_ERROR
    report = Report(write)
    Smoke(client, key, report).run(read_only=not args.pay)
    counts = report.counts
    total = sum(counts.values())
    write(f"smoke: {counts['ok']} of {total} checks ok, {counts['FAIL']} failed, {counts['skip']} skipped")
    return 1 if report.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
