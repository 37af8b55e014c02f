"""One regional REST API: routes, the authorizer step and its cache, in front of the functions.

`RestApi` is the request -> response function; a server (local_gateway.http_server, or gunicorn
through container.app) puts it on a socket. Every answer it makes itself (unknown route, a refused
or failed authorizer, a function that raises or answers malformed) is the deployed stage's gateway
response for that type (gateway_responses), so both compute options answer alike.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

from handlers.contract.routes import Function, Route
from proxy_gateway.authorization import AuthorizerCache, Clock, Reject, RequestAuthorizer
from proxy_gateway.gateway_responses import gateway_response
from proxy_gateway.invoker import LambdaInvoker
from proxy_gateway.lambda_proxy import MalformedResultError, build_proxy_event, result_to_response
from proxy_gateway.messages import HttpRequest, HttpResponse
from proxy_gateway.routing import RouteMatch, Router

log = logging.getLogger(__name__)


class RestApi:
    def __init__(
        self,
        *,
        region: str,
        routes: Sequence[Route],
        authorizer: Function | None = None,
        authorizer_cache_seconds: float = 0,
        clock: Clock = time.monotonic,
    ) -> None:
        if authorizer is None and any(route.authorized for route in routes):
            raise ValueError("authorized routes need an authorizer")
        self.region = region
        self.invoker = LambdaInvoker(region)
        self._router = Router(routes)
        self._functions = [route.function for route in routes] + ([authorizer] if authorizer else [])
        self._authorizer = self._request_authorizer(authorizer, authorizer_cache_seconds, clock)

    def _request_authorizer(self, function: Function | None, ttl: float, clock: Clock) -> RequestAuthorizer | None:
        if function is None:
            return None

        def call(event: dict[str, Any]) -> object:
            return self.invoker.invoke(function, event)

        return RequestAuthorizer(call, region=self.region, cache=AuthorizerCache(ttl, clock))

    def preload(self) -> None:
        self.invoker.preload(self._functions)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.handle(request, str(uuid.uuid4()))

    def handle(self, request: HttpRequest, request_id: str) -> HttpResponse:
        match = self._router.match(request.method, request.path)
        if match is None:
            return gateway_response("MISSING_AUTHENTICATION_TOKEN", request_id)
        return self._dispatch(request, match, request_id)

    def _dispatch(self, request: HttpRequest, match: RouteMatch, request_id: str) -> HttpResponse:
        authorizer_context = None
        if match.route.authorized and self._authorizer is not None:
            decision = self._authorizer.authorize(request, match, request_id)
            if isinstance(decision, Reject):
                return gateway_response(decision.response_type, request_id, authorizer=decision.context)
            authorizer_context = decision.event_authorizer()
        event = build_proxy_event(request, match, request_id=request_id, authorizer=authorizer_context)
        return self._invoke(match.route.function, event, request_id)

    def _invoke(self, function: Function, event: dict[str, Any], request_id: str) -> HttpResponse:
        """A function that raises or answers malformed is a 502, as API Gateway returns on a Lambda error."""
        try:
            return result_to_response(self.invoker.invoke(function, event), request_id)
        except MalformedResultError:
            log.exception("%s returned a malformed proxy result (request %s)", function.handler, request_id)
        except Exception:
            log.exception("%s raised (request %s)", function.handler, request_id)
        return gateway_response("DEFAULT_5XX", request_id)
