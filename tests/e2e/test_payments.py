"""The payment API through the local stack: process, retrieve, list, replay, isolation, errors."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.e2e.conftest import AUTHORIZER_CACHE_SECONDS, KEY_A, Api, LocalStack, Reply, payment_body

pytestmark = pytest.mark.e2e


def _assert_error(reply: Reply, status: int, error_type: str) -> None:
    assert reply.status == status, reply.body
    assert reply.body["error"]["type"] == error_type
    assert reply.headers.get("x-request-id")


def test_the_banner_lists_every_url_and_the_merchants(stack: LocalStack) -> None:
    text = "\n".join(stack.banner)

    for url in (stack.global_url, stack.eu_url, stack.us_url, stack.bank_url):
        assert url in text
    assert "m_a" in text and KEY_A in text and "curl" in text


def test_health_through_the_global_endpoint_is_served_by_eu(stack: LocalStack) -> None:
    reply = stack.api(None).request("GET", "/health")

    assert (reply.status, reply.body) == (200, {"status": "ok", "region": "eu-west-1"})
    assert reply.headers.get("x-request-id")


def test_process_retrieve_and_list_a_payment(api_a: Api) -> None:
    created = api_a.create_payment("4242424242424291")

    assert created.status == 201, created.body
    payment = created.body
    assert payment["id"].startswith("pay_")
    assert payment["status"] == "authorized" and payment["authorization_code"]
    assert (payment["amount"], payment["currency"], payment["reference"]) == (1050, "GBP", "order-123")
    assert payment["card"] == {"brand": "visa", "last4": "4291", "expiry_month": 4, "expiry_year": 2030}
    assert payment["region"] == "eu-west-1"
    assert created.headers.get("x-request-id")

    fetched = api_a.request("GET", f"/v1/payments/{payment['id']}")
    assert (fetched.status, fetched.body) == (200, payment)

    listed = api_a.request("GET", "/v1/payments")
    assert listed.status == 200
    assert payment["id"] in [item["id"] for item in listed.body["data"]]
    assert "next_cursor" in listed.body


def test_even_card_is_declined_and_zero_is_a_bank_failure(api_a: Api) -> None:
    declined = api_a.create_payment("4242424242424242")
    failed = api_a.request("POST", "/v1/payments", payment_body("4242424242424200"), {})  # ends in 0, no key

    assert (declined.status, declined.body["status"]) == (201, "declined")
    assert failed.status == 502
    assert failed.body["error"]["type"] == "bank_unavailable"
    assert failed.headers.get("x-request-id")


def test_a_replay_returns_the_same_payment_without_a_second_authorization(api_a: Api) -> None:
    key = "e2e-replay-0001"

    first = api_a.create_payment(key=key)
    second = api_a.create_payment(key=key)

    assert first.status == second.status == 201
    # A second bank call would have drawn a new random authorization code.
    assert second.body["id"] == first.body["id"]
    assert second.body["authorization_code"] == first.body["authorization_code"]
    assert second.body == first.body


def test_a_replay_in_the_other_region_sees_the_same_payment(stack: LocalStack) -> None:
    """Both regions share the table locally, as a global table would replicate it."""
    key = "e2e-replay-cross-region"

    in_eu = stack.api(KEY_A, stack.eu_url).create_payment(key=key)
    in_us = stack.api(KEY_A, stack.us_url).create_payment(key=key)

    assert in_eu.status == in_us.status == 201
    assert in_us.body["id"] == in_eu.body["id"] and in_us.body["region"] == "eu-west-1"


def test_a_payment_made_in_us_is_readable_in_eu(stack: LocalStack) -> None:
    created = stack.api(KEY_A, stack.us_url).create_payment()

    fetched = stack.api(KEY_A, stack.eu_url).request("GET", f"/v1/payments/{created.body['id']}")

    assert created.body["region"] == "us-east-1"
    assert (fetched.status, fetched.body) == (200, created.body)


def test_merchants_cannot_see_each_others_payments(api_a: Api, api_b: Api) -> None:
    mine = api_a.create_payment().body["id"]
    theirs = api_b.create_payment().body["id"]

    _assert_error(api_b.request("GET", f"/v1/payments/{mine}"), 404, "not_found")
    _assert_error(api_a.request("GET", f"/v1/payments/{theirs}"), 404, "not_found")
    b_ids = [item["id"] for item in api_b.request("GET", "/v1/payments").body["data"]]
    a_ids = [item["id"] for item in api_a.request("GET", "/v1/payments").body["data"]]
    assert theirs in b_ids and mine not in b_ids
    assert mine in a_ids and theirs not in a_ids


@pytest.mark.parametrize("key", [None, "sk_test_not-a-real-key"])
def test_requests_without_a_valid_key_are_401(stack: LocalStack, key: str | None) -> None:
    api = stack.api(key)

    _assert_error(api.request("GET", "/v1/payments"), 401, "unauthorized")
    _assert_error(
        api.request("POST", "/v1/payments", payment_body(), {"Idempotency-Key": "k-401"}), 401, "unauthorized"
    )


@pytest.mark.parametrize("method,path", [("GET", "/v1/refunds"), ("DELETE", "/v1/payments"), ("GET", "/")])
def test_unknown_routes_are_404_in_the_error_contract(api_a: Api, method: str, path: str) -> None:
    _assert_error(api_a.request(method, path), 404, "not_found")


def test_a_merchant_made_with_the_admin_command_can_pay_without_aws_credentials(stack: LocalStack) -> None:
    """The README's local workflow: `python -m handlers.admin --endpoint-url <the banner's DynamoDB>`."""
    created = _admin(stack, "create-merchant", "--name", "newcomer")
    assert created.returncode == 0, created.stderr
    key = created.stdout.split("api_key: ")[1].split()[0]

    assert stack.api(key).create_payment().status == 201
    revoked = _admin(stack, "revoke-key", stdin=key)
    assert revoked.returncode == 0, revoked.stderr
    assert f"merchant_id: {created.stdout.split('merchant_id: ')[1].split()[0]}" in revoked.stdout


def test_a_revoked_key_stops_working_in_both_regions_within_the_authorizer_cache(stack: LocalStack) -> None:
    created = _admin(stack, "create-merchant", "--name", "leaked")
    assert created.returncode == 0, created.stderr
    key = created.stdout.split("api_key: ")[1].split()[0]
    regions = (stack.eu_url, stack.us_url)
    assert [stack.api(key, url).request("GET", "/v1/payments").status for url in regions] == [200, 200]  # cached

    revoked = _admin(stack, "revoke-key", stdin=key)
    assert revoked.returncode == 0, revoked.stderr
    time.sleep(AUTHORIZER_CACHE_SECONDS + 0.2)  # both entries were cached before the revocation began

    assert [stack.api(key, url).request("GET", "/v1/payments").status for url in regions] == [401, 401]


def _admin(stack: LocalStack, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_EC2_METADATA_DISABLED"] = "true"  # a machine with no credentials: no metadata lookups either
    command = [sys.executable, "-m", "handlers.admin", "--endpoint-url", stack.dynamodb_url, *args]
    return subprocess.run(command, input=stdin, env=env, capture_output=True, text=True, timeout=60, check=False)
