"""The API surface: which Lambda function serves which route, and what it may do to the table.

The Pulumi program builds API Gateway resources, functions and least-privilege
IAM policies from these tables; the local gateway dispatches with the same ones.
Imports only `handlers.contract.schema`, which imports nothing.
"""

from __future__ import annotations

from typing import NamedTuple

from handlers.contract import schema


class Function(NamedTuple):
    """One Lambda function: its role name, entry point and the table access it needs."""

    name: str
    handler: str
    table_actions: tuple[str, ...]
    # IAM `dynamodb:LeadingKeys` patterns the function may touch; empty: no such condition (whole table).
    leading_keys: tuple[str, ...] = ()
    # Calls the acquiring bank: only such functions receive BANK_URL and its timeouts.
    calls_bank: bool = False
    # Hashes Idempotency-Keys and request bodies: only such functions receive the FINGERPRINT_KEY secret.
    fingerprints: bool = False
    # Secondary indexes (handlers.contract.schema) it queries; IAM grants exactly these index ARNs.
    indexes: tuple[str, ...] = ()
    # Checks API keys: only it receives API_KEY_MODE (test keys behind the simulator, live behind a real bank).
    authenticates: bool = False
    # Answers pages of a list: only such functions receive the CURSOR_KEY secret that signs their cursors.
    pages: bool = False


class Route(NamedTuple):
    method: str
    path: str  # API Gateway resource path, e.g. /v1/payments/{id}
    function: Function
    authorized: bool


CREATE_PAYMENT = Function(
    "create-payment",
    "handlers.entrypoints.api.create_payment",
    ("dynamodb:GetItem", "dynamodb:PutItem"),
    ("MERCHANT#*",),
    calls_bank=True,
    fingerprints=True,
)
# A payment is read with its captures, voids and refunds: one Query of its sort-key prefix.
GET_PAYMENT = Function("get-payment", "handlers.entrypoints.api.get_payment", ("dynamodb:Query",), ("MERCHANT#*",))
# Capture, void and refund: read the payment with its operations (Query), claim the key and write the
# operation (PutItem), reread a claim or an operation (GetItem). Never the payment's own item: only
# its owner region's resolver writes that (handlers.domain.lifecycle).
_OPERATION_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query")
CAPTURE_PAYMENT = Function(
    "capture-payment",
    "handlers.entrypoints.lifecycle_api.capture_payment",
    _OPERATION_ACTIONS,
    ("MERCHANT#*",),
    calls_bank=True,
    fingerprints=True,
)
VOID_PAYMENT = Function(
    "void-payment",
    "handlers.entrypoints.lifecycle_api.void_payment",
    _OPERATION_ACTIONS,
    ("MERCHANT#*",),
    calls_bank=True,
    fingerprints=True,
)
CREATE_REFUND = Function(
    "create-refund",
    "handlers.entrypoints.lifecycle_api.create_refund",
    _OPERATION_ACTIONS,
    ("MERCHANT#*",),
    calls_bank=True,
    fingerprints=True,
)
LIST_REFUNDS = Function(
    "list-refunds", "handlers.entrypoints.lifecycle_api.list_refunds", ("dynamodb:Query",), ("MERCHANT#*",)
)
LIST_PAYMENTS = Function(
    "list-payments", "handlers.entrypoints.api.list_payments", ("dynamodb:Query",), ("MERCHANT#*",), pages=True
)
HEALTH = Function("health", "handlers.entrypoints.api.health", ("dynamodb:GetItem",), ("HEALTH",))
AUTHORIZER = Function(
    "authorizer", "handlers.entrypoints.authorizer.handler", ("dynamodb:GetItem",), ("APIKEY#*",), authenticates=True
)
# Its ledger lives in the table under its own prefix (handlers.simulator.dynamo_ledger).
BANK_SIMULATOR = Function(
    "bank-simulator",
    "handlers.simulator.bank.handler",
    ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"),
    ("BANK#*",),
)
# Scheduled, not routed: settles pending payments and operations (its own, and a silent region's)
# from the bank's record, and expires manual authorizations. PutItem transitions payments and
# operations and writes its heartbeat; Query reads the pending index (its PENDING#, OPERATION# and
# EXPIRY# partitions), the heartbeats and a payment with its operations; GetItem rereads an item
# whose transition lost a race.
RESOLVER = Function(
    "resolver",
    "handlers.entrypoints.resolver_job.resolve_pending",
    ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"),
    ("MERCHANT#*", "PENDING#*", "OPERATION#*", "EXPIRY#*", "HEARTBEAT"),
    calls_bank=True,
    indexes=(schema.PENDING_INDEX,),
)
# Scheduled, not routed: delivers the webhook events its region wrote (and a silent region's, under
# the resolver's takeover rule). Query reads the webhooks index's WEBHOOK# partitions, the heartbeats
# and a merchant's endpoints; GetItem rereads an event or endpoint; PutItem writes an event's deliveries
# and an endpoint's health. It calls merchants' URLs on the internet: Lambda outside any VPC.
WEBHOOK_SENDER = Function(
    "webhook-sender",
    "handlers.entrypoints.webhook_job.deliver",
    ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"),
    ("MERCHANT#*", "WEBHOOK#*", "HEARTBEAT"),
    indexes=(schema.WEBHOOK_INDEX,),
)
# The merchant's webhook API (handlers.entrypoints.webhooks_api): endpoints and events are items of the
# merchant's own partition. Creating an endpoint counts the merchant's endpoints (Query) then writes it
# (PutItem); rotating a secret and enabling an endpoint read it (GetItem) and update its fields
# (UpdateItem); a resend reads the event and the endpoints (GetItem, Query) and requeues the event with
# a version-conditioned UpdateItem of its deliveries, which also puts it back in its writer's WEBHOOK#
# partition of the webhooks index (an index's key is an attribute of the item: the table's LeadingKeys
# condition is on the item's own key, MERCHANT#).
_WEBHOOKS = "handlers.entrypoints.webhooks_api."
CREATE_WEBHOOK_ENDPOINT = Function(
    "create-webhook-endpoint", _WEBHOOKS + "create_endpoint", ("dynamodb:PutItem", "dynamodb:Query"), ("MERCHANT#*",)
)
LIST_WEBHOOK_ENDPOINTS = Function(
    "list-webhook-endpoints", _WEBHOOKS + "list_endpoints", ("dynamodb:Query",), ("MERCHANT#*",), pages=True
)
GET_WEBHOOK_ENDPOINT = Function(
    "get-webhook-endpoint", _WEBHOOKS + "get_endpoint", ("dynamodb:GetItem",), ("MERCHANT#*",)
)
DELETE_WEBHOOK_ENDPOINT = Function(
    "delete-webhook-endpoint", _WEBHOOKS + "delete_endpoint", ("dynamodb:DeleteItem",), ("MERCHANT#*",)
)
ROTATE_WEBHOOK_SECRET = Function(
    "rotate-webhook-secret", _WEBHOOKS + "rotate_secret", ("dynamodb:GetItem", "dynamodb:UpdateItem"), ("MERCHANT#*",)
)
ENABLE_WEBHOOK_ENDPOINT = Function(
    "enable-webhook-endpoint",
    _WEBHOOKS + "enable_endpoint",
    ("dynamodb:GetItem", "dynamodb:UpdateItem"),
    ("MERCHANT#*",),
)
LIST_EVENTS = Function("list-events", _WEBHOOKS + "list_events", ("dynamodb:Query",), ("MERCHANT#*",), pages=True)
GET_EVENT = Function("get-event", _WEBHOOKS + "get_event", ("dynamodb:GetItem",), ("MERCHANT#*",))
RESEND_EVENT = Function(
    "resend-event",
    _WEBHOOKS + "resend_event",
    ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"),
    ("MERCHANT#*",),
)
# Every minute, as EventBridge Scheduler allows at its finest rate.
RESOLVER_INTERVAL_SECONDS = 60

ROUTES: tuple[Route, ...] = (
    Route("POST", "/v1/payments", CREATE_PAYMENT, True),
    Route("GET", "/v1/payments", LIST_PAYMENTS, True),
    Route("GET", "/v1/payments/{id}", GET_PAYMENT, True),
    Route("POST", "/v1/payments/{id}/capture", CAPTURE_PAYMENT, True),
    Route("POST", "/v1/payments/{id}/void", VOID_PAYMENT, True),
    Route("POST", "/v1/payments/{id}/refunds", CREATE_REFUND, True),
    Route("GET", "/v1/payments/{id}/refunds", LIST_REFUNDS, True),
    Route("POST", "/v1/webhook_endpoints", CREATE_WEBHOOK_ENDPOINT, True),
    Route("GET", "/v1/webhook_endpoints", LIST_WEBHOOK_ENDPOINTS, True),
    Route("GET", "/v1/webhook_endpoints/{id}", GET_WEBHOOK_ENDPOINT, True),
    Route("DELETE", "/v1/webhook_endpoints/{id}", DELETE_WEBHOOK_ENDPOINT, True),
    Route("POST", "/v1/webhook_endpoints/{id}/rotate_secret", ROTATE_WEBHOOK_SECRET, True),
    Route("POST", "/v1/webhook_endpoints/{id}/enable", ENABLE_WEBHOOK_ENDPOINT, True),
    Route("GET", "/v1/events", LIST_EVENTS, True),
    Route("GET", "/v1/events/{id}", GET_EVENT, True),
    Route("POST", "/v1/events/{id}/resend", RESEND_EVENT, True),
    Route("GET", "/health", HEALTH, False),
)

# The authorizer's result is cached per Authorization header for this long (API Gateway's maximum is 3600).
AUTHORIZER_CACHE_SECONDS = 300
