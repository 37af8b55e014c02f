"""The live view on the global endpoint: a page at `/_local/`, its files, and `/_local/stats`.

`/_local/stats` joins, per region, the global endpoint's own view (health, whether it serves, the
requests it routed there by status and their latency as the client sees it) with the region's
`/_local/stats` (local_gateway/live_stats.py: its requests, the handlers' EMF metrics, the
resolver's pending count). The page (static/live.html) polls it every second.
"""

from __future__ import annotations

import http.client
import json
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from local_gateway.live_stats import STATS_PATH, RollingStats
from local_gateway.topology import RegionEndpoint
from proxy_gateway.messages import REQUEST_ID_HEADER, HttpRequest, HttpResponse, error_response, json_response

log = logging.getLogger(__name__)

PAGE_PATH = "/_local/"
STATIC_PREFIX = "/_local/static/"
STATIC_DIR = Path(__file__).resolve().parent / "static"
STATS_TIMEOUT = 1.0
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}

RegionFetch = Callable[[RegionEndpoint], "dict[str, Any] | None"]


def static_files(root: Path = STATIC_DIR) -> dict[str, Path]:
    """URL path below STATIC_PREFIX -> file, for the types above only (no LICENSE, no README)."""
    return {
        path.relative_to(root).as_posix(): path
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.suffix in CONTENT_TYPES
    }


def fetch_region_stats(endpoint: RegionEndpoint) -> dict[str, Any] | None:
    """The region's own /_local/stats; None if it does not answer (a dead process, not an outage)."""
    connection = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=STATS_TIMEOUT)
    try:
        connection.request("GET", STATS_PATH)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            return None
        loaded: dict[str, Any] = json.loads(body)
        return loaded
    except (OSError, http.client.HTTPException, ValueError) as error:
        log.debug("%s: no stats: %r", endpoint.region, error)
        return None
    finally:
        connection.close()


class LiveView:
    """Answers the live view's paths; `routed` holds, per region, what the global endpoint sent there."""

    def __init__(
        self,
        regions: Sequence[RegionEndpoint],
        status: Callable[[], Mapping[str, Any]],
        *,
        fetch: RegionFetch = fetch_region_stats,
        files: Mapping[str, Path] | None = None,
    ) -> None:
        self._regions = list(regions)
        self._status = status
        self._fetch = fetch
        self._files = static_files() if files is None else dict(files)
        self.routed = {endpoint.region: RollingStats() for endpoint in regions}

    def record(self, region: str, status: int, elapsed_ms: float) -> None:
        stats = self.routed[region]
        stats.count("requests", str(status))
        stats.observe("request", elapsed_ms)

    def __call__(self, request: HttpRequest) -> HttpResponse | None:
        """The response for a live-view path, or None for any other path."""
        if request.method not in ("GET", "HEAD"):
            return None
        if request.path == PAGE_PATH:
            return self._file("live.html")
        if request.path == STATS_PATH:
            return json_response(200, self.stats(), str(uuid.uuid4()))
        if request.path.startswith(STATIC_PREFIX):
            return self._file(request.path.removeprefix(STATIC_PREFIX))
        return None

    def stats(self) -> dict[str, Any]:
        status = self._status()
        health = {entry["region"]: entry["healthy"] for entry in status["regions"]}
        regions = []
        for endpoint in self._regions:
            own = self._fetch(endpoint)
            regions.append(
                {
                    "key": endpoint.key,
                    "region": endpoint.region,
                    "url": endpoint.url,
                    "healthy": health[endpoint.region],
                    "serving": status["serving"] == endpoint.region,
                    "outage": own["outage"] if own else None,
                    "routed": self.routed[endpoint.region].snapshot(),
                    "own": own,
                }
            )
        return {"serving": status["serving"], "regions": regions}

    def _file(self, name: str) -> HttpResponse:
        path = self._files.get(name)
        if path is None:
            return error_response(404, "not_found", f"No file {name}", str(uuid.uuid4()))
        headers = (
            ("Content-Type", CONTENT_TYPES[path.suffix]),
            ("Cache-Control", "no-cache"),
            (REQUEST_ID_HEADER, str(uuid.uuid4())),
        )
        return HttpResponse(200, headers, path.read_bytes())
