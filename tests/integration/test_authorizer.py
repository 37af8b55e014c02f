"""The REQUEST authorizer and the admin command, over moto's DynamoDB."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from handlers.contract.messages import (
    INVALID_KEY,
    LIVE_KEY_ON_TEST,
    MALFORMED_HEADER,
    MISSING_HEADER,
    RETIRED_KEY,
    TEST_KEY_ON_LIVE,
)
from handlers.domain.auth import KeyMode, hash_api_key
from handlers.domain.models import Merchant
from handlers.entrypoints import authorizer
from handlers.entrypoints.settings import ConfigurationError
from handlers.ops import admin
from tests.integration.conftest import REGION, TABLE, reset_handler_caches
from tests.openapi_contract import spec
from tests.reliability.dynamo_faults import operation_of

pytestmark = pytest.mark.usefixtures("lambda_env")
METHOD_ARN = "arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/live/POST/v1/payments"


def authorizer_event(authorization: str | None) -> dict[str, Any]:
    headers = {"Authorization": authorization} if authorization is not None else {}
    return {"type": "REQUEST", "methodArn": METHOD_ARN, "headers": headers, "requestContext": {"requestId": "r-1"}}


def new_merchant(name: str = "acme") -> tuple[str, str]:
    return admin.create_merchant(name, table_name=TABLE, region=REGION)


def test_valid_key_allows_every_route_of_the_stage_for_its_merchant() -> None:
    merchant_id, key = new_merchant()
    result = authorizer.handler(authorizer_event(f"Bearer {key}"), None)
    assert result["principalId"] == merchant_id
    assert result["context"] == {"merchant_id": merchant_id}
    statement = result["policyDocument"]["Statement"]
    assert statement == [
        {
            "Action": "execute-api:Invoke",
            "Effect": "Allow",
            "Resource": "arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/live/*",
        }
    ]


def denial(result: dict[str, Any]) -> str:
    """A Deny of the whole stage (API Gateway caches it per header too); returns the message it carries."""
    assert result["principalId"] == "unauthenticated"
    assert result["policyDocument"]["Statement"] == [
        {
            "Action": "execute-api:Invoke",
            "Effect": "Deny",
            "Resource": "arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/live/*",
        }
    ]
    assert set(result["context"]) == {"error_message"}
    message: str = result["context"]["error_message"]
    return message


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "sk_test_abc",
        "bearer:sk_test_abc",
        "Bearer " + "x" * 600,
        "Bearer sk_test_é",
    ],
)
def test_a_malformed_header_is_denied_saying_how_to_send_the_key(authorization: str) -> None:
    new_merchant()
    assert denial(authorizer.handler(authorizer_event(authorization), None)) == MALFORMED_HEADER


@pytest.mark.parametrize("authorization", [None, "", "  "])
def test_a_missing_header_is_denied_with_the_gateways_words(authorization: str | None) -> None:
    """API Gateway answers these itself (UNAUTHORIZED) without calling the authorizer; same words if it did."""
    assert denial(authorizer.handler(authorizer_event(authorization), None)) == MISSING_HEADER


def test_an_unknown_and_a_revoked_key_are_denied_identically() -> None:
    """The answer must not tell whether a key exists: the whole result is the same."""
    _, key = new_merchant()
    admin.revoke_key(key, table_name=TABLE, region=REGION)
    revoked = authorizer.handler(authorizer_event(f"Bearer {key}"), None)
    unknown = authorizer.handler(authorizer_event(f"Bearer {key[:-1]}x"), None)
    assert revoked == unknown
    assert denial(revoked) == INVALID_KEY


def _in_mode(monkeypatch: pytest.MonkeyPatch, mode: str | None) -> None:
    if mode is None:
        monkeypatch.delenv("API_KEY_MODE")
    else:
        monkeypatch.setenv("API_KEY_MODE", mode)
    reset_handler_caches()


@pytest.mark.parametrize(
    ("gateway", "key_kind", "message"),
    [("live", KeyMode.TEST, TEST_KEY_ON_LIVE), ("test", KeyMode.LIVE, LIVE_KEY_ON_TEST)],
)
def test_a_key_of_the_other_kind_is_denied_saying_which_kind_the_gateway_takes(
    gateway: str, key_kind: KeyMode, message: str, monkeypatch: pytest.MonkeyPatch, dynamodb: Any
) -> None:
    """A test key never reaches a real acquirer, a live key never works on a test stack: refused before any
    read (a key of the other kind, valid or not, gets the same answer, so it tells nothing of what exists)."""
    merchant_id, key = admin.create_merchant("acme", table_name=TABLE, region=REGION, mode=key_kind)
    assert key.startswith(key_kind.prefix)
    _in_mode(monkeypatch, gateway)
    reads: list[str] = []
    authorizer._directory()[0]._client.meta.events.register(
        "before-send.dynamodb", lambda request, **_: reads.append(operation_of(request))
    )
    assert denial(authorizer.handler(authorizer_event(f"Bearer {key}"), None)) == message
    made_up = authorizer.handler(authorizer_event(f"Bearer {key_kind.prefix}made-up"), None)
    assert denial(made_up) == message and reads == []
    authorizer.handler(authorizer_event(f"Bearer {KeyMode(gateway).prefix}made-up"), None)  # its own kind
    assert reads == ["GetItem"]  # is looked up, and the hook sees it: the empty list above is no accident
    _in_mode(monkeypatch, key_kind.value)
    assert authorizer.handler(authorizer_event(f"Bearer {key}"), None)["principalId"] == merchant_id


@pytest.mark.parametrize("mode", ["test", "live"])
def test_a_key_of_the_old_format_is_denied_in_either_mode(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`pgw_` keys name no mode: the README says to give each merchant a new key before deploying."""
    old = "pgw_" + "k" * 43
    admin._repository(TABLE, None, REGION).add_key(hash_api_key(old), Merchant(id="mer_old", name="issued before"))
    with pytest.raises(admin.AdminError, match="sk_test_"):  # nor can one be issued now
        admin.create_merchant("acme", table_name=TABLE, region=REGION, api_key="pgw_" + "j" * 43)
    _in_mode(monkeypatch, mode)
    assert denial(authorizer.handler(authorizer_event(f"Bearer {old}"), None)) == RETIRED_KEY


@pytest.mark.parametrize("mode", [None, "", "production", "TEST"])
def test_an_authorizer_without_a_valid_key_mode_fails_rather_than_guess(
    mode: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _in_mode(monkeypatch, None)
    if mode is not None:
        monkeypatch.setenv("API_KEY_MODE", mode)
    with pytest.raises(ConfigurationError, match="API_KEY_MODE"):
        authorizer.handler(authorizer_event("Bearer sk_test_x"), None)


def test_the_messages_differ_and_need_no_json_escaping() -> None:
    """ACCESS_DENIED's template pastes the message into JSON as it is (API Gateway does not escape it)."""
    messages = {MISSING_HEADER, MALFORMED_HEADER, INVALID_KEY, TEST_KEY_ON_LIVE, LIVE_KEY_ON_TEST, RETIRED_KEY}
    assert len(messages) == 6
    assert all(json.dumps(message) == f'"{message}"' for message in messages)


def test_keys_are_stored_as_hashes_and_never_logged(dynamodb: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _, key = new_merchant()
    authorizer.handler(authorizer_event(f"Bearer {key}"), None)
    assert denial(authorizer.handler(authorizer_event(f"Bearer {key}x"), None)) == INVALID_KEY
    stored = json.dumps(dynamodb.scan(TableName=TABLE)["Items"])
    assert hash_api_key(key) in stored
    assert key not in stored
    output = capsys.readouterr().out
    assert '"authorized"' in output and '"unauthorized"' in output
    assert key not in output


def test_keys_are_random_and_long() -> None:
    keys = {new_merchant(f"m{i}")[1] for i in range(20)}
    assert len(keys) == 20
    assert all(len(k) >= 40 for k in keys)


def test_admin_cli_creates_and_revokes(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert admin.main(["--table", TABLE, "--region", REGION, "create-merchant", "--name", "acme"]) == 0
    printed = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines() if ": " in line)
    assert printed["merchant_id"].startswith("mer_")
    key = printed["api_key"]
    assert authorizer.handler(authorizer_event(f"Bearer {key}"), None)["principalId"] == printed["merchant_id"]
    monkeypatch.setattr("sys.stdin", io.StringIO(key + "\n"))
    assert admin.main(["--table", TABLE, "--region", REGION, "revoke-key"]) == 0
    assert denial(authorizer.handler(authorizer_event(f"Bearer {key}"), None)) == INVALID_KEY


def test_reseeding_the_same_merchant_and_key_is_a_no_op_but_stealing_a_key_fails() -> None:
    merchant_id, key = admin.create_merchant("acme", table_name=TABLE, region=REGION)
    assert admin.create_merchant("acme", table_name=TABLE, region=REGION, merchant_id=merchant_id, api_key=key) == (
        merchant_id,
        key,
    )
    with pytest.raises(admin.KeyInUse):
        admin.create_merchant("mallory", table_name=TABLE, region=REGION, merchant_id="mer_other", api_key=key)
    assert authorizer.handler(authorizer_event(f"Bearer {key}"), None)["principalId"] == merchant_id


def test_the_spec_shows_every_answer_the_authorizer_gives() -> None:
    examples = spec()["components"]["responses"]["Unauthorized"]["content"]["application/json"]["examples"]
    shown = {example["value"]["error"]["message"] for example in examples.values()}
    assert shown == {MISSING_HEADER, MALFORMED_HEADER, INVALID_KEY, TEST_KEY_ON_LIVE, LIVE_KEY_ON_TEST, RETIRED_KEY}
