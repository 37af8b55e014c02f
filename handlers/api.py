"""Lambda entry points for the payment API: parse the event, call the service, shape the response."""

from __future__ import annotations

import functools
import logging
import math
import os
from collections.abc import Callable
from typing import Any

from handlers import http, snapstart
from handlers.bank import HttpBank
from handlers.converter import payment_to_wire
from handlers.dynamo import DynamoRepository, make_client
from handlers.errors import BankUnavailable, PaymentError
from handlers.observability import configure_logging, emit_metric, log_context
from handlers.resolver import PaymentResolver, ResolverReport
from handlers.service import IdempotencyPolicy, PaymentReader, PaymentService
from handlers.settings import Settings
from handlers.settlement import utc_now
from handlers.validation import (
    ValidationRules,
    encode_cursor,
    parse_idempotency_key,
    parse_list_query,
    parse_payment_command,
    refuse_query_parameters,
)

logger = logging.getLogger("handlers.api")
RESPONSE_DIMENSION_SETS = (("FunctionName",), ("FunctionName", "StatusClass"))


@functools.cache
def settings() -> Settings:
    loaded = Settings.from_env()
    configure_logging(loaded.log_level)
    return loaded


@functools.cache
def _bank() -> HttpBank:
    config = settings()
    return HttpBank(
        config.require_bank_url(),
        connect_timeout=config.bank_connect_timeout,
        read_timeout=config.bank_read_timeout,
        on_latency=lambda ms: emit_metric(config.metrics_namespace, "BankLatency", ms, "Milliseconds", {}),
    )


@functools.cache
def payment_service() -> PaymentService:
    config = settings()
    return PaymentService(
        payments=_repository(),
        bank=_bank(),
        region=config.region,
        fingerprint_key=config.require_fingerprint_key(),
        policy=IdempotencyPolicy(
            lease_seconds=config.idempotency_lease,
            bank_call_seconds=config.bank_call_seconds,
        ),
        resolution=config.resolution(),
        on_not_stored=lambda: _count("PaymentNotStored"),
    )


@functools.cache
def _validation_rules() -> ValidationRules:
    return ValidationRules(allowed_currencies=settings().allowed_currencies)


@functools.cache
def payment_resolver() -> PaymentResolver:
    config = settings()
    return PaymentResolver(
        payments=_repository(),
        bank=_bank(),
        region=config.region,
        policy=config.resolution(),
        peers=config.peer_regions,
    )


@functools.cache
def _repository() -> DynamoRepository:
    config = settings()
    client = make_client(config.region, config.dynamodb_endpoint, timeout=config.dynamodb_timeout)
    return DynamoRepository(client, config.table_name)


@functools.cache
def _health_repository() -> DynamoRepository:
    """One attempt: Route 53's checker allows 4 s to connect, then only 2 s for the answer; a slow
    table should fail the check anyway."""
    config = settings()
    client = make_client(config.region, config.dynamodb_endpoint, timeout=config.dynamodb_timeout, attempts=1)
    return DynamoRepository(client, config.table_name)


_Route = Callable[[http.Event], http.Response]
_Handler = Callable[[http.Event, Any], http.Response]


def _entry_point(route: _Route) -> _Handler:
    """A route that takes no query parameter: any is refused with a 400 naming it."""
    return _wrap(route, reads_query=False)


def _query_entry_point(route: _Route) -> _Handler:
    """A route that parses (and checks) its own query parameters."""
    return _wrap(route, reads_query=True)


def _wrap(route: _Route, *, reads_query: bool) -> _Handler:
    """Wrap a route: request context in every log line, every error mapped in one place, and one
    `Responses` metric per answer by status class. Every exception becomes a 5xx answer, so Lambda's
    Errors metric sees only crashes: this is what shows a function failing (its 5xx alarm)."""

    @functools.wraps(route)
    def handle(event: http.Event, context: Any) -> http.Response:
        with log_context(request_id=http.request_id(event)):
            response = _answer(route, event, reads_query=reads_query)
            _count_response(getattr(context, "function_name", None) or route.__name__, response)
            return response

    return handle


def _answer(route: _Route, event: http.Event, *, reads_query: bool) -> http.Response:
    try:
        settings()
        if not reads_query:
            refuse_query_parameters(http.query_parameters(event))
        return route(event)
    except PaymentError as e:
        return http.error_response(e, event)
    except Exception as e:
        logger.exception("unhandled_error")
        return http.error_response(e, event)


def _count_response(function_name: str, response: http.Response) -> None:
    """By FunctionName (all answers) and FunctionName + StatusClass: the alarm divides one by the other."""
    dimensions = {"FunctionName": function_name, "StatusClass": f"{int(response['statusCode']) // 100}xx"}
    emit_metric(_metrics_namespace(), "Responses", 1, "Count", dimensions, dimension_sets=RESPONSE_DIMENSION_SETS)


def _metrics_namespace() -> str:
    """The configured namespace, even when the rest of the configuration is too broken to load: a
    misconfigured version answers 500 to everything, which is exactly what its 5xx alarm must see."""
    try:
        return settings().metrics_namespace
    except Exception:
        return os.environ.get("METRICS_NAMESPACE") or Settings.from_env({}).metrics_namespace


@_entry_point
def create_payment(event: http.Event) -> http.Response:
    merchant = http.merchant_id(event)
    with log_context(merchant_id=merchant):
        body = http.json_body(event)
        key = parse_idempotency_key(http.header(event, "Idempotency-Key"))
        service = payment_service()  # first: a misconfigured function answers 500, whatever the body
        command = parse_payment_command(merchant, body, key, _validation_rules(), utc_now().date())
        try:
            created = service.create_payment(command)
        except BankUnavailable as e:
            if not _replayed_failure(e):
                _count_payment("failed")
            raise
        payment = created.payment
        if created.replayed:
            logger.info("payment_replayed", extra={"payment_id": payment.id, "status": payment.status.value})
        else:
            _count_payment(payment.status.value)
            logger.info("payment_processed", extra={"payment_id": payment.id, "status": payment.status.value})
        return http.payment_response(payment, event, replayed=created.replayed, retry_after=_retry_after())


def _replayed_failure(error: BankUnavailable) -> bool:
    return error.__cause__ is None  # a first failure carries the bank's error as its cause


def _retry_after() -> int:
    """When a pending payment is worth asking about again: once its request's lease is over."""
    return max(1, math.ceil(settings().idempotency_lease))


@_entry_point
def get_payment(event: http.Event) -> http.Response:
    payment_id = str((event.get("pathParameters") or {}).get("id", ""))
    payment = payment_reader().get_payment(http.merchant_id(event), payment_id)
    return http.json_response(200, payment_to_wire(payment), event)


@_query_entry_point
def list_payments(event: http.Event) -> http.Response:
    page = payment_reader().list_payments(http.merchant_id(event), parse_list_query(http.query_parameters(event)))
    cursor = encode_cursor(page.next_after_id) if page.next_after_id else None
    body = {"data": [payment_to_wire(p) for p in page.payments], "next_cursor": cursor}
    return http.json_response(200, body, event)


@_entry_point
def health(event: http.Event) -> http.Response:
    _health_repository().ping()
    return http.json_response(200, {"status": "ok", "region": settings().region}, event)


@functools.cache
def payment_reader() -> PaymentReader:
    return PaymentReader(_repository())


def _count_payment(status: str) -> None:
    emit_metric(settings().metrics_namespace, "Payments", 1, "Count", {"Status": status})


def _count(name: str, value: float = 1) -> None:
    emit_metric(settings().metrics_namespace, name, value, "Count", {})


def resolve_pending(event: object, context: Any) -> dict[str, object]:
    """Scheduled every minute: settle this region's due pending payments and publish the backlog."""
    with log_context(request_id=str(getattr(context, "aws_request_id", "scheduled"))):
        settings()
        try:
            report = payment_resolver().run()
        except Exception:
            logger.exception("resolver_failed")
            _count("ResolverFailures")
            raise  # a Lambda error: the Errors alarm sees a resolver that cannot run at all
        publish_resolver_report(report)
        return {"pending": report.pending, "settled": dict(report.settled), "failures": report.failures}


def publish_resolver_report(report: ResolverReport) -> None:
    namespace = settings().metrics_namespace
    _count("PaymentsPending", report.pending)
    emit_metric(namespace, "OldestPendingAge", report.oldest_pending_age or 0.0, "Seconds", {})
    _count("ResolverFailures", report.failures)
    _count("Reversals", report.reversals)
    for status, count in report.settled.items():
        emit_metric(namespace, "PaymentsResolved", count, "Count", {"Status": status})
    for peer, age in report.peer_heartbeat_ages.items():
        # A peer that never beat is reported as a day old: the alarm only needs "older than the threshold".
        emit_metric(
            namespace,
            "HeartbeatAge",
            min(age, 86_400.0) if age is not None else 86_400.0,
            "Seconds",
            {"PeerRegion": peer},
        )
    logger.info(
        "resolver_run",
        extra={
            "pending": report.pending,
            "settled": dict(report.settled),
            "failures": report.failures,
            "took_over": list(report.took_over),
        },
    )


def _prime_for_snapshot() -> None:
    """SnapStart snapshots the init: build there what the first request would (settings, logging,
    the DynamoDB client and its operations' shapes), so a restored environment starts with it.
    Nothing is sent: a connection opened now would be stale in every restored environment. A broken
    configuration is left to the first request, which answers 500 as without SnapStart."""
    try:
        model = _repository().client.meta.service_model
        for operation in ("PutItem", "GetItem", "Query"):
            model.operation_model(operation).input_shape  # noqa: B018 - loads and caches the shapes
        if settings().fingerprint_key and settings().bank_url:
            payment_service()
    except Exception:
        logger.exception("snapshot_priming_failed")


if snapstart.initializing_a_snapshot():
    _prime_for_snapshot()
