"""The lean DynamoDB client (handlers.adapters.dynamo_http) against a botocore client: the same signature,
the same answers and errors from moto's server, the same retries, backoff and quota as botocore's
standard mode, and the same botocore exceptions on the wire's failures."""

from __future__ import annotations

import contextlib
import datetime
import gzip
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore
import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import (
    ChecksumError,
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    InvalidConfigError,
    NoCredentialsError,
    ReadTimeoutError,
)
from botocore.retries import quota, standard
from moto.server import ThreadedMotoServer

from handlers.adapters import dynamo_http
from handlers.adapters.dynamo import make_client
from handlers.adapters.dynamo_http import DynamoHttpClient, SigningKeys
from handlers.contract.schema import table_definition

TABLE = "lean-client"
KEYS = {"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEYS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", KEYS["aws_secret_access_key"])


def lean(
    endpoint: str | None, *, attempts: int = 3, timeout: float = 2.0, token: str | None = None
) -> DynamoHttpClient:
    creds = Credentials(KEYS["aws_access_key_id"], KEYS["aws_secret_access_key"], token)
    return DynamoHttpClient(
        "eu-west-1",
        endpoint,
        credentials=lambda: creds,
        events=botocore.session.get_session().get_component("event_emitter"),
        config=config(attempts=attempts, timeout=timeout),
    )


def config(*, attempts: int = 3, timeout: float = 2.0, **other: Any) -> Config:
    return Config(
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={"mode": "standard", "total_max_attempts": attempts},
        tcp_keepalive=True,
        parameter_validation=False,
        **other,
    )


# --- the signature -------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "session-token/with+odd=chars"])
@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://dynamodb.eu-west-1.amazonaws.com/", "dynamodb.eu-west-1.amazonaws.com"),
        ("http://127.0.0.1:8000/", "127.0.0.1:8000"),
        ("http://localhost:80/", "localhost"),
    ],
)
def test_the_signature_is_botocores_sigv4(token: str | None, url: str, host: str) -> None:
    credentials = Credentials(KEYS["aws_access_key_id"], KEYS["aws_secret_access_key"], token)
    body = json.dumps({"TableName": TABLE, "Key": {"pk": {"S": "a  b\u00e9"}}}).encode()
    amz_date = "20261207T123456Z"
    headers = {"Content-Type": dynamo_http.CONTENT_TYPE, "X-Amz-Target": "DynamoDB_20120810.GetItem"}
    assert dynamo_http.canonical_host(url) == host

    reference = AWSRequest("POST", url, headers=dict(headers), data=body)
    signer = SigV4Auth(credentials, "dynamodb", "eu-west-1")
    ours = dynamo_http.authorization(
        credentials.get_frozen_credentials(),
        SigningKeys(),
        region="eu-west-1",
        host=host,
        target="DynamoDB_20120810.GetItem",
        body=body,
        amz_date=amz_date,
    )
    _sign_at(signer, reference, amz_date)
    assert ours == reference.headers["Authorization"]


def _sign_at(signer: SigV4Auth, request: AWSRequest, amz_date: str) -> None:
    moment = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("botocore.auth.get_current_datetime", lambda: moment)
        signer.add_auth(request)


def test_the_signing_key_is_derived_again_for_a_new_day_region_or_secret() -> None:
    keys = SigningKeys()
    first = keys.key("secret", "20261207", "eu-west-1")
    assert keys.key("secret", "20261207", "eu-west-1") is first
    assert keys.key("secret", "20261208", "eu-west-1") != first
    assert keys.key("secret", "20261207", "us-east-1") != first
    assert keys.key("other", "20261207", "eu-west-1") != first


@pytest.mark.parametrize("region", ["eu-west-1", "us-east-1", "cn-north-1"])
def test_the_default_endpoint_is_the_one_botocore_resolves(region: str) -> None:
    client = botocore.session.get_session().create_client("dynamodb", region_name=region, **KEYS)
    assert dynamo_http.default_endpoint(region) == client.meta.endpoint_url


# --- the same answers as botocore from moto's server ----------------------------------------------


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    client = _botocore(url)
    client.create_table(**table_definition(TABLE))
    yield url
    server.stop()


def _botocore(url: str) -> Any:
    return botocore.session.get_session().create_client(
        "dynamodb",
        region_name="eu-west-1",
        endpoint_url=url,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
        **KEYS,
    )


def _item(pk: str, sk: str, **values: Any) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}, **values}


CALLS: list[tuple[str, dict[str, Any]]] = [
    ("put_item", {"Item": _item("m#1", "p#1", amount={"N": "100"}, blob={"B": b"\x00\xff"}, tags={"SS": ["a", "b"]})}),
    ("put_item", {"Item": _item("m#1", "p#2", nested={"M": {"B": {"S": "a map entry named B"}}}, bs={"BS": [b"x"]})}),
    ("get_item", {"Key": _item("m#1", "p#1"), "ConsistentRead": True}),
    ("get_item", {"Key": _item("m#1", "p#2")}),
    ("get_item", {"Key": _item("m#1", "absent")}),
    (
        "put_item",
        {
            "Item": _item("m#1", "p#1"),
            "ConditionExpression": "attribute_not_exists(pk)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        },
    ),
    (
        "update_item",
        {
            "Key": _item("m#1", "p#1"),
            "UpdateExpression": "SET amount = amount + :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
            "ReturnValues": "ALL_NEW",
        },
    ),
    (
        "query",
        {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)",
            "ExpressionAttributeValues": {":pk": {"S": "m#1"}, ":p": {"S": "p#"}},
            "Limit": 1,
            "ScanIndexForward": False,
        },
    ),
    (
        "query",
        {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": {"S": "m#1"}}, "Select": "COUNT"},
    ),
    (
        "transact_write_items",
        {
            "TransactItems": [
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": _item("m#2", "x"),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": _item("m#1", "p#2"),
                        "ConditionExpression": "attribute_not_exists(pk)",
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
            ]
        },
    ),
    ("delete_item", {"Key": _item("m#1", "p#2"), "ReturnValues": "ALL_OLD"}),
    ("scan", {"Limit": 5}),
    ("put_item", {"Item": {"pk": {"S": "m#1"}}}),  # no sort key: a ValidationException
    ("get_item", {"Key": _item("m#1", "p#1"), "TableName": "no-such-table"}),
]


def _outcome(client: Any, method: str, params: dict[str, Any]) -> tuple[str, Any]:
    try:
        table = {} if method == "transact_write_items" else {"TableName": TABLE}
        answer = getattr(client, method)(**{**table, **params})
    except ClientError as error:
        # botocore also copies a modeled error's message member to the top level; Error.Message has it.
        body = {k: v for k, v in error.response.items() if k not in ("ResponseMetadata", "message", "Message")}
        return "error", (error.operation_name, body, error.response["ResponseMetadata"]["HTTPStatusCode"])
    metadata = answer.pop("ResponseMetadata")
    return "answer", (answer, metadata["HTTPStatusCode"], metadata["RetryAttempts"])


def test_every_operation_answers_as_botocores_client_does(moto_url: str) -> None:
    """Each call goes to both clients in turn, on one table: a write by one is read back by the other."""
    ours, theirs = lean(moto_url, attempts=1), _botocore(moto_url)
    for method, params in CALLS:
        mine = _outcome(ours, method, params)
        _undo(theirs, method, params)
        reference = _outcome(theirs, method, params)
        assert mine == reference, method
    kinds = [_outcome(ours, method, params)[0] for method, params in CALLS]
    assert kinds.count("error") >= 4  # the condition, the transaction, the validation, the missing table


def _undo(client: Any, method: str, params: dict[str, Any]) -> None:
    """Puts the item back as it was before our client's call, so botocore's call meets the same table."""
    if method == "update_item":
        client.update_item(
            TableName=TABLE,
            Key=params["Key"],
            UpdateExpression="SET amount = amount - :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
    if method == "delete_item":
        client.put_item(TableName=TABLE, Item=CALLS[1][1]["Item"])
    if method == "transact_write_items":
        client.delete_item(TableName=TABLE, Key=_item("m#2", "x"))


def test_binary_attributes_come_back_as_bytes(moto_url: str) -> None:
    item = lean(moto_url).get_item(TableName=TABLE, Key=_item("m#1", "p#1"))["Item"]
    assert item["blob"] == {"B": b"\x00\xff"}


def test_make_client_builds_it_on_the_sessions_credentials_and_events(moto_url: str) -> None:
    client = make_client("eu-west-1", moto_url, timeout=2.0)
    seen: list[str] = []
    client.meta.events.register(
        "before-send.dynamodb", lambda request, **_: seen.append(request.headers["X-Amz-Target"])
    )
    assert client.get_item(TableName=TABLE, Key=_item("m#1", "p#1"))["Item"]["sk"] == {"S": "p#1"}
    assert seen == ["DynamoDB_20120810.GetItem"]
    other = make_client("eu-west-1", moto_url, timeout=2.0)
    assert other.meta.events is not client.meta.events  # a hook on one client is not on the next


# --- retries, as botocore's standard mode -----------------------------------------------------------


def test_the_retry_rules_are_botocores() -> None:
    assert set(standard.ThrottledRetryableChecker._THROTTLED_ERROR_CODES) == dynamo_http.THROTTLING_CODES
    assert set(standard.TransientRetryableChecker._TRANSIENT_ERROR_CODES) == dynamo_http.TRANSIENT_CODES
    assert set(standard.TransientRetryableChecker._TRANSIENT_STATUS_CODES) == dynamo_http.TRANSIENT_STATUSES
    checker = standard.RetryQuotaChecker
    costs = (checker._RETRY_COST, checker._THROTTLING_RETRY_COST, checker._NO_RETRY_INCREMENT)
    assert costs == (dynamo_http.QUOTA_RETRY_COST, dynamo_http.QUOTA_THROTTLING_COST, dynamo_http.QUOTA_SUCCESS_REFUND)
    assert quota.RetryQuota.INITIAL_CAPACITY == dynamo_http.QUOTA_INITIAL
    backoff = standard.ExponentialBackoff
    assert backoff._MAX_BACKOFF == dynamo_http.MAX_BACKOFF_SECONDS
    assert backoff._DEFAULT_BACKOFF_CONFIG["throttling_base_scale"] == dynamo_http.THROTTLING_BASE_SECONDS
    assert backoff._SERVICE_BACKOFF_CONFIG["dynamodb"]["non_throttling_base_scale"] == dynamo_http.OTHER_BASE_SECONDS
    assert backoff._RETRY_AFTER_HEADER == dynamo_http.RETRY_AFTER_HEADER
    assert backoff._RETRY_AFTER_MAX_ADDITIONAL == dynamo_http.RETRY_AFTER_MAX_EXTRA_SECONDS
    assert _modeled_retryable() == dict(dynamo_http.MODELED_RETRYABLE)


def _modeled_retryable() -> dict[str, frozenset[str]]:
    models = Path(botocore.__file__).parent / "data" / "dynamodb" / "2012-08-10"
    model = json.loads(gzip.decompress((models / "service-2.json.gz").read_bytes()))
    retryable = {name for name, shape in model["shapes"].items() if "retryable" in shape}
    found: dict[str, frozenset[str]] = {}
    for operation, spec in model["operations"].items():
        codes = frozenset(error["shape"] for error in spec.get("errors", []) if error["shape"] in retryable)
        if codes:
            found[operation] = codes
    return found


class Script(http.server.BaseHTTPRequestHandler):
    """Answers each request with the next scripted answer: (status, body, headers) or "close"."""

    protocol_version = "HTTP/1.1"
    answers: list[Any] = []
    seen: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Script.seen.append({"headers": dict(self.headers), "body": body})
        answer = Script.answers.pop(0) if Script.answers else (200, b"{}", {})
        if answer == "close":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if answer == "slow":
            threading.Event().wait(1.0)
            answer = (200, b"{}", {})
        status, payload, headers = answer
        self.send_response(status)
        self.send_header("Content-Type", dynamo_http.CONTENT_TYPE)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[float]]]:
    Script.answers, Script.seen = [], []
    delays: list[float] = []
    monkeypatch.setattr(dynamo_http, "_sleep", delays.append)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Script)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", delays
    server.shutdown()
    server.server_close()


def error(code: str, status: int = 400, **headers: str) -> tuple[int, bytes, dict[str, str]]:
    body = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": f"scripted {code}"}
    return status, json.dumps(body).encode(), headers


def test_throttling_is_retried_with_a_one_second_scale_and_then_succeeds(scripted: tuple[str, list[float]]) -> None:
    url, delays = scripted
    Script.answers = [error("ThrottlingException"), error("ProvisionedThroughputExceededException"), (200, b"{}", {})]
    answer = lean(url).put_item(TableName=TABLE, Item=_item("a", "b"))
    assert answer["ResponseMetadata"]["RetryAttempts"] == 2
    assert len(Script.seen) == 3 and len(delays) == 2
    assert 0 <= delays[0] <= 1.0 and 0 <= delays[1] <= 2.0


def test_server_errors_are_retried_on_a_short_scale_until_the_attempts_run_out(
    scripted: tuple[str, list[float]],
) -> None:
    url, delays = scripted
    Script.answers = [error("InternalServerError", 500)] * 3
    with pytest.raises(ClientError) as raised:
        lean(url).get_item(TableName=TABLE, Key=_item("a", "b"))
    assert raised.value.response["Error"] == {"Code": "InternalServerError", "Message": "scripted InternalServerError"}
    assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == 2
    assert len(Script.seen) == 3
    assert all(0 <= d <= 0.025 * 2**i for i, d in enumerate(delays)) and len(delays) == 2


@pytest.mark.parametrize("code", ["ValidationException", "ConditionalCheckFailedException", "AccessDeniedException"])
def test_an_error_of_the_request_is_not_retried(scripted: tuple[str, list[float]], code: str) -> None:
    url, _ = scripted
    Script.answers = [error(code)]
    with pytest.raises(ClientError, match=code):
        lean(url).put_item(TableName=TABLE, Item=_item("a", "b"))
    assert len(Script.seen) == 1


def test_a_replicated_write_conflict_is_retried_for_writes_only(scripted: tuple[str, list[float]]) -> None:
    url, _ = scripted
    Script.answers = [error("ReplicatedWriteConflictException", 409), (200, b"{}", {})]
    lean(url).put_item(TableName=TABLE, Item=_item("a", "b"))
    assert len(Script.seen) == 2
    Script.answers, Script.seen = [error("ReplicatedWriteConflictException", 409)], []
    with pytest.raises(ClientError):
        lean(url).transact_write_items(TransactItems=[])
    assert len(Script.seen) == 1


def test_retry_after_raises_the_delay_by_at_most_five_seconds(scripted: tuple[str, list[float]]) -> None:
    url, delays = scripted
    Script.answers = [error("InternalServerError", 500, **{"x-amz-retry-after": "3000"}), (200, b"{}", {})]
    lean(url).get_item(TableName=TABLE, Key=_item("a", "b"))
    assert 3.0 <= delays[0] <= 3.025


def test_a_body_that_fails_its_crc32_is_retried_then_refused(scripted: tuple[str, list[float]]) -> None:
    url, _ = scripted
    good = b'{"Item":{"pk":{"S":"a"}}}'
    Script.answers = [(200, good, {"x-amz-crc32": "1"}), (200, good, {"x-amz-crc32": dynamo_http.crc32_header(good)})]
    assert lean(url).get_item(TableName=TABLE, Key=_item("a", "b"))["Item"] == {"pk": {"S": "a"}}
    Script.answers, Script.seen = [(200, good, {"x-amz-crc32": "1"})] * 3, []
    with pytest.raises(ChecksumError):
        lean(url).get_item(TableName=TABLE, Key=_item("a", "b"))
    assert len(Script.seen) == 3


def test_the_retry_quota_stops_retries_once_spent(scripted: tuple[str, list[float]]) -> None:
    url, _ = scripted
    client = lean(url, attempts=2)
    for _ in range(35):  # 35 retries of 14 = 490 of the 500
        Script.answers = [error("InternalServerError", 500)] * 2
        with pytest.raises(ClientError):
            client.get_item(TableName=TABLE, Key=_item("a", "b"))
    Script.answers, Script.seen = [error("InternalServerError", 500), (200, b"{}", {})], []
    with pytest.raises(ClientError):
        client.get_item(TableName=TABLE, Key=_item("a", "b"))
    assert len(Script.seen) == 1  # 10 left: no retry
    client.get_item(TableName=TABLE, Key=_item("a", "b"))  # a success gives 1 back: 11
    Script.answers, Script.seen = [error("ThrottlingException"), (200, b"{}", {})], []
    client.get_item(TableName=TABLE, Key=_item("a", "b"))  # a throttling retry costs 5 (11 -> 6), refunded: 11
    assert len(Script.seen) == 2
    Script.answers, Script.seen = [(429, b"", {})] * 2, []
    with pytest.raises(ClientError):  # a 429 is throttling: its retry costs 5 (11 -> 6), not refunded
        client.get_item(TableName=TABLE, Key=_item("a", "b"))
    assert len(Script.seen) == 2
    Script.answers, Script.seen = [error("ThrottlingException")] * 2, []
    with pytest.raises(ClientError):  # 6 -> 1: still allowed, so the refund above was the retry's 5
        client.get_item(TableName=TABLE, Key=_item("a", "b"))
    assert len(Script.seen) == 2
    Script.answers, Script.seen = [error("ThrottlingException"), (200, b"{}", {})], []
    with pytest.raises(ClientError):  # 1 left: even a throttling retry is refused
        client.get_item(TableName=TABLE, Key=_item("a", "b"))
    assert len(Script.seen) == 1


def test_a_closed_connection_is_retried_as_botocore_raises_it(scripted: tuple[str, list[float]]) -> None:
    url, _ = scripted
    Script.answers = ["close", (200, b"{}", {})]
    lean(url).put_item(TableName=TABLE, Item=_item("a", "b"))
    assert len(Script.seen) == 2
    Script.answers, Script.seen = ["close"] * 3, []
    with pytest.raises(ConnectionClosedError):
        lean(url).put_item(TableName=TABLE, Item=_item("a", "b"))
    assert len(Script.seen) == 3


def test_a_slow_answer_is_a_read_timeout(scripted: tuple[str, list[float]]) -> None:
    url, _ = scripted
    Script.answers = ["slow"]
    with pytest.raises(ReadTimeoutError):
        lean(url, attempts=1, timeout=0.2).get_item(TableName=TABLE, Key=_item("a", "b"))


def test_a_refused_connection_is_an_endpoint_connection_error() -> None:
    with contextlib.closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(EndpointConnectionError):
        lean(f"http://127.0.0.1:{port}", attempts=1).get_item(TableName=TABLE, Key=_item("a", "b"))


def test_the_request_is_signed_dynamodb_json(scripted: tuple[str, list[float]]) -> None:
    url, _ = scripted
    lean(url, token="tok").put_item(TableName=TABLE, Item=_item("a", "b", blob={"B": b"\x01"}))
    (sent,) = Script.seen
    assert sent["headers"]["X-Amz-Target"] == "DynamoDB_20120810.PutItem"
    assert sent["headers"]["Content-Type"] == "application/x-amz-json-1.0"
    assert sent["headers"]["X-Amz-Security-Token"] == "tok"
    assert sent["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert (
        "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target,"
        in sent["headers"]["Authorization"]
    )
    assert json.loads(sent["body"])["Item"]["blob"] == {"B": "AQ=="}


def test_credentials_are_resolved_at_the_first_call_not_at_construction(scripted: tuple[str, list[float]]) -> None:
    url, _ = scripted
    resolved: list[int] = []
    creds = Credentials("AKID", "secret")
    client = DynamoHttpClient(
        "eu-west-1",
        url,
        credentials=lambda: resolved.append(1) or creds,
        events=botocore.session.get_session().get_component("event_emitter"),
        config=config(attempts=1, timeout=1, max_pool_connections=1),
    )
    assert resolved == []
    client.get_item(TableName=TABLE, Key=_item("a", "b"))
    client.get_item(TableName=TABLE, Key=_item("a", "b"))
    assert resolved == [1]


@pytest.mark.parametrize(
    "settings",
    [
        {"retries": {"mode": "legacy", "total_max_attempts": 3}},
        {"retries": {"mode": "standard", "max_attempts": 2}},
        {"parameter_validation": True},
        {"tcp_keepalive": False},
    ],
)
def test_a_setting_it_would_not_honour_is_refused(settings: dict[str, Any]) -> None:
    base = {
        "connect_timeout": 1,
        "read_timeout": 1,
        "retries": {"mode": "standard", "total_max_attempts": 3},
        "tcp_keepalive": True,
        "parameter_validation": False,
    }
    with pytest.raises(ValueError, match=r"retries|validat"):
        DynamoHttpClient(
            "eu-west-1", None, credentials=lambda: None, events=None, config=Config(**{**base, **settings})
        )


def test_make_client_keeps_its_configuration_on_meta() -> None:
    client = make_client("eu-west-1", None, timeout=0.5, attempts=2, connect_timeout=0.25)
    options: Any = client.meta.config
    assert (options.connect_timeout, options.read_timeout) == (0.25, 0.5)
    assert options.retries == {"mode": "standard", "total_max_attempts": 2}
    assert options.max_pool_connections == Config.OPTION_DEFAULTS["max_pool_connections"]


# --- what the review of the first version found ------------------------------------------------------


@pytest.fixture
def full_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    """random() at its maximum: each backoff is exactly its bound."""
    monkeypatch.setattr(dynamo_http.random, "random", lambda: 1.0)


def test_a_429_is_throttling_unless_its_code_is_one_the_operation_models(
    scripted: tuple[str, list[float]], full_jitter: None
) -> None:
    url, delays = scripted
    Script.answers = [(429, b"", {}), (200, b"{}", {})]
    lean(url).get_item(TableName=TABLE, Key=_item("a", "b"))
    assert len(Script.seen) == 2 and delays == [1.0]  # the throttling scale
    Script.answers, Script.seen = [error("ConditionalCheckFailedException", 429)], []
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        lean(url).put_item(TableName=TABLE, Item=_item("a", "b"))
    assert len(Script.seen) == 1


def test_a_request_timeout_code_is_retried_whatever_its_status(scripted: tuple[str, list[float]]) -> None:
    url, _ = scripted
    Script.answers = [error("RequestTimeoutException", 400), (200, b"{}", {})]
    lean(url).get_item(TableName=TABLE, Key=_item("a", "b"))
    assert len(Script.seen) == 2


def test_the_backoff_doubles_from_its_scale_up_to_twenty_seconds(
    scripted: tuple[str, list[float]], full_jitter: None
) -> None:
    url, delays = scripted
    Script.answers = [error("ThrottlingException")] * 7
    with pytest.raises(ClientError):
        lean(url, attempts=7).get_item(TableName=TABLE, Key=_item("a", "b"))
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 20.0]
    delays.clear()
    Script.answers = [error("InternalServerError", 500)] * 3
    with pytest.raises(ClientError):
        lean(url).get_item(TableName=TABLE, Key=_item("a", "b"))
    assert delays == [0.025, 0.05]


@pytest.mark.parametrize(("retry_after", "expected"), [("10000", 5.025), ("soon", 0.025)])
def test_retry_after_is_capped_and_a_bad_one_ignored(
    scripted: tuple[str, list[float]], full_jitter: None, retry_after: str, expected: float
) -> None:
    url, delays = scripted
    Script.answers = [error("InternalServerError", 500, **{"x-amz-retry-after": retry_after}), (200, b"{}", {})]
    lean(url).get_item(TableName=TABLE, Key=_item("a", "b"))
    assert delays == [pytest.approx(expected)]


@pytest.mark.parametrize(
    ("status", "body", "code", "message"),
    [
        (
            400,
            b'{"__type":"ValidationException:http://internal.amazon.com/","message":"bad"}',
            "ValidationException",
            "bad",
        ),
        (500, b"", "500", "Internal Server Error"),
        (503, b"<html><body>Service Unavailable</body></html>", "503", "Service Unavailable"),
        (400, b"", "400", ""),
        (400, b"{}", "400", ""),
        (400, b"not json", "400", "not json"),
        (
            400,
            b'{"__type":"com.amazonaws.dynamodb.v20120810#AccessDeniedException","Message":"no"}',
            "AccessDeniedException",
            "no",
        ),
    ],
)
def test_errors_are_parsed_as_botocore_parses_them(
    scripted: tuple[str, list[float]], status: int, body: bytes, code: str, message: str
) -> None:
    url, _ = scripted
    answers = [(status, body, {"x-amzn-RequestId": "req-1"})]
    Script.answers = list(answers)
    with pytest.raises(ClientError) as ours:
        lean(url, attempts=1).get_item(TableName=TABLE, Key=_item("a", "b"))
    Script.answers = list(answers)
    with pytest.raises(ClientError) as theirs:
        _botocore(url).get_item(TableName=TABLE, Key=_item("a", "b"))
    assert ours.value.response["Error"] == theirs.value.response["Error"] == {"Code": code, "Message": message}
    request_ids = [e.value.response["ResponseMetadata"].get("RequestId") for e in (ours, theirs)]
    assert request_ids[0] == request_ids[1] == (None if status >= 500 and not body.startswith(b"{") else "req-1")


def test_every_before_send_handler_is_called_and_a_handlers_error_is_not_a_service_answer(
    scripted: tuple[str, list[float]],
) -> None:
    url, _ = scripted
    client = lean(url)
    client.meta.events = botocore.session.get_session().get_component("event_emitter").__copy__()
    called: list[str] = []

    def answering(request: Any, **_: object) -> AWSResponse:
        called.append("answering")
        return AWSResponse(request.url, 200, {}, _Raw(b'{"Item":{"pk":{"S":"first"}}}'))

    def second(**_: object) -> AWSResponse:
        called.append("second")
        return AWSResponse("", 200, {}, _Raw(b'{"Item":{"pk":{"S":"second"}}}'))

    client.meta.events.register("before-send.dynamodb", answering)
    client.meta.events.register("before-send.dynamodb", second)
    assert client.get_item(TableName=TABLE, Key=_item("a", "b"))["Item"] == {"pk": {"S": "first"}}
    assert called == ["answering", "second"]  # every handler, the first answer

    def failing(**_: object) -> None:
        called.append("failing")
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "from a hook"}}, "GetItem")

    client.meta.events = botocore.session.get_session().get_component("event_emitter").__copy__()
    client.meta.events.register("before-send.dynamodb", failing)
    called.clear()
    with pytest.raises(ClientError, match="from a hook"):
        client.get_item(TableName=TABLE, Key=_item("a", "b"))
    assert called == ["failing"] and Script.seen == []  # raised as it is: no retry, nothing sent


def _captured_request(url: str | None, token: str | None = None) -> Any:
    """The request the client would send, caught at before-send (answered there, never sent)."""
    client = lean(url, token=token)
    caught: list[Any] = []

    def answer(request: Any, **_: object) -> AWSResponse:
        caught.append(request)
        return AWSResponse(request.url, 200, {}, _Raw(b"{}"))

    client.meta.events = botocore.session.get_session().get_component("event_emitter").__copy__()
    client.meta.events.register("before-send.dynamodb", answer)
    client.get_item(TableName=TABLE, Key=_item("a", "b"))
    return caught[0]


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: object) -> Iterator[bytes]:
        yield self._body


@pytest.mark.parametrize(
    "url", [None, "http://localhost:80", "https://localhost:443/", "http://[::1]:8000", "http://127.0.0.1:8000/"]
)
@pytest.mark.parametrize("token", [None, "tok"])
def test_the_sent_request_carries_botocores_signature_for_its_url(url: str | None, token: str | None) -> None:
    sent = _captured_request(url, token)
    reference = AWSRequest(
        "POST",
        sent.url,
        headers={k: v for k, v in sent.headers.items() if k in ("Content-Type", "X-Amz-Target")},
        data=sent.body,
    )
    _sign_at(
        SigV4Auth(
            Credentials(KEYS["aws_access_key_id"], KEYS["aws_secret_access_key"], token), "dynamodb", "eu-west-1"
        ),
        reference,
        sent.headers["X-Amz-Date"],
    )
    assert sent.headers["Authorization"] == reference.headers["Authorization"]
    assert sent.url == (url or "https://dynamodb.eu-west-1.amazonaws.com").rstrip("/") + "/"


def test_no_credentials_is_no_credentials_error_on_every_call_resolved_once() -> None:
    asked: list[int] = []
    client = DynamoHttpClient(
        "eu-west-1",
        "http://127.0.0.1:9",
        credentials=lambda: asked.append(1),
        events=botocore.session.get_session().get_component("event_emitter"),
        config=config(),
    )
    for _ in range(2):
        with pytest.raises(NoCredentialsError):
            client.get_item(TableName=TABLE, Key=_item("a", "b"))
    assert asked == [1]


def test_the_http_layer_is_set_up_as_a_botocore_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("AWS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    ours = make_client("eu-west-1", None, timeout=0.5, attempts=2, connect_timeout=0.25)
    theirs = botocore.session.get_session().create_client("dynamodb", region_name="eu-west-1", config=ours.meta.config)
    mine, reference = ours._http, theirs._endpoint.http_session
    for name in ("_verify", "_max_pool_connections", "_socket_options"):
        assert getattr(mine, name) == getattr(reference, name), name
    timeouts = [(t.connect_timeout, t.read_timeout) for t in (mine._timeout, reference._timeout)]
    assert timeouts == [(0.25, 0.5), (0.25, 0.5)]
    assert mine._proxy_config._proxies == reference._proxy_config._proxies


@pytest.mark.parametrize(
    ("ca_bundle", "requests_bundle", "expected"),
    [("/a.pem", "/b.pem", "/a.pem"), (None, "/b.pem", "/b.pem"), (None, None, True)],
)
def test_tls_verification_follows_botocore(
    monkeypatch: pytest.MonkeyPatch, ca_bundle: str | None, requests_bundle: str | None, expected: object
) -> None:
    if requests_bundle:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", requests_bundle)
    else:
        monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    assert dynamo_http.tls_verification(ca_bundle) == expected
    with pytest.raises(InvalidConfigError, match="blank"):
        dynamo_http.tls_verification("  ")


def test_the_modeled_errors_are_the_models() -> None:
    models = Path(botocore.__file__).parent / "data" / "dynamodb" / "2012-08-10"
    model = json.loads(gzip.decompress((models / "service-2.json.gz").read_bytes()))
    for operation, codes in dynamo_http.MODELED_ERRORS.items():
        assert codes == {error["shape"] for error in model["operations"][operation].get("errors", [])}, operation
    assert list(standard.ThrottlingStatusCodeChecker._THROTTLING_STATUS_CODES) == sorted(
        dynamo_http.THROTTLING_STATUSES
    )


@pytest.mark.parametrize(
    ("status", "body", "headers"),
    [
        (200, b"{}", {"X-Amzn-RequestId": "req-9", "X-Extra": "Value"}),
        (200, b"{}", {}),
        (400, b'{"__type":"x#ValidationException","message":"m"}', {"X-Amzn-RequestId": "req-9"}),
        (503, b"", {"X-Amzn-RequestId": "req-9"}),
        (400, b'{"__type":null}', {}),
    ],
)
def test_response_metadata_and_codes_are_botocores(
    scripted: tuple[str, list[float]], status: int, body: bytes, headers: dict[str, str]
) -> None:
    url, _ = scripted
    outcomes = []
    for client in (lean(url, attempts=1), _botocore(url)):
        Script.answers = [(status, body, headers)]
        try:
            outcomes.append(client.get_item(TableName=TABLE, Key=_item("a", "b")))
        except ClientError as error:
            outcomes.append(error.response)
    ours, theirs = outcomes
    for answer in (ours, theirs):
        answer["ResponseMetadata"]["HTTPHeaders"].pop("date", None)  # the server's clock
        answer["ResponseMetadata"]["HTTPHeaders"].pop("server", None)
    theirs["ResponseMetadata"].pop("MaxAttemptsReached", None)  # a flag this client does not set (documented)
    assert ours == theirs
