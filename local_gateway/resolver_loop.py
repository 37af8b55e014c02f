"""The scheduled resolver and webhook sender functions, each run on a timer inside a local region's process.

A leaf: a Lambda region runs it in its child (child.py), a container region in its server's
worker (container_local.py), as each compute option's region would run it beside its API.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("local_gateway")


def run_resolver(is_down: Callable[[], bool], interval: float, stop: threading.Event) -> None:
    """Every `interval` seconds until `stop`. A simulated outage stops it, as a region that is down
    runs nothing: its heartbeat goes stale and the other region takes over."""
    from handlers.entrypoints.resolver_job import resolve_pending  # noqa: PLC0415 - what it uses is preloaded already

    _every(interval, stop, is_down, lambda: resolve_pending(None, None), "the resolver run failed")


def run_sender(is_down: Callable[[], bool], interval: float, stop: threading.Event) -> None:
    """The webhook sender (handlers.entrypoints.webhook_job), every `interval` seconds until `stop`;
    paused by a simulated outage like the resolver (the other region takes its events over)."""
    from handlers.entrypoints.webhook_job import deliver  # noqa: PLC0415 - as the resolver's

    _every(interval, stop, is_down, lambda: deliver(None, None), "the webhook sender run failed")


def _every(
    interval: float, stop: threading.Event, is_down: Callable[[], bool], job: Callable[[], object], failure: str
) -> None:
    """`job` every `interval` seconds until `stop`, skipped while the region is down; a failed run is
    logged and the next one comes anyway, as the deployed schedule's would."""
    while not stop.wait(interval):
        if is_down():
            continue
        try:
            job()
        except Exception:
            log.exception(failure)
