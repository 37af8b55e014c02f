"""An acquiring bank on a real localhost HTTP server that misbehaves on purpose.

Each request takes the next fault from a script (or the default). The bank keeps a ledger the
way a real acquirer does: a charge is made once per `reference` (the payment id), and a request
repeating a reference that was already charged gets the original decision back without a second
charge (the deduplication handlers.adapters.bank relies on). `charges` counts the money actually moved,
`calls` every request that arrived, so a test can tell a retry from a double charge.

Faults that "answer late or badly" charge first (the worst case: the money moved, the answer was
lost); faults that "refuse" charge nothing.
"""

from __future__ import annotations

import enum
import json
import socket
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs


class Fault(enum.Enum):
    OK = "ok"  # the simulator's rules: last digit odd authorized, even declined
    HTTP_503 = "http_503"  # refused: no charge
    HTTP_500_HTML = "http_500_html"  # an HTML error page from a proxy in front of the bank: no charge (unknown)
    CLOSE = "close"  # connection dropped before any answer, after the charge
    TIMEOUT = "timeout"  # charged, then no answer until well after the client's read timeout
    SLOW = "slow"  # charged, answers correctly after `delay` seconds
    MALFORMED_JSON = "malformed_json"  # charged, 200 with a body that is not JSON
    MISSING_FIELDS = "missing_fields"  # charged, 200 `{}`
    NO_CODE = "no_code"  # charged, 200 authorized without an authorization code
    WRONG_TYPES = "wrong_types"  # charged, 200 with "authorized": "yes"
    TRUNCATED = "truncated"  # charged, 200 whose body stops before Content-Length
    DEEP_JSON = "deep_json"  # charged, 200 with valid JSON nested deeper than the parser recurses
    DRIP = "drip"  # charged, the correct answer one byte per `delay` seconds


CHARGING = frozenset(Fault) - {Fault.HTTP_503, Fault.HTTP_500_HTML}


@attrs.define
class Step:
    fault: Fault
    delay: float = 0.0


@attrs.define
class Decision:
    authorized: bool
    authorization_code: str
    amount: int | None = None
    currency: str | None = None
    reversed: bool = False

    def wire(self) -> dict[str, Any]:
        return {"authorized": self.authorized, "authorization_code": self.authorization_code}

    def record(self) -> dict[str, Any]:
        """GET {bankUrl}/{reference} (docs/bank.md)."""
        status = "reversed" if self.reversed else "authorized" if self.authorized else "declined"
        code = self.authorization_code or None
        return {"status": status, "authorization_code": code, "amount": self.amount, "currency": self.currency}


class FaultBank:
    def __init__(self, port: int = 0, *, deduplicate: bool = True) -> None:
        self.deduplicate = deduplicate  # False: every request moves money again (a bank ignoring `reference`)
        self.script: deque[Step] = deque()
        self.default = Step(Fault.OK)
        self.calls: list[dict[str, Any]] = []
        self.ledger: dict[str, Decision] = {}  # reference -> the decision of its one charge
        self.charges: Counter[str] = Counter()  # reference -> charges made (more than 1 is a double charge)
        self.faults_served: Counter[Fault] = Counter()
        self.reachable = True  # False: inquiries and reversals answer 503 (the resolver backs off)
        self.inquiries: list[str] = []
        self.reversals: list[str] = []
        self.disconnects = 0  # answers the client stopped reading before they were complete
        self.release = threading.Event()  # set at teardown: every held answer stops waiting
        self.arrived = threading.Event()
        self._lock = threading.Lock()
        self._server = _Server(self, port)
        self.url = f"http://127.0.0.1:{self._server.server_port}/payments"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def then(self, fault: Fault, delay: float = 0.0, times: int = 1) -> FaultBank:
        self.script.extend(Step(fault, delay) for _ in range(times))
        return self

    def always(self, fault: Fault, delay: float = 0.0) -> FaultBank:
        """Behave like this whenever the script is empty."""
        self.default = Step(fault, delay)
        return self

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def charged_references(self) -> dict[str, int]:
        return dict(self.charges)

    def _next_step(self, body: dict[str, Any]) -> Step:
        with self._lock:
            self.calls.append(body)
            step = self.script.popleft() if self.script else self.default
            self.faults_served[step.fault] += 1
        self.arrived.set()
        return step

    def _charge(self, body: dict[str, Any]) -> Decision:
        """Move the money once per reference; a repeated reference gets the original decision."""
        reference = str(body.get("reference"))
        with self._lock:
            if reference in self.ledger and self.deduplicate:
                return self.ledger[reference]
            authorized = str(body.get("card_number", ""))[-1:] in "13579"
            code = uuid.uuid4().hex[:12].upper() if authorized else ""
            decision = Decision(authorized, code, body.get("amount"), body.get("currency"))
            self.ledger[reference] = decision
            self.charges[reference] += 1
            return decision

    def _reversed(self, reference: str) -> bool:
        with self._lock:
            found = self.ledger.get(reference)
            return found is not None and found.reversed

    def _reverse(self, reference: str) -> Decision:
        """Idempotent; an unknown reference is blocked, so that a late authorization cannot land."""
        with self._lock:
            self.reversals.append(reference)
            found = self.ledger.get(reference) or Decision(False, "")
            if found.authorized or reference not in self.ledger:
                found.reversed = True
            self.ledger[reference] = found
            return found

    def reversed_references(self) -> set[str]:
        with self._lock:
            return {reference for reference, decision in self.ledger.items() if decision.reversed}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default (5) drops connections under a burst of concurrent requests

    def __init__(self, bank: FaultBank, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.bank = bank


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        bank = self.server.bank
        reference = self.path.rstrip("/").rsplit("/", 1)[-1]
        bank.inquiries.append(reference)
        if not bank.reachable:
            return self._send(503, b'{"error": "unavailable"}')
        with bank._lock:
            found = bank.ledger.get(reference)
        if found is None:
            return self._send(404, b'{"error": "not_found"}')
        return self._send(200, json.dumps(found.record()).encode())

    def _reversal(self, reference: str) -> None:
        bank = self.server.bank
        if not bank.reachable:
            return self._send(503, b'{"error": "unavailable"}')
        return self._send(200, json.dumps(bank._reverse(reference).record()).encode())

    def do_POST(self) -> None:
        bank = self.server.bank
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path.endswith("/reversal"):
            return self._reversal(self.path.rsplit("/", 2)[-2])
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        step = bank._next_step(body)
        if bank._reversed(str(body.get("reference"))):
            return self._send(409, b'{"error": "reference_reversed"}')
        if step.fault is Fault.HTTP_503:
            return self._send(503, b'{"error": "the issuer is unavailable"}')
        if step.fault is Fault.HTTP_500_HTML:
            return self._send(500, b"<html><body>Bad Gateway</body></html>", "text/html")
        decision = bank._charge(body)
        answer = json.dumps(decision.wire()).encode()
        if step.fault is Fault.CLOSE:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        if step.fault is Fault.TIMEOUT:
            bank.release.wait(step.delay)
            return self._send(200, answer)
        if step.fault is Fault.SLOW:
            time.sleep(step.delay)
            return self._send(200, answer)
        if step.fault is Fault.DRIP:
            return self._drip(answer, step.delay)
        bad = {
            Fault.MALFORMED_JSON: b'{"authorized": tru',
            Fault.MISSING_FIELDS: b"{}",
            Fault.NO_CODE: b'{"authorized": true}',
            Fault.WRONG_TYPES: json.dumps({"authorized": "yes", "authorization_code": 42}).encode(),
            Fault.DEEP_JSON: b"[" * 5000 + b"]" * 5000,
        }
        if step.fault in bad:
            return self._send(200, bad[step.fault])
        if step.fault is Fault.TRUNCATED:
            return self._send(200, answer[: len(answer) // 2], length=len(answer))
        return self._send(200, answer)

    def _send(self, status: int, payload: bytes, content_type: str = "application/json", length: int = -1) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length if length >= 0 else len(payload)))
        if length >= 0:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def _drip(self, answer: bytes, delay: float) -> None:
        """Every byte arrives within any per-read timeout, but the whole answer takes len * delay."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.flush()
        try:
            for byte in answer:
                if self.server.bank.release.wait(delay):
                    return
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
        except OSError:
            with self.server.bank._lock:
                self.server.bank.disconnects += 1
            self.close_connection = True

    def log_message(self, *args: object) -> None:
        return None


def free_port() -> int:
    """A localhost port on which nothing listens (connecting is refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def running_bank(port: int = 0, *, deduplicate: bool = True) -> Iterator[FaultBank]:
    bank = FaultBank(port, deduplicate=deduplicate)
    try:
        yield bank
    finally:
        bank.close()
