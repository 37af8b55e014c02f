"""One regional API: WAF's body-size rule and API Gateway REST (routes, authorizer step and cache,
gateway responses) in front of the Lambdas.

`Gateway` is the request -> response function; `http_server` puts it on a socket. It also holds
the region's simulated outage: while it is on, every request (including `/health`) gets 503, and
the control path `/_local/outage` (POST on, DELETE off, GET status) exists only locally.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

from handlers.gateway_errors import WAF_BODY_TOO_LARGE
from handlers.http import MAX_BODY_BYTES
from handlers.routes import Function, Route
from local_gateway.authorization import AuthorizerCache, Clock, Reject, RequestAuthorizer
from local_gateway.gateway_responses import gateway_response, waf_response
from local_gateway.invoker import LambdaInvoker
from local_gateway.lambda_proxy import MalformedResultError, build_proxy_event, result_to_response
from local_gateway.messages import HttpRequest, HttpResponse, error_response, json_response
from local_gateway.routing import RouteMatch, Router

log = logging.getLogger(__name__)

OUTAGE_CONTROL_PATH = "/_local/outage"


class Gateway:
    def __init__(
        self,
        *,
        region: str,
        routes: Sequence[Route],
        authorizer: Function | None = None,
        authorizer_cache_seconds: float = 0,
        clock: Clock = time.monotonic,
        waf_body_limit: int | None = MAX_BODY_BYTES,
    ) -> None:
        if authorizer is None and any(route.authorized for route in routes):
            raise ValueError("authorized routes need an authorizer")
        self.region = region
        self._waf_body_limit = waf_body_limit
        self.outage = threading.Event()
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
        request_id = str(uuid.uuid4())
        if request.path == OUTAGE_CONTROL_PATH:
            return self._outage_control(request.method, request_id)
        if self.outage.is_set():
            message = f"{self.region} is unavailable (simulated outage)"
            return error_response(503, "service_unavailable", message, request_id)
        if self._waf_body_limit is not None and len(request.body) > self._waf_body_limit:
            return waf_response(WAF_BODY_TOO_LARGE)  # the web ACL's body-size rule, before any route
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
        """A handler that raises or answers malformed is a 502, as API Gateway returns on a Lambda error."""
        try:
            return result_to_response(self.invoker.invoke(function, event), request_id)
        except MalformedResultError:
            log.exception("%s returned a malformed proxy result (request %s)", function.handler, request_id)
        except Exception:
            log.exception("%s raised (request %s)", function.handler, request_id)
        return gateway_response("DEFAULT_5XX", request_id)

    def _outage_control(self, method: str, request_id: str) -> HttpResponse:
        if method == "POST":
            self.outage.set()
            log.warning("simulated outage ON")  # the line is labelled with the region already
        elif method == "DELETE":
            self.outage.clear()
            log.warning("simulated outage OFF")
        elif method != "GET":
            return error_response(404, "not_found", f"No route for {method} {OUTAGE_CONTROL_PATH}", request_id)
        return json_response(200, {"region": self.region, "outage": self.outage.is_set()}, request_id)
