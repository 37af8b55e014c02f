"""Entry point of the stack's child processes: `python -m local_gateway.child <role> ...`.

Roles: `dynamodb` (moto's server), `lambda` (a gateway serving Lambda handlers: a region or
the bank simulator) and `container` (a region served by the container image's entry point, see
container_region.py). A child binds its port, writes one JSON line `{"port": N}` to stdout, then
points its stdout (where handlers log, as in Lambda) at --log-file, or at stderr without one, or
at /dev/null with --quiet. Its own lines (the access log, outages, tracebacks) stay on stderr.
It exits on SIGTERM/SIGINT, and when its stdin reaches EOF: the parent holds the other end, so
a parent that dies, even by SIGKILL, takes its children with it.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import threading
from collections.abc import Sequence
from typing import Any, Protocol

from handlers.contract.limits import MAX_BODY_BYTES
from handlers.contract.routes import Function, Route
from local_gateway import process_tuning
from local_gateway.gateway import Gateway
from local_gateway.http_server import LocalHTTPServer
from local_gateway.lifecycle import announce, watch_stdin
from local_gateway.live_stats import RegionStatsApp, RollingStats, tee_stdout
from local_gateway.logs import setup_logging
from local_gateway.probes import HEALTH_CHECK_USER_AGENT, is_health_check_probe
from local_gateway.resolver_loop import run_resolver, run_sender

log = logging.getLogger("local_gateway")
SHUTDOWN_POLL_SECONDS = 0.1


class Server(Protocol):
    def serve_forever(self, poll_interval: float = ...) -> None: ...
    def shutdown(self) -> None: ...
    def server_close(self) -> None: ...

    @property
    def server_port(self) -> int: ...


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local_gateway.child")
    parser.add_argument("role", choices=("dynamodb", "lambda", "container"))
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--name", default="lambda", help="label for logs")
    parser.add_argument(
        "--routes", default="handlers.contract.routes:ROUTES", help="MODULE:ATTRIBUTE, a tuple of Route"
    )
    parser.add_argument(
        "--authorizer", default="handlers.contract.routes:AUTHORIZER", help="MODULE:ATTRIBUTE or 'none'"
    )
    parser.add_argument("--authorizer-cache-seconds", type=float, default=None)
    parser.add_argument(
        "--waf-body-limit", type=int, default=MAX_BODY_BYTES, help="refuse larger bodies as WAF does (0: no WAF)"
    )
    parser.add_argument("--access-log", action="store_true", help="one line per request on stderr (not health checks)")
    parser.add_argument("--quiet", action="store_true", help="discard the handlers' stdout")
    parser.add_argument("--log-file", metavar="PATH", help="append the handlers' stdout to PATH instead of stderr")
    parser.add_argument(
        "--plain-moto", action="store_true", help="dynamodb: moto as it ships, without local_gateway.indexed_table"
    )
    parser.add_argument(
        "--resolver-interval", type=float, default=0, help="run the resolver every N s, as Lambda's schedule (0: off)"
    )
    parser.add_argument("--sender-interval", type=float, default=0, help="run the webhook sender every N s (0: off)")
    return parser.parse_args(argv)


def load_attribute(reference: str) -> Any:
    module_name, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def make_gateway(args: argparse.Namespace) -> Gateway:
    routes: tuple[Route, ...] = load_attribute(args.routes)
    authorizer: Function | None = None if args.authorizer == "none" else load_attribute(args.authorizer)
    cache_seconds = args.authorizer_cache_seconds
    if cache_seconds is None:
        cache_seconds = load_attribute("handlers.contract.routes:AUTHORIZER_CACHE_SECONDS")
    region = os.environ.get("AWS_REGION", "eu-west-1")
    gateway = Gateway(
        region=region,
        routes=routes,
        authorizer=authorizer,
        authorizer_cache_seconds=cache_seconds,
        waf_body_limit=args.waf_body_limit or None,
    )
    gateway.preload()
    return gateway


def make_server(args: argparse.Namespace, stats: RollingStats) -> tuple[Server, Gateway | None]:
    if args.role == "dynamodb":
        from local_gateway import moto_speedups, moto_transactions  # noqa: PLC0415 - moto is slow to import
        from local_gateway.moto_server import make_dynamodb_server  # noqa: PLC0415

        moto_speedups.install()  # the same answers, less CPU per call
        moto_transactions.install()  # a transaction costs its items, not a copy of the table
        if not args.plain_moto:
            from local_gateway.indexed_table import install  # noqa: PLC0415

            install()  # every Query reads its own partition, not the whole table
        dynamodb = make_dynamodb_server(args.port)
        moto_speedups.tune_collector()  # last: what is built by now is never collected
        return dynamodb, None
    gateway = make_gateway(args)
    app = RegionStatsApp(gateway, stats, untimed_user_agents=[HEALTH_CHECK_USER_AGENT])
    server = LocalHTTPServer(args.port, app, name=args.name, access_log=args.access_log, unlogged=is_health_check_probe)
    return server, gateway


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.name)
    process_tuning.install()  # the same HTTP and botocore behaviour for less CPU
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if args.role == "container":
        from local_gateway.container_region import serve as serve_container  # noqa: PLC0415 - only this role needs it

        return serve_container(args, stop)
    stats = RollingStats()  # the live view's numbers: GET /_local/stats on this child's port
    try:
        server, gateway = make_server(args, stats)
    except Exception:
        log.exception("failed to start")
        return 1
    serve = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS}, daemon=True)
    serve.start()
    announce(server.server_port, args.quiet, args.log_file)
    tee_stdout(stats)  # after announce: the handlers' EMF lines also feed stats
    if gateway is not None and args.resolver_interval > 0:
        resolver = threading.Thread(
            target=run_resolver,
            args=(gateway.outage.is_set, args.resolver_interval, stop),
            name="resolver",
            daemon=True,
        )
        resolver.start()
    if gateway is not None and args.sender_interval > 0:
        sender = threading.Thread(
            target=run_sender,
            args=(gateway.outage.is_set, args.sender_interval, stop),
            name="webhook-sender",
            daemon=True,
        )
        sender.start()
    threading.Thread(target=watch_stdin, args=(stop,), name="parent-watchdog", daemon=True).start()
    while not stop.wait(SHUTDOWN_POLL_SECONDS):
        pass
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
