"""A simulated regional outage, for the local stack only: while it is on, every request (including
`/health`) gets 503, and the control path `/_local/outage` (POST on, DELETE off, GET status)
switches it. The deployed gateways have no such path; the container's server has it only as the
local stack runs it (local_gateway.container_local's app, and from loopback only).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable

from proxy_gateway.messages import HttpRequest, HttpResponse, error_response, json_response

log = logging.getLogger(__name__)

OUTAGE_CONTROL_PATH = "/_local/outage"


class SimulatedOutage:
    def __init__(self, region: str, app: Callable[[HttpRequest, str], HttpResponse]) -> None:
        self.region = region
        self.event = threading.Event()
        self._app = app

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = str(uuid.uuid4())
        if request.path == OUTAGE_CONTROL_PATH:
            return self.control(request.method, request_id)
        if self.event.is_set():
            message = f"{self.region} is unavailable (simulated outage)"
            return error_response(503, "service_unavailable", message, request_id)
        return self._app(request, request_id)

    def control(self, method: str, request_id: str) -> HttpResponse:
        if method == "POST":
            self.event.set()
            log.warning("simulated outage ON")  # the local stack labels the line with the region
        elif method == "DELETE":
            self.event.clear()
            log.warning("simulated outage OFF")
        elif method != "GET":
            return error_response(404, "not_found", f"No route for {method} {OUTAGE_CONTROL_PATH}", request_id)
        return json_response(200, {"region": self.region, "outage": self.event.is_set()}, request_id)
