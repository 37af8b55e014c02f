"""One regional API: API Gateway REST (routes, authorizer step and cache) in front of the Lambdas.

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

from handlers.routes import Function, Route
from local_gateway.authorization import AuthorizerCache, Clock, Reject, RequestAuthorizer
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
    ) -> None:
        if authorizer is None and any(route.authorized for route in routes):
            raise ValueError("authorized routes need an authorizer")
        self.region = region
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
        match = self._router.match(request.method, request.path)
        if match is None:
            return error_response(404, "not_found", f"No route for {request.method} {request.path}", request_id)
        return self._dispatch(request, match, request_id)

    def _dispatch(self, request: HttpRequest, match: RouteMatch, request_id: str) -> HttpResponse:
        authorizer_context = None
        if match.route.authorized and self._authorizer is not None:
            decision = self._authorizer.authorize(request, match, request_id)
            if isinstance(decision, Reject):
                return error_response(decision.status, decision.error_type, decision.message, request_id)
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
        return error_response(502, "internal_error", "Internal server error", request_id)

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
