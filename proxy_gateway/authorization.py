"""The Lambda REQUEST authorizer step, emulating API Gateway REST APIs.

- No (or an empty) Authorization header: UNAUTHORIZED without calling the authorizer.
- The authorizer's result is cached per Authorization header value for the TTL, both an IAM
  policy and an `Exception("Unauthorized")` (UNAUTHORIZED). The cached policy is evaluated against
  each request's method ARN, so a policy that names only one resource is denied on others, as in AWS.
- An explicit Deny or no matching Allow: ACCESS_DENIED, with the policy's context (the deployed
  template shows the Deny's `error_message`). An authorizer that fails otherwise or returns
  something malformed: AUTHORIZER_FAILURE, not cached.

Each is answered as the deployed gateway response for that type (proxy_gateway.gateway_responses;
tests/infra checks the two agree).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from proxy_gateway.lambda_proxy import build_authorizer_event, method_arn
from proxy_gateway.messages import HttpRequest
from proxy_gateway.routing import RouteMatch

log = logging.getLogger(__name__)

Clock = Callable[[], float]
AuthorizerCall = Callable[[dict[str, Any]], object]
_MAX_CACHE_ENTRIES = 10_000


@dataclass(frozen=True)
class Allow:
    principal_id: str
    context: dict[str, str]

    def event_authorizer(self) -> dict[str, str]:
        """`requestContext.authorizer` of the proxy event; REST APIs pass context values as strings."""
        return {"principalId": self.principal_id, **self.context}


@dataclass(frozen=True)
class Reject:
    """A refusal: the gateway response type API Gateway answers with, and the authorizer's context."""

    response_type: str
    context: dict[str, str] = field(default_factory=dict)


UNAUTHORIZED = Reject("UNAUTHORIZED")
ACCESS_DENIED = Reject("ACCESS_DENIED")
AUTHORIZER_FAILED = Reject("AUTHORIZER_FAILURE")


class MalformedPolicyError(ValueError):
    pass


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]

    def applies_to(self, arn: str) -> bool:
        action_matches = any(_wildcard(action.lower()).fullmatch("execute-api:invoke") for action in self.actions)
        return action_matches and any(_wildcard(resource).fullmatch(arn) for resource in self.resources)


@dataclass(frozen=True)
class Policy:
    """A successful authorizer result: who the caller is and which method ARNs they may invoke."""

    principal_id: str
    statements: tuple[Statement, ...]
    context: dict[str, str]

    def decide(self, arn: str) -> Allow | Reject:
        matching = [statement for statement in self.statements if statement.applies_to(arn)]
        denied = Reject(ACCESS_DENIED.response_type, self.context)  # the template may show the context
        if any(statement.effect == "Deny" for statement in matching):
            return denied
        if any(statement.effect == "Allow" for statement in matching):
            return Allow(self.principal_id, self.context)
        return denied

    @classmethod
    def parse(cls, result: object) -> Policy:
        if not isinstance(result, dict):
            raise MalformedPolicyError("the authorizer must return an object")
        principal_id = result.get("principalId")
        document = result.get("policyDocument")
        if not isinstance(principal_id, str) or not isinstance(document, dict):
            raise MalformedPolicyError("the result needs a string principalId and a policyDocument")
        statements = document.get("Statement")
        if not isinstance(statements, list) or not statements:
            raise MalformedPolicyError("policyDocument.Statement must be a non-empty list")
        parsed = tuple(_statement(statement) for statement in statements)
        return cls(principal_id, parsed, _context(result.get("context")))


def _statement(raw: object) -> Statement:
    if not isinstance(raw, dict) or raw.get("Effect") not in ("Allow", "Deny"):
        raise MalformedPolicyError("each statement needs Effect Allow or Deny")
    return Statement(raw["Effect"], _strings(raw.get("Action")), _strings(raw.get("Resource")))


def _strings(value: object) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(item, str) for item in values):
        raise MalformedPolicyError("Action and Resource must be strings or lists of strings")
    return tuple(values)


def _context(raw: object) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise MalformedPolicyError("context must be an object")
    context: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(value, str | int | float | bool):
            raise MalformedPolicyError("context values must be strings, numbers or booleans")
        context[str(key)] = str(value).lower() if isinstance(value, bool) else str(value)
    return context


@lru_cache(maxsize=256)
def _wildcard(pattern: str) -> re.Pattern[str]:
    """IAM resource matching: `*` is any run of characters, `?` any one character."""
    return re.compile(".*".join(".".join(map(re.escape, part.split("?"))) for part in pattern.split("*")))


class AuthorizerCache:
    """Results per Authorization header value, each for `ttl` seconds."""

    def __init__(self, ttl: float, clock: Clock = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[str, tuple[float, Policy | Reject]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Policy | Reject | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] <= self._clock():
                return None
            return entry[1]

    def put(self, key: str, result: Policy | Reject) -> None:
        if self._ttl <= 0:
            return
        with self._lock:
            now = self._clock()
            if len(self._entries) >= _MAX_CACHE_ENTRIES:
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
            self._entries[key] = (now + self._ttl, result)


class RequestAuthorizer:
    def __init__(self, call: AuthorizerCall, *, region: str, cache: AuthorizerCache) -> None:
        self._call = call
        self._region = region
        self._cache = cache

    def authorize(self, request: HttpRequest, match: RouteMatch, request_id: str) -> Allow | Reject:
        token = request.header("Authorization")
        if not token:
            return UNAUTHORIZED
        result = self._cache.get(token)
        if result is None:
            result = self._evaluate(request, match, request_id)
            if result is not AUTHORIZER_FAILED:
                self._cache.put(token, result)
        if isinstance(result, Reject):
            return result
        return result.decide(method_arn(self._region, request.method, request.path))

    def _evaluate(self, request: HttpRequest, match: RouteMatch, request_id: str) -> Policy | Reject:
        event = build_authorizer_event(request, match, region=self._region, request_id=request_id)
        try:
            return Policy.parse(self._call(event))
        except Exception as error:
            if str(error) == "Unauthorized":
                return UNAUTHORIZED
            log.exception("authorizer failed (request %s)", request_id)
            return AUTHORIZER_FAILED
