"""A small HTTP/1.1 keep-alive WSGI server on 127.0.0.1, for the embedded DynamoDB.

werkzeug's development server, which moto's own server runs on, answers every request with
`Connection: close`: each of the ~4 DynamoDB calls of a payment paid a TCP handshake, a new
thread here and a new connection in botocore (docs/performance.md). This server keeps each
connection (and its thread) for as long as the client does, and parses only what a WSGI app
needs. It serves one request at a time per connection (no pipelining), which is all botocore
and urllib3 do.
"""

from __future__ import annotations

import contextlib
import io
import logging
import socketserver
import sys
import time
from collections.abc import Callable, Iterable
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, cast

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

MAX_LINE_BYTES = 65536
MAX_HEADERS = 100
MAX_BODY_BYTES = 64 * 1024 * 1024
# An idle connection is closed after this; botocore's pool notices and opens a new one. Long,
# because a close that races a client's next request costs that request a retry.
IDLE_TIMEOUT_SECONDS = 600.0


class BadRequest(Exception):
    """The bytes on the wire are not an HTTP/1.x request this server can read; the connection closes."""


class KeepAliveWSGIServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, port: int, app: WsgiApp) -> None:
        self.app = app
        super().__init__(("127.0.0.1", port), _Connection)

    @property
    def server_port(self) -> int:
        return int(self.server_address[1])


class _Connection(socketserver.StreamRequestHandler):
    """One client connection: its requests, one after the other, until either side closes it."""

    disable_nagle_algorithm = True
    timeout = IDLE_TIMEOUT_SECONDS

    def handle(self) -> None:
        try:
            while self._serve_one():
                pass
        except (TimeoutError, ConnectionError):
            pass  # an idle or vanished client: nothing to answer
        except BadRequest as error:
            log.debug("bad request from %s: %s", self.client_address, error)
            with contextlib.suppress(OSError):
                self._send(HTTPStatus.BAD_REQUEST, [("Content-Type", "text/plain")], [str(error).encode()], keep=False)

    def _serve_one(self) -> bool:
        """Read one request, answer it; whether the connection stays open for the next."""
        request_line = self.rfile.readline(MAX_LINE_BYTES + 1)
        if not request_line:
            return False  # the client closed the connection
        method, target, version = _request_line(request_line)
        headers = _headers(self.rfile)
        body = self._body(headers)
        keep = _keeps_alive(version, headers.get("HTTP_CONNECTION", ""))
        server = cast(KeepAliveWSGIServer, self.server)
        environ = self._environ(server.server_port, method, target, version, headers, body)
        status, response_headers, chunks = _call(server.app, environ)
        return self._send(status, response_headers, chunks, keep=keep, head=method == "HEAD")

    def _body(self, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("HTTP_TRANSFER_ENCODING", "").lower():
            headers.pop("HTTP_TRANSFER_ENCODING")
            body = _read_chunked(self.rfile)
            headers["CONTENT_LENGTH"] = str(len(body))
            return body
        length = headers.get("CONTENT_LENGTH", "")
        if not length:
            return b""
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            raise BadRequest(f"invalid Content-Length {length!r}")
        body = self.rfile.read(int(length))
        if len(body) != int(length):
            raise ConnectionResetError("the client closed the connection inside a body")
        return body

    def _environ(  # noqa: PLR0917 - the parts of one request
        self, port: int, method: str, target: str, version: str, headers: dict[str, str], body: bytes
    ) -> dict[str, Any]:
        path, _, query = target.partition("?")
        if "://" in path:  # an absolute-form target: keep only its path
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": "",
            "PATH_INFO": _unquote_path(path),
            "QUERY_STRING": query,
            "RAW_URI": target,
            "REQUEST_URI": target,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": version,
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_PORT": str(self.client_address[1]),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        environ.update(headers)
        return environ

    def _send(
        self,
        status: int | HTTPStatus | str,
        headers: list[tuple[str, str]],
        chunks: Iterable[bytes],
        *,
        keep: bool,
        head: bool = False,
    ) -> bool:
        body = b"".join(chunks)
        status_line = status if isinstance(status, str) else f"{int(status)} {HTTPStatus(status).phrase}"
        lines = [f"HTTP/1.1 {status_line}", f"Date: {_http_date()}"]
        lines += [f"{name}: {value}" for name, value in headers if name.lower() not in _FRAMING]
        lines.append(f"Content-Length: {len(body)}")
        if not keep:
            lines.append("Connection: close")
        head_bytes = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head_bytes if head else head_bytes + body)
        return keep


# The server frames every answer itself (Content-Length, keep-alive or close).
_FRAMING = frozenset({"content-length", "connection", "transfer-encoding", "date"})


def _call(app: WsgiApp, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], list[bytes]]:
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        started[:] = [(status, headers)]
        return written.append

    written: list[bytes] = []
    try:
        result = app(environ, start_response)
        try:
            written.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
    except Exception:
        log.exception("the app failed on %s %s", environ["REQUEST_METHOD"], environ["PATH_INFO"])
        return "500 Internal Server Error", [("Content-Type", "text/plain")], [b"internal error"]
    if not started:
        return "500 Internal Server Error", [("Content-Type", "text/plain")], [b"no response"]
    status, headers = started[0]
    return status, headers, written


def _request_line(line: bytes) -> tuple[str, str, str]:
    if len(line) > MAX_LINE_BYTES:
        raise BadRequest("request line too long")
    parts = line.decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(f"not an HTTP/1.x request line: {line[:80]!r}")
    method, target, version = parts
    return method, target, version


def _headers(rfile: io.BufferedIOBase) -> dict[str, str]:
    """WSGI environ keys -> values. Names with `_` are dropped, as werkzeug does: WSGI cannot tell
    `X_Foo` from `X-Foo`. Repeated headers are joined with commas."""
    found: dict[str, str] = {}
    for _ in range(MAX_HEADERS + 1):
        line = rfile.readline(MAX_LINE_BYTES + 1)
        if line in (b"\r\n", b"\n"):
            return found
        if not line:
            raise ConnectionResetError("the client closed the connection inside the headers")
        if len(line) > MAX_LINE_BYTES:
            raise BadRequest("header line too long")
        name, separator, value = line.decode("latin-1").partition(":")
        name = name.strip()
        if not separator or not name or " " in name:
            raise BadRequest(f"malformed header line {line[:80]!r}")
        if "_" in name:
            continue
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        value = value.strip()
        found[key] = f"{found[key]},{value}" if key in found else value
    raise BadRequest("too many headers")


def _read_chunked(rfile: io.BufferedIOBase) -> bytes:
    body = bytearray()
    while True:
        size_line = rfile.readline(MAX_LINE_BYTES).split(b";", 1)[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError as error:
            raise BadRequest("invalid chunked encoding") from error
        if len(body) + size > MAX_BODY_BYTES:
            raise BadRequest("request body too large")
        if size == 0:
            while rfile.readline(MAX_LINE_BYTES).strip():  # trailers, then the blank line
                pass
            return bytes(body)
        body += rfile.read(size)
        rfile.readline(MAX_LINE_BYTES)


def _keeps_alive(version: str, connection: str) -> bool:
    tokens = {token.strip().lower() for token in connection.split(",")}
    if version == "HTTP/1.0":
        return "keep-alive" in tokens
    return "close" not in tokens


def _unquote_path(path: str) -> str:
    """PATH_INFO as WSGI servers give it: percent-decoded, as latin-1 text of the UTF-8 bytes."""
    if "%" not in path:
        return path
    from urllib.parse import unquote_to_bytes  # noqa: PLC0415 - rare: DynamoDB's path is "/"

    return unquote_to_bytes(path).decode("latin-1")


_date_cache: tuple[int, str] = (0, "")


def _http_date() -> str:
    global _date_cache  # noqa: PLW0603 - one formatted date per second, shared by the threads
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]
