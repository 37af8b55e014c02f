"""API Gateway REST API (v1) Lambda proxy integration: request -> event, handler result -> response.

The events carry the same keys as the deployed API Gateway sends, including its quirks: empty
query strings, path parameters and headers are `None`, repeated keys appear in the multiValue
forms (the single-value forms keep the last one), and a body that is not UTF-8 arrives
base64-encoded with `isBase64Encoded: true`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl, unquote

from handlers.contract.routes import Function
from proxy_gateway.messages import AMZN_REQUEST_ID_HEADER, REQUEST_ID_HEADER, HttpRequest, HttpResponse
from proxy_gateway.routing import RouteMatch

STAGE = "local"
API_ID = "local"
ACCOUNT_ID = "000000000000"
# Lambda's function timeout as the deployed functions use it; only reported, never enforced here.
FUNCTION_TIMEOUT_SECONDS = 10
FUNCTION_MEMORY_MB = 256
# Headers the gateway owns on the wire; a handler's values for them are dropped, as API Gateway does.
_GATEWAY_OWNED_HEADERS = frozenset({"content-length", "connection", "transfer-encoding", "keep-alive"})
_RESULT_KEYS = frozenset({"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"})
# Local only: a handler result with this header set to "true" makes the local server close the
# connection without answering, a failure no proxy result can express (the bank simulator's
# dropped-connection card). The header itself never reaches a client; API Gateway or a Function
# URL would pass it on with the result's status (the simulator sets 502).
DROP_CONNECTION_HEADER = "X-Local-Drop-Connection"


class MalformedResultError(ValueError):
    """API Gateway's 'Malformed Lambda proxy response' (a 502 to the client)."""


def method_arn(region: str, method: str, path: str) -> str:
    return f"arn:aws:execute-api:{region}:{ACCOUNT_ID}:{API_ID}/{STAGE}/{method}/{path.lstrip('/')}"


def build_proxy_event(
    request: HttpRequest,
    match: RouteMatch,
    *,
    request_id: str,
    authorizer: Mapping[str, Any] | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    event = _common_fields(request, match, request_id, now)
    if authorizer is not None:
        event["requestContext"]["authorizer"] = dict(authorizer)
    event["body"], event["isBase64Encoded"] = _encode_body(request.body)
    return event


def build_authorizer_event(
    request: HttpRequest, match: RouteMatch, *, region: str, request_id: str, now: float | None = None
) -> dict[str, Any]:
    """The REQUEST authorizer event: the proxy event's request fields plus type and methodArn."""
    event = _common_fields(request, match, request_id, now)
    return {"type": "REQUEST", "methodArn": method_arn(region, request.method, request.path), **event}


def _common_fields(request: HttpRequest, match: RouteMatch, request_id: str, now: float | None) -> dict[str, Any]:
    single_headers, multi_headers = _single_and_multi(request.headers)
    single_query, multi_query = _single_and_multi(tuple(parse_qsl(request.query, keep_blank_values=True)))
    return {
        "resource": match.route.path,
        "path": _decoded_path(request.path),
        "httpMethod": request.method,
        "headers": single_headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": single_query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": match.path_parameters or None,
        "stageVariables": None,
        "requestContext": _request_context(request, match, request_id, time.time() if now is None else now),
    }


def _request_context(request: HttpRequest, match: RouteMatch, request_id: str, now: float) -> dict[str, Any]:
    domain = request.header("Host") or "127.0.0.1"
    return {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "stage": STAGE,
        "protocol": "HTTP/1.1",
        "requestId": request_id,
        "extendedRequestId": request_id,
        "requestTime": formatdate(now, usegmt=True),
        "requestTimeEpoch": int(now * 1000),
        # API Gateway's resource ids are opaque and stable per resource path.
        "resourceId": hashlib.sha256(match.route.path.encode()).hexdigest()[:6],
        "resourcePath": match.route.path,
        "httpMethod": request.method,
        "path": _decoded_path(request.path),
        "domainName": domain,
        "domainPrefix": domain.split(".", 1)[0],
        "identity": _identity(request),
    }


def _identity(request: HttpRequest) -> dict[str, Any]:
    unknown = ("cognitoIdentityPoolId", "accountId", "cognitoIdentityId", "caller", "apiKey", "apiKeyId")
    more_unknown = ("accessKey", "cognitoAuthenticationType", "cognitoAuthenticationProvider", "userArn", "user")
    identity: dict[str, Any] = dict.fromkeys(unknown + more_unknown)
    identity.update(sourceIp=request.source_ip, principalOrgId=None, userAgent=request.header("User-Agent"))
    return identity


def _single_and_multi(
    pairs: tuple[tuple[str, str], ...],
) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    if not pairs:
        return None, None
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        multi.setdefault(key, []).append(value)
    return {key: values[-1] for key, values in multi.items()}, multi


def _decoded_path(path: str) -> str:
    return unquote(path)


def _encode_body(body: bytes) -> tuple[str | None, bool]:
    if not body:
        return None, False
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), True


@dataclass
class LambdaContext:
    """The attributes of the Lambda runtime's context object that handlers commonly read."""

    function_name: str
    region: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = FUNCTION_MEMORY_MB
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/[{self.function_version}]{self.region}"

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self.started
        return max(0, int((FUNCTION_TIMEOUT_SECONDS - elapsed) * 1000))

    @classmethod
    def for_function(cls, function: Function, region: str) -> LambdaContext:
        return cls(function_name=function.name, region=region)


def result_to_response(result: object, request_id: str) -> HttpResponse:
    """Turn a proxy result into the HTTP response, or raise MalformedResultError as API Gateway would."""
    if not isinstance(result, dict) or not set(result) <= _RESULT_KEYS:
        raise MalformedResultError(f"a proxy result is a dict with keys among {sorted(_RESULT_KEYS)}")
    status = result.get("statusCode")
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise MalformedResultError(f"statusCode must be an HTTP status code, got {status!r}")
    pairs = _result_headers(result.get("headers"), result.get("multiValueHeaders"))
    drop = any(key.lower() == DROP_CONNECTION_HEADER.lower() and value == "true" for key, value in pairs)
    pairs = [(key, value) for key, value in pairs if key.lower() != DROP_CONNECTION_HEADER.lower()]
    body = _result_body(result.get("body"), result.get("isBase64Encoded"))
    return HttpResponse(status, _with_gateway_headers(pairs, request_id), body, drop_connection=drop)


def _result_headers(single: object, multi: object) -> list[tuple[str, str]]:
    if not isinstance(single, dict | None) or not isinstance(multi, dict | None):
        raise MalformedResultError("headers and multiValueHeaders must be objects")
    pairs = [(str(key), _header_value(value)) for key, value in (single or {}).items()]
    for key, values in (multi or {}).items():
        if not isinstance(values, list):
            raise MalformedResultError(f"multiValueHeaders[{key!r}] must be a list")
        pairs.extend((str(key), _header_value(value)) for value in values)
    return [(key, value) for key, value in pairs if key.lower() not in _GATEWAY_OWNED_HEADERS]


def _header_value(value: object) -> str:
    if isinstance(value, dict | list):
        raise MalformedResultError("header values must be scalars")
    return "true" if value is True else "false" if value is False else str(value)


def _with_gateway_headers(headers: list[tuple[str, str]], request_id: str) -> tuple[tuple[str, str], ...]:
    present = {key.lower() for key, _ in headers}
    if "content-type" not in present:
        headers.append(("Content-Type", "application/json"))
    if REQUEST_ID_HEADER.lower() not in present:
        headers.append((REQUEST_ID_HEADER, request_id))
    headers.append((AMZN_REQUEST_ID_HEADER, request_id))
    return tuple(headers)


def _result_body(body: object, is_base64: object) -> bytes:
    if body is None:
        return b""
    if not isinstance(body, str):
        raise MalformedResultError("body must be a string")
    if not is_base64:
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except binascii.Error as error:
        raise MalformedResultError("isBase64Encoded is true but the body is not base64") from error
