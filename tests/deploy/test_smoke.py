"""`python -m deploy.smoke` against tiny local servers: a failing health check, a read-only run that never
pays, a base path, no answer at all, and the usage errors. The real stack: tests/e2e/test_smoke.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from deploy import smoke

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk_test_smoke-test-key"
Answerer = Callable[[str, str, dict[str, str]], tuple[int, dict[str, str], Any]]


class Scripted(ThreadingHTTPServer):
    def __init__(self, answer: Answerer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer = answer
        self.seen: list[tuple[str, str]] = []
        self.posted: list[tuple[str, str | None, Any]] = []  # path, Idempotency-Key, body

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Scripted

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        self.server.seen.append((self.command, self.path))
        if self.command == "POST":
            self.server.posted.append((self.path, self.headers.get("Idempotency-Key"), json.loads(raw or b"null")))
        status, headers, body = self.server.answer(self.command, self.path, dict(self.headers))
        raw = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = _any

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serving(answer: Answerer) -> Iterator[Scripted]:
    server = Scripted(answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def unauthorized() -> tuple[int, dict[str, str], Any]:
    return 401, {}, {"error": {"type": "unauthorized", "message": "The API key is not valid."}}


def read_only_gateway(method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
    """What a healthy gateway answers to the read-only checks, KEY being its only merchant's key."""
    route = path.partition("?")[0].removeprefix("/live")
    if route == "/health":
        return 200, {}, {"status": "ok", "region": "eu-west-1"}
    if headers.get("Authorization") != f"Bearer {KEY}":
        return unauthorized()
    if method == "GET" and route == "/v1/payments":
        return 200, {}, {"data": [], "next_cursor": None}
    return 404, {}, {"error": {"type": "not_found", "message": "No payment with this id."}}


class SimulatorGateway:
    """A gateway on the bank simulator as far as the smoke test goes: manual payments by test card,
    their capture, refund and void, by the API's rules. `capture_status` overrides the capture's answer."""

    def __init__(self, capture_status: int = 200) -> None:
        self.payments: dict[str, dict[str, Any]] = {}
        self.by_key: dict[str, str] = {}
        self.capture_status = capture_status

    def __call__(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        route = path.partition("?")[0]
        if route == "/health" or headers.get("Authorization") != f"Bearer {KEY}" or method == "GET":
            if method == "GET" and route.startswith("/v1/payments/pay_") and route.count("/") == 3:
                found = self.payments.get(route.rsplit("/", 1)[1])
                return (200, {}, found) if found else read_only_gateway(method, path, headers)
            if method == "GET" and route == "/v1/payments" and headers.get("Authorization") == f"Bearer {KEY}":
                return 200, {}, {"data": list(self.payments.values())[::-1], "next_cursor": None}
            return read_only_gateway(method, path, headers)
        return self._post(route, headers)

    def _post(self, route: str, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        key = headers.get("Idempotency-Key")
        if route == "/v1/payments":
            return self._pay(key)
        payment = self.payments[route.split("/")[3]]
        operation = route.rsplit("/", 1)[1]
        if operation == "capture":
            if self.capture_status != 200:
                return self.capture_status, {}, {"error": {"type": "internal_error", "message": "boom"}}
            payment.update(status="captured", amount_captured=60)
            return 200, {}, payment
        if operation == "void":
            payment.update(status="voided")
            return 200, {}, payment
        refund = {"id": "re_1", "payment_id": payment["id"], "amount": 10, "status": "succeeded", "reason": None}
        return 201, {}, refund

    def _pay(self, key: str | None) -> tuple[int, dict[str, str], Any]:
        if key is None:  # the bank-failure card, sent without a key
            return 502, {}, {"error": {"type": "bank_unavailable", "message": "nothing charged", "payment_id": "pay_f"}}
        if key in self.by_key:
            return 201, {"Idempotent-Replayed": "true"}, self.payments[self.by_key[key]]
        payment_id = f"pay_{len(self.payments) + 1}"
        self.by_key[key] = payment_id
        self.payments[payment_id] = {"id": payment_id, "status": "authorized", "amount": 100, "amount_captured": 0}
        return 201, {}, self.payments[payment_id]


ALL_CHECKS = (
    "health",
    "auth, no key",
    "auth, unknown key",
    "payment",
    "bank failure",
    "replay",
    "get",
    "list",
    "capture",
    "refund",
    "void",
)


def test_on_a_simulator_it_captures_refunds_and_voids_with_test_cards_and_keys() -> None:
    with serving(SimulatorGateway()) as server:
        status, lines = run_smoke("--url", server.url, "--pay")
    assert status == 0, lines
    assert outcomes(lines) == dict.fromkeys(ALL_CHECKS, "ok")
    assert lines[-1] == "smoke: 11 of 11 checks ok, 0 failed, 0 skipped"
    payments = [body for path, _, body in server.posted if path == "/v1/payments"]
    assert {body["card"]["number"] for body in payments} == {smoke.AUTHORIZED_CARD, smoke.FAILING_CARD}  # test cards
    assert all(body["capture_method"] == "manual" for body in payments)
    operations = [(path, key, body) for path, key, body in server.posted if path != "/v1/payments"]
    assert [path for path, _, _ in operations] == [
        "/v1/payments/pay_1/capture",
        "/v1/payments/pay_1/refunds",
        "/v1/payments/pay_2/void",
    ]
    assert [body for _, _, body in operations] == [
        {"amount": smoke.CAPTURE_AMOUNT},
        {"amount": smoke.REFUND_AMOUNT},
        {},
    ]
    keys = [key for _, key, _ in server.posted if key is not None]
    assert len(keys) == len(server.posted) - 1 and len(set(keys)) == len(keys) - 1  # a key each; the replay reuses one
    for amount in (smoke.CAPTURE_AMOUNT, smoke.REFUND_AMOUNT):
        assert amount % 10 not in (2, 3, 4)  # the simulator delays, drops or fails those (README, Test cards)
    assert "ok   capture: POST /v1/payments/pay_1/capture 60: 200 captured" in lines
    assert "ok   refund: POST /v1/payments/pay_1/refunds 10: 201 succeeded (re_1)" in lines
    assert "ok   void: POST /v1/payments/pay_2/void (a second manual payment): 200 voided" in lines


def test_a_capture_that_fails_fails_the_run_and_skips_the_refund() -> None:
    with serving(SimulatorGateway(capture_status=500)) as server:
        status, lines = run_smoke("--url", server.url, "--pay")
    assert status == 1
    found = outcomes(lines)
    assert (found["capture"], found["refund"], found["void"]) == ("FAIL", "skip", "ok")
    assert "FAIL capture: expected 200, got 500 internal_error: boom" in lines
    assert not any(path.endswith("/refunds") for path, _, _ in server.posted)


@pytest.fixture
def gateway() -> Iterator[Scripted]:
    with serving(read_only_gateway) as server:
        yield server


def run_smoke(*args: str, key: str | None = KEY) -> tuple[int, list[str]]:
    lines: list[str] = []
    status = smoke.main([*args, *(["--key", key] if key else [])], write=lines.append)
    return status, lines


def outcomes(lines: list[str]) -> dict[str, str]:
    """check name -> ok / FAIL / skip, from the one line each check prints."""
    found = (re.match(r"^(ok|FAIL|skip) +([^:]+):", line) for line in lines)
    return {m[2]: m[1] for m in found if m}


@pytest.mark.parametrize("flags", [(), ("--read-only",)])
def test_read_only_is_the_default_passes_on_a_healthy_gateway_and_never_pays(
    gateway: Scripted, flags: tuple[str, ...]
) -> None:
    """A forgotten flag never sends test cards to a real acquirer: paying takes --pay."""
    status, lines = run_smoke("--url", gateway.url, *flags)
    assert status == 0, lines
    assert outcomes(lines) == {
        "health": "ok",
        "auth, no key": "ok",
        "auth, unknown key": "ok",
        "list": "ok",
        "get, unknown id": "ok",
    }
    assert {method for method, _ in gateway.seen} == {"GET"}  # no payment at all on a real bank
    unknown = [path for _, path in gateway.seen if path.startswith("/v1/payments/")]
    assert len(unknown) == 1 and re.fullmatch(r"/v1/payments/pay_[0-7][0-9A-HJKMNP-TV-Z]{25}", unknown[0])
    assert lines[-1] == "smoke: 5 of 5 checks ok, 0 failed, 0 skipped"


def test_a_health_check_answering_500_fails_the_run() -> None:
    def answer(method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if path == "/health":
            return 500, {}, {"error": {"type": "internal_error", "message": "boom"}}
        return read_only_gateway(method, path, headers)

    with serving(answer) as server:
        status, lines = run_smoke("--url", server.url, "--read-only")
    assert status == 1
    assert "FAIL health: expected 200, got 500 internal_error: boom" in lines
    assert outcomes(lines)["list"] == "ok"  # the other checks still run and report
    assert lines[-1] == "smoke: 4 of 5 checks ok, 1 failed, 0 skipped"


def test_a_key_that_is_refused_fails_and_skips_what_needs_the_payment(gateway: Scripted) -> None:
    status, lines = run_smoke("--url", gateway.url, "--pay", key="sk_test_not-this-gateways-key")
    assert status == 1
    assert outcomes(lines) == {
        "health": "ok",
        "auth, no key": "ok",
        "auth, unknown key": "ok",
        "payment": "FAIL",
        "bank failure": "FAIL",
        "replay": "skip",
        "get": "skip",
        "list": "skip",
        "capture": "skip",
        "refund": "skip",
        "void": "FAIL",
    }
    assert "FAIL payment: expected 201, got 401 unauthorized: The API key is not valid." in lines


def test_an_auth_answer_outside_the_error_shape_fails() -> None:
    def answer(method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if "Authorization" not in headers and path != "/health":
            return 401, {}, {"message": "Unauthorized"}  # API Gateway's default, not our gateway response
        return read_only_gateway(method, path, headers)

    with serving(answer) as server:
        status, lines = run_smoke("--url", server.url, "--read-only")
    assert status == 1
    assert outcomes(lines)["auth, no key"] == "FAIL"


def test_the_urls_path_prefixes_every_route(gateway: Scripted) -> None:
    """A stage's invoke URL ends in /live: /health is /live/health."""
    status, lines = run_smoke("--url", gateway.url + "/live/", "--read-only")
    assert status == 0, lines
    assert all(path.startswith("/live/") for _, path in gateway.seen)


def test_no_answer_is_a_failure_per_check() -> None:
    server = Scripted(read_only_gateway)
    url = server.url
    server.server_close()  # nothing listens there any more
    status, lines = run_smoke("--url", url, "--read-only", "--timeout", "5")
    assert status == 1
    assert set(outcomes(lines).values()) == {"FAIL"}
    assert "FAIL health: no answer (ConnectionRefusedError" in lines[0]


def test_usage_errors_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(smoke.KEY_ENV, raising=False)
    assert run_smoke("--url", "http://127.0.0.1:1", key=None)[0] == 2  # no key anywhere
    assert run_smoke("--url", "ftp://example.com")[0] == 2


def test_the_key_may_come_from_the_environment(gateway: Scripted, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(smoke.KEY_ENV, KEY)
    assert run_smoke("--url", gateway.url, "--read-only", key=None)[0] == 0


def test_make_smoke_runs_the_tool_with_the_key_in_the_environment() -> None:
    """The Makefile's recipe, read rather than run (running make would build a virtualenv)."""
    recipe = re.search(r"^smoke:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert recipe is not None, "no smoke target"
    lines = recipe[1].splitlines()
    assert any('test -n "$(URL)"' in line and '-n "$(KEY)"' in line and "exit 2" in line for line in lines)
    run = lines[-1].strip()
    assert run.startswith("@SMOKE_API_KEY='$(KEY)' $(PY) -m deploy.smoke --url '$(URL)'")
    assert smoke.KEY_ENV == "SMOKE_API_KEY" and "--key" not in run


def test_python_m_deploy_smoke_runs_as_a_module(gateway: Scripted) -> None:
    command = [sys.executable, "-m", "deploy.smoke", "--url", gateway.url, "--read-only"]
    env = {"SMOKE_API_KEY": KEY, "PATH": ""}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0] == "ok   health: GET /health 200 (region eu-west-1)"


def test_pay_and_read_only_together_are_a_usage_error(gateway: Scripted) -> None:
    with pytest.raises(SystemExit) as refused:
        run_smoke("--url", gateway.url, "--pay", "--read-only")
    assert refused.value.code == 2 and gateway.seen == []


@pytest.mark.parametrize("key", ["sk_live_" + "k" * 43, "pgw_" + "k" * 43])
def test_pay_takes_a_test_key_only(gateway: Scripted, key: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`--pay` sends test cards: a live key would send them to a real acquirer (its stack takes only live keys)."""
    assert run_smoke("--url", gateway.url, "--pay", key=key) == (2, [])
    assert gateway.seen == [] and "takes a test key (sk_test_...) only" in capsys.readouterr().err


@pytest.mark.parametrize("key", ["sk_live_" + "k" * 43, KEY])
def test_the_made_up_key_is_of_the_keys_own_kind(key: str) -> None:
    """A key of the other kind is refused for its kind, unread: only one of the same kind tests the lookup."""
    sent: list[str] = []

    def answer(method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        sent.append(headers.get("Authorization", ""))
        return read_only_gateway(method, path, headers)

    with serving(answer) as server:
        run_smoke("--url", server.url, key=key)
    made_up = [value for value in sent if value and value != f"Bearer {key}"]
    assert made_up and all(value.startswith(f"Bearer {key[:8]}") for value in made_up)
