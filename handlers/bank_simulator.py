"""Acquiring-bank simulator (Lambda proxy handler, also served locally).

Card number ending 1/3/5/7/9: authorized; 2/4/6/8: declined; 0: HTTP 503; a missing field: 400.
It imports neither boto3 nor the payment code, so its own cold start stays small.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

REQUIRED_FIELDS = ("card_number", "expiry_date", "currency", "amount", "cvv")


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    body = _json_body(event)
    if not isinstance(body, dict):
        return _answer(400, {"error": "the body must be a JSON object"})
    missing = [name for name in REQUIRED_FIELDS if name not in body]
    if missing:
        return _answer(400, {"error": "missing fields: " + ", ".join(missing)})
    last_digit = str(body["card_number"])[-1:]
    if last_digit == "0":
        return _answer(503, {"error": "the issuer is unavailable"})
    if last_digit in ("1", "3", "5", "7", "9"):
        return _answer(200, {"authorized": True, "authorization_code": uuid.uuid4().hex[:12].upper()})
    return _answer(200, {"authorized": False, "authorization_code": ""})


def _json_body(event: dict[str, Any]) -> object:
    raw = event.get("body") or ""
    try:
        text = base64.b64decode(raw).decode() if event.get("isBase64Encoded") else raw
        return json.loads(text)
    except ValueError:
        return None


def _answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}
