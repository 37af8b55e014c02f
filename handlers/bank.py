"""HTTP client for the acquiring bank.

Built on http.client (already loaded by botocore: free at cold start) rather than urllib3, whose
read timeout restarts on every recv(): a bank that drips its answer a byte at a time could hold a
payment until the function timeout. Here one deadline bounds the whole answer.
"""

from __future__ import annotations

import http.client
import io
import json
import queue
import select
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from handlers.errors import BankUnavailable
from handlers.models import BankDecision, PaymentRequest

_MAX_ANSWER_BYTES = 64 * 1024
_IDLE_CONNECTIONS = 16


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
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._on_latency = on_latency
        self._idle: queue.LifoQueue[http.client.HTTPConnection] = queue.LifoQueue(_IDLE_CONNECTIONS)

    def authorize(self, reference: str, request: PaymentRequest) -> BankDecision:
        card = request.card
        payload = {
            "card_number": card.number,
            "expiry_date": f"{card.expiry_month:02d}/{card.expiry_year:04d}",
            "currency": request.currency,
            "amount": request.amount,
            "cvv": card.cvv,
            "reference": reference,  # lets a deduplicating bank recognise a retry
        }
        started = time.monotonic()
        try:
            status, raw = self._post(json.dumps(payload).encode())
        finally:
            self._on_latency((time.monotonic() - started) * 1000)
        if status != 200:
            raise BankUnavailable(f"The bank answered HTTP {status}.")
        return _decision(raw)

    def _post(self, body: bytes) -> tuple[int, bytes]:
        """One exchange, never retried: a retry could charge twice (the merchant retries with its key)."""
        connection = self._connection()
        try:
            connection.sock = _Deadline(connection.sock, time.monotonic() + self._read_timeout)
            connection.request("POST", self._target, body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            raw = response.read(_MAX_ANSWER_BYTES + 1)
        except TimeoutError:
            connection.close()
            raise BankUnavailable(f"The bank did not answer within {self._read_timeout:g} s.") from None
        except (OSError, http.client.HTTPException) as e:
            connection.close()
            raise BankUnavailable(f"The bank could not be reached ({type(e).__name__}).") from None
        self._release(connection, response)
        if len(raw) > _MAX_ANSWER_BYTES:
            raise BankUnavailable("The bank's answer was too large.")
        return response.status, raw

    def _connection(self) -> http.client.HTTPConnection:
        while True:
            try:
                connection = self._idle.get_nowait()
            except queue.Empty:
                break
            if not _dropped(connection):
                return connection
            connection.close()
        connection = self._new_connection()
        try:
            connection.connect()
        except TimeoutError:
            raise BankUnavailable(f"The bank did not accept a connection within {self._connect_timeout:g} s.") from None
        except OSError as e:
            raise BankUnavailable(f"The bank could not be reached ({type(e).__name__}).") from None
        return connection

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


class _Deadline:
    """A socket whose reads and writes share one deadline instead of restarting a timeout each time.

    Like socket.socket it defers close() while a reader made by makefile() is open: http.client
    closes a connection that will not be kept alive before the response body has been read.
    """

    def __init__(self, sock: Any, deadline: float) -> None:
        self.raw = sock
        self._deadline = deadline
        self._readers = 0
        self._closing = False

    def _arm(self) -> None:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("deadline passed")
        self.raw.settimeout(remaining)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self._arm()
        return int(self.raw.recv_into(buffer, nbytes, flags))

    def sendall(self, data: Any, flags: int = 0) -> None:
        self._arm()
        self.raw.sendall(data, flags)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        self._readers += 1
        return io.BufferedReader(socket.SocketIO(self, "rb"))  # type: ignore[arg-type]

    def _decref_socketios(self) -> None:  # called by SocketIO.close()
        self._readers -= 1
        if self._closing and self._readers == 0:
            self.raw.close()

    def close(self) -> None:
        self._closing = True
        if self._readers == 0:
            self.raw.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """An idle keep-alive connection the bank has closed (readable = EOF or unexpected bytes)."""
    if connection.sock is None:
        return True
    readable, _, _ = select.select([connection.sock], [], [], 0)
    return bool(readable)


def _decision(raw: bytes) -> BankDecision:
    try:
        answer = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: valid JSON nested deeper than the parser goes
        raise BankUnavailable("The bank's answer was not JSON we can read.") from None
    authorized = answer.get("authorized") if isinstance(answer, dict) else None
    code = answer.get("authorization_code") if isinstance(answer, dict) else None
    if not isinstance(authorized, bool) or (authorized and not (isinstance(code, str) and code)):
        raise BankUnavailable("The bank's answer lacked a decision or an authorization code.")
    return BankDecision(authorized=authorized, authorization_code=code if authorized else None)
