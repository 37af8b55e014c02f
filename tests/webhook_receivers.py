"""Real HTTP receivers on localhost for the webhook sender's tests: each records what it was sent and
answers as scripted (a status and headers, or a hang past the sender's timeout)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import attrs


@attrs.frozen
class Answer:
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    hang_seconds: float = 0.0  # sleep this long before answering (a timeout on the sender's side)


@attrs.frozen
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic()
    status: int  # what the receiver answered


class Receiver:
    def __init__(self, *answers: Answer) -> None:
        self.script = list(answers)  # answered in order; the last one again once used up
        self.received: list[Received] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {name.lower(): value for name, value in self.headers.items()}
                answer = receiver.next_answer()
                with receiver.arrived:
                    receiver.received.append(Received(self.path, headers, body, time.monotonic(), answer.status))
                    receiver.arrived.notify_all()
                if answer.hang_seconds:
                    time.sleep(answer.hang_seconds)
                self.send_response(answer.status)
                for name, value in answer.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    def next_answer(self) -> Answer:
        with self.arrived:
            if not self.script:
                return Answer()
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks"

    def wait_for(self, count: int, timeout: float) -> list[Received]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout=timeout)
            return list(self.received)


@contextmanager
def receiving(*answers: Answer) -> Iterator[Receiver]:
    receiver = Receiver(*answers)
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def refused_url() -> str:
    """A loopback URL on which nothing listens (a connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks"
