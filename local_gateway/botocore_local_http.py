"""botocore's calls to the local stack's own endpoints (plain HTTP to 127.0.0.1) on a lean HTTP/1.1
client: the same bytes out, the same answers and errors back, for ~0.3 ms less CPU per call.

botocore sends through urllib3 (`URLLib3Session.send`): a pool manager, a connection pool, retry and
timeout objects, http.client's request and response machinery and a header dictionary per call,
~40% of a DynamoDB call's CPU in a region's process (docs/performance.md). For a request to
http://127.0.0.1:PORT with a bytes body and no proxy, per-request timeout, streaming or chunked
upload, `send` here writes what urllib3 writes (the request line, `Host`, `Accept-Encoding:
identity`, botocore's headers, the body) on a kept connection, reads the answer as http.client
reads it, and turns each failure into the error URLLib3Session.send raises for it:

| what happens                                        | urllib3 (botocore raises)              |
|-----------------------------------------------------|----------------------------------------|
| connect times out                                   | ConnectTimeoutError                    |
| connect refused / no address                        | EndpointConnectionError                |
| send or read times out                              | ReadTimeoutError                       |
| closed, reset, EOF before the answer or inside a    | ConnectionClosedError                  |
| chunk, a status line or chunk that is not HTTP      |                                        |
| closed inside a Content-Length body                 | (none: the part read is the answer)    |

Anything else goes to urllib3 unchanged. Connections are kept per session and endpoint, at most
`max_pool_connections` idle ones, and one found readable while idle (closed by the server) is
dropped before use, as urllib3 does. tests/local/test_botocore_local_http.py sends the same calls
and failures through both.
"""

from __future__ import annotations

import http.client
import logging
import re
import select
import socket
import threading
from collections.abc import Iterator
from typing import Any, cast

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    ReadTimeoutError,
)
from botocore.httpsession import URLLib3Session
from urllib3 import HTTPHeaderDict
from urllib3.connection import _normalize_header_values
from urllib3.util.timeout import Timeout

log = logging.getLogger(__name__)

_LOCAL_URL = re.compile(r"http://127\.0\.0\.1:(\d{1,5})(/[^?#]*)?(?:\?([^#]*))?")
_MAX_LINE = 65536
_NO_BODY_STATUSES = frozenset({204, 304})
# http.client's own checks (putrequest, putheader): what fails them goes to urllib3, to fail there.
_LEGAL_TARGET = re.compile(r"[\x21-\x7e]+")
_LEGAL_METHOD = re.compile(r"[A-Z]+")
_LEGAL_HEADER_NAME = re.compile(rb"[^:\s][^:\r\n]*")
_ILLEGAL_HEADER_VALUE = re.compile(rb"\n(?![ \t])|\r(?![ \t\n])")

_urllib3_send = URLLib3Session.send


class _Broken(Exception):
    """The connection failed after it was open: botocore's ConnectionClosedError."""


class _Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = sock.makefile("rb")

    def dropped(self) -> bool:
        """Readable while idle: the server closed it (or sent what nobody asked for)."""
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


class _Pool:
    """Idle connections per port, most recently used first."""

    def __init__(self) -> None:
        self.idle: dict[int, list[_Connection]] = {}
        self.lock = threading.Lock()

    def take(self, port: int) -> _Connection | None:
        while True:
            with self.lock:
                idle = self.idle.get(port)
                connection = idle.pop() if idle else None
            if connection is None or not connection.dropped():
                return connection
            connection.close()

    def give_back(self, port: int, connection: _Connection, capacity: int) -> None:
        with self.lock:
            idle = self.idle.setdefault(port, [])
            if len(idle) < capacity:
                idle.append(connection)
                return
        connection.close()


class _Body:
    """What botocore reads of urllib3's response for a body it does not stream: `stream()`."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, amt: int | None = None, decode_content: bool | None = None) -> Iterator[bytes]:
        if self.data:
            yield self.data

    def read(self, amt: int | None = None) -> bytes:
        data, self.data = self.data, b""
        return data

    def release_conn(self) -> None:
        pass

    def close(self) -> None:
        pass


_pools_lock = threading.Lock()


def send(self: URLLib3Session, request: AWSPreparedRequest) -> AWSResponse:
    """URLLib3Session.send, lean for the local stack's endpoints."""
    local = _local_target(self, request)
    if local is None:
        return _urllib3_send(self, request)
    port, target = local
    wire = _request_bytes(request, port, target)
    if wire is None:
        return _urllib3_send(self, request)
    try:
        return _exchange(self, request, port, wire)
    except _Broken as error:
        raise ConnectionClosedError(error=error, request=request, endpoint_url=request.url) from error


def _local_target(session: Any, request: AWSPreparedRequest) -> tuple[int, str] | None:
    """(port, request target) for a request this module sends as urllib3 would; None: urllib3's.
    `session`: URLLib3Session, whose private settings (proxies, timeouts, pool size, socket options)
    are read as its own send reads them."""
    match = _LOCAL_URL.fullmatch(request.url or "")
    if (
        match is None
        or not isinstance(request.body, bytes | type(None))
        or request.stream_output
        or session._chunked(request.headers)
        or "expect" in {name.lower() for name in request.headers}
        or session._get_request_timeout(request) is not None
        or session._proxy_config.proxy_url_for(request.url) is not None
    ):
        return None
    port_text, path, query = match.groups()
    target = (path or "/") + (f"?{query}" if query else "")
    return int(port_text), target


def _pool(session: Any) -> _Pool:
    pool: _Pool | None = session.__dict__.get("_local_pool")
    if pool is None:
        with _pools_lock:
            pool = session.__dict__.setdefault("_local_pool", _Pool())
    return pool


def _timeouts(session: Any) -> tuple[float | None, float | None]:
    timeout = session._timeout
    if isinstance(timeout, Timeout):
        return _seconds(timeout.connect_timeout), _seconds(timeout.read_timeout)
    return float(timeout), float(timeout)


def _seconds(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _exchange(session: Any, request: AWSPreparedRequest, port: int, wire: bytes) -> AWSResponse:
    connect_timeout, read_timeout = _timeouts(session)
    pool = _pool(session)
    connection = pool.take(port) or _connect(session, request, port, connect_timeout)
    try:
        connection.sock.settimeout(read_timeout)
        connection.sock.sendall(wire)
        status, headers, body, keep = _read_answer(connection.reader, request.method)
    except TimeoutError as error:
        connection.close()
        raise ReadTimeoutError(endpoint_url=request.url, error=error) from error
    except (OSError, http.client.HTTPException, _Broken) as error:
        connection.close()
        raise _Broken(str(error) or type(error).__name__) from error
    except Exception as error:
        connection.close()
        log.debug("Exception received when sending a local HTTP request", exc_info=True)
        raise HTTPClientError(error=error) from error
    if keep:
        pool.give_back(port, connection, session._max_pool_connections)
    else:
        connection.close()
    response = AWSResponse(request.url, status, cast(Any, headers), _Body(body))
    response.content  # noqa: B018 - as URLLib3Session.send reads a body botocore does not stream
    return response


def _connect(session: Any, request: AWSPreparedRequest, port: int, timeout: float | None) -> _Connection:
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except TimeoutError as error:
        raise ConnectTimeoutError(endpoint_url=request.url, error=error) from error
    except OSError as error:
        raise EndpointConnectionError(endpoint_url=request.url, error=error) from error
    for level, option, value in session._socket_options:
        sock.setsockopt(level, option, value)
    return _Connection(sock)


def _request_bytes(request: AWSPreparedRequest, port: int, target: str) -> bytes | None:
    """What http.client writes for urllib3: the request line, Host and Accept-Encoding unless
    botocore set them, then botocore's headers in its order, then the body. None for anything
    http.client would refuse (urllib3 then raises what it raises)."""
    if not _LEGAL_TARGET.fullmatch(target) or not _LEGAL_METHOD.fullmatch(request.method or ""):
        return None
    names = {name.lower() for name in request.headers}
    lines = [f"{request.method} {target} HTTP/1.1".encode("latin-1")]
    if "host" not in names:
        lines.append(f"Host: 127.0.0.1:{port}".encode("latin-1"))
    if "accept-encoding" not in names:
        lines.append(b"Accept-Encoding: identity")
    for name, value in request.headers.items():
        raw_name, raw_value = name.encode("latin-1"), _header_bytes(value)
        if not _LEGAL_HEADER_NAME.fullmatch(raw_name) or _ILLEGAL_HEADER_VALUE.search(raw_value):
            return None
        lines.append(raw_name + b": " + raw_value)
    body = cast(bytes, request.body or b"")  # bytes or None: _local_target
    if body and "content-length" not in names:
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _header_bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, int):
        return str(value).encode("ascii")
    return str(value).encode("latin-1")


def _read_answer(reader: Any, method: str) -> tuple[int, HTTPHeaderDict, bytes, bool]:
    while True:
        version, status = _status_line(reader)
        message = http.client.parse_headers(reader)
        if status != 100:  # http.client skips interim answers
            break
    headers = HTTPHeaderDict(_normalize_header_values(message))  # as urllib3 builds them
    connection_tokens = {token.strip().lower() for token in (message.get("connection") or "").split(",")}
    keep = "close" not in connection_tokens and (version == "HTTP/1.1" or "keep-alive" in connection_tokens)
    if method == "HEAD" or status in _NO_BODY_STATUSES or 100 <= status < 200:
        return status, headers, b"", keep
    if "chunked" in (message.get("transfer-encoding") or "").lower():
        return status, headers, _chunked_body(reader), keep
    length = message.get("content-length")
    if length is None:
        return status, headers, reader.read(), False  # delimited by the close
    expected = int(length.strip())
    body = reader.read(expected)
    if len(body) != expected:  # closed early: urllib3 (enforce_content_length=False) returns the part
        return status, headers, body, False
    return status, headers, body, keep


def _status_line(reader: Any) -> tuple[str, int]:
    line = reader.readline(_MAX_LINE + 1)
    if not line:
        raise _Broken("Remote end closed connection without response")
    parts = line.decode("iso-8859-1").split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit() or len(parts[1]) != 3:
        raise _Broken(f"BadStatusLine({line[:80]!r})")
    return parts[0], int(parts[1])


def _chunked_body(reader: Any) -> bytes:
    body = bytearray()
    while True:
        size_line = reader.readline(_MAX_LINE + 1)
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError as error:
            raise _Broken("invalid chunk length") from error
        if size == 0:
            while reader.readline(_MAX_LINE + 1) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return bytes(body)
        chunk = reader.read(size)
        if len(chunk) != size:
            raise _Broken("IncompleteRead inside a chunk")
        body += chunk
        reader.readline(_MAX_LINE + 1)


def install() -> None:
    setattr(URLLib3Session, "send", send)  # noqa: B010 - every session, the handlers' clients included
