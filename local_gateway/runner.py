"""`python -m local_gateway`: start the whole local stack in the foreground until Ctrl-C.

Processes: this one runs the global endpoint (the Route 53 stand-in) and supervises the
children: the embedded DynamoDB (moto), the bank simulator, and one gateway per region, each
in its own process with its own environment, as separate Lambda functions would be.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TypeVar

from handlers.adapters.bank import HttpBank
from handlers.contract.limits import LOAD_BALANCER_BODY_INSPECTION_BYTES, MAX_BODY_BYTES
from handlers.contract.resolution import takeover_after
from handlers.domain.errors import BankUnreachable
from handlers.entrypoints.settings import ConfigurationError, Settings
from local_gateway import process_tuning
from local_gateway.banner import TEST_CARDS_ANCHOR, banner
from local_gateway.global_endpoint import GlobalEndpoint, HealthChecker, HealthTracker, http_probe
from local_gateway.http_server import LocalHTTPServer
from local_gateway.logs import setup_logging
from local_gateway.options import DEFAULT_LOG_FILE, Options, parse_args
from local_gateway.supervisor import Child, StartupError, Supervisor
from local_gateway.topology import (
    BANK_PORT_OFFSET,
    REGIONS,
    TABLE_REGION,
    Region,
    RegionEndpoint,
    bank_environment,
    lambda_environment,
    local_environment,
    port_for,
)
from proxy_gateway.messages import HttpRequest, HttpResponse, error_response

log = logging.getLogger("local_gateway.runner")

CHILD_START_TIMEOUT = 30.0
FIRST_HEALTH_TIMEOUT = 30.0
# Each region's webhook sender runs this often (deployed: every minute): a retry is at most a second late.
SENDER_INTERVAL = 1.0
# Kept importable from here: tests and tools name them as the runner's.
__all__ = ["DEFAULT_LOG_FILE", "TEST_CARDS_ANCHOR", "Options", "Stack", "banner", "main", "parse_args"]
T = TypeVar("T")


@dataclass
class Stack:
    """The running pieces this process owns (the children belong to the Supervisor)."""

    server: LocalHTTPServer
    regions: list[RegionEndpoint] = field(default_factory=list)
    bank_url: str = ""
    dynamodb_url: str = ""
    merchants: list[tuple[str, str]] = field(default_factory=list)
    stop_checks: threading.Event = field(default_factory=threading.Event)
    endpoint: GlobalEndpoint | None = None

    def close(self) -> None:
        self.stop_checks.set()
        self.server.stop()
        if self.endpoint is not None:
            self.endpoint.close()


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    setup_logging("stack", logging.INFO)
    process_tuning.install()  # the same HTTP behaviour for less CPU (the global endpoint)
    # The admin calls below use dummy credentials too; computed before the clear, which it reads.
    environment = local_environment(TABLE_REGION)
    os.environ.clear()
    os.environ.update(environment)
    signal.signal(signal.SIGTERM, _interrupt)  # during startup both signals abort it
    try:
        with Supervisor() as supervisor:
            return _run(options, supervisor)
    except KeyboardInterrupt:
        return 130


def _run(options: Options, supervisor: Supervisor) -> int:
    try:
        stack = start_stack(options, supervisor)
    except (StartupError, OSError) as error:
        log.error("startup failed: %s", error)
        return 1
    except Exception:
        log.exception("startup failed")
        return 1
    try:
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        print(banner(stack, options), flush=True)
        print("ready", flush=True)
        return _wait(stop, supervisor)
    finally:
        log.info("stopping")
        stack.close()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


REGION_NAMES = frozenset(region.name for region in REGIONS)


def _wait(stop: threading.Event, supervisor: Supervisor) -> int:
    while not stop.wait(0.5):
        child = supervisor.exited()
        if child is None:
            continue
        if child.name not in REGION_NAMES:
            log.error("%s exited unexpectedly (code %s); stopping everything", child.name, child.process.poll())
            return 1
        _restart(supervisor, child)
    return 0


def _restart(supervisor: Supervisor, child: Child) -> None:
    """A region's process died (a crash, SIGKILL): start a new one, as Lambda would. Its resolver
    settles whatever the dead one left pending."""
    log.warning("%s exited unexpectedly (code %s); restarting it", child.name, child.process.poll())
    started = supervisor.respawn(child)
    try:
        port = supervisor.wait_ready(started, CHILD_START_TIMEOUT)
    except StartupError as error:
        log.error("%s could not be restarted: %s", child.name, error)  # the next pass tries again
        return
    log.warning("%s restarted on port %s", child.name, port)


def start_stack(options: Options, supervisor: Supervisor) -> Stack:
    # Bind the global port first so a port conflict fails before anything else starts.
    try:
        stack = Stack(LocalHTTPServer(options.port, _starting, name="global"))
    except OSError as error:
        raise StartupError(f"the global endpoint cannot listen on port {options.port}: {error.strerror}") from error
    try:
        _prepare_log_file(options)
        _start_children_and_table(options, supervisor, stack)
        _start_global_endpoint(options, stack)
    except BaseException:
        stack.close()
        raise
    return stack


def _prepare_log_file(options: Options) -> None:
    if not _logs_to_file(options):
        return
    try:
        options.log_file.parent.mkdir(parents=True, exist_ok=True)
        options.log_file.write_bytes(b"")  # one run's lines: the children append to it
    except OSError as error:
        raise StartupError(f"cannot write the log file {options.log_file}: {error.strerror}") from error


def _starting(request: HttpRequest) -> HttpResponse:
    return error_response(503, "service_unavailable", "the local stack is starting", "starting")


def _start_children_and_table(options: Options, supervisor: Supervisor, stack: Stack) -> None:
    """moto first (the bank keeps its ledger there), then the table and the bank in parallel, then
    the regions (they need both URLs). The bank is called only by the regions' payments, and the
    stack is ready (the global endpoint serves) only once prepare_table has made the table."""
    stack.dynamodb_url = _start_dynamodb(options, supervisor)()
    merchants = _in_background(lambda: prepare_table(options, stack.dynamodb_url))
    stack.bank_url = _start_bank(options, supervisor, stack.dynamodb_url)()
    children = [(region, _spawn_region(region, options, stack, supervisor)) for region in REGIONS]
    for region, child in children:
        port = supervisor.wait_ready(child, CHILD_START_TIMEOUT)
        stack.regions.append(RegionEndpoint(region.key, region.name, port))
    stack.merchants = merchants.result(timeout=CHILD_START_TIMEOUT)
    if not options.bank_url:
        _warm_bank(stack.bank_url)


def _warm_bank(bank_url: str) -> None:
    """One inquiry once the table exists: the simulator's first call loads boto3 and opens its ledger
    (~0.5 s), which would otherwise make the first payment outlast the 0.6 s bank deadline."""
    bank = HttpBank(bank_url, connect_timeout=CHILD_START_TIMEOUT, read_timeout=CHILD_START_TIMEOUT)
    try:
        bank.inquire("warm-up")
    except BankUnreachable as error:
        raise StartupError(f"the bank simulator cannot read its ledger: {error}") from None


def _start_dynamodb(options: Options, supervisor: Supervisor) -> Callable[[], str]:
    """Start moto unless an endpoint was given; return how to get the URL once it is up."""
    external = options.dynamodb_endpoint
    if external:
        return lambda: external
    plain = ["--plain-moto"] if options.embedded_dynamodb == "moto" else []
    child = supervisor.spawn(
        "dynamodb", ["dynamodb", *plain, *_handler_output(options)], local_environment(TABLE_REGION)
    )
    return lambda: _local_url(supervisor.wait_ready(child, CHILD_START_TIMEOUT))


def _start_bank(options: Options, supervisor: Supervisor, dynamodb_url: str) -> Callable[[], str]:
    external = options.bank_url
    if external:
        return lambda: external
    port = port_for(options.port, BANK_PORT_OFFSET)
    args = ["lambda", "--port", str(port), "--routes", "local_gateway.topology:BANK_ROUTES", "--authorizer", "none"]
    args += ["--waf-body-limit", "0"]  # a Lambda function URL: no WAF in front
    env = bank_environment(
        table_name=options.table_name,
        dynamodb_url=dynamodb_url,
        log_level=_log_level(options),
        ledger_in_table=options.bank_ledger == "table",
    )
    child = supervisor.spawn("bank", [*args, *_access_log(options), *_handler_output(options)], env)
    return lambda: _local_url(supervisor.wait_ready(child, CHILD_START_TIMEOUT)) + "/payments"


def _spawn_region(region: Region, options: Options, stack: Stack, supervisor: Supervisor) -> Child:
    env = lambda_environment(
        region.name,
        table_name=options.table_name,
        dynamodb_url=stack.dynamodb_url,
        bank_url=stack.bank_url,
        log_level=_log_level(options),
    )
    env.update(resolver_environment(options, env))
    _check_handler_settings(region.name, env)
    port = port_for(options.port, region.port_offset)
    args = [  # the child's role is the compute option's name
        *(options.compute, "--port", str(port), "--resolver-interval", str(options.resolver_interval)),
        *("--sender-interval", str(SENDER_INTERVAL)),
        *("--authorizer-cache-seconds", str(options.authorizer_cache_seconds)),
        *("--waf-body-limit", str(waf_body_limit(options.compute))),
        *_access_log(options),
        *_handler_output(options),
    ]
    return supervisor.spawn(region.name, args, env)


def waf_body_limit(compute: str) -> int:
    """What WAF lets through in front of a region, as deployed: API Gateway's 16 KiB (Lambda) or the
    8 KB WAF inspects in front of an ALB (Fargate); a larger body is a 413 before the API."""
    return LOAD_BALANCER_BODY_INSPECTION_BYTES if compute == "container" else MAX_BODY_BYTES


def resolver_environment(options: Options, env: Mapping[str, str]) -> dict[str, str]:
    """What the deployed functions get from the stack config, with the local schedule (see takeover_after):
    the resolver's, and the authorization TTL that the API stamps and the resolver expires by."""
    lease = float(env.get("IDEMPOTENCY_LEASE_SECONDS", "10"))
    values = {
        "PEER_REGIONS": ",".join(region.name for region in REGIONS),
        "RESOLVER_TAKEOVER_SECONDS": str(takeover_after(options.resolver_interval, 0.0, lease)),
    }
    # Webhooks to the loopback receivers of a demo (never deployed), retried on the local schedule.
    values["WEBHOOK_ALLOW_LOOPBACK"] = "true"
    values["WEBHOOK_PARALLEL"] = "2"  # the sender shares the region's process with the API here
    values["WEBHOOK_RETRY_DELAYS"] = ",".join(f"{delay:g}" for delay in options.webhook_retry_delays)
    if options.resolve_after is not None:
        values["RESOLVE_AFTER_SECONDS"] = str(options.resolve_after)
    if options.authorization_ttl is not None:  # the API's functions stamp it, the resolver expires by it
        values["AUTHORIZATION_TTL_SECONDS"] = str(options.authorization_ttl)
    return values


def _check_handler_settings(region: str, env: dict[str, str]) -> None:
    """Refuse at startup what Lambda would only report as a 500 on the first payment."""
    try:
        Settings.from_env(env)
    except (ConfigurationError, ValueError) as error:
        raise StartupError(f"{region}: the handlers' settings are invalid: {error}") from None


def _log_level(options: Options) -> str:
    return "WARNING" if options.quiet else "INFO"


def _logs_to_file(options: Options) -> bool:
    return not (options.quiet or options.verbose)


def _handler_output(options: Options) -> list[str]:
    """Where a child points its stdout, the handlers' JSON logs and EMF metrics."""
    if options.quiet:
        return ["--quiet"]
    return ["--log-file", str(options.log_file)] if _logs_to_file(options) else []


def _access_log(options: Options) -> list[str]:
    return [] if options.quiet else ["--access-log"]


def _local_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def _in_background(task: Callable[[], T]) -> Future[T]:
    """A daemon thread, unlike an executor's, never holds up the exit after Ctrl-C."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(task())
        except BaseException as error:
            future.set_exception(error)

    threading.Thread(target=run, name="prepare-table", daemon=True).start()
    return future


def prepare_table(options: Options, dynamodb_url: str) -> list[tuple[str, str]]:
    """Create the table and seed the merchants; return their (id, API key) pairs."""
    # Imported here: boto3 loads while the children start.
    from handlers.ops.admin import create_merchant  # noqa: PLC0415
    from local_gateway.dynamodb import create_table, dynamodb_client  # noqa: PLC0415

    create_table(dynamodb_client(dynamodb_url, TABLE_REGION), options.table_name)
    create = functools.partial(
        create_merchant, table_name=options.table_name, endpoint_url=dynamodb_url, region=TABLE_REGION
    )
    if not options.merchants:
        return [create("Demo merchant")]  # a test key: the local acquirer is a test one
    for merchant_id, key in options.merchants:
        create(merchant_id, merchant_id=merchant_id, api_key=key)  # a no-op if already seeded
    return list(options.merchants)


def _start_global_endpoint(options: Options, stack: Stack) -> None:
    tracker = HealthTracker([endpoint.region for endpoint in stack.regions])
    for endpoint in stack.regions:
        _wait_first_health(endpoint)  # also warms each region's handlers and DynamoDB client
        checker = HealthChecker(endpoint.region, functools.partial(http_probe, endpoint), tracker)
        threading.Thread(
            target=checker.run, args=(stack.stop_checks,), name=f"health-{endpoint.key}", daemon=True
        ).start()
    # The regions write the access log (requests sent to a region's own URL included).
    stack.endpoint = GlobalEndpoint(stack.regions, tracker)
    stack.server.app = stack.endpoint
    stack.server.start_in_thread()


def _wait_first_health(endpoint: RegionEndpoint) -> None:
    deadline = time.monotonic() + FIRST_HEALTH_TIMEOUT
    while not http_probe(endpoint, timeout=FIRST_HEALTH_TIMEOUT):
        if time.monotonic() > deadline:
            raise StartupError(f"{endpoint.region}: GET /health did not pass within {FIRST_HEALTH_TIMEOUT:.0f} s")
        time.sleep(0.1)
