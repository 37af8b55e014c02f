"""The webhook sender's HTTP: the host's addresses from DNS, and one POST to the address that was checked.

handlers.domain.delivery checks a URL against the addresses its host resolves to now, then asks this
module to post to one of those addresses: the connection goes to that address (the Host header and,
for https, the certificate's name stay the URL's host), so a DNS answer that changes between the check
and the connection (DNS rebinding) cannot send the request elsewhere. No redirect is ever followed:
http.client does not follow them, and the sender counts a 3xx as a failure.
"""

from __future__ import annotations

import email.utils
import http.client
import socket
import ssl
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import urlsplit

from handlers.adapters.deadline_socket import Deadline
from handlers.domain.delivery import PostResult

_MAX_ANSWER_BYTES = 64 * 1024  # a receiver's answer is read (to reuse nothing) only this far
USER_AGENT = "payment-gateway-webhooks/1"


def resolve_host(host: str) -> list[str]:
    """Every address the host resolves to now (IPv4 and IPv6), as DNS answers; OSError if none."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP connection to a fixed address, for the URL's host."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedTlsConnection(_PinnedConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, address, timeout)
        self._context = context

    def connect(self) -> None:
        super().connect()
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.host)


class HttpPoster:
    """handlers.domain.delivery.Poster over http.client: one connection per attempt, closed after it."""

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        self._context = context or ssl.create_default_context()

    def post(self, url: str, address: str, headers: Mapping[str, str], body: str, timeout: float) -> PostResult:
        parts = urlsplit(url)
        host = parts.hostname or ""
        https = parts.scheme == "https"
        port = parts.port or (443 if https else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection = (
            _PinnedTlsConnection(host, port, address, timeout, self._context)
            if https
            else _PinnedConnection(host, port, address, timeout)
        )
        started = time.perf_counter()
        deadline = time.monotonic() + timeout  # the whole attempt's, however slowly the answer drips
        try:
            connection.connect()
            connection.sock = Deadline(connection.sock, deadline)
            connection.request("POST", path, body=body.encode(), headers={**headers, "user-agent": USER_AGENT})
            answer = connection.getresponse()
            answer.read(_MAX_ANSWER_BYTES)
            status, retry_after = answer.status, parse_retry_after(answer.getheader("retry-after"))
        except TimeoutError:
            return PostResult(None, "timeout", duration_ms=_since(started))
        except ConnectionRefusedError:
            return PostResult(None, "connection refused", duration_ms=_since(started))
        except ssl.SSLError as error:
            return PostResult(None, f"TLS error: {error.reason or error}", duration_ms=_since(started))
        except (OSError, http.client.HTTPException) as error:
            return PostResult(None, f"connection failed: {type(error).__name__}", duration_ms=_since(started))
        except Exception as error:  # an attempt never stops the sender: it is a failed attempt, retried
            return PostResult(None, f"request failed: {type(error).__name__}", duration_ms=_since(started))
        finally:
            connection.close()
        return PostResult(status, None, retry_after, _since(started))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After's seconds, or its HTTP date as seconds from now; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


def _since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
