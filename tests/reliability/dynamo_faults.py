"""DynamoDB faults injected at the client's before-send, so handlers.adapters.dynamo and its client's
retries run for real.

A `before-send` handler registered first on a client's event system answers in DynamoDB's place
for the chosen operations: an error response (throttling, internal error, a failed condition)
or a raised ReadTimeoutError. The client's standard retry mode (handlers/adapters/dynamo_http.py,
botocore's rules) then behaves as it does against AWS (3 attempts for throttling and 5xx).
`lost_response` performs the write for real and then raises the timeout, as when DynamoDB applied a
write but the answer never came back.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import attrs
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ClientError, ReadTimeoutError

ERROR_STATUS = {
    "ProvisionedThroughputExceededException": 400,
    "ThrottlingException": 400,
    "RequestLimitExceeded": 400,
    "ConditionalCheckFailedException": 400,
    "ValidationException": 400,
    "AccessDeniedException": 400,
    "ResourceNotFoundException": 400,
    "TransactionConflictException": 400,
    "InternalServerError": 500,
    "ServiceUnavailable": 503,
    "ReplicatedWriteConflictException": 409,  # MRSC: the item is being written in another region
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
    target: str | bytes = request.headers.get("X-Amz-Target", "")
    return (target.decode() if isinstance(target, bytes) else target).rpartition(".")[2]


def params_of(request: AWSPreparedRequest) -> dict[str, Any]:
    body = request.body
    params: dict[str, Any] = json.loads(body) if isinstance(body, str | bytes) and body else {}
    return params


Matcher = Callable[[str, dict[str, Any]], bool]  # (operation, request parameters) -> inject here?


def on(operation: str, sort_key_prefix: str = "", condition: str = "") -> Matcher:
    """Calls of `operation` on items whose sort key starts with the prefix (and whose condition
    expression contains `condition`: the take-over write is the claim write 'attempt = ...')."""

    def matches(op: str, params: dict[str, Any]) -> bool:
        if op == "TransactWriteItems" and operation == "PutItem":
            # A state change written with its webhook event: the transaction's first Put is the change.
            op, params = "PutItem", params["TransactItems"][0]["Put"]
        keys = params.get("Item") or params.get("Key") or {}
        sort_key = str(keys.get("sk", {}).get("S", ""))
        return (
            op == operation
            and sort_key.startswith(sort_key_prefix)
            and condition in params.get("ConditionExpression", "")
        )

    return matches


@attrs.define
class Rule:
    matches: Matcher
    fault: str  # an error code of ERROR_STATUS, "timeout" or "lost_response"
    times: int  # how many matching calls fail; -1 for all of them


def moto_skipping_faults(original: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap moto's before-send handler: the clients (botocore's and the lean one) call every
    before-send handler and use the first answer, so without this moto would still perform a write we
    answered with an error."""

    def call(self: Any, event_name: str, request: AWSPreparedRequest, **kwargs: Any) -> Any:
        if getattr(request, "answered_by_fault", False):
            return None
        return original(self, event_name, request, **kwargs)

    return call


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
        operation, params = operation_of(request), params_of(request)
        self.calls[operation] += 1
        for rule in self.rules:
            if rule.times == 0 or not rule.matches(operation, params):
                continue
            rule.times -= 1 if rule.times > 0 else 0
            self.injected[f"{operation}:{rule.fault}"] += 1
            if rule.fault == "timeout":
                raise ReadTimeoutError(endpoint_url=request.url)
            if rule.fault == "lost_response":
                assert self._apply is not None, "install(client, apply=...) to lose responses"
                with contextlib.suppress(ClientError):  # a failed condition is lost with the answer too
                    self._apply(operation, params)
                raise ReadTimeoutError(endpoint_url=request.url)
            request.answered_by_fault = True  # type: ignore[attr-defined]  # moto must not apply it
            return error_response(request, rule.fault)
        return None
