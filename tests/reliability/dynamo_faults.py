"""DynamoDB faults injected at the botocore level, so handlers.dynamo and botocore's retries run for real.

A `before-send` handler registered first on a client's event system answers in DynamoDB's place
for the chosen operations: an error response (throttling, internal error, a failed condition)
or a raised ReadTimeoutError. botocore's standard retry mode then behaves as it does against AWS
(3 attempts for throttling and 5xx). `lost_response` performs the write for real and then
raises the timeout, as when DynamoDB applied a write but the answer never came back.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import attrs
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ReadTimeoutError

ERROR_STATUS = {
    "ProvisionedThroughputExceededException": 400,
    "ThrottlingException": 400,
    "RequestLimitExceeded": 400,
    "ConditionalCheckFailedException": 400,
    "ValidationException": 400,
    "AccessDeniedException": 400,
    "InternalServerError": 500,
    "ServiceUnavailable": 503,
}


class _Body:
    def __init__(self, payload: bytes) -> None:
        self._payload = payload

    def stream(self, **_: Any) -> Any:
        yield self._payload

    def read(self, *_: Any) -> bytes:
        return self._payload


def error_response(request: AWSPreparedRequest, code: str) -> AWSResponse:
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": f"injected {code}"})
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "injected"}
    return AWSResponse(request.url, ERROR_STATUS[code], headers, _Body(body.encode()))  # type: ignore[arg-type]


def operation_of(request: AWSPreparedRequest) -> str:
    return str(request.headers.get("X-Amz-Target", "")).rpartition(".")[2]


def params_of(request: AWSPreparedRequest) -> dict[str, Any]:
    body = request.body
    params: dict[str, Any] = json.loads(body) if isinstance(body, str | bytes) and body else {}
    return params


def sort_key_of(request: AWSPreparedRequest) -> str:
    """The sort key an operation addresses (PutItem's item or GetItem's key), '' if none."""
    params = params_of(request)
    keys = params.get("Item") or params.get("Key") or {}
    return str(keys.get("sk", {}).get("S", ""))


Matcher = Callable[[str, str], bool]  # (operation, sort key) -> inject here?


def on(operation: str, sort_key_prefix: str = "") -> Matcher:
    return lambda op, sk: op == operation and sk.startswith(sort_key_prefix)


@attrs.define
class Rule:
    matches: Matcher
    fault: str  # an error code of ERROR_STATUS, "timeout" or "lost_response"
    times: int  # how many matching calls fail; -1 for all of them


@attrs.define
class DynamoFaults:
    """Install with `install(client)`; add rules with `fail(...)`; `calls` counts what reached DynamoDB."""

    rules: list[Rule] = attrs.field(factory=list)
    injected: Counter[str] = attrs.field(factory=Counter)
    calls: Counter[str] = attrs.field(factory=Counter)
    _apply: Callable[[str, dict[str, Any]], None] | None = None

    def install(self, client: Any, apply: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        """`apply(operation, params)` performs a call for real (for lost responses), e.g. on another client."""
        self._apply = apply
        client.meta.events.register_first("before-send.dynamodb", self._before_send)

    def fail(self, matches: Matcher, fault: str, times: int = -1) -> DynamoFaults:
        self.rules.append(Rule(matches, fault, times))
        return self

    def _before_send(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        operation, sort_key = operation_of(request), sort_key_of(request)
        self.calls[operation] += 1
        for rule in self.rules:
            if rule.times == 0 or not rule.matches(operation, sort_key):
                continue
            rule.times -= 1 if rule.times > 0 else 0
            self.injected[f"{operation}:{rule.fault}"] += 1
            if rule.fault == "timeout":
                raise ReadTimeoutError(endpoint_url=request.url)
            if rule.fault == "lost_response":
                assert self._apply is not None, "install(client, apply=...) to lose responses"
                self._apply(operation, params_of(request))
                raise ReadTimeoutError(endpoint_url=request.url)
            return error_response(request, rule.fault)
        return None
