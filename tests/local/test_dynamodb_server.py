"""The embedded DynamoDB's server (local_gateway.moto_server on local_gateway.wsgi_server) answers
every DynamoDB call as moto's own server does, over connections it keeps open.

Differential: the same raw requests go to moto's own server (werkzeug + Flask, `ThreadedMotoServer`)
and to ours, each on its own table in the one moto backend of this process; status, body and
header names must be the same (the table's name, ARN, id and creation time aside).
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import threading
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from handlers.schema import PENDING_INDEX, table_definition
from local_gateway.dynamodb import dynamodb_client
from local_gateway.moto_server import make_dynamodb_server
from local_gateway.topology import TABLE_REGION
from local_gateway.wsgi_server import KeepAliveWSGIServer

AUTHORIZATION = (
    f"AWS4-HMAC-SHA256 Credential=local/20260101/{TABLE_REGION}/dynamodb/aws4_request, "
    "SignedHeaders=host;x-amz-date;x-amz-target, Signature=0"
)
# What differs between two tables by construction, not by behaviour.
_TABLE_IDENTITY = ("TableName", "TableArn", "TableId", "CreationDateTime", "LatestStreamArn", "LatestStreamLabel")
# Set per answer (a fresh request id, the time) or by the server's framing.
_PER_ANSWER_HEADERS = {"x-amzn-requestid", "date", "server", "connection", "content-length"}


@pytest.fixture(scope="module")
def ours() -> Iterator[KeepAliveWSGIServer]:
    server = make_dynamodb_server(0)
    threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def moto_own() -> Iterator[int]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    yield server.get_host_and_port()[1]
    server.stop()


def _send(port: int, target: str, body: bytes | str, *, connection: http.client.HTTPConnection | None = None) -> Any:
    conn = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    payload = body.encode() if isinstance(body, str) else body
    conn.request(
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
    answer = conn.getresponse()
    data = answer.read()
    if connection is None:
        conn.close()
    return answer.status, {name.lower(): value for name, value in answer.getheaders()}, data


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
        (
            "Query",
            {"TableName": table, "KeyConditionExpression": "nope = :m", "ExpressionAttributeValues": {":m": merchant}},
        ),
        ("Scan", {"TableName": table, "FilterExpression": "attribute_exists(blob)", "ConsistentRead": True}),
        ("PutItem", {"TableName": table, "Item": {"pk": {"S": ""}, "sk": {"S": "x"}}}),
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


def _comparable(status: int, headers: dict[str, str], data: bytes, table: str) -> tuple[Any, ...]:
    try:
        body: Any = json.loads(data)
    except ValueError:
        body = data.decode(errors="replace")
    return status, _without_identity(body, table), sorted(set(headers) - _PER_ANSWER_HEADERS)


def _without_identity(value: Any, table: str) -> Any:
    if isinstance(value, dict):
        return {k: _without_identity(v, table) for k, v in value.items() if k not in _TABLE_IDENTITY}
    if isinstance(value, list):
        return [_without_identity(v, table) for v in value]
    if isinstance(value, str):
        return value.replace(table, "<table>")
    return value


def test_every_call_is_answered_as_moto_s_own_server_answers_it(ours: KeepAliveWSGIServer, moto_own: int) -> None:
    for (target, theirs_body), (_, ours_body) in zip(_calls("theirs"), _calls("ours"), strict=True):
        theirs = _send(moto_own, target, theirs_body if isinstance(theirs_body, str) else json.dumps(theirs_body))
        mine = _send(ours.server_port, target, ours_body if isinstance(ours_body, str) else json.dumps(ours_body))
        assert _comparable(*mine, "ours") == _comparable(*theirs, "theirs"), target
        if "x-amz-crc32" in mine[1]:  # botocore checks the body against it
            assert mine[1]["x-amz-crc32"] == str(zlib.crc32(mine[2])), target


def test_a_client_keeps_one_connection_for_its_calls(ours: KeepAliveWSGIServer) -> None:
    accepted: list[object] = []
    original = ours.get_request

    def counted() -> tuple[socket.socket, Any]:
        connection = original()
        accepted.append(connection)
        return connection

    ours.get_request = counted  # type: ignore[method-assign]
    try:
        client = dynamodb_client(f"http://127.0.0.1:{ours.server_port}", "us-east-1")
        client.create_table(**{**table_definition("kept"), "TableName": "kept"})  # type: ignore[arg-type]
        for n in range(20):
            client.put_item(TableName="kept", Item={"pk": {"S": "a"}, "sk": {"S": str(n)}})
        assert (
            client.query(
                TableName="kept", KeyConditionExpression="pk = :a", ExpressionAttributeValues={":a": {"S": "a"}}
            )["Count"]
            == 20
        )
    finally:
        del ours.get_request
    assert len(accepted) == 1


def test_http_1_0_and_connection_close_end_the_connection(ours: KeepAliveWSGIServer) -> None:
    for request in (
        b"GET /moto-api/data.json HTTP/1.0\r\n\r\n",
        b"GET /moto-api/data.json HTTP/1.1\r\nConnection: close\r\n\r\n",
    ):
        with socket.create_connection(("127.0.0.1", ours.server_port), timeout=10) as sock:
            sock.sendall(request)
            answer = _read_until_closed(sock)
        assert answer.startswith(b"HTTP/1.1 200 ")


def test_a_chunked_body_is_read_whole(ours: KeepAliveWSGIServer) -> None:
    body = json.dumps({"TableName": "no-such-table"}).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:5], body[5:])) + b"0\r\n\r\n"
    request = (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nX-Amz-Target: DynamoDB_20120810.DescribeTable\r\n"
        b"Content-Type: application/x-amz-json-1.0\r\nAuthorization: " + AUTHORIZATION.encode() + b"\r\n"
        b"Connection: close\r\n\r\n" + chunks
    )
    with socket.create_connection(("127.0.0.1", ours.server_port), timeout=10) as sock:
        sock.sendall(request)
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"ResourceNotFoundException" in answer


def test_garbage_is_refused_and_the_connection_closed(ours: KeepAliveWSGIServer) -> None:
    with socket.create_connection(("127.0.0.1", ours.server_port), timeout=10) as sock:
        sock.sendall(b"HELLO\r\n\r\n")
        assert _read_until_closed(sock).startswith(b"HTTP/1.1 400 ")


def _read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received
