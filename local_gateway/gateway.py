"""One regional API: WAF's body-size rule and API Gateway REST (routes, authorizer step and cache,
gateway responses) in front of the Lambdas.

`Gateway` is the request -> response function; `http_server` puts it on a socket. It is
proxy_gateway's RestApi behind WAF's body-size rule (waf.py), plus the region's simulated outage
(proxy_gateway.outage): while it is on, every request (including `/health`) gets 503, and the
control path `/_local/outage` (POST on, DELETE off, GET status) exists only locally.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from handlers.contract.limits import MAX_BODY_BYTES
from handlers.contract.routes import Function, Route
from local_gateway.waf import waf_body_rule
from proxy_gateway.authorization import Clock
from proxy_gateway.messages import HttpRequest, HttpResponse
from proxy_gateway.outage import OUTAGE_CONTROL_PATH, SimulatedOutage
from proxy_gateway.rest_api import RestApi

__all__ = ["OUTAGE_CONTROL_PATH", "Gateway"]


class Gateway(RestApi):
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
        super().__init__(
            region=region,
            routes=routes,
            authorizer=authorizer,
            authorizer_cache_seconds=authorizer_cache_seconds,
            clock=clock,
        )
        self._simulated = SimulatedOutage(region, waf_body_rule(self.handle, waf_body_limit))

    @property
    def outage(self) -> threading.Event:
        return self._simulated.event

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self._simulated(request)
