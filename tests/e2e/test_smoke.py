"""The post-deploy smoke test (`make smoke`, `python -m deploy.smoke`) against the local stack, as an operator
runs it: a subprocess, the key in its environment, one line per check and the exit status."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import KEY_A, LocalStack

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PAYMENT_CHECKS = (
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


def smoke(url: str, key: str, *args: str) -> tuple[int, list[str]]:
    command = [sys.executable, "-m", "deploy.smoke", "--url", url, *args]
    done = subprocess.run(
        command, cwd=ROOT, env={"SMOKE_API_KEY": key}, capture_output=True, text=True, check=False, timeout=180
    )
    assert not done.stderr, done.stderr
    return done.returncode, done.stdout.splitlines()


def outcomes(lines: list[str]) -> dict[str, str]:
    found = (re.match(r"^(ok|FAIL|skip) +([^:]+):", line) for line in lines)
    return {m[2]: m[1] for m in found if m}


def test_the_smoke_test_passes_on_the_simulator_stack(stack: LocalStack) -> None:
    status, lines = smoke(stack.global_url, KEY_A, "--pay")
    assert status == 0, "\n".join(lines)
    assert outcomes(lines) == dict.fromkeys(PAYMENT_CHECKS, "ok")
    paid = re.fullmatch(r"ok +payment: POST /v1/payments, card ending 4291: 201 authorized \((pay_\w+)\)", lines[3])
    assert paid, lines
    payment_id = paid[1]
    assert f"ok   replay: the same Idempotency-Key again: 201 {payment_id}, Idempotent-Replayed: true" in lines
    failed = "ok   bank failure: POST /v1/payments, card ending 4200: 502 bank_unavailable (failed, nothing charged)"
    assert failed in lines
    assert f"ok   get: GET /v1/payments/{payment_id}: 200 authorized" in lines
    assert f"ok   list: GET /v1/payments: 200, {payment_id} listed" in lines
    assert f"ok   capture: POST /v1/payments/{payment_id}/capture 60: 200 captured" in lines
    refunded = re.search(
        rf"^ok +refund: POST /v1/payments/{payment_id}/refunds 10: 201 succeeded \((re_\w+)\)$", "\n".join(lines), re.M
    )
    assert refunded, lines
    voided = re.search(
        r"^ok +void: POST /v1/payments/(pay_\w+)/void \(a second manual payment\): 200 voided$", "\n".join(lines), re.M
    )
    assert voided and voided[1] != payment_id, lines
    assert lines[-1] == "smoke: 11 of 11 checks ok, 0 failed, 0 skipped"
    # What it did is there for the merchant to see: the payment captured in part and refunded, the other voided.
    api = stack.api(KEY_A)
    shown = api.request("GET", f"/v1/payments/{payment_id}").body
    assert (shown["status"], shown["amount_captured"], shown["amount_refunded"]) == ("captured", 60, 10)
    assert [r["id"] for r in api.request("GET", f"/v1/payments/{payment_id}/refunds").body["data"]] == [refunded[1]]
    assert api.request("GET", f"/v1/payments/{voided[1]}").body["status"] == "voided"


def test_read_only_passes_against_each_region_without_a_payment(stack: LocalStack) -> None:
    before = stack.api(KEY_A).request("GET", "/v1/payments?limit=1").body["data"]
    for url in (stack.eu_url, stack.us_url):
        status, lines = smoke(url, KEY_A, "--read-only")
        assert status == 0, "\n".join(lines)
        assert set(outcomes(lines)) == {"health", "auth, no key", "auth, unknown key", "list", "get, unknown id"}
        assert re.search(r"^ok +get, unknown id: GET /v1/payments/pay_\w{26}: 404 not_found$", "\n".join(lines), re.M)
    assert stack.api(KEY_A).request("GET", "/v1/payments?limit=1").body["data"] == before  # nothing was paid


def test_a_key_the_stack_does_not_know_fails_the_smoke_test(stack: LocalStack) -> None:
    status, lines = smoke(stack.global_url, "sk_test_e2e-unknown-0123456789abcdefghijklmnopqrstuvwx", "--pay")
    assert status == 1
    assert outcomes(lines)["health"] == "ok"
    assert (
        "FAIL payment: expected 201, got 401 unauthorized: The API key is not valid: it is unknown or has been revoked."
    ) in lines
    assert outcomes(lines)["replay"] == "skip"
    assert (outcomes(lines)["capture"], outcomes(lines)["refund"], outcomes(lines)["void"]) == ("skip", "skip", "FAIL")
    assert lines[-1] == "smoke: 3 of 11 checks ok, 3 failed, 5 skipped"
