"""Handlers that emit EMF metrics as the payment handlers do, for the live-view collector's tests."""

from __future__ import annotations

import json
from typing import Any

from handlers.contract.routes import Function, Route
from handlers.entrypoints.observability import emit_metric


def pay(event: dict[str, Any], context: Any) -> dict[str, Any]:
    emit_metric("Test", "BankLatency", 12.0, "Milliseconds", {})
    emit_metric("Test", "Payments", 1, "Count", {"Status": "authorized"})
    return {"statusCode": 201, "body": json.dumps({"status": "authorized"})}


def health(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": json.dumps({"status": "ok"})}


ROUTES = (
    Route("POST", "/pay", Function("pay", "tests.local.live_handlers.pay", ()), False),
    Route("GET", "/health", Function("health", "tests.local.live_handlers.health", ()), False),
)
