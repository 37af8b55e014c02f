"""The service's commands, made from request bodies as the API makes them (handlers.wire.validation), for
the tests that drive handlers.domain.service directly."""

from __future__ import annotations

from handlers.domain.models import CreatePayment
from handlers.wire.validation import ValidationRules, parse_payment_command
from tests.fakes import FakeClock

TODAY = FakeClock().now.date()  # the cards of tests.support expire long after it


def payment_command(merchant_id: str, body: object, idempotency_key: str | None = None) -> CreatePayment:
    return parse_payment_command(merchant_id, body, idempotency_key, ValidationRules(), TODAY)
