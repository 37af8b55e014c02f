"""Trivial Lambda handlers and routes for the adapter tests, independent of the real payment API."""

from __future__ import annotations

import base64
import json
from typing import Any

from handlers.contract.routes import Function, Route

AUTHORIZER_EVENTS: list[dict[str, Any]] = []
DENIAL = "Denied by the test authorizer."


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    body = {"event": event, "function": context.function_name, "remaining_ms": context.get_remaining_time_in_millis()}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def health(event: dict[str, Any], context: Any) -> dict[str, Any]:
    region = context.invoked_function_arn.split(":")[3]
    return {"statusCode": 200, "body": json.dumps({"status": "ok", "region": region})}


def boom(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise RuntimeError("secret internal detail")


def malformed(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"status": 200, "body": "no statusCode"}


def binary(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/octet-stream", "Content-Length": "999"},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
        "body": base64.b64encode(b"\x00\xff").decode(),
        "isBase64Encoded": True,
    }


def authorizer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    AUTHORIZER_EVENTS.append(event)
    token = (event.get("headers") or {}).get("Authorization")
    stage_wide = "/".join(event["methodArn"].split("/")[:2]) + "/*"
    if token == "Bearer good":
        return _policy("Allow", stage_wide, {"merchant_id": "m_good", "tier": 2, "vip": True})
    if token == "Bearer narrow":
        return _policy("Allow", event["methodArn"], {"merchant_id": "m_narrow"})
    if token == "Bearer deny":
        return _policy("Deny", stage_wide, {"error_message": DENIAL})
    if token == "Bearer deny-silently":
        return _policy("Deny", stage_wide, {})
    if token == "Bearer broken":
        raise RuntimeError("the authorizer's database is down")
    raise Exception("Unauthorized")


def _policy(effect: str, resource: str, context: dict[str, Any]) -> dict[str, Any]:
    statement = {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}
    return {
        "principalId": "user",
        "policyDocument": {"Version": "2012-10-17", "Statement": [statement]},
        "context": context,
    }


def _function(name: str) -> Function:
    return Function(name, f"tests.local.fake_handlers.{name}", ())


ECHO = _function("echo")
AUTHORIZER = _function("authorizer")
ROUTES = (
    Route("GET", "/things", ECHO, True),
    Route("POST", "/things", ECHO, True),
    Route("GET", "/things/{id}", ECHO, True),
    Route("GET", "/things/special", _function("binary"), False),
    Route("GET", "/files/{path+}", ECHO, False),
    Route("GET", "/health", _function("health"), False),
    Route("GET", "/boom", _function("boom"), False),
    Route("GET", "/malformed", _function("malformed"), False),
)
