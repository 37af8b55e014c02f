"""What the local stack adds inside a container region's server (`--compute container`).

The region child (container_region.py) runs the image's server with APP, this module's
create_app, instead of the image's container.app: the image holds no local_gateway, and nothing in
container/ imports it. Around the container's own API (container.wsgi.create_api) it puts what a
Lambda region child has around its gateway (child.py), so both compute options look alike from
outside:

- WAF's body-size rule (waf.py), as the web ACL in front of the ALB answers it when deployed;
- the simulated outage switch (proxy_gateway.outage), which also pauses the resolver;
- the live view's numbers: requests timed, EMF lines counted, `GET /_local/stats` (live_stats.py);
- the readable access log, labelled with the region (logs.py), instead of gunicorn's JSON one;
- the resolver loop (resolver_loop.py), in the worker's process as in a Lambda region's.

The region child passes the options in LOCAL_* variables (LocalRegionOptions); gunicorn runs one
worker, which loads the app itself (server_config.py), so all of this lives in that worker.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from container.wsgi import WsgiApplication, create_api
from handlers.contract.limits import MAX_BODY_BYTES
from local_gateway.live_stats import RegionStatsApp, RollingStats, tee_stdout
from local_gateway.logs import access_line, setup_logging
from local_gateway.probes import HEALTH_CHECK_USER_AGENT, is_health_check_probe
from local_gateway.resolver_loop import run_resolver, run_sender
from local_gateway.waf import waf_body_rule
from proxy_gateway.messages import HttpRequest, HttpResponse
from proxy_gateway.outage import SimulatedOutage
from proxy_gateway.rest_api import RestApi

log = logging.getLogger(__name__)

App = Callable[[HttpRequest], HttpResponse]
# What the region's gunicorn serves, in place of the image's spec.APP: create_app, called in its worker.
APP = "local_gateway.container_local:create_app()"


@dataclass(frozen=True)
class LocalRegionOptions:
    """The region child's flags that matter inside the server, through its environment."""

    access_log: bool = False
    waf_body_limit: int | None = MAX_BODY_BYTES  # None: no WAF
    resolver_interval: float = 0  # 0: no resolver loop
    sender_interval: float = 0  # 0: no webhook sender loop

    def environment(self) -> dict[str, str]:
        return {
            "LOCAL_ACCESS_LOG": "1" if self.access_log else "0",
            "LOCAL_WAF_BODY_LIMIT": str(self.waf_body_limit or 0),
            "LOCAL_RESOLVER_INTERVAL": str(self.resolver_interval),
            "LOCAL_SENDER_INTERVAL": str(self.sender_interval),
        }

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> LocalRegionOptions:
        limit = int(env.get("LOCAL_WAF_BODY_LIMIT", MAX_BODY_BYTES))
        return cls(
            access_log=env.get("LOCAL_ACCESS_LOG") == "1",
            waf_body_limit=limit or None,
            resolver_interval=float(env.get("LOCAL_RESOLVER_INTERVAL", 0)),
            sender_interval=float(env.get("LOCAL_SENDER_INTERVAL", 0)),
        )


class ContainerRegion:
    """The container's API as a local region: WAF's body rule in front, the simulated outage around."""

    def __init__(self, api: RestApi, waf_body_limit: int | None) -> None:
        self._api = api
        self._simulated = SimulatedOutage(api.region, waf_body_rule(api.handle, waf_body_limit))

    @property
    def region(self) -> str:
        return self._api.region

    @property
    def outage(self) -> threading.Event:
        return self._simulated.event

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self._simulated(request)


class AccessLog:
    """One readable line per request, as local_gateway.http_server writes for a Lambda region."""

    def __init__(self, app: App, unlogged: Callable[[HttpRequest], bool]) -> None:
        self._app = app
        self._unlogged = unlogged

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self._app(request)
        if not self._unlogged(request):
            elapsed_ms = (time.perf_counter() - started) * 1000
            log.info("%s", access_line(request.method, request.target, response.status, elapsed_ms))
        return response


def local_app(api: RestApi, env: Mapping[str, str]) -> App:
    """The region as the local stack serves it; starts the resolver loop (call it in the worker)."""
    options = LocalRegionOptions.from_environment(env)
    setup_logging(api.region)
    region = ContainerRegion(api, options.waf_body_limit)
    stats = RollingStats()
    tee_stdout(stats)  # the handlers' EMF lines, on this process's stdout, also feed stats
    if options.resolver_interval > 0:
        threading.Thread(
            target=run_resolver,
            args=(region.outage.is_set, options.resolver_interval, threading.Event()),
            name="resolver",
            daemon=True,  # stops with the worker, as the region's Lambda child stops its own
        ).start()
    if options.sender_interval > 0:
        threading.Thread(
            target=run_sender,
            args=(region.outage.is_set, options.sender_interval, threading.Event()),
            name="webhook-sender",
            daemon=True,
        ).start()
    app: App = RegionStatsApp(region, stats, untimed_user_agents=[HEALTH_CHECK_USER_AGENT])
    return AccessLog(app, is_health_check_probe) if options.access_log else app


def create_app(env: Mapping[str, str] = os.environ) -> WsgiApplication:
    """The image's API (its handlers and settings checked as the image checks them) with the local
    extras around it, for the loopback peer only (WsgiApplication's `local`)."""
    api = create_api(env)
    return WsgiApplication(api, local_app(api, env))
