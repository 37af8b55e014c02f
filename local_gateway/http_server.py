"""A small HTTP/1.1 keep-alive server on 127.0.0.1 that hands each request to an app function.

Both the regional gateways and the global endpoint run on it. Nagle's algorithm is off: with
keep-alive, headers and body go out in separate writes, and the second would otherwise wait for
the client's delayed ACK (~40 ms per response).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from local_gateway.logs import access_line
from proxy_gateway.gateway_responses import gateway_response
from proxy_gateway.messages import HttpRequest, HttpResponse, error_response

log = logging.getLogger(__name__)

App = Callable[[HttpRequest], HttpResponse]
RequestFilter = Callable[[HttpRequest], bool]
# API Gateway's payload limit.
MAX_BODY_BYTES = 10 * 1024 * 1024
# Idle keep-alive connections are closed after this; clients (and our proxy pool) reconnect.
IDLE_TIMEOUT_SECONDS = 120
# How often serve_forever() looks for a shutdown request: short, so shutdown() is quick.
POLL_SECONDS = 0.1


class BadRequestError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class LocalHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(
        self, port: int, app: App, *, name: str, access_log: bool = False, unlogged: RequestFilter | None = None
    ) -> None:
        """access_log: one line per request (logs.access_line), except those `unlogged` picks out."""
        self.app = app
        self.name = name
        self.access_log = access_log
        self.unlogged = unlogged
        self._serving: threading.Thread | None = None
        super().__init__(("127.0.0.1", port), _RequestHandler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_in_thread(self) -> threading.Thread:
        self._serving = threading.Thread(
            target=self.serve_forever, args=(POLL_SECONDS,), name=f"{self.name}-http", daemon=True
        )
        self._serving.start()
        return self._serving

    def stop(self) -> None:
        if self._serving is not None:  # shutdown() waits forever on a server that never served
            self.shutdown()
        self.server_close()


def _refusal(error: BadRequestError, request_id: str) -> HttpResponse:
    if error.status == 413:  # API Gateway's own limit, answered by its REQUEST_TOO_LARGE response
        return gateway_response("REQUEST_TOO_LARGE", request_id)
    return error_response(error.status, "invalid_request", str(error), request_id)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = IDLE_TIMEOUT_SECONDS

    def _serve(self) -> None:
        started = time.perf_counter()
        server = cast(LocalHTTPServer, self.server)
        request: HttpRequest | None = None
        try:
            request = HttpRequest(
                self.command, self.path, tuple(self.headers.items()), self._read_body(), self.client_address[0]
            )
            response = server.app(request)
        except BadRequestError as error:
            self.close_connection = True
            response = _refusal(error, str(uuid.uuid4()))
        except Exception:
            log.exception("unhandled error")
            response = gateway_response("DEFAULT_5XX", str(uuid.uuid4()), status=500)
        if response.drop_connection:
            self.close_connection = True  # nothing written: the socket closes without an answer
        else:
            try:
                self._write(response)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting: not our error
                self.close_connection = True
        if server.access_log and not (request is not None and server.unlogged and server.unlogged(request)):
            elapsed_ms = (time.perf_counter() - started) * 1000
            status = "dropped" if response.drop_connection else response.status
            log.info("%s", access_line(self.command, self.path, status, elapsed_ms))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, CONNECT, QUERY...) goes to the router too, which answers 404
        # not_found as API Gateway does, instead of http.server's HTML 501 page.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return b""
        if not length_header.isdigit():
            raise BadRequestError(400, "invalid Content-Length")
        length = int(length_header)
        if length > MAX_BODY_BYTES:
            raise BadRequestError(413, "request body too large")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError as error:
                raise BadRequestError(400, "invalid chunked encoding") from error
            if len(body) + size > MAX_BODY_BYTES:
                raise BadRequestError(413, "request body too large")
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers, then the blank line
                    pass
                return bytes(body)
            body += self.rfile.read(size)
            self.rfile.readline(1024)

    def _write(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: object) -> None:
        """Protocol-level errors only; the access log above is opt-in."""
        log.debug("%s: " + format, cast(LocalHTTPServer, self.server).name, *args)
