"""The socket layer: keep-alive, bodies, HEAD, bad requests."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from handlers.contract import messages
from local_gateway.http_server import POLL_SECONDS, LocalHTTPServer
from proxy_gateway.messages import HttpRequest, HttpResponse

SEEN: list[HttpRequest] = []


def _echo_app(request: HttpRequest) -> HttpResponse:
    SEEN.append(request)
    if request.path == "/crash":
        raise RuntimeError("bug in the app")
    return HttpResponse(200, (("Content-Type", "text/plain"), ("X-Request-Id", "r")), request.body or b"hello")


@pytest.fixture
def server() -> Iterator[LocalHTTPServer]:
    SEEN.clear()
    server = LocalHTTPServer(0, _echo_app, name="test", access_log=True)
    server.start_in_thread()
    yield server
    server.stop()


def test_requests_share_one_keep_alive_connection(server: LocalHTTPServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    peers = set()
    for body in (b"one", b"two"):
        connection.request("POST", "/x?q=1", body=body, headers={"X-Custom": "v"})
        response = connection.getresponse()
        assert response.read() == body
        assert response.getheader("Content-Length") == str(len(body))
        assert connection.sock is not None
        peers.add(connection.sock.getsockname())
    connection.close()

    assert len(peers) == 1
    assert SEEN[0].target == "/x?q=1"
    assert SEEN[0].header("x-custom") == "v"
    assert SEEN[0].source_ip == "127.0.0.1"


def test_a_chunked_body_is_read_whole(server: LocalHTTPServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    connection.request("POST", "/", body=iter([b"ab", b"cde"]), encode_chunked=True)

    assert connection.getresponse().read() == b"abcde"


def test_head_has_no_body(server: LocalHTTPServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    connection.request("HEAD", "/")
    response = connection.getresponse()

    assert response.status == 200 and response.read() == b""


def test_an_invalid_content_length_is_400_and_closes(server: LocalHTTPServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
        reply = sock.makefile("rb").read()

    assert reply.startswith(b"HTTP/1.1 400")
    assert b'{"error":{"type":"invalid_request","message":"invalid Content-Length"}}' in reply
    assert b"X-Request-Id" in reply


@pytest.mark.parametrize("framing", [b"Content-Length: 10485761\r\n", b"Transfer-Encoding: chunked\r\n"])
def test_a_body_over_api_gateways_10_mb_is_413_payload_too_large_and_closes(
    server: LocalHTTPServer, framing: bytes
) -> None:
    """Only headers (and one chunk header) are sent: the server refuses before reading the body."""
    chunk = b"a00001\r\n" if b"chunked" in framing else b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST /v1/payments HTTP/1.1\r\nHost: x\r\n" + framing + b"\r\n" + chunk)
        reply = sock.makefile("rb").read()

    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert json.loads(body) == {"error": {"type": "payload_too_large", "message": messages.BODY_TOO_LARGE}}
    assert b"X-Request-Id" in head and b"Connection: close" in head
    assert SEEN == []


def test_an_app_bug_is_a_500_in_the_error_contract(server: LocalHTTPServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    connection.request("GET", "/crash")
    response = connection.getresponse()

    assert response.status == 500
    assert b'"internal_error"' in response.read()
    assert response.getheader("X-Request-Id")


def test_a_server_that_never_served_stops_at_once() -> None:
    """shutdown() on a server that never served waits forever: stop() must not wait, not even a poll."""
    server = LocalHTTPServer(0, _echo_app, name="idle")
    took: list[float] = []

    def stop() -> None:
        started = time.perf_counter()
        server.stop()
        took.append(time.perf_counter() - started)

    stopping = threading.Thread(target=stop, daemon=True)  # a hang fails the test instead of hanging it
    stopping.start()
    stopping.join(timeout=5)

    assert took, "stop() is still waiting"
    # Closing the socket takes microseconds; half a poll is generous, and a stop that waits for one fails.
    assert took[0] < POLL_SECONDS / 2
    assert server.socket.fileno() == -1  # closed: the port is released
