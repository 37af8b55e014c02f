"""Request bodies, cards and events shared by the tests."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from typing import Any

VISA_AUTHORIZED = "4242424242424291"  # ends in 1: the simulator authorizes
VISA_DECLINED = "4242424242424242"  # ends in 2: declined
VISA_BANK_DOWN = "4242424242424200"  # ends in 0: the simulator answers 503
AMEX = "378282246310005"
CVV = "123"
# Luhn-valid numbers of brands the gateway does not name (brand "unknown"), which `card.number` accepts.
UNNAMED_BRAND_CARDS = {"diners": "30569309025904", "unionpay": "6200000000000005", "mir": "2200000000000004"}


def grouped(number: str, sizes: tuple[int, ...], separator: str) -> str:
    """`number` cut into groups of `sizes` (the rest in one last group), joined by `separator`."""
    groups, start = [], 0
    for size in sizes:
        groups.append(number[start : start + size])
        start += size
    return separator.join([*groups, number[start:]] if start < len(number) else groups)


def notations(number: str) -> dict[str, str]:
    """One card number as people write it: unbroken, in groups, with any separator, in other digits."""
    fours = (4,) * (len(number) // 4)
    return {
        "plain": number,
        "spaces": grouped(number, fours, " "),
        "dashes": grouped(number, fours, "-"),
        "dots": grouped(number, fours, "."),
        "slashes": grouped(number, fours, "/"),
        "underscores": grouped(number, fours, "_"),
        "spaced dash": grouped(number, fours, " - "),
        "4-6-rest": grouped(number, (4, 6), " "),
        "every digit": " ".join(number),
        "no-break spaces": grouped(number, fours, "\u00a0"),
        "en dashes": grouped(number, fours, "\u2013"),
        "zero-width spaces": grouped(number, fours, "\u200b"),
        "full-width": grouped(number.translate({ord("0") + d: 0xFF10 + d for d in range(10)}), fours, " "),
        "arabic-indic": number.translate({ord("0") + d: 0x0660 + d for d in range(10)}),
    }


# Every notation of every unnamed-brand number, by "brand-notation".
UNNAMED_BRAND_WRITINGS = {
    f"{brand}-{notation}": written
    for brand, number in UNNAMED_BRAND_CARDS.items()
    for notation, written in notations(number).items()
}


def luhn_complete(prefix: str) -> str:
    """Append the check digit that makes `prefix` pass the Luhn check."""
    for digit in "0123456789":
        candidate = prefix + digit
        total = 0
        for position, char in enumerate(reversed(candidate)):
            value = int(char) * (2 if position % 2 else 1)
            total += value - 9 if value > 9 else value
        if total % 10 == 0:
            return candidate
    raise AssertionError("unreachable")


def payment_body(number: str = VISA_AUTHORIZED, **overrides: Any) -> dict[str, Any]:
    """A valid payment. Manual capture: most tests are about the authorization, whose outcome is then
    the status itself (`authorized`); the lifecycle's tests send `capture_method` as they need it."""
    body: dict[str, Any] = {
        "amount": 1050,
        "currency": "GBP",
        "reference": "order-123",
        "capture_method": "manual",
        "card": {"number": number, "expiry_month": 4, "expiry_year": 2030, "cvv": CVV},
    }
    for path, value in overrides.items():
        target = body
        *parents, leaf = path.split("__")
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    return copy.deepcopy(body)


def proxy_event(
    method: str,
    resource: str,
    *,
    path: str | None = None,
    body: object = None,
    raw_body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None,
    merchant_id: str | None = "mer_a",
) -> dict[str, Any]:
    """An API Gateway REST (v1) proxy event as the deployed stage sends it."""
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    is_base64 = isinstance(raw_body, bytes)
    if raw_body is None and body is not None:
        raw_body = json.dumps(body)
    encoded = base64.b64encode(raw_body).decode() if isinstance(raw_body, bytes) else raw_body
    context: dict[str, Any] = {"requestId": str(uuid.uuid4()), "resourcePath": resource, "httpMethod": method}
    if merchant_id is not None:
        context["authorizer"] = {"principalId": merchant_id, "merchant_id": merchant_id}
    return {
        "resource": resource,
        "path": path or resource,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": context,
        "body": encoded,
        "isBase64Encoded": is_base64,
    }
