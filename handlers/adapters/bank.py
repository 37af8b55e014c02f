"""HTTP client for the acquiring bank (the protocol of docs/bank.md).

Built on http.client (already loaded by botocore: free at cold start) rather than urllib3, whose
read timeout restarts on every recv(): a bank that drips its answer a byte at a time could hold a
payment until the function timeout. Here one deadline bounds the whole answer.

An authorization's failure is classified by how far the request got, because that decides
whether the bank may have charged: never complete on the wire, or an explicit not-processed
answer (503, 4xx): BankNotProcessed; sent and no usable answer: BankOutcomeUnknown. A capture or a
refund is classified the same way, except that the bank's own error body with a 4xx is a
BankRefusal naming its documented code. Messages name what happened, never what was sent.
"""

from __future__ import annotations

import http.client
import json
import queue
import select
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

from handlers.adapters.deadline_socket import Deadline as _Deadline
from handlers.domain.errors import BankError, BankNotProcessed, BankOutcomeUnknown, BankRefusal, BankUnreachable
from handlers.domain.models import BankDecision, BankRecord, BankStatus, PaymentRequest

_MAX_ANSWER_BYTES = 64 * 1024
_IDLE_CONNECTIONS = 16
# Refusals a message may name: the bank's own error text is not echoed (it is not ours to trust).
_REFUSALS = frozenset({"reference_reused", "reference_reversed"})
# A capture's or a refund's refusal names one of these; any other error body is just "refused".
OPERATION_REFUSALS = frozenset(
    {
        "already_captured",
        "declined",
        "reference_reversed",
        "not_found",
        "not_captured",
        "exceeds_captured",
        "refund_reference_reused",
    }
)
_UNREADABLE = object()


class _NotSent(Exception):
    """The complete request never left this host, so the bank cannot have acted on it."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class _NoAnswer(Exception):
    """The request was sent; no usable answer came back."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class HttpBank:
    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float,
        read_timeout: float,
        on_latency: Callable[[float], None] = lambda _ms: None,
    ) -> None:
        parts = urlsplit(url)
        self._https = parts.scheme == "https"
        self._address = (parts.hostname or "localhost", parts.port or (443 if self._https else 80))
        self._base = parts.path.rstrip("/")  # inquiries and reversals go below it
        self._query = f"?{parts.query}" if parts.query else ""
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._on_latency = on_latency
        self._idle: queue.LifoQueue[http.client.HTTPConnection] = queue.LifoQueue(_IDLE_CONNECTIONS)

    def authorize(self, reference: str, request: PaymentRequest, *, capture: bool = False) -> BankDecision:
        card = request.card
        payload = {
            "card_number": card.number,
            "expiry_date": f"{card.expiry_month:02d}/{card.expiry_year:04d}",
            "currency": request.currency,
            "amount": request.amount,
            "cvv": card.cvv,
            "reference": reference,  # the bank charges a reference once, whatever is resent
            "capture": capture,
        }
        started = time.monotonic()
        try:
            status, raw = self._exchange("POST", self._target(""), json.dumps(payload).encode(), idempotent=False)
        except _NotSent as e:
            raise BankNotProcessed(str(e)) from None
        except _NoAnswer as e:
            raise BankOutcomeUnknown(str(e)) from None
        finally:
            self._on_latency((time.monotonic() - started) * 1000)
        return _decision(status, raw)

    def inquire(self, reference: str) -> BankRecord | None:
        status, raw = self._idempotent("GET", self._target(f"/{quote(reference, safe='')}"))
        if status == 404 and _json(raw) == {"error": "not_found"}:
            return None  # only the bank's own answer: a 404 from a wrong URL is no proof of anything
        if status != 200:
            raise BankUnreachable(f"The bank answered the inquiry with HTTP {status}.")
        return _record(raw)

    def reverse(self, reference: str) -> BankRecord:
        status, raw = self._idempotent("POST", self._target(f"/{quote(reference, safe='')}/reversal"), b"")
        if status == 409 and _json(raw) == {"error": "already_captured"}:
            raise BankRefusal("already_captured")  # a capture came first: nothing was released
        if status != 200:
            raise BankUnreachable(f"The bank answered the reversal with HTTP {status}.")
        return _record(raw)

    def capture(self, reference: str, amount: int) -> int:
        answer = self._operation(f"/{quote(reference, safe='')}/capture", {"amount": amount})
        captured = answer.get("captured_amount")
        if answer.get("status") != "captured" or not _is_amount(captured):
            raise BankOutcomeUnknown("The bank's answer to the capture was not one we can read.")
        assert isinstance(captured, int)
        return captured

    def refund(self, reference: str, refund_reference: str, amount: int) -> None:
        payload = {"refund_reference": refund_reference, "amount": amount}
        answer = self._operation(f"/{quote(reference, safe='')}/refunds", payload)
        if answer.get("status") != "refunded" or answer.get("refund_reference") != refund_reference:
            raise BankOutcomeUnknown("The bank's answer to the refund was not one we can read.")
        if not _is_amount(answer.get("amount")) or answer["amount"] != amount:
            raise BankOutcomeUnknown("The bank's answer to the refund was not one we can read.")

    def refund_status(self, reference: str, refund_reference: str) -> int | None:
        below = f"/{quote(reference, safe='')}/refunds/{quote(refund_reference, safe='')}"
        status, raw = self._idempotent("GET", self._target(below))
        answer = _json(raw)
        if status == 404 and answer == {"error": "not_found"}:
            return None
        if status != 200:
            raise BankUnreachable(f"The bank answered the refund inquiry with HTTP {status}.")
        amount = answer.get("amount") if isinstance(answer, dict) else None
        if not isinstance(answer, dict) or answer.get("status") != "refunded" or not _is_amount(amount):
            raise BankUnreachable("The bank's refund record was not one we can read.")
        assert isinstance(amount, int)
        return amount

    def _operation(self, below: str, payload: dict[str, object]) -> dict[str, Any]:
        """A capture or a refund: the answer of a 200, or the failure raised. Both are idempotent at
        the bank (one capture per reference, one refund per refund reference), so a stale pooled
        connection is replaced and the request sent again as for an inquiry."""
        started = time.monotonic()
        try:
            status, raw = self._exchange("POST", self._target(below), json.dumps(payload).encode(), idempotent=True)
        except _NotSent as e:
            raise BankNotProcessed(str(e)) from None
        except _NoAnswer as e:
            raise BankOutcomeUnknown(str(e)) from None
        finally:
            self._on_latency((time.monotonic() - started) * 1000)
        answer = _json(raw)
        if status != 200:
            raise _operation_failure(status, answer)
        if not isinstance(answer, dict):
            raise BankOutcomeUnknown("The bank's answer was not JSON we can read.")
        return answer

    def _target(self, below: str) -> str:
        return (self._base + below or "/") + self._query

    def _idempotent(self, method: str, target: str, body: bytes | None = None) -> tuple[int, bytes]:
        try:
            return self._exchange(method, target, body, idempotent=True)
        except (_NotSent, _NoAnswer) as e:
            raise BankUnreachable(str(e)) from None

    def _exchange(self, method: str, target: str, body: bytes | None, *, idempotent: bool) -> tuple[int, bytes]:
        """One request. Whatever happens it takes at most connect_timeout + read_timeout: a pooled
        connection has no connect, so its one replacement's connect fits in that budget."""
        connection, pooled = self._connection(reuse=True)
        deadline = time.monotonic() + self._read_timeout
        try:
            return self._send_and_receive(connection, method, target, body, deadline)
        except (_NotSent, _NoAnswer) as failure:
            # A pooled keep-alive connection can have been closed by the bank while idle without
            # _dropped() seeing it yet (the close raced our send). Replacing it once is safe only
            # where the first try cannot have charged: when sending failed (sendall raising means
            # its last byte never left this host, so the bank holds at most a truncated request it
            # cannot act on), or for the idempotent inquiry and reversal. A fully sent authorization
            # is never resent: a reset or an EOF then cannot be told from a bank that charged and
            # crashed, so it stays BankOutcomeUnknown and the resolver asks the bank later.
            safe = isinstance(failure, _NotSent) or idempotent
            if not (pooled and safe) or failure.timed_out:
                raise
            first_was_sent = isinstance(failure, _NoAnswer)
        try:
            connection, _ = self._connection(reuse=False)
            return self._send_and_receive(connection, method, target, body, deadline)
        except _NotSent as retry_failure:
            # The first try was fully sent: whatever the resend did, the bank may have acted on the
            # first one, so "not sent" would wrongly say nothing moved.
            if first_was_sent:
                raise _NoAnswer(str(retry_failure), timed_out=retry_failure.timed_out) from None
            raise

    def _send_and_receive(
        self, connection: http.client.HTTPConnection, method: str, target: str, body: bytes | None, deadline: float
    ) -> tuple[int, bytes]:
        connection.sock = _Deadline(connection.sock, deadline)
        headers = {"Content-Type": "application/json"} if body else {}
        try:
            connection.request(method, target, body, headers)
        except TimeoutError:
            connection.close()
            message = f"The bank did not take the request within {self._read_timeout:g} s."
            raise _NotSent(message, timed_out=True) from None
        except (OSError, http.client.HTTPException) as e:
            connection.close()
            raise _NotSent(f"The request could not be sent to the bank ({type(e).__name__}).") from None
        try:
            response = connection.getresponse()
            raw = response.read(_MAX_ANSWER_BYTES + 1)
        except TimeoutError:
            connection.close()
            raise _NoAnswer(f"The bank did not answer within {self._read_timeout:g} s.", timed_out=True) from None
        except (OSError, http.client.HTTPException) as e:
            connection.close()
            raise _NoAnswer(f"The bank's answer was lost ({type(e).__name__}).") from None
        self._release(connection, response)
        if len(raw) > _MAX_ANSWER_BYTES:
            raise _NoAnswer("The bank's answer was too large.")
        return response.status, raw

    def _connection(self, *, reuse: bool) -> tuple[http.client.HTTPConnection, bool]:
        """A pooled connection (True) or a new one (False); _NotSent if none can be opened."""
        while reuse:
            try:
                pooled = self._idle.get_nowait()
            except queue.Empty:
                break
            if not _dropped(pooled):
                return pooled, True
            pooled.close()
        connection = self._new_connection()
        try:
            connection.connect()
        except TimeoutError:
            message = f"The bank did not accept a connection within {self._connect_timeout:g} s."
            raise _NotSent(message, timed_out=True) from None
        except OSError as e:  # refused, unreachable, DNS (gaierror), TLS handshake (SSLError)
            raise _NotSent(f"The bank could not be reached ({type(e).__name__}).") from None
        return connection, False

    def _new_connection(self) -> http.client.HTTPConnection:
        host, port = self._address
        if self._https:
            return http.client.HTTPSConnection(host, port, timeout=self._connect_timeout)
        return http.client.HTTPConnection(host, port, timeout=self._connect_timeout)

    def _release(self, connection: http.client.HTTPConnection, response: http.client.HTTPResponse) -> None:
        """Keep the connection for the next payment if the answer was read to its end."""
        wrapped = connection.sock
        if response.will_close or not response.isclosed() or not isinstance(wrapped, _Deadline):
            connection.close()
            return
        connection.sock = wrapped.raw
        try:
            self._idle.put_nowait(connection)
        except queue.Full:
            connection.close()


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """An idle keep-alive connection the bank has closed (readable = EOF or unexpected bytes)."""
    if connection.sock is None:
        return True
    readable, _, _ = select.select([connection.sock], [], [], 0)
    return bool(readable)


def _json(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: valid JSON nested deeper than the parser goes
        return _UNREADABLE


def _is_amount(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _is_sum(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _operation_failure(status: int, answer: object) -> BankError:
    """A capture's or a refund's non-200: only the bank's own error body with a 4xx proves a refusal
    (with a 503, that nothing was processed); a proxy's page or a 5xx may follow a processed request."""
    error = answer.get("error") if isinstance(answer, dict) else None
    refusal = status == 503 or 400 <= status < 500
    if refusal and not isinstance(error, str):
        return BankOutcomeUnknown(f"The bank's address answered HTTP {status} without the bank's error body.")
    if status == 503:
        return BankNotProcessed("The bank was unavailable (HTTP 503) and processed nothing.")
    if refusal:
        return BankRefusal(error if error in OPERATION_REFUSALS else "refused")
    return BankOutcomeUnknown(f"The bank answered HTTP {status}.")


def _decision(status: int, raw: bytes) -> BankDecision:
    answer = _json(raw)
    if status == 503 or 400 <= status < 500:
        # Only the bank's own error body proves it refused: a proxy in front of it (a load balancer's
        # HTML 503, a gateway's 4xx) may have forwarded the request the bank then processed.
        error = answer.get("error") if isinstance(answer, dict) else None
        if not isinstance(error, str):
            raise BankOutcomeUnknown(f"The bank's address answered HTTP {status} without the bank's error body.")
        if status == 503:
            raise BankNotProcessed("The bank was unavailable (HTTP 503) and processed nothing.")
        named = f" {error}" if error in _REFUSALS else ""
        raise BankNotProcessed(f"The bank refused the request (HTTP {status}{named}).")
    if status != 200:
        raise BankOutcomeUnknown(f"The bank answered HTTP {status}.")
    if answer is _UNREADABLE:
        raise BankOutcomeUnknown("The bank's answer was not JSON we can read.")
    authorized = answer.get("authorized") if isinstance(answer, dict) else None
    code = answer.get("authorization_code") if isinstance(answer, dict) else None
    captured = answer.get("captured", False) if isinstance(answer, dict) else None
    if not isinstance(authorized, bool) or (authorized and not (isinstance(code, str) and code)):
        raise BankOutcomeUnknown("The bank's answer lacked a decision or an authorization code.")
    if not isinstance(captured, bool) or (captured and not authorized):
        raise BankOutcomeUnknown("The bank's answer had a capture flag we cannot read.")
    return BankDecision(authorized=authorized, authorization_code=code if authorized else None, captured=captured)


def _record(raw: bytes) -> BankRecord:
    """An inquiry's or a reversal's answer; BankUnreachable unless every field is as documented."""
    answer = _json(raw)
    if not isinstance(answer, dict) or answer.get("status") not in tuple(BankStatus):
        raise BankUnreachable("The bank's record was not one we can read.")
    status = BankStatus(answer["status"])
    code, amount, currency = answer.get("authorization_code"), answer.get("amount"), answer.get("currency")
    captured, refunded = answer.get("captured_amount", 0), answer.get("refunded_amount", 0)
    well_typed = (
        isinstance(code, str | None)
        and isinstance(currency, str | None)
        and (amount is None or (isinstance(amount, int) and not isinstance(amount, bool)))
        and _is_sum(captured)
        and _is_sum(refunded)
    )
    charged = status in (BankStatus.AUTHORIZED, BankStatus.CAPTURED)
    if not well_typed or (charged and not code) or (status is BankStatus.CAPTURED and not captured):
        raise BankUnreachable("The bank's record was not one we can read.")
    assert isinstance(captured, int) and isinstance(refunded, int)
    return BankRecord(status, code, amount, currency, captured_amount=captured, refunded_amount=refunded)
