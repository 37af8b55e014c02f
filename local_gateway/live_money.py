"""The money a region's answers moved, for the live view: amounts captured and refunded, and the last
few payments it answered with their captured and refunded amounts.

Read from the region's own answers as RegionStatsApp (local_gateway.live_stats) passes them on, not
from the handlers: an automatic payment answered `captured`, a capture answered 200, a refund answered
201 `succeeded`. An answer replayed for an Idempotency-Key moved nothing new and is not counted; a
`pending` (202) one is not counted either (the resolver may finish it later: its Captures/Refunds
metrics count that). Amounts go into the region's RollingStats as counts keyed by currency, so they
cover the same last minute as every other number of the view. A refund's answer has no currency: it
takes its payment's, remembered from the payments answered here (bounded), else "?".
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from typing import Any, Protocol

from proxy_gateway.messages import HttpRequest, HttpResponse

CAPTURED, REFUNDED = "AmountCaptured", "AmountRefunded"
RECENT_PAYMENTS = 8  # shown per region
_REMEMBERED = 4096  # payment id -> currency, for refunds' answers
_PAYMENT_PATH = re.compile(r"^/v1/payments(?:/(?P<id>pay_[0-9A-Za-z]+)(?P<action>/capture|/void|/refunds)?)?/?$")
_SHOWN = ("id", "status", "amount", "currency", "amount_captured", "amount_refunded")


class Counter(Protocol):
    def count(self, series: str, key: str, amount: float = 1) -> None: ...


class MoneySeen:
    """What the region's answers say was captured and refunded; thread-safe (one region, many workers)."""

    def __init__(self, stats: Counter, recent: int = RECENT_PAYMENTS) -> None:
        self._stats = stats
        self._recent_size = recent
        self._recent: OrderedDict[str, dict[str, Any]] = OrderedDict()  # newest last
        self._currencies: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def observe(self, request: HttpRequest, response: HttpResponse) -> None:
        match = _PAYMENT_PATH.match(request.path)
        if match is None or response.status not in (200, 201) or request.method not in ("GET", "POST"):
            return
        action, listing = match["action"], match["id"] is None and request.method == "GET"
        if listing or (action == "/refunds" and request.method == "GET"):
            return  # lists: nothing moved, and no one payment to show
        try:
            body = json.loads(response.body)
        except ValueError:
            return
        if not isinstance(body, dict):
            return
        replayed = (response.header("Idempotent-Replayed") or "").lower() == "true"
        if action == "/refunds":
            self._refund(body, counted=not replayed)
        else:
            self._payment(body, counted=request.method == "POST" and action in (None, "/capture") and not replayed)

    def _payment(self, body: dict[str, Any], *, counted: bool) -> None:
        if not isinstance(body.get("id"), str) or not isinstance(body.get("currency"), str):
            return
        shown = {name: body.get(name) for name in _SHOWN}
        with self._lock:
            self._remember(body["id"], body["currency"])
            self._recent.pop(body["id"], None)
            self._recent[body["id"]] = shown
            while len(self._recent) > self._recent_size:
                self._recent.popitem(last=False)
        captured = body.get("amount_captured")
        if counted and body.get("status") == "captured" and isinstance(captured, int) and captured > 0:
            self._stats.count(CAPTURED, body["currency"], captured)

    def _refund(self, body: dict[str, Any], *, counted: bool) -> None:
        amount, payment_id = body.get("amount"), body.get("payment_id")
        if body.get("status") != "succeeded" or not isinstance(amount, int) or not isinstance(payment_id, str):
            return
        with self._lock:
            currency = self._currencies.get(payment_id, "?")
            shown = self._recent.get(payment_id)
            if shown is not None and counted and isinstance(shown.get("amount_refunded"), int):
                shown["amount_refunded"] += amount
        if counted:
            self._stats.count(REFUNDED, currency, amount)

    def _remember(self, payment_id: str, currency: str) -> None:
        self._currencies.pop(payment_id, None)
        self._currencies[payment_id] = currency
        while len(self._currencies) > _REMEMBERED:
            self._currencies.popitem(last=False)

    def recent(self) -> list[dict[str, Any]]:
        """The last payments answered here, newest first."""
        with self._lock:
            return [dict(shown) for shown in reversed(self._recent.values())]
