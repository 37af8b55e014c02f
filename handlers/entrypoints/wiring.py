"""The functions' composition root: the settings read from the environment, and the adapters and
domain services built from them, each once per execution environment (cached), plus the metrics
they publish. The entry points take what they need from here; nothing here handles a request."""

from __future__ import annotations

import functools
import logging
import os
from typing import TYPE_CHECKING

from handlers.adapters.bank import HttpBank
from handlers.adapters.dynamo import DynamoRepository, make_client
from handlers.domain.service import IdempotencyPolicy, PaymentReader, PaymentService
from handlers.domain.webhooks import UrlPolicy
from handlers.entrypoints.observability import configure_logging, emit_metric
from handlers.entrypoints.settings import Settings
from handlers.wire.cursors import Cursors
from handlers.wire.validation import ValidationRules

if TYPE_CHECKING:
    from handlers.domain.delivery import DeliveryPolicy, WebhookSender
    from handlers.domain.operations import OperationService
    from handlers.domain.resolver import PaymentResolver
    from handlers.domain.webhook_api import WebhookApi

# The builders of the other functions' services import their modules when first called: each function
# loads what it serves, and a payment's cold start none of the sender's, resolver's or webhook API's.
# ruff: noqa: PLC0415

logger = logging.getLogger("handlers.api")  # the name the API functions' log lines carry


@functools.cache
def settings() -> Settings:
    loaded = Settings.from_env()
    configure_logging(loaded.log_level, loaded.region)
    return loaded


@functools.cache
def bank() -> HttpBank:
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
        payments=repository(),
        bank=bank(),
        region=config.region,
        fingerprint_key=config.require_fingerprint_key(),
        policy=IdempotencyPolicy(
            lease_seconds=config.idempotency_lease,
            bank_call_seconds=config.bank_call_seconds,
        ),
        resolution=config.resolution(),
        on_not_stored=lambda: count("PaymentNotStored"),
    )


@functools.cache
def operation_service() -> OperationService:
    from handlers.domain.operations import OperationService

    config = settings()
    return OperationService(
        payments=repository(),
        operations=repository(),
        bank=bank(),
        region=config.region,
        fingerprint_key=config.require_fingerprint_key(),
        policy=IdempotencyPolicy(lease_seconds=config.idempotency_lease, bank_call_seconds=config.bank_call_seconds),
        resolution=config.resolution(),
        on_not_stored=lambda: count("OperationNotStored"),
    )


def cursors(merchant_id: str, listing: str) -> Cursors:
    """The cursors of a merchant's list (payments, endpoints, events), signed with CURSOR_KEY."""
    return Cursors(settings().require_cursor_key(), merchant_id, listing)


@functools.cache
def validation_rules() -> ValidationRules:
    return ValidationRules(allowed_currencies=settings().allowed_currencies)


@functools.cache
def payment_resolver() -> PaymentResolver:
    from handlers.domain.resolver import PaymentResolver

    config = settings()
    return PaymentResolver(
        payments=repository(),
        bank=bank(),
        region=config.region,
        policy=config.resolution(),
        peers=config.peer_regions,
        operations=repository(),
    )


def webhook_delivery_policy() -> DeliveryPolicy:
    """The retry schedule: the default (handlers.domain.delivery), or locally WEBHOOK_RETRY_DELAYS
    ("1,2,4": retries 1, 2 and 4 s after the previous attempt, the first attempt at once)."""
    from handlers.domain.delivery import DEFAULT_PARALLEL, DEFAULT_RETRY_DELAYS, DeliveryPolicy, schedule_from_retries

    delays = os.environ.get("WEBHOOK_RETRY_DELAYS", "")
    schedule = schedule_from_retries([float(d) for d in delays.split(",")]) if delays.strip() else DEFAULT_RETRY_DELAYS
    # WEBHOOK_PARALLEL: deployed, the sender is a function of its own (the default); locally it shares each
    # region's process with the API, whose requests those threads would slow down.
    parallel = int(os.environ.get("WEBHOOK_PARALLEL", str(DEFAULT_PARALLEL)))
    return DeliveryPolicy(retry_delays=schedule, url_policy=url_policy(), parallel=parallel)


@functools.cache
def webhook_sender() -> WebhookSender:
    from handlers.adapters.webhook_http import HttpPoster, resolve_host
    from handlers.domain.delivery import WebhookSender

    config = settings()
    return WebhookSender(
        store=repository(),
        poster=HttpPoster(),
        resolve=resolve_host,
        region=config.region,
        policy=webhook_delivery_policy(),
        resolution=config.resolution(),
        peers=config.peer_regions,
    )


@functools.cache
def payment_reader() -> PaymentReader:
    return PaymentReader(repository())


@functools.cache
def url_policy() -> UrlPolicy:
    """Loopback URLs only where WEBHOOK_ALLOW_LOOPBACK=true: the local stack sets it, a deployment never."""
    return UrlPolicy(allow_loopback=os.environ.get("WEBHOOK_ALLOW_LOOPBACK", "").lower() == "true")


@functools.cache
def webhook_api() -> WebhookApi:
    from handlers.adapters import dns
    from handlers.domain.settlement import utc_now
    from handlers.domain.webhook_api import WebhookApi

    store = repository()
    return WebhookApi(
        endpoints=store, lister=store, events=store, policy=url_policy(), resolve=dns.resolve, clock=utc_now
    )


@functools.cache
def repository() -> DynamoRepository:
    config = settings()
    client = make_client(config.region, config.dynamodb_endpoint, timeout=config.dynamodb_timeout)
    return DynamoRepository(client, config.table_name)


@functools.cache
def health_repository() -> DynamoRepository:
    """One attempt: Route 53's checker allows 4 s to connect, then only 2 s for the answer; a slow
    table should fail the check anyway."""
    config = settings()
    client = make_client(config.region, config.dynamodb_endpoint, timeout=config.dynamodb_timeout, attempts=1)
    return DynamoRepository(client, config.table_name)


def count(name: str, value: float = 1) -> None:
    emit_metric(settings().metrics_namespace, name, value, "Count", {})


def prime_for_snapshot() -> None:
    """SnapStart snapshots the init: build there what the first request would (settings, logging,
    the DynamoDB client, the payment service), so a restored environment starts with it.
    Nothing is sent: a connection opened now would be stale in every restored environment. A broken
    configuration is left to the first request, which answers 500 as without SnapStart."""
    try:
        repository()  # the client resolves its credentials at its first call, never in the snapshot
        if settings().fingerprint_key and settings().bank_url:
            payment_service()
    except Exception:
        logger.exception("snapshot_priming_failed")
