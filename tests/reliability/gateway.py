"""Driving the Lambda entry points the way API Gateway does, and checking every answer against the
contract: docs/openapi.yaml, the one error map (handlers.http.ERRORS) and the headers it promises."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from handlers import api, http
from handlers.observability import JsonFormatter
from handlers.resolver import PaymentResolver, ResolverReport
from handlers.settlement import UnknownOutcome
from tests.openapi_contract import assert_conforms
from tests.reliability.audit import AUDIT
from tests.support import CVV, proxy_event

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
STATUS_OF_TYPE = {kind: status for status, kind, _ in http.ERRORS.values()} | {"internal_error": 500}
RETRY_AFTER_TYPES = {kind for _, kind, retry_after in (*http.ERRORS.values(), http._INTERNAL) if retry_after}


@attrs.frozen
class Reply:
    status: int
    headers: dict[str, str]
    body: Any
    raw: str

    @property
    def error(self) -> dict[str, Any]:
        assert isinstance(self.body, dict) and "error" in self.body, f"not an error: {self.status} {self.raw[:200]}"
        error: dict[str, Any] = self.body["error"]
        return error

    @property
    def kind(self) -> str | None:
        return self.error["type"] if self.status >= 400 else None


def check_reply(method: str, resource: str, event: dict[str, Any], response: dict[str, Any]) -> Reply:
    """Everything the contract says about any response, whatever the input was."""
    status, headers, raw = response["statusCode"], response["headers"], response["body"]
    body = assert_conforms(method, resource, status, headers, raw)
    assert headers["X-Request-Id"] == event["requestContext"]["requestId"]
    assert headers["Content-Type"] == "application/json"
    if status >= 400:
        kind = body["error"]["type"]
        assert STATUS_OF_TYPE[kind] == status, f"{kind} must be {STATUS_OF_TYPE[kind]}, got {status}"
        assert body["error"]["message"], "an error must say what went wrong"
        assert ("Retry-After" in headers) == (kind in RETRY_AFTER_TYPES), f"Retry-After on {kind}"
        assert "Traceback" not in raw
    problems = AUDIT.check_responses([raw], f"{method} {resource}")
    assert not problems, problems
    return Reply(status, dict(headers), body, raw)


def card_body(number: str, cvv: str = CVV, **fields: Any) -> dict[str, Any]:
    """A valid payment request; its card is registered with the card-data audit."""
    AUDIT.register(number, cvv)
    body: dict[str, Any] = {
        "amount": 1050,
        "currency": "GBP",
        "reference": "order-1",
        "card": {"number": number, "expiry_month": 4, "expiry_year": 2030, "cvv": cvv},
    }
    body.update(fields)
    return body


class Gateway:
    """The payment API's entry points, called with REST v1 proxy events, every answer checked."""

    def post(
        self,
        body: object = None,
        *,
        key: str | None = None,
        merchant: str | None = "mer_a",
        raw: str | bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        all_headers = {"Idempotency-Key": key} if key is not None else {}
        all_headers.update(headers or {})
        event = proxy_event("POST", "/v1/payments", body=body, raw_body=raw, headers=all_headers, merchant_id=merchant)
        return self.send(api.create_payment, event)

    def get(self, payment_id: str, merchant: str = "mer_a") -> Reply:
        event = proxy_event(
            "GET",
            "/v1/payments/{id}",
            path=f"/v1/payments/{payment_id}",
            path_parameters={"id": payment_id},
            merchant_id=merchant,
        )
        return self.send(api.get_payment, event)

    def list_payments(self, merchant: str = "mer_a", **query: str) -> Reply:
        return self.send(api.list_payments, proxy_event("GET", "/v1/payments", query=query, merchant_id=merchant))

    def health(self) -> Reply:
        return self.send(api.health, proxy_event("GET", "/health", merchant_id=None))

    def send(self, handler: Handler, event: dict[str, Any]) -> Reply:
        follow_stdout()
        return check_reply(event["httpMethod"], event["resource"], event, handler(event, None))

    def resolve(self, *, later: float = 3600.0, outcome: UnknownOutcome | None = None) -> ResolverReport:
        """One run of the region's resolver over the functions' own table and bank, `later` seconds
        from now (so every pending payment is due), with the stack's policy or `outcome`."""
        follow_stdout()
        config = api.settings()
        policy = config.resolution()
        resolver = PaymentResolver(
            payments=api._repository(),
            bank=api._bank(),
            region=config.region,
            policy=attrs.evolve(policy, unknown_outcome=outcome or policy.unknown_outcome),
            clock=lambda: datetime.now(UTC) + timedelta(seconds=later),
        )
        return resolver.run()

    def list_all(self, merchant: str = "mer_a") -> list[dict[str, Any]]:
        """Every payment of a merchant, following the cursors."""
        found: list[dict[str, Any]] = []
        query: dict[str, str] = {"limit": "100"}
        for _ in range(1000):
            page = self.list_payments(merchant, **query)
            assert page.status == 200, page.raw
            found.extend(page.body["data"])
            if page.body["next_cursor"] is None:
                return found
            query["cursor"] = page.body["next_cursor"]
        raise AssertionError("the listing never ended")


def follow_stdout() -> None:
    """Point the handlers' log handler at the current sys.stdout. Lambda's stdout never changes;
    pytest swaps it between setup and call, so a function first configured inside a fixture would
    otherwise write to a stream that is gone."""
    for handler in logging.getLogger().handlers:
        if not (isinstance(handler, logging.StreamHandler) and isinstance(handler.formatter, JsonFormatter)):
            continue
        if handler.stream is not sys.stdout:
            handler.stream = sys.stdout  # not setStream: it flushes the old, closed stream


def payments_client() -> Any:
    """The boto3 client the payment functions use (created on first use, like at cold start)."""
    return api._repository()._client


def parse(raw: str) -> Any:
    return json.loads(raw)
