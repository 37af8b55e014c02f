"""The webhook sender's HTTP against real sockets on localhost: one deadline bounds a whole attempt, and
nothing a URL or a receiver does raises out of a post (it is a failed attempt, retried)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from handlers.adapters.webhook_http import HttpPoster
from tests.webhook_receivers import receiving

HEADERS = {"content-type": "application/json"}


@pytest.fixture
def dripping() -> Iterator[int]:
    """A receiver that answers 200 one byte every 0.3 s: each read arrives well within any per-read
    timeout, so only a deadline on the whole attempt stops it."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        conn, _ = server.accept()
        conn.recv(65536)
        for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
            if stop.is_set():
                break
            conn.sendall(bytes([byte]))
            time.sleep(0.3)
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    stop.set()
    server.close()


def test_one_deadline_bounds_the_whole_attempt(dripping: int) -> None:
    result = HttpPoster().post(f"http://127.0.0.1:{dripping}/hook", "127.0.0.1", HEADERS, "{}", timeout=1.0)
    assert (result.status, result.error) == (None, "timeout")  # not the 200 that would come ~12 s later


def test_a_url_http_client_cannot_send_is_a_failed_attempt_not_an_exception() -> None:
    with receiving() as receiver:
        url = receiver.url.rstrip("/") + "/wébhook"
        result = HttpPoster().post(url, "127.0.0.1", HEADERS, "{}", timeout=2.0)
    assert (result.status, result.error) == (None, "request failed: UnicodeEncodeError")
