"""The bank client against small real servers on localhost: how each failure is classified (may the
bank have charged?), that an authorization is sent exactly once, and what inquiries and reversals
accept. Every server counts the complete requests it received."""

from __future__ import annotations

import contextlib
import http.client
import json
import select
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date

import pytest

from handlers.adapters import bank as bank_module
from handlers.adapters.bank import HttpBank
from handlers.domain.errors import BankError, BankNotProcessed, BankOutcomeUnknown, BankRefusal, BankUnreachable
from handlers.domain.models import BankDecision, BankRecord, BankStatus, PaymentRequest, PaymentStatus
from handlers.domain.service import PaymentService
from handlers.wire.validation import ValidationRules, parse_payment_request
from tests.commands import payment_command
from tests.fakes import MemoryRepository
from tests.support import CVV, VISA_AUTHORIZED, payment_body

ANSWER = b'{"authorized": true, "authorization_code": "A1"}'
Behaviour = Callable[[socket.socket, "BankServer"], None]
REQUEST: PaymentRequest = parse_payment_request(payment_body(), ValidationRules(), date(2026, 11, 26))


class BankServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []  # (request line, body) of each complete request
        self.dripped = 0
        self.finished = threading.Event()
        self.reset_sent = threading.Event()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/payments"

    @property
    def posts(self) -> int:
        return sum(line.startswith(b"POST ") for line, _ in self.requests)


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server: BankServer = self.server  # type: ignore[assignment]
        server.connections += 1
        with contextlib.suppress(OSError):  # the client hung up (or reset) first, as several tests do
            server.behaviour(self.request, server)


def read_request(conn: socket.socket, server: BankServer) -> bool:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return False
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next((int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length")), 0)
    while len(body) < length:
        body += conn.recv(4096)
    server.requests.append((lines[0], body))
    return True


def response(status: int, body: bytes, reason: bytes = b"X") -> bytes:
    return b"HTTP/1.1 %d %s\r\nContent-Length: %d\r\n\r\n%s" % (status, reason, len(body), body)


def answering(status: int, body: bytes) -> Behaviour:
    def behaviour(conn: socket.socket, server: BankServer) -> None:
        while read_request(conn, server):
            conn.sendall(response(status, body))

    return behaviour


keep_alive = answering(200, ANSWER)


def one_answer_then_hang_up(conn: socket.socket, server: BankServer) -> None:
    """Advertises keep-alive, then closes the idle connection, as load balancers do."""
    if read_request(conn, server):
        conn.sendall(response(200, ANSWER))


def one_answer_then_reset(conn: socket.socket, server: BankServer) -> None:
    if read_request(conn, server):
        conn.sendall(response(200, ANSWER))
        reset(conn, server)


def reset(conn: socket.socket, server: BankServer) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close() sends RST
    conn.close()
    server.reset_sent.set()


def never_answer(conn: socket.socket, server: BankServer) -> None:
    if read_request(conn, server):
        server.finished.wait(timeout=10)


def close_after_reading(conn: socket.socket, server: BankServer) -> None:
    if read_request(conn, server):
        conn.close()


DRIPPED = response(200, ANSWER)


def drip(conn: socket.socket, server: BankServer) -> None:
    """One byte every 20 ms (each well inside a per-recv timeout); records how far it got."""
    if read_request(conn, server):
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
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.finished.set()
        server.shutdown()
        server.server_close()


def fails(kind: type[BankError], call: Callable[[], object], match: str | None = None) -> BankError:
    """The call raises exactly `kind`, and its message carries no card data."""
    with pytest.raises(BankError, match=match) as raised:
        call()
    assert type(raised.value) is kind, repr(raised.value)
    text = f"{raised.value} {raised.value!r}"
    assert VISA_AUTHORIZED not in text and VISA_AUTHORIZED[-4:] not in text and CVV not in text
    return raised.value


def wait_until_hung_up(bank: HttpBank) -> None:
    """Until the bank's FIN or RST has reached the pooled connection (sleeping could be too short)."""
    [pooled] = list(bank._idle.queue)
    assert select.select([pooled.sock], [], [], 5)[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens here once the probe closes


# --- what an authorization sends --------------------------------------------------------------------


def test_an_authorization_is_one_post_of_the_documented_body(serve: Callable[[Behaviour], BankServer]) -> None:
    server = serve(keep_alive)
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=1)
    assert bank.authorize("pay_1", REQUEST) == BankDecision(True, "A1")
    [(line, body)] = server.requests
    assert line == b"POST /payments HTTP/1.1"
    assert json.loads(body) == {
        "card_number": VISA_AUTHORIZED,
        "expiry_date": "04/2030",
        "currency": "GBP",
        "amount": 1050,
        "cvv": CVV,
        "reference": "pay_1",
        "capture": False,
    }


def test_a_declined_answer_is_a_decision(serve: Callable[[Behaviour], BankServer]) -> None:
    server = serve(answering(200, b'{"authorized": false, "authorization_code": ""}'))
    assert HttpBank(server.url, connect_timeout=1, read_timeout=1).authorize("p", REQUEST) == BankDecision(False, None)


def test_payments_share_one_keep_alive_connection(serve: Callable[[Behaviour], BankServer]) -> None:
    server = serve(keep_alive)
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=1)
    decisions = [bank.authorize(f"pay_{i}", REQUEST) for i in range(3)]
    assert all(d.authorized and d.authorization_code == "A1" for d in decisions)
    assert (server.connections, server.posts) == (1, 3)


def test_a_connection_the_bank_closed_while_idle_is_replaced_not_failed(
    serve: Callable[[Behaviour], BankServer],
) -> None:
    server = serve(one_answer_then_hang_up)
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=1)
    bank.authorize("pay_1", REQUEST)
    wait_until_hung_up(bank)
    assert bank.authorize("pay_2", REQUEST).authorized
    assert (server.connections, server.posts) == (2, 2)


# --- provably not processed ---------------------------------------------------------------------------


def test_a_refused_connection_is_not_processed() -> None:
    bank = HttpBank(f"http://127.0.0.1:{free_port()}/payments", connect_timeout=0.5, read_timeout=0.5)
    fails(BankNotProcessed, lambda: bank.authorize("pay_1", REQUEST), "could not be reached")


def test_a_name_that_does_not_resolve_is_not_processed() -> None:
    bank = HttpBank("http://bank.invalid/payments", connect_timeout=0.5, read_timeout=0.5)
    fails(BankNotProcessed, lambda: bank.authorize("pay_1", REQUEST), "could not be reached")


def test_a_connect_timeout_is_not_processed() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)  # never accepts: once its queue holds one connection, SYNs are dropped
        address = listener.getsockname()
        with socket.create_connection(address):
            bank = HttpBank(f"http://127.0.0.1:{address[1]}/payments", connect_timeout=0.2, read_timeout=0.5)
            fails(BankNotProcessed, lambda: bank.authorize("pay_1", REQUEST), r"accept a connection within 0\.2 s")


def test_a_send_that_fails_on_a_new_connection_is_not_processed(
    serve: Callable[[Behaviour], BankServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    connected = threading.Event()

    def reset_once_connected(conn: socket.socket, server: BankServer) -> None:
        assert connected.wait(timeout=5)  # a reset during the handshake would fail connect() instead
        reset(conn, server)

    server = serve(reset_once_connected)

    class SendsAfterTheReset(http.client.HTTPConnection):
        def connect(self) -> None:
            super().connect()
            connected.set()
            readable, _, _ = select.select([self.sock], [], [], 5)  # the RST has arrived: sending is what fails
            assert readable

    host, port = server.server_address[:2]
    monkeypatch.setattr(HttpBank, "_new_connection", lambda self: SendsAfterTheReset(str(host), port, timeout=1))
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=1)
    fails(BankNotProcessed, lambda: bank.authorize("pay_1", REQUEST), "could not be sent")
    assert server.posts == 0


def test_503_is_not_processed(serve: Callable[[Behaviour], BankServer]) -> None:
    server = serve(answering(503, b'{"error": "issuer_unavailable"}'))
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=1)
    fails(BankNotProcessed, lambda: bank.authorize("pay_1", REQUEST), "HTTP 503")
    assert server.posts == 1


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (409, b'{"error": "reference_reused"}', "HTTP 409 reference_reused"),
        (409, b'{"error": "reference_reversed"}', "HTTP 409 reference_reversed"),
        (400, b'{"error": "missing fields: cvv"}', r"HTTP 400\)"),
        (422, b'{"error": "unprocessable"}', r"HTTP 422\)"),
    ],
)
def test_a_4xx_is_a_refusal_not_processed(
    serve: Callable[[Behaviour], BankServer], status: int, body: bytes, message: str
) -> None:
    server = serve(answering(status, body))
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=1)
    fails(BankNotProcessed, lambda: bank.authorize("pay_1", REQUEST), message)
    assert server.posts == 1


@pytest.mark.parametrize(
    ("status", "body"),
    [(503, b"<html>Service Unavailable</html>"), (502, b""), (422, b"<html>no</html>"), (403, b'{"message": "x"}')],
)
def test_a_refusal_without_the_banks_error_body_is_no_proof_nothing_was_processed(
    serve: Callable[[Behaviour], BankServer], status: int, body: bytes
) -> None:
    """A proxy in front of the bank may answer so after forwarding the request the bank processed."""
    server = serve(answering(status, body))
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=1)
    fails(BankOutcomeUnknown, lambda: bank.authorize("pay_1", REQUEST), f"HTTP {status}")
    assert server.posts == 1


def test_the_banks_error_text_is_not_echoed(serve: Callable[[Behaviour], BankServer]) -> None:
    server = serve(answering(400, json.dumps({"error": f"bad card {VISA_AUTHORIZED}"}).encode()))
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=1)
    fails(BankNotProcessed, lambda: bank.authorize("pay_1", REQUEST))  # `fails` checks the message


# --- may have been processed -------------------------------------------------------------------------------


def test_no_answer_before_the_deadline_is_an_unknown_outcome(serve: Callable[[Behaviour], BankServer]) -> None:
    server = serve(never_answer)
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=0.2)
    fails(BankOutcomeUnknown, lambda: bank.authorize("pay_1", REQUEST), r"did not answer within 0\.2 s")
    assert (server.connections, server.posts) == (1, 1)


def test_a_connection_closed_after_the_request_is_an_unknown_outcome(
    serve: Callable[[Behaviour], BankServer],
) -> None:
    server = serve(close_after_reading)
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=1)
    fails(BankOutcomeUnknown, lambda: bank.authorize("pay_1", REQUEST), "answer was lost")
    assert (server.connections, server.posts) == (1, 1)


def test_a_dripping_answer_is_cut_off_at_the_read_deadline(serve: Callable[[Behaviour], BankServer]) -> None:
    server = serve(drip)
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=0.3)  # the whole answer takes ~1.8 s
    fails(BankOutcomeUnknown, lambda: bank.authorize("pay_1", REQUEST), r"did not answer within 0\.3 s")
    assert server.finished.wait(timeout=10)
    assert server.dripped < len(DRIPPED)  # we hung up before the answer was complete
    assert server.posts == 1


@pytest.mark.parametrize("status", [500, 502, 504, 201, 302])
def test_any_other_status_is_an_unknown_outcome(serve: Callable[[Behaviour], BankServer], status: int) -> None:
    server = serve(answering(status, ANSWER))
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=1)
    fails(BankOutcomeUnknown, lambda: bank.authorize("pay_1", REQUEST), f"HTTP {status}")
    assert server.posts == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>ok</html>", "not JSON"),
        (b'{"authorized": tru', "not JSON"),
        (b"[" * 100_000, "too large"),
        (b"[" * 50_000 + b"]" * 50_000, "too large"),
        (b"[" * 30_000 + b"]" * 30_000, "not JSON"),  # deeper than the parser goes
        (b'{"authorized": true}', "lacked"),
        (b'{"authorized": true, "authorization_code": ""}', "lacked"),
        (b'{"authorized": "yes", "authorization_code": "A1"}', "lacked"),
        (b'["authorized"]', "lacked"),
        (b"", "not JSON"),
    ],
)
def test_an_unusable_200_is_an_unknown_outcome(
    serve: Callable[[Behaviour], BankServer], body: bytes, message: str
) -> None:
    server = serve(answering(200, body))
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=1)
    fails(BankOutcomeUnknown, lambda: bank.authorize("pay_1", REQUEST), message)
    assert server.posts == 1


def test_a_garbled_status_line_is_an_unknown_outcome(serve: Callable[[Behaviour], BankServer]) -> None:
    def garbage(conn: socket.socket, server: BankServer) -> None:
        if read_request(conn, server):
            conn.sendall(b"SPEAKS NO HTTP\r\n\r\n")

    server = serve(garbage)
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=1)
    fails(BankOutcomeUnknown, lambda: bank.authorize("pay_1", REQUEST), "answer was lost")
    assert server.posts == 1


# --- a stale pooled connection: the race _dropped() cannot see ----------------------------------------------


def test_a_pooled_connection_that_fails_on_send_is_replaced_once(
    serve: Callable[[Behaviour], BankServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bank reset the idle connection just after our check: the send fails, the request never
    left whole, so the one retry on a new connection cannot charge twice."""
    server = serve(one_answer_then_reset)
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=1)
    bank.authorize("pay_1", REQUEST)
    assert server.reset_sent.wait(timeout=5)
    wait_until_hung_up(bank)  # the RST has arrived, so the send is what fails
    monkeypatch.setattr(bank_module, "_dropped", lambda _connection: False)  # the check ran before the reset
    assert bank.authorize("pay_2", REQUEST).authorized
    assert (server.connections, server.posts) == (2, 2)
    assert [json.loads(body)["reference"] for _, body in server.requests] == ["pay_1", "pay_2"]


def test_a_pooled_connection_lost_after_the_send_is_not_retried(serve: Callable[[Behaviour], BankServer]) -> None:
    """On a live keep-alive connection the request goes out whole and the connection dies before an
    answer: that cannot be told from a bank that charged and crashed, so nothing is resent."""

    def one_answer_then_read_and_hang_up(conn: socket.socket, server: BankServer) -> None:
        if read_request(conn, server):
            conn.sendall(response(200, ANSWER))
        read_request(conn, server)

    server = serve(one_answer_then_read_and_hang_up)
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=1)
    bank.authorize("pay_1", REQUEST)
    fails(BankOutcomeUnknown, lambda: bank.authorize("pay_2", REQUEST), "answer was lost")
    assert (server.connections, server.posts) == (1, 2)


def test_latency_is_reported_even_when_the_bank_fails() -> None:
    seen: list[float] = []
    bank = HttpBank(
        f"http://127.0.0.1:{free_port()}/payments", connect_timeout=0.2, read_timeout=0.2, on_latency=seen.append
    )
    fails(BankNotProcessed, lambda: bank.authorize("pay_1", REQUEST))
    assert len(seen) == 1 and seen[0] >= 0


# --- inquiry and reversal ---------------------------------------------------------------------------------------

RECORD = b'{"status": "authorized", "authorization_code": "A1", "amount": 1050, "currency": "GBP"}'


@pytest.mark.parametrize(
    ("url_path", "inquiry", "reversal"),
    [
        ("/payments", b"GET /payments/pay_1 HTTP/1.1", b"POST /payments/pay_1/reversal HTTP/1.1"),
        ("/", b"GET /pay_1 HTTP/1.1", b"POST /pay_1/reversal HTTP/1.1"),
        ("", b"GET /pay_1 HTTP/1.1", b"POST /pay_1/reversal HTTP/1.1"),
    ],
)
def test_inquiry_and_reversal_go_below_the_banks_path(
    serve: Callable[[Behaviour], BankServer], url_path: str, inquiry: bytes, reversal: bytes
) -> None:
    server = serve(answering(200, RECORD))
    bank = HttpBank(server.url.removesuffix("/payments") + url_path, connect_timeout=1, read_timeout=1)
    expected = BankRecord(BankStatus.AUTHORIZED, "A1", 1050, "GBP")
    assert bank.inquire("pay_1") == expected
    assert bank.reverse("pay_1") == expected
    assert server.requests == [(inquiry, b""), (reversal, b"")]


def test_a_reference_is_escaped_in_the_path(serve: Callable[[Behaviour], BankServer]) -> None:
    server = serve(answering(200, RECORD))
    HttpBank(server.url, connect_timeout=1, read_timeout=1).inquire("a/b c")
    assert server.requests[0][0] == b"GET /payments/a%2Fb%20c HTTP/1.1"


@pytest.mark.parametrize(
    ("body", "record"),
    [
        (
            b'{"status": "reversed", "authorization_code": null, "amount": null, "currency": null}',
            BankRecord(BankStatus.REVERSED),
        ),
        (
            b'{"status": "declined", "authorization_code": null, "amount": 5, "currency": "EUR"}',
            BankRecord(BankStatus.DECLINED, None, 5, "EUR"),
        ),
        (
            b'{"status": "reversed", "authorization_code": "A1", "amount": 5, "currency": "EUR"}',
            BankRecord(BankStatus.REVERSED, "A1", 5, "EUR"),
        ),
    ],
)
def test_records_of_each_status_are_read(
    serve: Callable[[Behaviour], BankServer], body: bytes, record: BankRecord
) -> None:
    server = serve(answering(200, body))
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=1)
    assert bank.inquire("pay_1") == record
    assert bank.reverse("pay_1") == record


def test_the_banks_not_found_is_no_record(serve: Callable[[Behaviour], BankServer]) -> None:
    server = serve(answering(404, b'{"error": "not_found"}'))
    assert HttpBank(server.url, connect_timeout=1, read_timeout=1).inquire("pay_1") is None


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (404, b'{"error": {"type": "not_found", "message": "No route"}}'),  # a wrong URL, not the bank's answer
        (404, b""),
        (500, RECORD),
        (503, RECORD),
        (200, b"<html>"),
        (200, b'{"status": "charged", "authorization_code": "A1", "amount": 1, "currency": "GBP"}'),
        (200, b'{"status": "authorized", "authorization_code": null, "amount": 1, "currency": "GBP"}'),
        (200, b'{"status": "declined", "authorization_code": null, "amount": "1", "currency": "GBP"}'),
        (200, b'{"status": "declined", "authorization_code": null, "amount": true, "currency": "GBP"}'),
        (200, b'{"status": "declined", "authorization_code": 7, "amount": 1, "currency": "GBP"}'),
        (200, b'["authorized"]'),
    ],
)
def test_an_unusable_inquiry_answer_is_unreachable(
    serve: Callable[[Behaviour], BankServer], status: int, body: bytes
) -> None:
    server = serve(answering(status, body))
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=1)
    fails(BankUnreachable, lambda: bank.inquire("pay_1"))


@pytest.mark.parametrize(
    ("status", "body"), [(404, b'{"error": "not_found"}'), (409, b"{}"), (500, RECORD), (200, b"{")]
)
def test_anything_but_a_usable_200_to_a_reversal_is_unreachable(
    serve: Callable[[Behaviour], BankServer], status: int, body: bytes
) -> None:
    server = serve(answering(status, body))
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=1)
    fails(BankUnreachable, lambda: bank.reverse("pay_1"))


@pytest.mark.parametrize("behaviour", [never_answer, close_after_reading])
def test_a_lost_inquiry_or_reversal_is_unreachable(
    serve: Callable[[Behaviour], BankServer], behaviour: Behaviour
) -> None:
    server = serve(behaviour)
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=0.2)
    fails(BankUnreachable, lambda: bank.inquire("pay_1"))
    fails(BankUnreachable, lambda: bank.reverse("pay_1"))


def test_an_unreachable_bank_is_unreachable_for_inquiries_and_reversals() -> None:
    bank = HttpBank(f"http://127.0.0.1:{free_port()}/payments", connect_timeout=0.2, read_timeout=0.2)
    fails(BankUnreachable, lambda: bank.inquire("pay_1"), "could not be reached")
    fails(BankUnreachable, lambda: bank.reverse("pay_1"), "could not be reached")


def test_an_inquiry_on_a_stale_pooled_connection_is_retried(
    serve: Callable[[Behaviour], BankServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Idempotent: even after the request went out, one retry on a new connection is harmless."""

    def one_record_then_hang_up(conn: socket.socket, server: BankServer) -> None:
        if read_request(conn, server):
            conn.sendall(response(200, RECORD))

    server = serve(one_record_then_hang_up)
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=1)
    bank.inquire("pay_1")
    wait_until_hung_up(bank)
    monkeypatch.setattr(bank_module, "_dropped", lambda _connection: False)
    assert bank.reverse("pay_1") == BankRecord(BankStatus.AUTHORIZED, "A1", 1050, "GBP")
    assert server.connections == 2  # the pooled one (lost), then a new one
    assert [line for line, _ in server.requests] == [
        b"GET /payments/pay_1 HTTP/1.1",
        b"POST /payments/pay_1/reversal HTTP/1.1",
    ]


def test_a_500_with_the_banks_error_body_is_an_unknown_outcome_and_the_payment_stays_pending(
    serve: Callable[[Behaviour], BankServer],
) -> None:
    """The 500-after-charge card: the bank recorded the charge, then failed with its own JSON error
    body. That body proves a refusal only for 503 and 4xx: an unkeyed payment here must be pending
    (202), never `failed` with a 502 saying nothing was charged."""
    server = serve(answering(500, b'{"error": "internal_error"}'))
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=1)
    fails(BankOutcomeUnknown, lambda: bank.authorize("pay_1", REQUEST), "HTTP 500")
    repo = MemoryRepository()
    service = PaymentService(payments=repo, bank=bank, region="eu-west-1", fingerprint_key=b"k")
    payment = service.create_payment(payment_command("mer_a", payment_body(), None)).payment
    assert payment.status is PaymentStatus.PENDING
    assert repo.get_payment("mer_a", payment.id).status is PaymentStatus.PENDING  # type: ignore[union-attr]
    assert server.posts == 2  # one authorization per call: never resent


# --- captures and refunds ------------------------------------------------------------------------------------


def test_an_authorization_that_captures_sends_the_flag_and_reads_the_answers(
    serve: Callable[[Behaviour], BankServer],
) -> None:
    server = serve(answering(200, b'{"authorized": true, "authorization_code": "A1", "captured": true}'))
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=1)
    assert bank.authorize("pay_1", REQUEST, capture=True) == BankDecision(True, "A1", captured=True)
    assert json.loads(server.requests[0][1])["capture"] is True
    assert server.posts == 1


@pytest.mark.parametrize(
    "body",
    [
        b'{"authorized": true, "authorization_code": "A1", "captured": "yes"}',
        b'{"authorized": true, "authorization_code": "A1", "captured": null}',
        b'{"authorized": false, "authorization_code": "", "captured": true}',
    ],
)
def test_an_unreadable_capture_flag_is_an_unknown_outcome(
    serve: Callable[[Behaviour], BankServer], body: bytes
) -> None:
    server = serve(answering(200, body))
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=1)
    fails(BankOutcomeUnknown, lambda: bank.authorize("pay_1", REQUEST, capture=True), "capture flag")
    assert server.posts == 1


def test_a_capture_a_refund_and_a_refund_inquiry_are_the_documented_requests(
    serve: Callable[[Behaviour], BankServer],
) -> None:
    answers = iter(
        [
            response(200, b'{"status": "captured", "captured_amount": 1000}'),
            response(200, b'{"status": "refunded", "refund_reference": "re_1", "amount": 300}'),
            response(200, b'{"status": "refunded", "amount": 300}'),
        ]
    )

    def behaviour(conn: socket.socket, server: BankServer) -> None:
        while read_request(conn, server):
            conn.sendall(next(answers))

    server = serve(behaviour)
    seen: list[float] = []
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=1, on_latency=seen.append)
    assert bank.capture("pay_1", 1000) == 1000
    bank.refund("pay_1", "re_1", 300)  # returns nothing: raising is how it fails
    assert bank.refund_status("pay_1", "re_1") == 300
    assert [(line, json.loads(body or b"null")) for line, body in server.requests] == [
        (b"POST /payments/pay_1/capture HTTP/1.1", {"amount": 1000}),
        (b"POST /payments/pay_1/refunds HTTP/1.1", {"refund_reference": "re_1", "amount": 300}),
        (b"GET /payments/pay_1/refunds/re_1 HTTP/1.1", None),
    ]
    assert server.connections == 1 and len(seen) == 2  # the bank's latency: captures and refunds too


OPERATIONS: dict[str, Callable[[HttpBank], object]] = {
    "capture": lambda bank: bank.capture("pay_1", 1000),
    "refund": lambda bank: bank.refund("pay_1", "re_1", 300),
}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize(
    ("status", "error"),
    [
        (409, "already_captured"),
        (409, "declined"),
        (409, "reference_reversed"),
        (404, "not_found"),
        (409, "not_captured"),
        (409, "exceeds_captured"),
        (409, "refund_reference_reused"),
    ],
)
def test_the_banks_documented_refusals_are_named(
    serve: Callable[[Behaviour], BankServer], operation: str, status: int, error: str
) -> None:
    server = serve(answering(status, json.dumps({"error": error}).encode()))
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=1)
    refusal = fails(BankRefusal, lambda: OPERATIONS[operation](bank), error)
    assert isinstance(refusal, BankRefusal) and refusal.reason == error
    assert server.posts == 1


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, b'{"error": "invalid fields: amount (above the authorized amount)"}'),
        (409, b'{"error": "something_new"}'),
        (409, json.dumps({"error": f"bad card {VISA_AUTHORIZED}"}).encode()),
        (422, b'{"error": "unprocessable"}'),
    ],
)
def test_another_refusal_is_just_refused_and_its_text_is_not_echoed(
    serve: Callable[[Behaviour], BankServer], operation: str, status: int, body: bytes
) -> None:
    server = serve(answering(status, body))
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=1)
    refusal = fails(BankRefusal, lambda: OPERATIONS[operation](bank), r"\(refused\)")
    assert isinstance(refusal, BankRefusal) and refusal.reason == "refused"


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize(
    ("status", "body", "kind", "message"),
    [
        (503, b'{"error": "issuer_unavailable"}', BankNotProcessed, "HTTP 503"),
        (503, b"<html>Service Unavailable</html>", BankOutcomeUnknown, "HTTP 503 without the bank's error body"),
        (404, b'{"error": {"type": "not_found"}}', BankOutcomeUnknown, "HTTP 404 without the bank's error body"),
        (409, b"", BankOutcomeUnknown, "HTTP 409 without the bank's error body"),
        (500, b'{"error": "internal_error"}', BankOutcomeUnknown, "HTTP 500"),
        (502, b"", BankOutcomeUnknown, "HTTP 502"),
        (201, b'{"status": "captured", "captured_amount": 1000}', BankOutcomeUnknown, "HTTP 201"),
        (200, b"<html>ok</html>", BankOutcomeUnknown, "not JSON"),
        (200, b"[]", BankOutcomeUnknown, "not JSON"),
        (200, b'{"status": "declined"}', BankOutcomeUnknown, "not one we can read"),
    ],
)
def test_what_a_capture_or_a_refund_may_have_done(
    serve: Callable[[Behaviour], BankServer],
    operation: str,
    status: int,
    body: bytes,
    kind: type[BankError],
    message: str,
) -> None:
    server = serve(answering(status, body))
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=1)
    fails(kind, lambda: OPERATIONS[operation](bank), message)
    assert server.posts == 1


@pytest.mark.parametrize(
    "body",
    [
        b'{"status": "captured"}',
        b'{"status": "captured", "captured_amount": "1000"}',
        b'{"status": "captured", "captured_amount": true}',
        b'{"status": "captured", "captured_amount": 0}',
        b'{"status": "refunded", "captured_amount": 1000}',
    ],
)
def test_an_unreadable_capture_answer_is_an_unknown_outcome(
    serve: Callable[[Behaviour], BankServer], body: bytes
) -> None:
    server = serve(answering(200, body))
    fails(BankOutcomeUnknown, lambda: HttpBank(server.url, connect_timeout=1, read_timeout=1).capture("pay_1", 1000))


@pytest.mark.parametrize(
    "body",
    [
        b'{"status": "refunded", "refund_reference": "re_2", "amount": 300}',
        b'{"status": "refunded", "refund_reference": "re_1", "amount": 200}',
        b'{"status": "refunded", "refund_reference": "re_1", "amount": "300"}',
        b'{"status": "refunded", "refund_reference": "re_1"}',
        b'{"status": "captured", "refund_reference": "re_1", "amount": 300}',
    ],
)
def test_an_unreadable_refund_answer_is_an_unknown_outcome(
    serve: Callable[[Behaviour], BankServer], body: bytes
) -> None:
    server = serve(answering(200, body))
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=1)
    fails(BankOutcomeUnknown, lambda: bank.refund("pay_1", "re_1", 300))


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_a_capture_or_a_refund_that_was_never_sent_is_not_processed(operation: str) -> None:
    bank = HttpBank(f"http://127.0.0.1:{free_port()}/payments", connect_timeout=0.2, read_timeout=0.2)
    fails(BankNotProcessed, lambda: OPERATIONS[operation](bank), "could not be reached")


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize(
    ("behaviour", "message"),
    [(never_answer, r"did not answer within 0\.2 s"), (close_after_reading, "answer was lost")],
)
def test_a_capture_or_a_refund_sent_without_an_answer_is_an_unknown_outcome(
    serve: Callable[[Behaviour], BankServer], operation: str, behaviour: Behaviour, message: str
) -> None:
    server = serve(behaviour)
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=0.2)
    fails(BankOutcomeUnknown, lambda: OPERATIONS[operation](bank), message)
    assert server.posts == 1  # a new connection: nothing is resent


def test_a_capture_lost_after_the_send_on_a_pooled_connection_is_sent_again(
    serve: Callable[[Behaviour], BankServer],
) -> None:
    """Unlike an authorization's: the bank takes one capture per reference and answers a repeat as the
    first, so the request that went out whole and got no answer is sent once more, on a new connection."""

    def first_connection_loses_its_second_answer(conn: socket.socket, server: BankServer) -> None:
        first = server.connections == 1
        if read_request(conn, server):
            conn.sendall(response(200, b'{"status": "captured", "captured_amount": 1000}'))
        if first and read_request(conn, server):
            conn.close()
        while not first and read_request(conn, server):
            conn.sendall(response(200, b'{"status": "captured", "captured_amount": 1000}'))

    server = serve(first_connection_loses_its_second_answer)
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=1)
    assert bank.capture("pay_1", 1000) == 1000
    assert bank.capture("pay_1", 1000) == 1000
    assert (server.connections, server.posts) == (2, 3)


def test_a_capture_sent_whole_whose_resend_cannot_connect_is_an_unknown_outcome(
    serve: Callable[[Behaviour], BankServer],
) -> None:
    """The first try went out whole (the bank may have captured): a resend that cannot even connect
    must not turn that into "not processed", which would tell the merchant nothing moved."""

    def first_connection_loses_its_second_answer(conn: socket.socket, server: BankServer) -> None:
        if read_request(conn, server):
            conn.sendall(response(200, b'{"status": "captured", "captured_amount": 1000}'))
        if read_request(conn, server):
            conn.close()

    class Refused(http.client.HTTPConnection):
        def connect(self) -> None:
            raise ConnectionRefusedError

    server = serve(first_connection_loses_its_second_answer)
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=1)
    bank.capture("pay_1", 1000)  # leaves its connection in the pool
    bank._new_connection = lambda: Refused("127.0.0.1", 9)  # type: ignore[method-assign]
    fails(BankOutcomeUnknown, lambda: bank.capture("pay_1", 1000), "could not be reached")
    assert server.posts == 2


def test_a_capture_that_timed_out_on_a_pooled_connection_is_not_sent_again(
    serve: Callable[[Behaviour], BankServer],
) -> None:
    def one_answer_then_silence(conn: socket.socket, server: BankServer) -> None:
        if read_request(conn, server):
            conn.sendall(response(200, b'{"status": "captured", "captured_amount": 1000}'))
        if read_request(conn, server):
            server.finished.wait(timeout=10)

    server = serve(one_answer_then_silence)
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=0.2)
    bank.capture("pay_1", 1000)
    fails(BankOutcomeUnknown, lambda: bank.capture("pay_1", 1000), "did not answer")
    assert (server.connections, server.posts) == (1, 2)  # the deadline is spent: no second try


def test_a_void_after_a_capture_is_refused(serve: Callable[[Behaviour], BankServer]) -> None:
    server = serve(answering(409, b'{"error": "already_captured"}'))
    refusal = fails(BankRefusal, lambda: HttpBank(server.url, connect_timeout=1, read_timeout=1).reverse("pay_1"))
    assert isinstance(refusal, BankRefusal) and refusal.reason == "already_captured"


@pytest.mark.parametrize(
    ("status", "body"),
    [(409, b'{"error": "reference_reversed"}'), (409, b'{"error": "already_captured", "x": 1}'), (400, b"{}")],
)
def test_a_void_refused_otherwise_is_unreachable(
    serve: Callable[[Behaviour], BankServer], status: int, body: bytes
) -> None:
    server = serve(answering(status, body))
    fails(BankUnreachable, lambda: HttpBank(server.url, connect_timeout=1, read_timeout=1).reverse("pay_1"))


def test_a_captured_record_is_read_with_its_amounts(serve: Callable[[Behaviour], BankServer]) -> None:
    server = serve(
        answering(
            200,
            b'{"status": "captured", "authorization_code": "A1", "amount": 1050, "currency": "GBP",'
            b' "captured_amount": 1000, "refunded_amount": 300}',
        )
    )
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=1)
    expected = BankRecord(BankStatus.CAPTURED, "A1", 1050, "GBP", captured_amount=1000, refunded_amount=300)
    assert bank.inquire("pay_1") == expected


@pytest.mark.parametrize(
    "body",
    [
        b'{"status": "captured", "authorization_code": "A1", "amount": 5, "currency": "GBP"}',  # captured nothing
        b'{"status": "captured", "authorization_code": null, "amount": 5, "currency": "GBP", "captured_amount": 5}',
        b'{"status": "authorized", "authorization_code": "A1", "amount": 5, "currency": "GBP", "captured_amount": -1}',
        b'{"status": "authorized", "authorization_code": "A1", "amount": 5, "currency": "GBP", "refunded_amount": "0"}',
        b'{"status": "captured", "authorization_code": "A1", "amount": 5, "currency": "GBP", "captured_amount": true}',
    ],
)
def test_an_unusable_captured_record_is_unreachable(serve: Callable[[Behaviour], BankServer], body: bytes) -> None:
    server = serve(answering(200, body))
    fails(BankUnreachable, lambda: HttpBank(server.url, connect_timeout=1, read_timeout=1).inquire("pay_1"))


def test_a_refund_the_bank_does_not_know_is_none(serve: Callable[[Behaviour], BankServer]) -> None:
    server = serve(answering(404, b'{"error": "not_found"}'))
    assert HttpBank(server.url, connect_timeout=1, read_timeout=1).refund_status("pay_1", "re/1") is None
    assert server.requests[0][0] == b"GET /payments/pay_1/refunds/re%2F1 HTTP/1.1"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (404, b'{"error": {"type": "not_found"}}'),
        (404, b""),
        (500, b'{"status": "refunded", "amount": 300}'),
        (200, b'{"status": "refunded"}'),
        (200, b'{"status": "refunded", "amount": "300"}'),
        (200, b'{"status": "pending", "amount": 300}'),
        (200, b"[]"),
    ],
)
def test_an_unusable_refund_inquiry_answer_is_unreachable(
    serve: Callable[[Behaviour], BankServer], status: int, body: bytes
) -> None:
    server = serve(answering(status, body))
    bank = HttpBank(server.url, connect_timeout=1, read_timeout=1)
    fails(BankUnreachable, lambda: bank.refund_status("pay_1", "re_1"))


def test_an_unreachable_bank_is_unreachable_for_refund_inquiries() -> None:
    bank = HttpBank(f"http://127.0.0.1:{free_port()}/payments", connect_timeout=0.2, read_timeout=0.2)
    fails(BankUnreachable, lambda: bank.refund_status("pay_1", "re_1"), "could not be reached")
