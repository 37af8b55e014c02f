"""A lean DynamoDB client: the JSON protocol, SigV4 and botocore's standard retries, without botocore's
per-call pipeline.

Why: a botocore client spends ~0.7 ms of CPU per DynamoDB call here (its event system, endpoint rules,
model-driven serializer and parser, signing through `email.message` headers) and ~90 ms at a cold
start loading the DynamoDB model and endpoint rules; a keyed payment makes three calls
(docs/performance.md, issue 19). Our requests are already DynamoDB JSON (attribute_values.py), so a
call is `json.dumps`, a signature and a POST.

What is kept from botocore, so behaviour matches a botocore client with the same Config:
- credentials: the botocore session's provider chain (environment, container, profiles, SSO...),
  resolved at the first call and refreshed by botocore;
- the HTTP layer: `URLLib3Session`, the connection pool botocore's endpoint builds, with the same
  timeouts, TCP keep-alive and no-delay, proxies from the environment and the CA bundle make_client
  resolves as botocore does (`verify`: the session's ca_bundle, then REQUESTS_CA_BUNDLE); the same
  botocore exceptions on connect and read failures;
- the `before-send` event, on a per-client copy of the session's event emitter (`client.meta.events`),
  emitted as botocore's endpoint does (every handler called, the first answer used, an exception a
  failed attempt): moto's in-process mock and the tests' fault injection answer there;
- the standard retry mode: the same retryable codes, statuses (429 included) and exceptions, DynamoDB's
  CRC32 check, the same backoff (scale 1 s after throttling, 25 ms otherwise, x 2^(attempt - 1), at most
  20 s, raised by `x-amz-retry-after`) and retry quota. One deliberate difference: when the last attempt's
  body still fails its CRC32, botocore's standard mode parses it anyway; this client raises botocore's
  `ChecksumError` (StorageUnavailable for the adapters), as its legacy mode did: a corrupted answer is
  not read as an item, and every write path already treats an unknown outcome as one to reconcile;
- errors: `ClientError` with the same `Error.Code`/`Message` and the modeled members (`Item`,
  `CancellationReasons`) at the top level of its response.

What is not: client-side parameter validation (off in make_client already), endpoint rules (the
endpoint is `https://dynamodb.{region}.amazonaws.com`, or `.com.cn` in China; `endpoint_url` for
anything else: AWS_ENDPOINT_URL(_DYNAMODB), FIPS and dual-stack settings are not read), botocore's other
events, and the `MaxAttemptsReached`/`RetryQuotaReached` flags of ResponseMetadata.
tests/integration/test_dynamo_http.py compares it with a botocore client call by call, signature included.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import random
import socket
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from typing import Any, cast
from urllib.parse import urlsplit

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config
from botocore.exceptions import (
    ChecksumError,
    ClientError,
    HTTPClientError,
    InvalidConfigError,
    NoCredentialsError,
)
from botocore.exceptions import ConnectionError as BotocoreConnectionError
from botocore.hooks import first_non_none_response
from botocore.httpsession import URLLib3Session
from botocore.utils import get_environ_proxies

SERVICE = "dynamodb"
TARGET_PREFIX = "DynamoDB_20120810."
CONTENT_TYPE = "application/x-amz-json-1.0"
ALGORITHM = "AWS4-HMAC-SHA256"
SIGNED_HEADERS_SESSION = "content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
SIGNED_HEADERS = "content-type;host;x-amz-date;x-amz-target"

# botocore.retries.standard: ThrottledRetryableChecker, TransientRetryableChecker and the DynamoDB
# model's retryable errors (test_dynamo_http checks these against botocore's own lists).
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
TRANSIENT_CODES = frozenset({"RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete"})
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})
# standard.ThrottlingStatusCodeChecker: a 429 is throttling unless its code is one the operation models.
THROTTLING_STATUSES = frozenset({429})
_COMMON_ERRORS = (
    "InternalServerError",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "ResourceNotFoundException",
    "ThrottlingException",
)
_WRITE_ERRORS = (
    "ConditionalCheckFailedException",
    "ItemCollectionSizeLimitExceededException",
    "ReplicatedWriteConflictException",
    "TransactionConflictException",
)
MODELED_ERRORS = {
    "GetItem": frozenset(_COMMON_ERRORS),
    "Query": frozenset(_COMMON_ERRORS),
    "Scan": frozenset(_COMMON_ERRORS),
    "PutItem": frozenset((*_COMMON_ERRORS, *_WRITE_ERRORS)),
    "UpdateItem": frozenset((*_COMMON_ERRORS, *_WRITE_ERRORS)),
    "DeleteItem": frozenset((*_COMMON_ERRORS, *_WRITE_ERRORS)),
    "TransactWriteItems": frozenset(
        (
            *_COMMON_ERRORS,
            "IdempotentParameterMismatchException",
            "TransactionCanceledException",
            "TransactionInProgressException",
        )
    ),
}
# Errors the DynamoDB model marks retryable (not as throttling), by the operations that list them.
MODELED_RETRYABLE = {
    operation: frozenset({"ReplicatedWriteConflictException"})
    for operation in ("BatchWriteItem", "DeleteItem", "PutItem", "UpdateItem")
}
# standard.ExponentialBackoff: rand(0, 1) x min(scale x 2^(attempt - 1), 20 s), scale 1 s after
# throttling and 25 ms otherwise for DynamoDB; an x-amz-retry-after (ms) raises it, by at most 5 s.
MAX_BACKOFF_SECONDS = 20.0
THROTTLING_BASE_SECONDS, OTHER_BASE_SECONDS = 1.0, 0.025
RETRY_AFTER_HEADER, RETRY_AFTER_MAX_EXTRA_SECONDS = "x-amz-retry-after", 5.0
# quota.RetryQuota and standard.RetryQuotaChecker: a client's budget for retries.
QUOTA_INITIAL, QUOTA_RETRY_COST, QUOTA_THROTTLING_COST, QUOTA_SUCCESS_REFUND = 500, 14, 5, 1


_sleep = time.sleep  # the backoff's wait; tests read the delays instead
_UNRESOLVED: Any = object()

# As botocore's endpoint with Config(tcp_keepalive=True).
SOCKET_OPTIONS: Any = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1), (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]


class DynamoHttpClient:
    """The DynamoDB operations the adapters call, with a botocore client's keyword arguments and
    answers. Thread-safe: one client serves a container's concurrent requests."""

    def __init__(
        self,
        region: str,
        endpoint_url: str | None,
        *,
        credentials: Callable[[], Any],
        events: Any,
        config: Config,
        verify: bool | str = True,
    ) -> None:
        """`config`: botocore's Config, read as a botocore client reads its timeouts, pool size and
        standard-mode attempts (`client.meta.config`); settings this client has no use for are refused.
        `verify`: TLS verification, True or a CA bundle's path (make_client passes tls_verification's)."""
        options: Any = config  # botocore's stubs type its options as None
        retries = options.retries or {}
        if retries.get("mode") != "standard" or "total_max_attempts" not in retries or len(retries) != 2:
            raise ValueError("retries must be {'mode': 'standard', 'total_max_attempts': N}")
        if options.parameter_validation is not False or options.tcp_keepalive is not True:
            raise ValueError("parameter_validation=False and tcp_keepalive=True: this client validates nothing")
        self._attempts = int(retries["total_max_attempts"])
        if self._attempts < 1:
            raise ValueError("total_max_attempts counts the first try: at least 1")
        self._url = (endpoint_url or default_endpoint(region)).rstrip("/") + "/"
        self._host = canonical_host(self._url)
        self._region = region
        self._resolve_credentials = credentials
        self._credentials: Any = _UNRESOLVED
        self._signing = SigningKeys()
        self._quota = RetryQuota()
        http_session: Any = URLLib3Session  # its stubs say timeout is an int; botocore passes (connect, read)
        self._http = http_session(
            verify=verify,
            proxies=get_environ_proxies(self._url),
            timeout=(options.connect_timeout, options.read_timeout),
            max_pool_connections=options.max_pool_connections,
            socket_options=SOCKET_OPTIONS,
        )
        self.meta = ClientMeta(events=events, region_name=region, endpoint_url=self._url.rstrip("/"), config=config)

    # The operations the adapters use; each takes and returns what botocore's would.
    def get_item(self, **params: Any) -> dict[str, Any]:
        return self.call("GetItem", params)

    def put_item(self, **params: Any) -> dict[str, Any]:
        return self.call("PutItem", params)

    def update_item(self, **params: Any) -> dict[str, Any]:
        return self.call("UpdateItem", params)

    def delete_item(self, **params: Any) -> dict[str, Any]:
        return self.call("DeleteItem", params)

    def query(self, **params: Any) -> dict[str, Any]:
        return self.call("Query", params)

    def scan(self, **params: Any) -> dict[str, Any]:
        return self.call("Scan", params)

    def transact_write_items(self, **params: Any) -> dict[str, Any]:
        return self.call("TransactWriteItems", params)

    def call(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """One operation, retried as botocore's standard mode retries it."""
        body = _REQUEST_JSON.encode(params).encode()
        attempt, acquired = 1, 0
        while True:
            outcome = self._attempt(operation, body)
            if isinstance(outcome, dict):
                self._quota.release(acquired or QUOTA_SUCCESS_REFUND)
                outcome["ResponseMetadata"]["RetryAttempts"] = attempt - 1
                return outcome
            throttled = _throttled(operation, outcome)
            acquired = QUOTA_THROTTLING_COST if throttled else QUOTA_RETRY_COST
            retryable = _retryable(operation, outcome, throttled=throttled)
            if attempt >= self._attempts or not retryable or not self._quota.acquire(acquired):
                if isinstance(outcome, ClientError):
                    outcome.response["ResponseMetadata"]["RetryAttempts"] = attempt - 1
                raise outcome.error if isinstance(outcome, SendFailure) else outcome
            _sleep(_backoff(outcome, attempt, throttled))
            attempt += 1

    def _attempt(self, operation: str, body: bytes) -> dict[str, Any] | ClientError | ChecksumError | SendFailure:
        request = self._signed(operation, body)
        try:
            # As botocore's endpoint: every before-send handler is called, the first answer is used, and
            # whatever a handler or the send raises is a failed attempt, retried only for the wire's
            # failures (connections, read timeouts, closed connections).
            answers = self.meta.events.emit(f"before-send.{SERVICE}.{operation}", request=request)
            answered = first_non_none_response(answers)
            response: AWSResponse = answered if answered is not None else self._http.send(request)
        except Exception as error:
            return SendFailure(error)
        try:
            return _parsed(operation, response)
        except (ClientError, ChecksumError) as error:
            return error

    def _signed(self, operation: str, body: bytes) -> AWSPreparedRequest:
        credentials = self._frozen_credentials()
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        target = TARGET_PREFIX + operation
        headers = {"Content-Type": CONTENT_TYPE, "X-Amz-Target": target, "X-Amz-Date": amz_date}
        if credentials.token:
            headers["X-Amz-Security-Token"] = credentials.token
        headers["Authorization"] = authorization(
            credentials,
            self._signing,
            region=self._region,
            host=self._host,
            target=target,
            body=body,
            amz_date=amz_date,
        )
        headers["Content-Length"] = str(len(body))
        # A plain dict: urllib3 and moto take any mapping; botocore's HTTPHeaders costs ~10 us a header.
        return AWSPreparedRequest("POST", self._url, cast(Any, headers), body, stream_output=False)

    def _frozen_credentials(self) -> Any:
        if self._credentials is _UNRESOLVED:
            # Resolved once, at the first call, not at init: a SnapStart snapshot must hold none. As a
            # botocore client, none found is NoCredentialsError on every call, without asking again.
            self._credentials = self._resolve_credentials()
        if self._credentials is None:
            raise NoCredentialsError()
        return self._credentials.get_frozen_credentials()


class SendFailure:
    """An attempt that got no answer: the exception of the send (or of a before-send handler)."""

    def __init__(self, error: Exception) -> None:
        self.error = error


class ClientMeta:
    """What tests and the benchmarks reach through `client.meta`, as on a botocore client."""

    def __init__(self, *, events: Any, region_name: str, endpoint_url: str, config: Config) -> None:
        self.events = events
        self.region_name = region_name
        self.endpoint_url = endpoint_url
        self.config = config


class SigningKeys:
    """SigV4's derived key per (secret, day, region): four HMACs saved on every call after the first."""

    def __init__(self) -> None:
        self._cached: tuple[tuple[str, str, str], bytes] | None = None

    def key(self, secret: str, day: str, region: str) -> bytes:
        cached = self._cached
        if cached is not None and cached[0] == (secret, day, region):
            return cached[1]
        key = _hmac(("AWS4" + secret).encode(), day)
        for part in (region, SERVICE, "aws4_request"):
            key = _hmac(key, part)
        self._cached = ((secret, day, region), key)
        return key


def authorization(
    credentials: Any, keys: SigningKeys, *, region: str, host: str, target: str, body: bytes, amz_date: str
) -> str:
    """The Authorization header of AWS Signature Version 4 for the client's POST to `/`: its signed
    headers are known, so the canonical request is written in their sorted order directly."""
    token = credentials.token
    token_line = f"x-amz-security-token:{' '.join(token.split())}\n" if token else ""
    names = SIGNED_HEADERS_SESSION if token else SIGNED_HEADERS
    payload = hashlib.sha256(body).hexdigest()
    canonical = (
        f"POST\n/\n\ncontent-type:{CONTENT_TYPE}\nhost:{host}\nx-amz-date:{amz_date}\n{token_line}"
        f"x-amz-target:{target}\n\n{names}\n{payload}"
    )
    day = amz_date[:8]
    scope = f"{day}/{region}/{SERVICE}/aws4_request"
    to_sign = f"{ALGORITHM}\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signature = hmac.new(keys.key(credentials.secret_key, day, region), to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{ALGORITHM} Credential={credentials.access_key}/{scope}, SignedHeaders={names}, Signature={signature}"


class RetryQuota:
    """botocore's standard retry quota: retries spend from a budget that successes refill."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._available = QUOTA_INITIAL

    def acquire(self, cost: int) -> bool:
        with self._lock:
            if cost > self._available:
                return False
            self._available -= cost
            return True

    def release(self, refund: int) -> None:
        """After a success: the last retry's cost back, or a small increment if it was not retried."""
        with self._lock:
            self._available = min(QUOTA_INITIAL, self._available + refund)


def default_endpoint(region: str) -> str:
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://{SERVICE}.{region}.{suffix}"


def canonical_host(url: str) -> str:
    """The Host header urllib3 sends, as SigV4 signs it: the port only when it is not the scheme's."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    default_port = 443 if parts.scheme == "https" else 80
    return host if parts.port in (None, default_port) else f"{host}:{parts.port}"


def _parsed(operation: str, response: AWSResponse) -> dict[str, Any]:
    content = response.content or b""
    # Lower-cased once: each lookup in botocore's case-insensitive HeadersDict builds a key object.
    headers = {name.lower(): value for name, value in response.headers.items()}
    expected = headers.get("x-amz-crc32")
    if expected is not None and not _crc32_matches(expected, content):
        raise ChecksumError(checksum_type="crc32", expected_checksum=expected, actual_checksum=crc32_header(content))
    status = response.status_code
    body = _loads(content)
    metadata: dict[str, Any] = {"HTTPStatusCode": status, "HTTPHeaders": headers}
    generic = _generic_error(status, content)
    request_id = headers.get("x-amzn-requestid")
    if request_id is not None and not generic:  # as botocore: none on a generic error
        metadata["RequestId"] = request_id
    if status < 300:
        answer = body if isinstance(body, dict) else {}
        answer["ResponseMetadata"] = metadata
        return answer
    error = _error_response(status, body, content, metadata, generic=generic)
    raise ClientError(error, operation)  # type: ignore[arg-type]


def _crc32_matches(expected: str, content: bytes) -> bool:
    try:
        return int(expected) == zlib.crc32(content) & 0xFFFFFFFF
    except ValueError:  # not a number: not DynamoDB's checksum of this body
        return False


def _error_response(
    status: int, body: object, content: bytes, metadata: dict[str, Any], *, generic: bool
) -> dict[str, Any]:
    """As botocore's JSON parser: a 5xx with an empty or HTML body is the status and its phrase; else
    the code is `__type` cut at `:` and after `#` (the status without one), the message `message` or
    `Message` (a body that is not JSON is the message), and the modeled members (`Item`,
    `CancellationReasons`) are at the top level."""
    if generic:  # _generic_error's answer
        error = {"Code": str(status), "Message": http.client.responses.get(status, "")}
        return {"Error": error, "ResponseMetadata": metadata}
    if body is None and content:
        body = {"message": content.decode(errors="replace")}
    fields = body if isinstance(body, dict) else {}
    code = str(fields["__type"] or "") if "__type" in fields else str(status)
    code = code.split(":", 1)[0].rpartition("#")[2]
    message = fields.get("message", fields.get("Message", ""))
    response: dict[str, Any] = {k: v for k, v in fields.items() if k not in ("__type", "message", "Message")}
    response["Error"] = {"Code": code, "Message": message}
    response["ResponseMetadata"] = metadata
    return response


def _generic_error(status: int, content: bytes) -> bool:
    """botocore's test for an error that is not the protocol's (a proxy's or a load balancer's page)."""
    stripped = content.strip()
    return status >= 500 and (not stripped or stripped.startswith(b"<html>"))


def _loads(content: bytes) -> object:
    if not content:
        return {}
    try:
        if b'"B"' in content or b'"BS"' in content:  # binary attribute values come base64-encoded
            return json.loads(content, object_hook=_binaries)
        return json.loads(content)
    except ValueError:
        return None


def _binaries(value: dict[str, Any]) -> dict[str, Any]:
    """An attribute value {"B": "<base64>"} or {"BS": [...]} as bytes, as botocore parses it. A map
    attribute named B holds an attribute value (a dict), never a string, so it is left alone."""
    if len(value) == 1:
        if isinstance(value.get("B"), str):
            return {"B": base64.b64decode(value["B"])}
        binaries = value.get("BS")
        if isinstance(binaries, list) and all(isinstance(b, str) for b in binaries):
            return {"BS": [base64.b64decode(b) for b in binaries]}
    return value


def _blob(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# One encoder for every request (json.dumps would build one a call). No cycle check: the adapters build
# these requests as trees (~10 us of a payment's three calls).
_REQUEST_JSON = json.JSONEncoder(separators=(",", ":"), default=_blob, check_circular=False)


def _code(error: object) -> str:
    return str(error.response["Error"]["Code"]) if isinstance(error, ClientError) else ""


def _throttled(operation: str, outcome: object) -> bool:
    if not isinstance(outcome, ClientError):
        return False
    code = _code(outcome)
    status = outcome.response["ResponseMetadata"]["HTTPStatusCode"]
    return code in THROTTLING_CODES or (status in THROTTLING_STATUSES and code not in MODELED_ERRORS.get(operation, ()))


def _retryable(operation: str, outcome: object, *, throttled: bool) -> bool:
    if isinstance(outcome, SendFailure):  # botocore retries only the wire's failures, not a hook's errors
        return isinstance(outcome.error, BotocoreConnectionError | HTTPClientError)
    if not isinstance(outcome, ClientError):  # an answer whose body failed its CRC32
        return True
    code, status = _code(outcome), outcome.response["ResponseMetadata"]["HTTPStatusCode"]
    return (
        throttled
        or code in TRANSIENT_CODES
        or status in TRANSIENT_STATUSES
        or code in MODELED_RETRYABLE.get(operation, ())
    )


def _backoff(error: object, attempt: int, throttled: bool) -> float:
    base = THROTTLING_BASE_SECONDS if throttled else OTHER_BASE_SECONDS
    jitter = random.random()  # noqa: S311 - backoff jitter, as botocore's
    delay = jitter * min(base * 2.0 ** (attempt - 1), MAX_BACKOFF_SECONDS)
    retry_after = _retry_after(error)
    return delay if retry_after is None else max(delay, min(retry_after, delay + RETRY_AFTER_MAX_EXTRA_SECONDS))


def _retry_after(error: object) -> float | None:
    if not isinstance(error, ClientError):
        return None
    text: str | None = error.response["ResponseMetadata"]["HTTPHeaders"].get(RETRY_AFTER_HEADER)
    try:
        seconds = int(text) / 1000.0 if text is not None else None
    except (ValueError, OverflowError):
        return None
    return seconds if seconds is None or seconds >= 0 else None


def tls_verification(ca_bundle: str | None) -> bool | str:
    """As botocore's endpoint: the session's `ca_bundle` (AWS_CA_BUNDLE or the profile), else
    REQUESTS_CA_BUNDLE, else the default verification; a blank one is refused."""
    value = ca_bundle if ca_bundle is not None else os.environ.get("REQUESTS_CA_BUNDLE")
    if value is None:
        return True
    if not value.strip():
        raise InvalidConfigError(error_msg="The CA bundle (ca_bundle, AWS_CA_BUNDLE or REQUESTS_CA_BUNDLE) is blank.")
    return value


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def crc32_header(content: bytes) -> str:
    """DynamoDB's `x-amz-crc32` for a body: for fakes that answer as DynamoDB does."""
    return str(zlib.crc32(content) & 0xFFFFFFFF)
