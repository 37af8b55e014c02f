"""The handlers behind a WSGI server, served the way API Gateway serves them to Lambda.

Each request becomes the same REST v1 proxy event API Gateway would send (proxy_gateway), goes
through the same REQUEST authorizer with its result cache (AUTHORIZER_CACHE_SECONDS), and is
dispatched to the entry point handlers/contract/routes.py names. `/health` is that table's health route:
Route 53's regional check sees what it sees on Lambda. The ALB's target health check asks
spec.LIVENESS_PATH instead, answered here without the API or any I/O (a task that serves is alive,
whatever DynamoDB does). Every
answer the API makes itself is the deployed stage's gateway response (handlers/contract/gateway_errors.py),
so a client sees one error vocabulary whichever compute option serves it.

Not here: WAF's 16 KiB body rule. Deployed, the web ACL in front of the ALB answers it, before the
task; the handlers enforce the same limit with the same words anyway. The task refuses only bodies
over API Gateway's 10 MB, unread, as that gateway would (its REQUEST_TOO_LARGE response). A
result's local drop-connection marker (proxy_gateway.lambda_proxy) is stripped and the result
answered: only the local stack's own server acts on it, for the bank simulator.

The local stack's `--compute container` serves this module's API wrapped in its per-region extras,
reachable from loopback only (WsgiApplication's `local`): the simulated outage, WAF's body rule,
the live view's stats, the readable access log and the resolver loop. Its factory is its own
(local_gateway.container_local.create_app): this module, like the image, holds no local_gateway.
"""

from __future__ import annotations

import http
import ipaddress
import os
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

from container import spec
from handlers.contract import routes
from proxy_gateway.gateway_responses import gateway_response
from proxy_gateway.messages import HttpRequest, HttpResponse, json_response
from proxy_gateway.rest_api import RestApi

# API Gateway's payload limit.
MAX_BODY_BYTES = 10 * 1024 * 1024
_READ_CHUNK = 64 * 1024
App = Callable[[HttpRequest], HttpResponse]
StartResponse = Callable[[str, list[tuple[str, str]]], Any]
LOCAL_PREFIX = "/_local/"  # the local stack's paths, served by its `local` app only


class RequestTooLargeError(Exception):
    pass


class WsgiApplication:
    """The WSGI callable around the region's API and, locally, the local stack's extras around it."""

    def __init__(self, api: App, local: App | None = None) -> None:
        self.api = api
        self.local = local

    def __call__(self, environ: Mapping[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            request = to_request(environ)
        except RequestTooLargeError:
            response = gateway_response("REQUEST_TOO_LARGE", str(uuid.uuid4()))
        else:
            response = live(request) if is_liveness_probe(request) else self._app_for(request, environ)(request)
        start_response(_status_line(response.status), [*response.headers, ("Content-Length", str(len(response.body)))])
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [response.body]

    def _app_for(self, request: HttpRequest, environ: Mapping[str, Any]) -> App:
        """The local paths (outage switch, stats) answer only the loopback peer (the local stack);
        from any other, such as the ALB, they are unknown routes."""
        if self.local is None:
            return self.api
        if request.path.startswith(LOCAL_PREFIX) and not _is_loopback(str(environ.get("REMOTE_ADDR") or "")):
            return self.api
        return self.local


def is_liveness_probe(request: HttpRequest) -> bool:
    return request.method in ("GET", "HEAD") and request.path == spec.LIVENESS_PATH


def live(request: HttpRequest) -> HttpResponse:
    """The target group's probe: 200 from this process, nothing read, nothing called."""
    return json_response(200, {"status": "live"}, str(uuid.uuid4()))


def create_app(env: Mapping[str, str] = os.environ) -> WsgiApplication:
    """The image's application (container/app.py): the region's API, and nothing of the local stack."""
    return WsgiApplication(create_api(env))


def create_api(env: Mapping[str, str] = os.environ) -> RestApi:
    """The region's API, its handlers imported and their settings checked now: a task that cannot
    serve fails at startup (ECS replaces it), not with a 500 on its first payment."""
    from handlers.entrypoints.wiring import settings  # noqa: PLC0415 - reads the environment; configures the JSON logs

    config = settings()
    config.require_bank_url()
    config.require_fingerprint_key()
    config.require_api_key_mode()  # the authorizer runs in this process
    config.require_cursor_key()  # and the lists
    api = RestApi(
        region=config.region,
        routes=routes.ROUTES,
        authorizer=routes.AUTHORIZER,
        authorizer_cache_seconds=float(env.get("AUTHORIZER_CACHE_SECONDS", routes.AUTHORIZER_CACHE_SECONDS)),
    )
    api.preload()
    return api


def to_request(environ: Mapping[str, Any]) -> HttpRequest:
    headers = tuple(_headers(environ))
    return HttpRequest(
        method=str(environ["REQUEST_METHOD"]),
        target=_target(environ),
        headers=headers,
        body=_body(environ),
        source_ip=_source_ip(environ, headers),
    )


def _target(environ: Mapping[str, Any]) -> str:
    """The request line's target as sent (percent-encoding intact), as API Gateway receives it."""
    raw = str(environ.get("RAW_URI") or "")
    if raw.startswith("/"):
        return raw
    query = str(environ.get("QUERY_STRING") or "")
    path = quote(str(environ.get("PATH_INFO") or "/"), safe="/%:@!$&'()*+,;=-._~")
    return f"{path}?{query}" if query else path


def _headers(environ: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            yield key[5:].replace("_", "-").title(), str(value)
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            yield key.replace("_", "-").title(), str(value)


def _body(environ: Mapping[str, Any]) -> bytes:
    stream = environ["wsgi.input"]
    length = str(environ.get("CONTENT_LENGTH") or "")
    if length.isdigit():
        if int(length) > MAX_BODY_BYTES:
            raise RequestTooLargeError
        return bytes(stream.read(int(length)))
    body = bytearray()  # chunked: the server has undone the framing
    while chunk := stream.read(_READ_CHUNK):
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise RequestTooLargeError
    return bytes(body)


def _source_ip(environ: Mapping[str, Any], headers: tuple[tuple[str, str], ...]) -> str:
    """The client, as `identity.sourceIp` names it: behind the ALB, the address it appended last to
    X-Forwarded-For (the task's own peer is the load balancer)."""
    forwarded = HttpRequest("GET", "/", headers).header("X-Forwarded-For")
    if forwarded and forwarded.rsplit(",", 1)[-1].strip():
        return forwarded.rsplit(",", 1)[-1].strip()
    return str(environ.get("REMOTE_ADDR") or "")


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _status_line(status: int) -> str:
    try:
        return f"{status} {http.HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"
