"""API Gateway REST v1 proxy events and authorizer events for the benchmarks (standard library and tests.support only).

The cold-start child builds its first event inside the timed region, so nothing here may import
more than the Lambda runtime and boto3 already have loaded (tests.support: base64, copy, json, uuid).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests import support

REGION = "eu-west-1"
# As a real merchant id: a ULID, ten digits among its 26 characters. The earlier fixed id,
# mer_01JBENCH000000000000000000, held an 18-digit run the card mask read as a card number, so every
# benchmark log line paid for masking it (docs/performance.md, issue 19).
MERCHANT_ID = "mer_01JBENCH7Q4ZK9M2X5W8R3T6VD"
API_KEY = "sk_test_bench-key-0123456789abcdefghijklmnopqrstuvwxyz"  # local benchmarks only
AUTHORIZED_CARD = "4242424242424291"  # ends in 1: the simulators authorize it
METHOD_ARN = "arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/live/POST/v1/payments"


def payment_body(number: str = AUTHORIZED_CARD, reference: str = "order-123") -> dict[str, Any]:
    return {
        "amount": 1050,
        "currency": "GBP",
        "reference": reference,
        "card": {"number": number, "expiry_month": 4, "expiry_year": 2030, "cvv": "123"},
    }


def proxy_event(
    method: str,
    resource: str,
    *,
    path: str | None = None,
    body: str | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The tests' proxy event (as the deployed stage sends it), for the bench merchant."""
    return support.proxy_event(
        method,
        resource,
        path=path,
        raw_body=body,
        headers=headers,
        query=query,
        path_parameters=path_parameters,
        merchant_id=MERCHANT_ID,
    )


def post_payment(idempotency_key: str | None, body: dict[str, Any] | None = None) -> dict[str, Any]:
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else {}
    return proxy_event("POST", "/v1/payments", body=json.dumps(body or payment_body()), headers=headers)


def get_payment(payment_id: str) -> dict[str, Any]:
    return proxy_event(
        "GET", "/v1/payments/{id}", path=f"/v1/payments/{payment_id}", path_parameters={"id": payment_id}
    )


def list_payments(limit: int = 20) -> dict[str, Any]:
    return proxy_event("GET", "/v1/payments", query={"limit": str(limit)})


def authorizer_request(api_key: str = API_KEY) -> dict[str, Any]:
    return {
        "type": "REQUEST",
        "methodArn": METHOD_ARN,
        "resource": "/v1/payments",
        "path": "/v1/payments",
        "httpMethod": "POST",
        "headers": {"Authorization": f"Bearer {api_key}"},
        "requestContext": {"requestId": str(uuid.uuid4()), "resourcePath": "/v1/payments", "httpMethod": "POST"},
    }
