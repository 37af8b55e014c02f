"""The bank client's transport against small real HTTP servers on localhost."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date

import pytest

from handlers.bank import HttpBank
from handlers.errors import BankUnavailable
from handlers.models import PaymentRequest
from handlers.validation import ValidationRules, parse_payment_request
from tests.support import payment_body

ANSWER = b'{"authorized": true, "authorization_code": "A1"}'
Behaviour = Callable[[socket.socket, "BankServer"], None]


class BankServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.connections = 0
        self.dripped = 0
        self.finished = threading.Event()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/payments"


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server: BankServer = self.server  # type: ignore[assignment]
        server.connections += 1
        server.behaviour(self.request, server)


def read_request(conn: socket.socket) -> bool:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return False
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    )
    while len(body) < length:
        body += conn.recv(4096)
    return True


def keep_alive(conn: socket.socket, _: BankServer) -> None:
    while read_request(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(ANSWER) + ANSWER)


def one_answer_then_hang_up(conn: socket.socket, _: BankServer) -> None:
    """Advertises keep-alive, then closes the idle connection, as load balancers do."""
    if read_request(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(ANSWER) + ANSWER)


DRIPPED = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(ANSWER) + ANSWER


def drip(conn: socket.socket, server: BankServer) -> None:
    """One byte every 20 ms (each well inside a per-recv timeout); records how far it got."""
    if read_request(conn):
        try:
            for byte in DRIPPED:
                conn.sendall(bytes([byte]))
                server.dripped += 1
                time.sleep(0.02)
        except OSError:
            pass
        server.finished.set()


@pytest.fixture
def serve() -> Iterator[Callable[[Behaviour], BankServer]]:
    servers: list[BankServer] = []

    def start(behaviour: Behaviour) -> BankServer:
        server = BankServer(behaviour)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


REQUEST: PaymentRequest = parse_payment_request(payment_body(), ValidationRules(), date(2026, 11, 26))


def test_payments_share_one_keep_alive_connection(serve: Callable[[Behaviour], BankServer]) -> None:
    server = serve(keep_alive)
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=1)
    decisions = [bank.authorize(f"pay_{i}", REQUEST) for i in range(3)]
    assert all(d.authorized and d.authorization_code == "A1" for d in decisions)
    assert server.connections == 1


def test_a_connection_the_bank_closed_while_idle_is_replaced_not_failed(
    serve: Callable[[Behaviour], BankServer],
) -> None:
    server = serve(one_answer_then_hang_up)
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=1)
    bank.authorize("pay_1", REQUEST)
    time.sleep(0.1)  # the server has hung up the idle connection
    assert bank.authorize("pay_2", REQUEST).authorized
    assert server.connections == 2


def test_a_dripping_answer_is_cut_off_at_the_read_deadline(serve: Callable[[Behaviour], BankServer]) -> None:
    server = serve(drip)
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=0.3)  # the whole answer takes ~1.8 s
    with pytest.raises(BankUnavailable, match=r"did not answer within 0\.3 s"):
        bank.authorize("pay_1", REQUEST)
    assert server.finished.wait(timeout=10)
    assert server.dripped < len(DRIPPED)  # we hung up before the answer was complete


def test_a_refused_connection_is_bank_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the probe closes
    bank = HttpBank(f"http://127.0.0.1:{port}/payments", connect_timeout=0.5, read_timeout=0.5)
    with pytest.raises(BankUnavailable, match="could not be reached"):
        bank.authorize("pay_1", REQUEST)


def test_latency_is_reported_even_when_the_bank_fails() -> None:
    seen: list[float] = []
    bank = HttpBank("http://127.0.0.1:9/payments", connect_timeout=0.2, read_timeout=0.2, on_latency=seen.append)
    with pytest.raises(BankUnavailable):
        bank.authorize("pay_1", REQUEST)
    assert len(seen) == 1 and seen[0] >= 0
