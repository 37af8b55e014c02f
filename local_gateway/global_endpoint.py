"""The global endpoint: what Route 53 latency records with health checks do for the deployed API.

- Health checks: GET /health on each region every HEALTH_CHECK_INTERVAL seconds, on a fresh
  connection, with a PROBE_TIMEOUT; a 2xx/3xx answer is a pass (Route 53's rule). THRESHOLD
  results in a row that contradict a region's state flip it (failing -> unhealthy, passing ->
  healthy again), so a failed region stops receiving traffic within ~2 s (~4 s if its probes
  hang until the timeout); the requirement is 10 s.
- Routing: each request goes to the first healthy region in preference order (eu-west-1, the
  "nearest", then us-east-1). If none is healthy, Route 53 answers as if all were: requests go
  to the first region, which fails them itself.
- Forwarding: a keep-alive connection pool per region. There are no retries and no per-request
  failover, because DNS does neither: during the switch clients see the failing region's
  errors, as they would in AWS, and retry with their Idempotency-Key, which is what makes a
  retry safe. A request is sent again (once, to the same region) only when it provably never
  left: writing it to a pooled connection the region had closed failed. A request that was sent
  is never sent again, as the bank client does (handlers/adapters/bank.py): a reset or an EOF after it
  cannot be told from a region that took the payment and died.
- Failures, answered as AWS would and in the API's error shape: a region that cannot be connected
  to (nothing was sent, so nothing was processed) is a 503 with Retry-After; a region that took
  the request and dropped the connection is API Gateway's 502 for a function that failed, and one
  that did not answer within FORWARD_TIMEOUT its 504 integration timeout. Both say the outcome is
  unknown: retry with the same Idempotency-Key.
- Local only: `/_local/regions...` (health view, outage switches) and the live view (live_view.py),
  which also counts and times every forwarded request per region.
"""

from __future__ import annotations

import http.client
import logging
import select
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from local_gateway.live_view import LiveView
from local_gateway.probes import HEALTH_CHECK_USER_AGENT
from local_gateway.topology import RegionEndpoint
from proxy_gateway.gateway_responses import gateway_response
from proxy_gateway.messages import HttpRequest, HttpResponse, error_response, json_response
from proxy_gateway.outage import OUTAGE_CONTROL_PATH

log = logging.getLogger(__name__)

HEALTH_CHECK_INTERVAL = 1.0
PROBE_TIMEOUT = 1.0
THRESHOLD = 2
# API Gateway's integration timeout; the regions enforce nothing shorter.
FORWARD_TIMEOUT = 29.0
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "content-length"}
)
# The proxy's own HTTP server writes these again; forwarding them would send each twice.
_NOT_FORWARDED = _HOP_BY_HOP | {"server", "date"}

Clock = Callable[[], float]
Probe = Callable[[], bool]


class HealthTracker:
    """Route 53's view of each region, and the routing choice it implies."""

    def __init__(self, regions: Sequence[str], *, threshold: int = THRESHOLD) -> None:
        self._order = list(regions)
        self._threshold = threshold
        self._healthy = dict.fromkeys(self._order, True)  # new health checks start healthy, as in Route 53
        self._streak = dict.fromkeys(self._order, 0)
        self._lock = threading.Lock()

    def record(self, region: str, passed: bool) -> None:
        with self._lock:
            if passed == self._healthy[region]:
                self._streak[region] = 0
                return
            self._streak[region] += 1
            if self._streak[region] >= self._threshold:
                self._healthy[region] = passed
                self._streak[region] = 0
                log.warning("%s is now %s", region, "healthy" if passed else "UNHEALTHY")

    def is_healthy(self, region: str) -> bool:
        with self._lock:
            return self._healthy[region]

    def choose(self) -> str:
        with self._lock:
            return next((region for region in self._order if self._healthy[region]), self._order[0])


class HealthChecker:
    """Probes one region on a schedule and reports each result to the tracker."""

    def __init__(
        self,
        region: str,
        probe: Probe,
        tracker: HealthTracker,
        *,
        interval: float = HEALTH_CHECK_INTERVAL,
        clock: Clock = time.monotonic,
    ) -> None:
        self.region = region
        self._probe = probe
        self._tracker = tracker
        self._interval = interval
        self._clock = clock
        self._next_due = clock()

    def poll(self) -> float:
        """Probe if a check is due; return the seconds until the next one."""
        started = self._clock()
        if started >= self._next_due:
            self._tracker.record(self.region, self._probe())
            self._next_due = started + self._interval
        return max(0.0, self._next_due - self._clock())

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.poll()):
            pass


def http_probe(endpoint: RegionEndpoint, timeout: float = PROBE_TIMEOUT) -> bool:
    connection = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=timeout)
    try:
        connection.request("GET", "/health", headers={"User-Agent": HEALTH_CHECK_USER_AGENT})
        response = connection.getresponse()
        response.read()
        return 200 <= response.status < 400
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


class RequestNotSent(Exception):
    """The complete request never left this process: the region cannot have acted on it."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class NoAnswer(Exception):
    """The request was sent and no answer came back: the region may have acted on it."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class ConnectionPool:
    """Keep-alive connections to one region, each used by one request at a time."""

    def __init__(self, endpoint: RegionEndpoint, *, timeout: float = FORWARD_TIMEOUT, max_idle: int = 64) -> None:
        self._endpoint = endpoint
        self._timeout = timeout
        self._max_idle = max_idle
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def send(self, request: HttpRequest) -> HttpResponse:
        """The region's answer; RequestNotSent if it provably never got the request, NoAnswer if it may have."""
        connection, reused = self._acquire()
        try:
            return self._exchange(connection, request)
        except RequestNotSent as failure:
            # A pooled connection the region closed while idle, the close racing our write: the write
            # failed, so the whole request never left, and it is safe to send on a new connection, once.
            if not reused or failure.timed_out:
                raise
        log.debug("%s closed an idle pooled connection; sending again", self._endpoint.region)
        return self._exchange(self._connect(), request)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _acquire(self) -> tuple[http.client.HTTPConnection, bool]:
        while True:
            with self._lock:
                pooled = self._idle.pop() if self._idle else None
            if pooled is None:
                return self._connect(), False
            if not _dropped(pooled):
                return pooled, True
            pooled.close()

    def _connect(self) -> http.client.HTTPConnection:
        """A new connection; RequestNotSent if the region cannot be connected to (nothing was sent)."""
        connection = http.client.HTTPConnection(self._endpoint.host, self._endpoint.port, timeout=self._timeout)
        try:
            connection.connect()
        except TimeoutError:
            raise RequestNotSent("no connection within the timeout", timed_out=True) from None
        except OSError as error:
            raise RequestNotSent(f"cannot connect ({type(error).__name__})") from None
        return connection

    def _release(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self._max_idle:
                self._idle.append(connection)
                return
        connection.close()

    def _exchange(self, connection: http.client.HTTPConnection, request: HttpRequest) -> HttpResponse:
        headers = {name: value for name, value in request.headers if name.lower() not in _HOP_BY_HOP}
        try:
            # One write: http.client joins headers and a bytes body. If it raises, not all of it left.
            connection.request(request.method, request.target, body=request.body or None, headers=headers)
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            timed_out = isinstance(error, TimeoutError)
            message = f"the request could not be written ({type(error).__name__})"
            raise RequestNotSent(message, timed_out=timed_out) from None
        try:
            response = connection.getresponse()
            body = response.read()
        except TimeoutError:
            connection.close()
            raise NoAnswer(f"no answer within {self._timeout:g} s", timed_out=True) from None
        except (OSError, http.client.HTTPException) as error:  # a reset, an EOF, a truncated answer
            connection.close()
            raise NoAnswer(f"the connection was lost after the request was sent ({type(error).__name__})") from None
        except BaseException:
            connection.close()
            raise
        if response.will_close:
            connection.close()
        else:
            self._release(connection)
        kept = tuple((name, value) for name, value in response.getheaders() if name.lower() not in _NOT_FORWARDED)
        return HttpResponse(response.status, kept, body)


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """An idle keep-alive connection the region has closed (readable: an EOF, or bytes nobody asked for)."""
    if connection.sock is None:
        return True
    readable, _, _ = select.select([connection.sock], [], [], 0)
    return bool(readable)


def not_sent_response(region: str) -> HttpResponse:
    """The region could not be reached: the request never left, so nothing was processed. Locally only:
    in AWS, DNS would still point at the region and the client's own connection would fail."""
    request_id = str(uuid.uuid4())
    message = f"{region} could not be reached: the request was not sent, so nothing was processed. Retry shortly."
    response = error_response(503, "service_unavailable", message, request_id)
    return HttpResponse(response.status, (*response.headers, ("Retry-After", "1")), response.body)


def lost_answer_response(failure: NoAnswer) -> HttpResponse:
    """The region took the request and did not answer: API Gateway's answer to a function that failed
    (502) or ran out of time (504), with the deployed gateway response's body and Retry-After."""
    response_type = "INTEGRATION_TIMEOUT" if failure.timed_out else "DEFAULT_5XX"
    return gateway_response(response_type, str(uuid.uuid4()))


class GlobalEndpoint:
    """The app behind the global port: Route 53's routing plus the local-only control routes."""

    def __init__(
        self,
        regions: Sequence[RegionEndpoint],
        tracker: HealthTracker,
        *,
        access_log: bool = False,
        forward_timeout: float = FORWARD_TIMEOUT,
    ) -> None:
        self._regions = list(regions)
        self._tracker = tracker
        self._pools = {endpoint.region: ConnectionPool(endpoint, timeout=forward_timeout) for endpoint in regions}
        self._access_log = access_log
        self.live_view = LiveView(self._regions, self.status)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/_local/"):
            return self._control(request)
        started = time.perf_counter()
        region = self._tracker.choose()
        response = self._forward(region, request)
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.live_view.record(region, response.status, elapsed_ms)
        if self._access_log:
            log.info("%s %s -> %s %d %.1f ms", request.method, request.path, region, response.status, elapsed_ms)
        return response

    def status(self) -> dict[str, Any]:
        regions = [
            {"key": r.key, "region": r.region, "url": r.url, "healthy": self._tracker.is_healthy(r.region)}
            for r in self._regions
        ]
        return {"serving": self._tracker.choose(), "regions": regions}

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()

    def _forward(self, region: str, request: HttpRequest) -> HttpResponse:
        try:
            return self._pools[region].send(request)
        except RequestNotSent as failure:
            log.warning("%s could not be reached for %s %s: %s", region, request.method, request.path, failure)
            return not_sent_response(region)
        except NoAnswer as failure:
            log.warning("%s did not answer %s %s: %s; outcome unknown", region, request.method, request.path, failure)
            return lost_answer_response(failure)

    def _control(self, request: HttpRequest) -> HttpResponse:
        """GET /_local/regions; POST|DELETE|GET /_local/regions/{key}/outage (forwarded to the region);
        the live view's page, files and stats (live_view.py)."""
        page = self.live_view(request)
        if page is not None:
            return page
        parts = request.path.strip("/").split("/")
        if parts == ["_local", "regions"] and request.method == "GET":
            return json_response(200, self.status(), str(uuid.uuid4()))
        endpoint = next((r for r in self._regions if parts == ["_local", "regions", r.key, "outage"]), None)
        if endpoint is not None and request.method in ("POST", "DELETE", "GET"):
            return self._forward(endpoint.region, HttpRequest(request.method, OUTAGE_CONTROL_PATH))
        message = f"No route for {request.method} {request.path}"
        return error_response(404, "not_found", message, str(uuid.uuid4()))
