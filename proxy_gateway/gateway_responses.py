"""API Gateway's and WAF's own answers, rendered from the deployed templates (handlers.contract.gateway_errors).

API Gateway picks a response type (its default status and message are below), applies the gateway
response configured for that type or else its DEFAULT_4XX / DEFAULT_5XX family, and substitutes
the `$context` variables of the template, without escaping them. This does the same, with the same
table, so a local answer is byte for byte the deployed one (apart from the request id).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from handlers.contract.gateway_errors import BY_RESPONSE_TYPE, PLATFORM_MESSAGE, WafError
from proxy_gateway.messages import AMZN_REQUEST_ID_HEADER, REQUEST_ID_HEADER, HttpResponse

# Response type -> API Gateway's status and `$context.error.message` when no gateway response is set.
# DEFAULT_5XX stands for a Lambda integration that raised or answered malformed (502).
PLATFORM_DEFAULTS: dict[str, tuple[int, str]] = {
    "UNAUTHORIZED": (401, "Unauthorized"),
    "ACCESS_DENIED": (403, "User is not authorized to access this resource with an explicit deny"),
    "AUTHORIZER_FAILURE": (500, "Internal server error"),
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long"),
    "INTEGRATION_TIMEOUT": (504, "Endpoint request timed out"),
    "DEFAULT_5XX": (502, "Internal server error"),
}
_AUTHORIZER_VARIABLE = re.compile(r"\$context\.authorizer\.([A-Za-z0-9_]+)")


def render(template: str, message: str, authorizer: Mapping[str, str]) -> str:
    """Simple variable substitution, as API Gateway does for gateway responses (no VTL)."""
    quoted = '"' + message.replace("\\", "\\\\").replace('"', '\\"') + '"'  # messageString is quoted
    body = template.replace(PLATFORM_MESSAGE, quoted)
    return _AUTHORIZER_VARIABLE.sub(lambda match: authorizer.get(match[1], ""), body)


def gateway_response(
    response_type: str, request_id: str, *, authorizer: Mapping[str, str] | None = None, status: int | None = None
) -> HttpResponse:
    """The answer of the deployed stage for this response type; `status` overrides the platform's."""
    platform_status, message = PLATFORM_DEFAULTS[response_type]
    platform_status = status or platform_status
    family = "DEFAULT_4XX" if platform_status < 500 else "DEFAULT_5XX"
    configured = BY_RESPONSE_TYPE.get(response_type) or BY_RESPONSE_TYPE[family]
    headers = (
        ("Content-Type", "application/json"),
        (REQUEST_ID_HEADER, request_id),
        (AMZN_REQUEST_ID_HEADER, request_id),
        *configured.headers().items(),
    )
    body = render(configured.template(), message, authorizer or {})
    return HttpResponse(int(configured.status_code or platform_status), headers, body.encode())


def waf_response(error: WafError) -> HttpResponse:
    """A WAF custom response: WAF answers before API Gateway, so there is no request id."""
    return HttpResponse(error.status, (("Content-Type", "application/json"),), error.body().encode())
