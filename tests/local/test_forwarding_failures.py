"""The global endpoint's forwarding when a region fails, over real sockets: a request the region
received is never sent to it again, and the client is told what AWS would tell it, in the API's
shape: a request that never left is a 503 (nothing processed); one that was sent and got no answer
is API Gateway's 502 (the function failed) or 504 (integration timeout), saying the outcome is
unknown and to retry with the same Idempotency-Key, with Retry-After."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from local_gateway import global_endpoint
from local_gateway.global_endpoint import GlobalEndpoint, HealthTracker
from local_gateway.topology import RegionEndpoint
from proxy_gateway.messages import HttpRequest, HttpResponse
from tests.openapi_contract import assert_conforms

EU = "eu-west-1"
PAYMENT = HttpRequest(
    "POST", "/v1/payments", (("Content-Type", "application/json"),), b'{"amount": 1050, "currency": "GBP"}'
)


class ScriptedRegion:
    """A real HTTP/1.1 keep-alive server that reads each request in full, records its path, then does
    what its script says for that request: "answer" (200), "reset" (closes with a TCP reset, no
    answer), "answer, then reset" (answers, then resets the idle connection) or "hold" (no answer
    until the test ends). Requests past the script are answered."""

    def __init__(self, script: list[str]) -> None:
        self.received: list[str] = []
        self._script = script
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = RegionEndpoint("eu", EU, int(self._listener.getsockname()[1]))
        self.closed = threading.Event()
        self._release = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        self._release.set()
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:  # closed by stop()
                return
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        with connection, connection.makefile("rb") as reader:
            while (path := _read_request(reader)) is not None:
                self.received.append(path)
                index = len(self.received) - 1
                action = self._script[index] if index < len(self._script) else "answer"
                if action == "hold":
                    self._release.wait()
                    return
                if action != "reset":
                    body = b'{"ok":true}'
                    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                    connection.sendall(head.encode() + body)
                if action in ("reset", "answer, then reset"):
                    # SO_LINGER 0: close() sends a RST at once, as a process that dies does.
                    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    break
        self.closed.set()


def _read_request(reader: object) -> str | None:
    """The path of the next request on a connection, its body read to the end; None at EOF."""
    assert hasattr(reader, "readline") and hasattr(reader, "read")
    request_line = reader.readline()
    if not request_line:
        return None
    length = 0
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    reader.read(length)
    return str(request_line.decode().split()[1])


@pytest.fixture
def scripted() -> Iterator[list[ScriptedRegion]]:
    made: list[ScriptedRegion] = []
    yield made
    for region in made:
        region.stop()


def _endpoint(region: ScriptedRegion, **options: float) -> GlobalEndpoint:
    return GlobalEndpoint([region.endpoint], HealthTracker([EU]), **options)


def _error(response: HttpResponse) -> dict[str, str]:
    error: dict[str, str] = json.loads(response.body)["error"]
    return error


def _assert_outcome_unknown(response: HttpResponse, status: int, error_type: str) -> None:
    assert (response.status, _error(response)["type"]) == (status, error_type)
    assert "outcome is unknown" in _error(response)["message"]
    assert "same Idempotency-Key" in _error(response)["message"]
    assert "nothing" not in _error(response)["message"]
    assert response.header("Retry-After") == "1"
    assert_conforms("POST", "/v1/payments", response.status, dict(response.headers), response.body)


def test_a_reset_after_the_region_read_the_request_is_a_502_outcome_unknown_and_not_sent_again(
    scripted: list[ScriptedRegion],
) -> None:
    """A reused keep-alive connection: the region reads the payment, then resets (a crash)."""
    region = ScriptedRegion(["answer", "reset"])
    scripted.append(region)
    endpoint = _endpoint(region)

    assert endpoint(HttpRequest("GET", "/health")).status == 200  # the connection is now pooled
    response = endpoint(PAYMENT)

    assert region.received == ["/health", "/v1/payments"]  # received once: never sent again
    _assert_outcome_unknown(response, 502, "internal_error")
    endpoint.close()


def test_a_reset_on_a_new_connection_after_the_request_is_a_502_outcome_unknown(
    scripted: list[ScriptedRegion],
) -> None:
    region = ScriptedRegion(["reset"])
    scripted.append(region)
    endpoint = _endpoint(region)

    response = endpoint(PAYMENT)

    assert region.received == ["/v1/payments"]
    _assert_outcome_unknown(response, 502, "internal_error")
    endpoint.close()


def test_a_region_that_keeps_the_request_past_the_timeout_is_a_504_outcome_unknown(
    scripted: list[ScriptedRegion],
) -> None:
    region = ScriptedRegion(["hold"])
    scripted.append(region)
    endpoint = _endpoint(region, forward_timeout=0.3)

    response = endpoint(PAYMENT)

    assert region.received == ["/v1/payments"]
    _assert_outcome_unknown(response, 504, "gateway_timeout")
    endpoint.close()


def test_a_request_whose_write_failed_on_a_closed_pooled_connection_is_sent_again_once(
    scripted: list[ScriptedRegion], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The close races the write (the pool's idle check saw nothing): the write fails, so the request
    never left; that alone is safe to send again."""
    region = ScriptedRegion(["answer, then reset"])
    scripted.append(region)
    endpoint = _endpoint(region)
    assert endpoint(HttpRequest("GET", "/health")).status == 200
    assert region.closed.wait(5)
    [pooled] = endpoint._pools[EU]._idle
    assert select.select([pooled.sock], [], [], 5)[0]  # the reset has arrived
    monkeypatch.setattr(global_endpoint, "_dropped", lambda _connection: False)

    response = endpoint(PAYMENT)

    assert (response.status, region.received) == (200, ["/health", "/v1/payments"])
    endpoint.close()


def test_a_region_that_cannot_be_connected_to_is_a_503_nothing_sent_with_retry_after() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = int(unused.getsockname()[1])  # bound, not listening: connections are refused
        endpoint = GlobalEndpoint([RegionEndpoint("eu", EU, port)], HealthTracker([EU]))
        response = endpoint(PAYMENT)

    assert (response.status, _error(response)["type"]) == (503, "service_unavailable")
    assert "not sent, so nothing was processed" in _error(response)["message"]
    assert response.header("Retry-After") == "1"
    assert_conforms("POST", "/v1/payments", response.status, dict(response.headers), response.body)
    with contextlib.suppress(Exception):
        endpoint.close()
