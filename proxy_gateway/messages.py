"""Plain HTTP request and response values, passed between the socket layer and the gateways.

Every response the local stack generates itself follows the API's error contract: a compact JSON
body `{"error": {"type", "message"}}` and an `X-Request-Id` header, as the deployed API Gateway's
Gateway Responses do (proxy_gateway.gateway_responses renders those).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

REQUEST_ID_HEADER = "X-Request-Id"
# API Gateway adds this to every response; the handlers' own X-Request-Id carries the same value.
AMZN_REQUEST_ID_HEADER = "x-amzn-RequestId"


@dataclass(frozen=True)
class HttpRequest:
    method: str
    target: str  # as sent on the request line: path plus an optional ?query
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    source_ip: str = "127.0.0.1"

    @property
    def path(self) -> str:
        return self.target.partition("?")[0] or "/"

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]

    def header(self, name: str) -> str | None:
        """The last value of a header, matched case-insensitively."""
        wanted = name.lower()
        found = None
        for key, value in self.headers:
            if key.lower() == wanted:
                found = value
        return found


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    # Close the connection without sending this response (see lambda_proxy.DROP_CONNECTION_HEADER).
    drop_connection: bool = False

    def header(self, name: str) -> str | None:
        return HttpRequest("GET", "/", self.headers).header(name)


def json_response(status: int, payload: Any, request_id: str) -> HttpResponse:
    headers = (
        ("Content-Type", "application/json"),
        (REQUEST_ID_HEADER, request_id),
        (AMZN_REQUEST_ID_HEADER, request_id),
    )
    return HttpResponse(status, headers, json.dumps(payload, separators=(",", ":")).encode())


def error_response(status: int, error_type: str, message: str, request_id: str) -> HttpResponse:
    return json_response(status, {"error": {"type": error_type, "message": message}}, request_id)
