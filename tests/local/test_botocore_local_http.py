"""local_gateway.botocore_local_http: botocore's calls to 127.0.0.1 on the lean client give what they
give on urllib3. Differential: each scenario (a server's answers, call after call) runs once through
urllib3 and once through the lean client, each against a fresh server and client; the bytes the
server received, the answers and the errors botocore raised (retries included) must be the same.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.httpsession import URLLib3Session

from local_gateway import botocore_local_http

READ_TIMEOUT = 0.5
ITEM = {"Item": {"pk": {"S": "a"}, "n": {"N": "1"}}}
# Differ between two runs by design: the time, the signature, the SDK's per-call id.
VARYING_HEADERS = (b"x-amz-date", b"authorization", b"amz-sdk-invocation-id")


def _ok(body: dict[str, Any] | None = None, *, extra: bytes = b"", version: bytes = b"HTTP/1.1") -> bytes:
    payload = json.dumps(body if body is not None else ITEM).encode()
    head = (
        version + b" 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\n"
        b"x-amzn-RequestId: REQ\r\nx-amz-crc32: %d\r\nContent-Length: %d\r\n" % (zlib.crc32(payload), len(payload))
    )
    return head + extra + b"\r\n" + payload


def _chunked() -> bytes:
    payload = json.dumps(ITEM).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (payload[:7], payload[7:])) + b"0\r\n\r\n"
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nx-amz-crc32: %d\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" % zlib.crc32(payload)
    ) + chunks


def _error(code: str, status: int = 400) -> bytes:
    payload = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "no"}).encode()
    return b"HTTP/1.1 %d Bad\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: %d\r\n\r\n%s" % (
        status,
        len(payload),
        payload,
    )


# What the server does with a request: answer these bytes and keep the connection ("keep"), answer
# and close ("close"), close without answering (None), or wait past the read timeout.
Behaviour = tuple[bytes | None, str]
SCENARIOS: dict[str, list[Behaviour]] = {
    "answers on one connection": [(_ok(), "keep")] * 4,
    "Connection: close each time": [(_ok(extra=b"Connection: close\r\n"), "close")] * 3,
    "Connection: close, the server still listening": [(_ok(extra=b"Connection: close\r\n"), "keep")] * 3,
    "HTTP/1.0 answers": [(_ok(version=b"HTTP/1.0"), "close")] * 2,
    "HTTP/1.0 answers, the server still listening": [(_ok(version=b"HTTP/1.0"), "keep")] * 3,
    "HTTP/1.0 keep-alive answers": [(_ok(version=b"HTTP/1.0", extra=b"Connection: keep-alive\r\n"), "keep")] * 3,
    "an interim 100 Continue first": [(b"HTTP/1.1 100 Continue\r\n\r\n" + _ok(), "keep")] * 2,
    "idle connection closed by the server": [(_ok(), "close"), (_ok(), "keep"), (_ok(), "close"), (_ok(), "keep")],
    "chunked answer": [(_chunked(), "keep"), (_ok(), "keep")],
    "closed without an answer, then answered": [(None, "close"), (_ok(), "keep")],
    "closed without an answer, twice": [(None, "close"), (None, "close")],
    "garbage status line": [(b"NOT HTTP AT ALL\r\n\r\n", "close"), (b"NOT HTTP AT ALL\r\n\r\n", "close")],
    "truncated body": [(_ok()[:-5], "close"), (_ok()[:-5], "close")],
    "truncated body, then answered": [(_ok()[:-5], "close"), (_ok(), "keep"), (_ok(), "keep")],
    "truncated chunk": [(_chunked()[:-12], "close"), (_chunked()[:-12], "close")],
    "bad chunk length": [(_chunked().replace(b"\r\n7\r\n", b"\r\nzz\r\n"), "close"), (_ok(), "keep")],
    "slow, then answered": [(_ok(), "slow"), (_ok(), "keep")],
    "slow twice": [(_ok(), "slow"), (_ok(), "slow")],
    "a service error": [(_error("ConditionalCheckFailedException"), "keep")],
    "throttled, then answered": [(_error("ThrottlingException"), "keep"), (_ok(), "keep")],
    "a 500, then answered": [(_error("InternalServerError", 500), "keep"), (_ok(), "keep")],
}


class RawServer(socketserver.ThreadingTCPServer):
    """Answers requests, in order across connections, as its behaviours say; keeps what it received."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, behaviours: list[Behaviour]) -> None:
        self.behaviours = list(behaviours)
        self.received: list[bytes] = []
        self.connections = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _RawHandler)

    def next_behaviour(self, request: bytes) -> Behaviour:
        with self.lock:
            self.received.append(request)
            return self.behaviours.pop(0) if self.behaviours else (_ok(), "keep")


class _RawHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        server: RawServer = self.server  # type: ignore[assignment]
        with server.lock:
            server.connections += 1
        while True:
            request = _read_request(self.rfile)
            if request is None:
                return
            answer, then = server.next_behaviour(request)
            if then == "slow":
                time.sleep(READ_TIMEOUT * 2.5)
            if answer is not None:
                try:
                    self.wfile.write(answer)
                except OSError:
                    return
            if then in ("close", "slow") or answer is None:
                return


def _read_request(rfile: Any) -> bytes | None:
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = rfile.readline()
        if not line:
            return None
        head += line
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
        0,
    )
    return head + rfile.read(length)


def _normalized(request: bytes, port: int) -> bytes:
    head, _, body = request.partition(b"\r\n\r\n")
    kept = [line for line in head.split(b"\r\n") if not line.lower().startswith(VARYING_HEADERS)]
    return b"\r\n".join(kept).replace(b":%d" % port, b":PORT") + b"\r\n\r\n" + body


def _without_port(outcome: object, port: int) -> object:
    return tuple(str(part).replace(f":{port}", ":PORT") for part in outcome) if isinstance(outcome, tuple) else outcome


def _client(port: int) -> Any:
    config = Config(
        connect_timeout=1,
        read_timeout=READ_TIMEOUT,
        retries={"mode": "standard", "total_max_attempts": 2},
        tcp_keepalive=True,
    )
    return botocore.session.get_session().create_client(
        "dynamodb",
        region_name="eu-west-1",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=config,
    )


def _outcome(call: Callable[[], Any]) -> object:
    try:
        answer = call()
    except ClientError as error:
        return ("ClientError", error.response["Error"]["Code"], error.response["ResponseMetadata"]["HTTPStatusCode"])
    except BotoCoreError as error:
        return (type(error).__name__, getattr(error, "kwargs", {}).get("endpoint_url"))
    metadata = answer.pop("ResponseMetadata")
    return answer, metadata["HTTPStatusCode"], metadata["RetryAttempts"], metadata["HTTPHeaders"].get("x-amz-crc32")


def _run(behaviours: list[Behaviour], calls: int) -> tuple[list[object], list[bytes], int]:
    server = RawServer(behaviours)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        client = _client(server.server_address[1])
        outcomes = []
        for _ in range(calls):
            outcomes.append(_outcome(lambda: client.get_item(TableName="t", Key={"pk": {"S": "a"}})))
            time.sleep(0.05)  # a connection the server closed is seen closed before the next call
        port = server.server_address[1]
        received = [_normalized(request, port) for request in server.received]
        return [_without_port(outcome, port) for outcome in outcomes], received, server.connections
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def lean(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], None]]:
    def install() -> None:
        monkeypatch.setattr(URLLib3Session, "send", botocore_local_http.send)

    yield install


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_lean_client_sends_and_fails_as_urllib3_does(scenario: str, lean: Callable[[], None]) -> None:
    behaviours = SCENARIOS[scenario]
    calls = max(2, len(behaviours))
    through_urllib3 = _run(behaviours, calls)
    lean()
    through_lean = _run(behaviours, calls)
    assert through_lean == through_urllib3


def test_a_refused_connection_is_an_endpoint_error_as_with_urllib3(lean: Callable[[], None]) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, never listening: connections are refused
        through_urllib3 = _outcome(lambda: _client(port).get_item(TableName="t", Key={"pk": {"S": "a"}}))
        lean()
        through_lean = _outcome(lambda: _client(port).get_item(TableName="t", Key={"pk": {"S": "a"}}))
    assert through_lean == through_urllib3
    assert through_lean[0] == "EndpointConnectionError"  # type: ignore[index]


def test_the_lean_client_keeps_its_connection(lean: Callable[[], None]) -> None:
    lean()
    server = RawServer([(_ok(), "keep")] * 5)
    accepted: list[object] = []
    original = server.get_request

    def counted() -> Any:
        accepted.append(None)
        return original()

    server.get_request = counted  # type: ignore[method-assign]
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        client = _client(server.server_address[1])
        for _ in range(5):
            client.get_item(TableName="t", Key={"pk": {"S": "a"}})
    finally:
        server.shutdown()
        server.server_close()
    assert len(server.received) == 5
    assert len(accepted) == 1


def test_other_endpoints_and_odd_requests_go_through_urllib3(lean: Callable[[], None]) -> None:
    lean()
    sent: list[str] = []

    def recorded(self: URLLib3Session, request: Any) -> Any:
        sent.append(request.url)
        raise BotoCoreError()

    botocore_local_http._urllib3_send, original = recorded, botocore_local_http._urllib3_send
    try:
        for url in ("https://127.0.0.1:4566", "http://localhost:4566", "http://10.0.0.1:80"):
            with pytest.raises(BotoCoreError):
                botocore.session.get_session().create_client(
                    "dynamodb",
                    region_name="eu-west-1",
                    endpoint_url=url,
                    aws_access_key_id="x",
                    aws_secret_access_key="x",
                    config=Config(retries={"total_max_attempts": 1}),
                ).list_tables()
    finally:
        botocore_local_http._urllib3_send = original
    assert sent == ["https://127.0.0.1:4566/", "http://localhost:4566/", "http://10.0.0.1:80/"]
