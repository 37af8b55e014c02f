"""`python -m local_gateway`'s command line: its options, parsed and checked (local_gateway.runner uses them)."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from handlers.contract.routes import AUTHORIZER_CACHE_SECONDS
from handlers.contract.schema import DEFAULT_TABLE_NAME
from handlers.domain.auth import KeyMode, key_mode
from local_gateway.supervisor import REPO_ROOT
from local_gateway.topology import BANK_PORT_OFFSET

# lambda: the Lambda gateway (local_gateway.gateway); container: the image's entry point
# (container/spec.py COMMAND, see container_region.py), as the ALB + ECS Fargate option serves them.
COMPUTE_OPTIONS = ("lambda", "container")
# indexed: moto with local_gateway.indexed_table (a Query reads its partition); moto: moto as it ships,
# whose every Query reads and sorts the whole table (kept for the benchmark's comparison).
EMBEDDED_DYNAMODB_OPTIONS = ("indexed", "moto")
# Where the bank simulator keeps its books: its own memory (default) or the table, as deployed.
BANK_LEDGER_OPTIONS = ("memory", "table")
# The handlers' JSON lines and EMF metrics, rewritten by each run (gitignored), one file per stack: named
# by its global port, which no two running stacks share (a second one fails to bind it before touching
# the file); with --port 0 (free ports) by the runner's process id.
LOG_DIRECTORY = REPO_ROOT / ".local"


def default_log_file(port: int) -> Path:
    return LOG_DIRECTORY / (f"stack-{port}.log" if port else f"stack-pid{os.getpid()}.log")


DEFAULT_LOG_FILE = default_log_file(8080)
MAX_AUTHORIZER_CACHE_SECONDS = 3600  # API Gateway's maximum
DEFAULT_LOCAL_RETRY_DELAYS = (2.0, 5.0, 10.0, 30.0, 60.0)  # the last attempt 107 s after the first
DESCRIPTION = "`python -m local_gateway`: start the whole local stack in the foreground until Ctrl-C."


@dataclass(frozen=True)
class Options:
    port: int = 8080
    merchants: tuple[tuple[str, str], ...] = ()
    dynamodb_endpoint: str | None = None
    bank_url: str | None = None
    table_name: str = DEFAULT_TABLE_NAME
    quiet: bool = False
    resolver_interval: float = 2.0
    resolve_after: float | None = None  # None: the handlers derive it from the idempotency lease
    authorizer_cache_seconds: float = AUTHORIZER_CACHE_SECONDS
    verbose: bool = False
    log_file: Path = DEFAULT_LOG_FILE
    compute: str = "lambda"  # how each region serves the handlers: COMPUTE_OPTIONS
    embedded_dynamodb: str = "indexed"  # EMBEDDED_DYNAMODB_OPTIONS
    bank_ledger: str = "memory"  # BANK_LEDGER_OPTIONS
    # A manual authorization not captured this long expires (deployed: authorizationTtl); None: the
    # handlers' default (7 days).
    authorization_ttl: float | None = None
    # The webhook sender's retries, in seconds after the previous attempt (the first is at once):
    # replaces the deployed schedule (at once, 5 s, 5 min, ... over 3 days) with a demo's.
    webhook_retry_delays: tuple[float, ...] = DEFAULT_LOCAL_RETRY_DELAYS


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m local_gateway", description=DESCRIPTION)
    parser.add_argument(
        "--port", type=int, default=8080, help="global port N (eu N+1, us N+2, bank N+3); 0: free ports"
    )
    parser.add_argument(
        "--merchant",
        action="append",
        default=[],
        metavar="ID:KEY",
        help="seed a merchant with a test key, KEY starting sk_test_ (repeatable)",
    )
    parser.add_argument("--dynamodb-endpoint", metavar="URL", help="use this DynamoDB endpoint, not the embedded one")
    parser.add_argument("--bank-url", metavar="URL", help="use this bank, not the local simulator")
    parser.add_argument("--table-name", default=DEFAULT_TABLE_NAME)
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--quiet", action="store_true", help="no access log, handler logs discarded (benchmarks)")
    output.add_argument(
        "--verbose", action="store_true", help="the handlers' JSON logs and EMF metrics on the console, not in a file"
    )
    parser.add_argument(
        "--log-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="where the handlers' JSON logs and EMF metrics go, rewritten each run (default: .local/stack-N.log, "
        "N the global port, so two stacks never share one)",
    )
    parser.add_argument(
        "--authorizer-cache-seconds",
        type=float,
        default=AUTHORIZER_CACHE_SECONDS,
        metavar="SECONDS",
        help=f"each region caches the authorizer's answer per API key this long, so a revoked key works up to "
        f"that long (deployed: authorizerCacheSeconds; default {AUTHORIZER_CACHE_SECONDS}, at most 3600)",
    )
    parser.add_argument(
        "--resolver-interval",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="each region runs the resolver this often (deployed: every minute); default 2",
    )
    parser.add_argument(
        "--resolve-after",
        type=float,
        default=None,
        metavar="SECONDS",
        help="a pending payment becomes due this long after it was written (default: the idempotency lease)",
    )
    parser.add_argument(
        "--authorization-ttl",
        type=float,
        default=None,
        metavar="SECONDS",
        help="a manual authorization not captured this long is voided at the bank by the resolver and becomes "
        "expired (deployed: authorizationTtl); default 7 days. A few seconds shows an expiry locally",
    )
    parser.add_argument(
        "--compute",
        choices=COMPUTE_OPTIONS,
        default="lambda",
        help="serve each region as Lambda does (default) or through the container's server (gunicorn)",
    )
    parser.add_argument(
        "--embedded-dynamodb",
        choices=EMBEDDED_DYNAMODB_OPTIONS,
        default="indexed",
        help="the embedded DynamoDB: moto with a partition index (default) or moto as it ships, whose "
        "queries read the whole table (for comparison; docs/performance.md)",
    )
    parser.add_argument(
        "--bank-ledger",
        choices=BANK_LEDGER_OPTIONS,
        default="memory",
        help="where the bank simulator keeps its books: its process's memory (default; a DynamoDB write "
        "per charge less, forgotten if the simulator restarts) or the table, as a deployed simulator does",
    )
    parser.add_argument(
        "--webhook-retry-delays",
        type=_delays,
        default=DEFAULT_LOCAL_RETRY_DELAYS,
        metavar="S1,S2,...",
        help="the webhook sender retries a failed delivery this many seconds after the previous attempt "
        "(deployed: at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, daily twice); default 2,5,10,30,60",
    )
    args = parser.parse_args(argv)
    if args.authorization_ttl is not None and not 0 < args.authorization_ttl < math.inf:
        parser.error("--authorization-ttl must be a positive number of seconds")
    if not args.resolver_interval > 0:
        parser.error("--resolver-interval must be a positive number of seconds")
    if not 0 <= args.authorizer_cache_seconds <= MAX_AUTHORIZER_CACHE_SECONDS:
        parser.error(f"--authorizer-cache-seconds must be 0 to {MAX_AUTHORIZER_CACHE_SECONDS}")
    if not (args.port == 0 or 1 <= args.port <= 65535 - BANK_PORT_OFFSET):
        parser.error("--port must be 0 or leave room for N+3")
    return Options(
        port=args.port,
        merchants=tuple(_merchant(parser, value) for value in args.merchant),
        dynamodb_endpoint=args.dynamodb_endpoint,
        bank_url=args.bank_url,
        table_name=args.table_name,
        quiet=args.quiet,
        resolver_interval=args.resolver_interval,
        resolve_after=args.resolve_after,
        authorizer_cache_seconds=args.authorizer_cache_seconds,
        verbose=args.verbose,
        log_file=(args.log_file or default_log_file(args.port)).resolve(),
        compute=args.compute,
        embedded_dynamodb=args.embedded_dynamodb,
        bank_ledger=args.bank_ledger,
        authorization_ttl=args.authorization_ttl,
        webhook_retry_delays=args.webhook_retry_delays,
    )


def _merchant(parser: argparse.ArgumentParser, value: str) -> tuple[str, str]:
    merchant_id, separator, key = value.partition(":")
    if not separator or not merchant_id or not key:
        parser.error(f"--merchant takes ID:KEY, got {value!r}")
    if key_mode(key) is not KeyMode.TEST or key == KeyMode.TEST.prefix:  # the local acquirer is a test one
        parser.error(
            f"--merchant {merchant_id}: the local stack takes test keys only: KEY is {KeyMode.TEST.prefix} then the key"
        )
    return merchant_id, key


def _delays(value: str) -> tuple[float, ...]:
    """ "1,2,4": positive seconds, comma-separated."""
    try:
        delays = tuple(float(part) for part in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds separated by commas, got {value!r}") from None
    if not all(0 < delay < math.inf for delay in delays):
        raise argparse.ArgumentTypeError("each delay must be a positive number of seconds")
    return delays
