"""The errors API Gateway and WAF make themselves (no handler runs), in the API's error shape.

`components.rest_api` deploys GATEWAY_ERRORS as gateway responses and `components.edge`
WAF_ERRORS as WAF custom responses (with its origin's body limit); `local_gateway` renders the
same templates, so the local stack answers as the deployed one. A gateway-response template is
not VTL: API Gateway only substitutes `$context` variables. So each message is fixed text, except
API Gateway's own (the DEFAULT_* families) and the authorizer's: a Deny carries its message in
its context, which ACCESS_DENIED reads.

Imports no AWS library, like the rest of `handlers.contract`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from handlers.contract.limits import MAX_BODY_BYTES
from handlers.contract.messages import (
    BODY_TOO_LARGE,
    INTERNAL_ERROR,
    MISSING_HEADER,
    NOT_JSON,
    OUTCOME_UNKNOWN,
    OUTCOME_UNKNOWN_RETRY_AFTER,
    body_too_large,
)

PLATFORM_MESSAGE = "$context.error.messageString"  # API Gateway's message, already a quoted JSON string
AUTHORIZER_MESSAGE_KEY = "error_message"  # the key of a Deny's context that ACCESS_DENIED shows
AUTHORIZER_MESSAGE = f"$context.authorizer.{AUTHORIZER_MESSAGE_KEY}"
RATE_LIMITED = "Too many requests: slow down and retry later."
TIMED_OUT = "The request timed out. " + OUTCOME_UNKNOWN


def error_body(error_type: str, message: str) -> str:
    """The handlers' error shape, compact as `handlers.wire.http.json_response` writes it."""
    return json.dumps({"error": {"type": error_type, "message": message}}, separators=(",", ":"))


@dataclass(frozen=True)
class GatewayError:
    """One gateway response type, rendered as `{"error": {"type": ..., "message": ...}}`."""

    response_type: str
    error_type: str
    status_code: str | None = None  # None keeps the platform's status (the DEFAULT_* families)
    message: str = PLATFORM_MESSAGE  # fixed text, PLATFORM_MESSAGE or AUTHORIZER_MESSAGE
    retry_after: int | None = None

    def template(self) -> str:
        """Compact, as error_body; AUTHORIZER_MESSAGE is substituted inside the quotes."""
        message = self.message if self.message == PLATFORM_MESSAGE else json.dumps(self.message)
        return '{"error":{"type":%s,"message":%s}}' % (json.dumps(self.error_type), message)  # noqa: UP031

    def headers(self) -> dict[str, str]:
        """Static headers besides X-Request-Id."""
        return {"Retry-After": str(self.retry_after)} if self.retry_after else {}


GATEWAY_ERRORS: tuple[GatewayError, ...] = (
    # No (or an empty) Authorization header: API Gateway answers without calling the authorizer.
    GatewayError("UNAUTHORIZED", "unauthorized", "401", MISSING_HEADER),
    # The authorizer denies a malformed header or an unknown or revoked key, saying which in its context.
    GatewayError("ACCESS_DENIED", "unauthorized", "401", AUTHORIZER_MESSAGE),
    GatewayError(
        "AUTHORIZER_FAILURE", "service_unavailable", "503", "The API key could not be checked; retry shortly.", 1
    ),
    # API Gateway answers an unknown route or method with 403 "Missing Authentication Token".
    GatewayError("MISSING_AUTHENTICATION_TOKEN", "not_found", "404", "No route matches the request's method and path."),
    GatewayError("REQUEST_TOO_LARGE", "payload_too_large", "413", BODY_TOO_LARGE),
    # Only non-proxy integrations make it (ours are AWS_PROXY; the handler answers 415): same words if ever.
    GatewayError("UNSUPPORTED_MEDIA_TYPE", "unsupported_media_type", "415", NOT_JSON),
    GatewayError("THROTTLED", "rate_limited", "429", RATE_LIMITED),
    GatewayError("WAF_FILTERED", "forbidden", "403", "The request was blocked."),
    # The function ran past API Gateway's 29 s, or failed (crashed, timed out, answered malformed): it
    # may have charged. Never "nothing was charged": the answer says retry with the same key.
    GatewayError("INTEGRATION_TIMEOUT", "gateway_timeout", "504", TIMED_OUT, OUTCOME_UNKNOWN_RETRY_AFTER),
    GatewayError("DEFAULT_4XX", "invalid_request"),
    GatewayError("DEFAULT_5XX", "internal_error", None, INTERNAL_ERROR, OUTCOME_UNKNOWN_RETRY_AFTER),
)
BY_RESPONSE_TYPE = {error.response_type: error for error in GATEWAY_ERRORS}


@dataclass(frozen=True)
class WafError:
    """A WAF block's custom response: WAF answers before API Gateway, so no X-Request-Id."""

    key: str  # the web ACL's custom response body key
    status: int
    error_type: str
    message: str

    def body(self) -> str:
        return error_body(self.error_type, self.message)


WAF_RATE_LIMITED = WafError("rate_limited", 429, "rate_limited", RATE_LIMITED)


def waf_body_too_large(limit: int = MAX_BODY_BYTES) -> WafError:
    """The body-size rule's answer; `limit` is lower than the API's where WAF inspects less of a body."""
    return WafError("payload_too_large", 413, "payload_too_large", body_too_large(limit))


WAF_BODY_TOO_LARGE = waf_body_too_large()
WAF_ERRORS = (WAF_RATE_LIMITED, WAF_BODY_TOO_LARGE)
