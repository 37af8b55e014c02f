"""WAF's body-size rule, emulated in front of a region's API (either compute option).

Deployed, the web ACL on API Gateway's stage refuses a body over the handlers' MAX_BODY_BYTES before
the request reaches the API, with its custom response: 413, no request id; on an ALB (Fargate) WAF
inspects 8 KB, so the limit there is 8 KB (components.edge.body_limit), as `--compute container`
applies it locally. The handlers enforce their own limit themselves, with the same words.
"""

from __future__ import annotations

from collections.abc import Callable

from handlers.contract.gateway_errors import waf_body_too_large
from proxy_gateway.gateway_responses import waf_response
from proxy_gateway.messages import HttpRequest, HttpResponse

RequestApp = Callable[[HttpRequest, str], HttpResponse]  # (request, request id) -> response


def waf_body_rule(app: RequestApp, limit: int | None) -> RequestApp:
    """`app` behind the rule; a limit of None is no WAF (a Lambda function URL: the bank)."""
    if limit is None:
        return app
    too_large = waf_body_too_large(limit)

    def guarded(request: HttpRequest, request_id: str) -> HttpResponse:
        if len(request.body) > limit:
            return waf_response(too_large)  # before any route or the authorizer
        return app(request, request_id)

    return guarded
