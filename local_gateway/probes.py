"""The global endpoint's health probes, as every region server tells them from traffic.

A leaf: the global endpoint sends them, and both compute options' region servers (child.py,
container_local.py, container_region.py) leave them out of their access log and live-view numbers.
"""

from __future__ import annotations

from proxy_gateway.messages import HttpRequest

HEALTH_CHECK_USER_AGENT = "Amazon-Route53-Health-Check-Service (local_gateway)"


def is_health_check_probe(request: HttpRequest) -> bool:
    """The global endpoint's probes, two a second: a user's own GET /health is logged."""
    return request.header("User-Agent") == HEALTH_CHECK_USER_AGENT
