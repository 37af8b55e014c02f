"""The whole-process cold-start harness (bench.process_cold): real children, no timing asserted."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

from bench import coldstart, process_cold


def post(url: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, object]]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port)
    connection.request("POST", path, b"{}", headers)
    response = connection.getresponse()
    return response.status, json.loads(response.read())


def test_the_fake_answers_dynamodb_by_operation_and_the_bank_below_its_path() -> None:
    with process_cold.instant_upstream() as url:
        assert post(url, "/", {"X-Amz-Target": "DynamoDB_20120810.PutItem"}) == (200, {})
        assert post(url, "/", {"X-Amz-Target": "DynamoDB_20120810.Query"})[1]["Count"] == 0
        assert post(url, "/", {"X-Amz-Target": "DynamoDB_20120810.Scan"})[0] == 400  # unknown: refused, not faked
        assert post(url, process_cold.BANK_PATH, {}) == (
            200,
            {"authorized": True, "authorization_code": "BENCH1", "captured": True},
        )


def test_both_children_talk_to_the_fake_and_the_payment_is_created() -> None:
    with process_cold.instant_upstream() as url:
        env = process_cold.process_environment(coldstart.environ(), url)
        assert env["DYNAMODB_ENDPOINT_URL"] == url and env["BANK_URL"].startswith(url)
        floor = process_cold.run_child("floor", coldstart.REPO, url, env)
        payment = process_cold.run_child("post", coldstart.REPO, url, env)
    assert (floor["status"], payment["status"]) == (200, 201)
    # Each child's own CPU time, from the kernel's accounting: a figure, not a timing assertion.
    assert float(str(floor["cpu_ms"])) > 0 and float(str(payment["cpu_ms"])) > 0
    # What the payments function's process no longer loads: boto3 itself and s3transfer.
    assert "boto3" in floor["modules"] and "s3transfer" in floor["modules"]
    assert not {"boto3", "s3transfer"} & set(payment["modules"])  # type: ignore[arg-type]


def test_a_child_that_answers_otherwise_is_an_error() -> None:
    with process_cold.instant_upstream() as url:
        env = process_cold.process_environment(coldstart.environ(), url)
        env["FINGERPRINT_KEY"] = ""  # a misconfigured function answers 500
        with pytest.raises(RuntimeError, match="answered 500"):
            process_cold.run_child("post", coldstart.REPO, url, env)
