"""WAF's body-size rule, emulated in front of a region's API (either compute option).

Deployed, the web ACL on API Gateway's stage (or on the ALB) refuses a body over the handlers'
MAX_BODY_BYTES before the request reaches the API, with its custom response: 413, no request id.
The handlers enforce the same limit themselves, with the same words, so nothing depends on it.
"""

from __future__ import annotations

from collections.abc import Callable

from handlers.contract.gateway_errors import WAF_BODY_TOO_LARGE
from proxy_gateway.gateway_responses import waf_response
from proxy_gateway.messages import HttpRequest, HttpResponse

RequestApp = Callable[[HttpRequest, str], HttpResponse]  # (request, request id) -> response


def waf_body_rule(app: RequestApp, limit: int | None) -> RequestApp:
    """`app` behind the rule; a limit of None is no WAF (a Lambda function URL: the bank)."""
    if limit is None:
        return app

    def guarded(request: HttpRequest, request_id: str) -> HttpResponse:
        if len(request.body) > limit:
            return waf_response(WAF_BODY_TOO_LARGE)  # before any route or the authorizer
        return app(request, request_id)

    return guarded
