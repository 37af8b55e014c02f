"""The embedded DynamoDB (`python -m local_gateway.child dynamodb`: moto with the partition index
and local_gateway.moto_speedups, on local_gateway.wsgi_server) answers every DynamoDB call as moto
as it ships does, on its own server (werkzeug + Flask), over connections it keeps open.

Differential, black box: both run as their own processes; the same raw requests go to both, and
status, body and header names must be the same (the table's creation time and id aside): listed
calls (the project's, and errors it must get as DynamoDB gives them), then random sequences of
the project's kinds of calls (tests/local/dynamodb_calls.py).
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import random
import re
import socket
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from moto.core.request import Request

from handlers.contract.schema import PENDING_INDEX, table_definition
from local_gateway.moto_server import RegionPinningMiddleware, _ServerRequest
from local_gateway.topology import TABLE_REGION
from tests.local import dynamodb_calls as calls

AUTHORIZATION = (
    f"AWS4-HMAC-SHA256 Credential=local/20260101/{TABLE_REGION}/dynamodb/aws4_request, "
    "SignedHeaders=host;x-amz-date;x-amz-target, Signature=0"
)
# Differ between two tables made at two moments, not by behaviour.
_TABLE_IDENTITY = ("TableId", "CreationDateTime", "LatestStreamLabel", "LatestStreamArn")
# Set per answer (a fresh request id, the time) or by the server's framing.
_PER_ANSWER_HEADERS = {"x-amzn-requestid", "date", "server", "connection", "content-length"}
Answer = tuple[int, dict[str, str], bytes]


class Client:
    """Raw DynamoDB calls on one kept connection (reopened if the server closed it)."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def send(self, target: str, body: Any) -> Answer:
        payload = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.connection.request(
            "POST",
            "/",
            body=payload,
            headers={
                "X-Amz-Target": f"DynamoDB_20120810.{target}",
                "Content-Type": "application/x-amz-json-1.0",
                "Authorization": AUTHORIZATION,
                "X-Amz-Date": "20260101T000000Z",
            },
        )
        answer = self.connection.getresponse()
        return answer.status, {name.lower(): value for name, value in answer.getheaders()}, answer.read()


@pytest.fixture
def clients(embedded: int, reference: int) -> Iterator[tuple[Client, Client]]:
    pair = Client(embedded), Client(reference)
    yield pair
    for client in pair:
        client.connection.close()


def _calls(table: str) -> list[tuple[str, Any]]:
    """DynamoDB calls the project makes, and some it must fail as DynamoDB does."""
    merchant = {"S": "MERCHANT#m"}

    def key(sk: str) -> dict[str, Any]:
        return {"pk": merchant, "sk": {"S": sk}}

    payment = {**key("PAYMENT#1"), "status": {"S": "pending"}, "attempt": {"N": "1"}, "pending_pk": {"S": "P#0"}}
    pending_query = {
        "TableName": table,
        "IndexName": PENDING_INDEX,
        "KeyConditionExpression": "pending_pk = :p AND sk < :below",
        "ExpressionAttributeValues": {":p": {"S": "P#0"}, ":below": {"S": "PAYMENT#9"}},
    }
    return [
        ("CreateTable", {**table_definition(table), "TableName": table}),
        ("DescribeTable", {"TableName": table}),
        ("DescribeTimeToLive", {"TableName": table}),
        ("PutItem", {"TableName": table, "Item": payment, "ConditionExpression": "attribute_not_exists(pk)"}),
        (
            "PutItem",
            {
                "TableName": table,
                "Item": payment,
                "ConditionExpression": "attribute_not_exists(#pk)",
                "ExpressionAttributeNames": {"#pk": "pk"},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            },
        ),
        ("PutItem", {"TableName": table, "Item": {**key("PAYMENT#2"), "blob": {"B": base64.b64encode(b"x").decode()}}}),
        ("GetItem", {"TableName": table, "Key": key("PAYMENT#2"), "ConsistentRead": True}),
        ("GetItem", {"TableName": table, "Key": key("PAYMENT#missing")}),
        (
            "UpdateItem",
            {
                "TableName": table,
                "Key": key("PAYMENT#1"),
                "UpdateExpression": "SET #s = :s REMOVE pending_pk",
                "ConditionExpression": "#s = :previous AND attempt = :a",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {
                    ":s": {"S": "authorized"},
                    ":previous": {"S": "pending"},
                    ":a": {"N": "1"},
                },
                "ReturnValues": "ALL_NEW",
            },
        ),
        ("Query", pending_query),
        ("Query", {**pending_query, "Select": "COUNT"}),
        (
            "Query",
            {
                "TableName": table,
                "KeyConditionExpression": "pk = :m",
                "ExpressionAttributeValues": {":m": merchant},
                "Limit": 1,
                "ScanIndexForward": False,
            },
        ),
        *_lifecycle_calls(table, key),
        (
            "Query",
            {"TableName": table, "KeyConditionExpression": "nope = :m", "ExpressionAttributeValues": {":m": merchant}},
        ),
        ("Scan", {"TableName": table, "FilterExpression": "attribute_exists(blob)", "ConsistentRead": True}),
        ("PutItem", {"TableName": table, "Item": {"pk": {"S": ""}, "sk": {"S": "x"}}}),
        ("PutItem", {"TableName": table, "Item": {**key("BIG"), "a": {"S": "x" * 404_500}, "b": {"S": "x" * 900}}}),
        ("PutItem", {"TableName": table, "Item": {**key("BIG"), "a": {"S": "x" * 404_500}}}),
        ("PutItem", {"TableName": table, "Item": payment, "ConditionExpression": "attribute_not_exists(pk"}),
        (
            "TransactWriteItems",
            {
                "TransactItems": [
                    {"Put": {"TableName": table, "Item": key("T#1")}},
                    {
                        "ConditionCheck": {
                            "TableName": table,
                            "Key": key("PAYMENT#1"),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            },
        ),
        ("DeleteItem", {"TableName": table, "Key": key("PAYMENT#2"), "ReturnValues": "ALL_OLD"}),
        ("GetItem", {"TableName": "no-such-table", "Key": key("PAYMENT#1")}),
        ("NoSuchOperation", {"TableName": table}),
        ("PutItem", "{not json"),
    ]


def _lifecycle_calls(table: str, key: Any) -> list[tuple[str, Any]]:
    """A payment's operations and the lifecycle's reads (handlers.adapters.dynamo_operations)."""
    operation = {
        **key("PAYMENT#1#re_1"),
        "kind": {"S": "refund"},
        "status": {"S": "pending"},
        "due_at": {"N": "5.5"},
        "pending_pk": {"S": "OPERATION#eu#0"},
    }
    expiry = {
        **key("PAYMENT#3"),
        "status": {"S": "authorized"},
        "due_at": {"N": "9"},
        "pending_pk": {"S": "EXPIRY#eu#0"},
    }
    due = {
        "TableName": table,
        "IndexName": PENDING_INDEX,
        "KeyConditionExpression": "#ppk = :ppk",
        "FilterExpression": "#due <= :now",
        "ExpressionAttributeNames": {"#ppk": "pending_pk", "#due": "due_at"},
        "ExpressionAttributeValues": {":ppk": {"S": "OPERATION#eu#0"}, ":now": {"N": "6"}},
        "Limit": 1,
    }
    return [
        ("PutItem", {"TableName": table, "Item": operation, "ConditionExpression": "attribute_not_exists(pk)"}),
        ("PutItem", {"TableName": table, "Item": expiry}),
        (
            "Query",
            {
                "TableName": table,
                "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :prefix)",
                "ExpressionAttributeNames": {"#pk": "pk", "#sk": "sk"},
                "ExpressionAttributeValues": {":pk": {"S": "MERCHANT#m"}, ":prefix": {"S": "PAYMENT#1"}},
                "ConsistentRead": True,
            },
        ),
        ("Query", due),
        ("Query", {**due, "ExpressionAttributeValues": {":ppk": {"S": "EXPIRY#eu#0"}, ":now": {"N": "8.5"}}}),
        (
            "Query",
            {
                "TableName": table,
                "KeyConditionExpression": "#pk = :pk",
                "FilterExpression": "#status IN (:status0, :status1) OR attribute_exists(#kind)",
                "ExpressionAttributeNames": {"#pk": "pk", "#status": "status", "#kind": "kind"},
                "ExpressionAttributeValues": {
                    ":pk": {"S": "MERCHANT#m"},
                    ":status0": {"S": "authorized"},
                    ":status1": {"S": "captured"},
                },
                "ScanIndexForward": False,
                "Limit": 4,
            },
        ),
    ]


def _comparable(answer: Answer) -> tuple[Any, ...]:
    status, headers, data = answer
    try:
        body: Any = json.loads(data)
    except ValueError:
        body = data.decode(errors="replace")
    return status, _without_identity(body), sorted(set(headers) - _PER_ANSWER_HEADERS)


def _without_identity(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_identity(v) for k, v in value.items() if k not in _TABLE_IDENTITY}
    if isinstance(value, list):
        return [_without_identity(v) for v in value]
    return value


def _same_answer(clients: tuple[Client, Client], target: str, body: Any, where: str) -> Answer:
    ours, theirs = (client.send(target, body) for client in clients)
    assert _comparable(ours) == _comparable(theirs), f"{where}: {target} {body}"
    if "x-amz-crc32" in ours[1]:  # botocore checks the body against it
        assert ours[1]["x-amz-crc32"] == str(zlib.crc32(ours[2])), where
    return ours


def test_listed_calls_are_answered_as_moto_answers_them(clients: tuple[Client, Client]) -> None:
    for n, (target, body) in enumerate(_calls("listed")):
        _same_answer(clients, target, body, f"call {n}")


@pytest.mark.parametrize("seed", range(4))
def test_random_calls_are_answered_as_moto_answers_them(clients: tuple[Client, Client], seed: int) -> None:
    table = f"random-{seed}"
    _same_answer(clients, "CreateTable", {**table_definition(table), "TableName": table}, "create")
    rng = random.Random(seed)
    writes = [calls.put, calls.put, calls.put, calls.update, calls.delete, calls.transaction, calls.get, calls.scan]
    for step in range(150):
        if rng.random() < 0.4:
            call = calls.any_query(rng)
            _same_pages(clients, {**call, "TableName": table}, f"seed {seed} step {step}")
        else:
            call = rng.choice(writes)(rng)
            target = _target(call.pop("_operation"))
            _same_answer(clients, target, _on_table(call, table), f"seed {seed} step {step}")


def _target(operation: str) -> str:
    return "".join(part.title() for part in operation.split("_"))


def _on_table(call: dict[str, Any], table: str) -> dict[str, Any]:
    if "TransactItems" in call:
        items = [
            {kind: {**operation, "TableName": table}}
            for entry in call["TransactItems"]
            for kind, operation in entry.items()
        ]
        return {"TransactItems": items}
    return {**call, "TableName": table}


def _same_pages(clients: tuple[Client, Client], call: dict[str, Any], where: str) -> None:
    for page in range(40):
        status, _, data = _same_answer(clients, "Query", call, f"{where} page {page}")
        answer = json.loads(data)
        if status != 200 or "LastEvaluatedKey" not in answer:
            return
        call = {**call, "ExclusiveStartKey": answer["LastEvaluatedKey"]}


def test_a_client_keeps_one_connection_for_its_calls(embedded: int) -> None:
    client = Client(embedded)
    client.send("ListTables", {})
    kept = client.connection.sock
    for _ in range(20):
        status, headers, _ = client.send("ListTables", {})
        assert status == 200 and "connection" not in headers
    assert client.connection.sock is kept
    client.connection.close()


def test_http_1_0_and_connection_close_end_the_connection(embedded: int) -> None:
    for request in (
        b"GET /moto-api/data.json HTTP/1.0\r\n\r\n",
        b"GET /moto-api/data.json HTTP/1.1\r\nConnection: close\r\n\r\n",
    ):
        with socket.create_connection(("127.0.0.1", embedded), timeout=10) as sock:
            sock.sendall(request)
            answer = _read_until_closed(sock)
        assert answer.startswith(b"HTTP/1.1 200 ")


def test_a_chunked_body_is_read_whole(embedded: int) -> None:
    body = json.dumps({"TableName": "no-such-table"}).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:5], body[5:])) + b"0\r\n\r\n"
    request = (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nX-Amz-Target: DynamoDB_20120810.DescribeTable\r\n"
        b"Content-Type: application/x-amz-json-1.0\r\nAuthorization: " + AUTHORIZATION.encode() + b"\r\n"
        b"Connection: close\r\n\r\n" + chunks
    )
    with socket.create_connection(("127.0.0.1", embedded), timeout=10) as sock:
        sock.sendall(request)
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"ResourceNotFoundException" in answer


def test_garbage_is_refused_and_the_connection_closed(embedded: int) -> None:
    with socket.create_connection(("127.0.0.1", embedded), timeout=10) as sock:
        sock.sendall(b"HELLO\r\n\r\n")
        assert _read_until_closed(sock).startswith(b"HTTP/1.1 400 ")


def _read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


@pytest.mark.parametrize(
    ("host", "content_type", "query", "extra"),
    [
        ("127.0.0.1:8080", "application/x-amz-json-1.0", "", {}),
        ("127.0.0.1:80", "application/x-amz-json-1.0", "", {}),
        ("localhost:8080", "application/x-amz-json-1.0", "", {}),
        ("127.0.0.1:8080", "application/x-www-form-urlencoded", "", {}),
        ("127.0.0.1:8080", "application/x-amz-json-1.0", "a=1", {}),
        ("127.0.0.1:8080", "", "", {}),
        ("127.0.0.1:8080", "application/x-amz-json-1.0", "", {"HTTP_CONTENT_ENCODING": "gzip"}),
        ("127.0.0.1:8080", "application/x-amz-json-1.0", "", {"wsgi.input": "buffered"}),
        ("127.0.0.1:8080", "application/x-amz-json-1.0", "", {"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.PutItem"}),
        ("127.0.0.1:8080", "application/x-amz-json-1.0", "", {"HTTP_CONTENT_TYPE": "x", "CONTENT_LENGTH": "0"}),
        ("127.0.0.1:8080", "", "", {"CONTENT_TYPE": ""}),
    ],
)
def test_a_request_holds_what_werkzeug_works_out(
    host: str, content_type: str, query: str, extra: dict[str, str]
) -> None:
    """The DynamoDB app gives werkzeug's lazily parsed parts directly; they must be werkzeug's own."""
    body = b'{"TableName": "t", "ConditionExpression": "a = :b&Action=x"}'

    def environ() -> dict[str, Any]:
        values: dict[str, Any] = {
            "REQUEST_METHOD": "POST",
            "SCRIPT_NAME": "",
            "PATH_INFO": "/",
            "RAW_URI": "/" + (f"?{query}" if query else ""),
            "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8080",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_HOST": host,
            **({"CONTENT_TYPE": content_type} if content_type else {}),
            **extra,
        }
        if extra.get("wsgi.input") == "buffered":  # another server's input: werkzeug's own stream reads it
            values["wsgi.input"] = io.BufferedReader(io.BytesIO(body))  # type: ignore[arg-type]
        return values

    given, worked_out = _ServerRequest.of(environ()), Request(environ())
    for request in (given, worked_out):
        request.from_wsgi_server = True
    assert given.headers_dict() == dict(worked_out.headers)
    assert given.raw_url == worked_out.raw_url
    assert given.data == worked_out.data
    assert (given.form, given.files, given.values) == (worked_out.form, worked_out.files, worked_out.values)
    assert given.get_data() == worked_out.get_data()
    assert given.stream.read() == worked_out.stream.read()


@pytest.mark.parametrize(
    "authorization",
    [
        f"AWS4-HMAC-SHA256 Credential=AK/20260101/{TABLE_REGION}/dynamodb/aws4_request, Signature=x",
        "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/dynamodb/aws4_request, Signature=x",
        f"Credential=AK/20260101/{TABLE_REGION}/dynamodb/x Credential=AK/20260101/us-east-1/dynamodb/x",
        "Bearer something-else",
    ],
)
def test_every_call_reaches_moto_in_the_table_s_region(authorization: str) -> None:
    seen: list[dict[str, Any]] = []
    app = RegionPinningMiddleware(lambda environ, start_response: seen.append(dict(environ)) or [])
    user_agent = "Boto3/1.0 md/x region/us-east-1 cfg/y"
    app({"HTTP_AUTHORIZATION": authorization, "HTTP_USER_AGENT": user_agent}, lambda *_: None)
    assert seen[0]["HTTP_AUTHORIZATION"] == re.sub(
        r"(Credential=[^/,]+/\d{8}/)[^/]+/", rf"\g<1>{TABLE_REGION}/", authorization
    )
    assert seen[0]["HTTP_USER_AGENT"] == f"Boto3/1.0 md/x region/{TABLE_REGION} cfg/y"
