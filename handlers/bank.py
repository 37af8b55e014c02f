"""HTTP client for the acquiring bank. urllib3 is already loaded by botocore, so it is free at cold start."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import urllib3

from handlers.errors import BankUnavailable
from handlers.models import BankDecision, PaymentRequest


class HttpBank:
    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float,
        read_timeout: float,
        on_latency: Callable[[float], None] = lambda _ms: None,
        pool: urllib3.PoolManager | None = None,
    ) -> None:
        self._url = url
        self._timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self._on_latency = on_latency
        self._pool = pool or urllib3.PoolManager(maxsize=10, block=False)

    def authorize(self, payment_id: str, request: PaymentRequest) -> BankDecision:
        card = request.card
        payload = {
            "card_number": card.number,
            "expiry_date": f"{card.expiry_month:02d}/{card.expiry_year:04d}",
            "currency": request.currency,
            "amount": request.amount,
            "cvv": card.cvv,
            "reference": payment_id,  # lets a deduplicating bank recognise a retry
        }
        started = time.perf_counter()
        try:
            response = self._pool.request(
                "POST",
                self._url,
                body=json.dumps(payload).encode(),
                headers={"Content-Type": "application/json"},
                timeout=self._timeout,
                retries=False,  # a retry could charge twice; the merchant retries with its Idempotency-Key
            )
        except urllib3.exceptions.HTTPError as e:
            raise BankUnavailable(f"The bank could not be reached ({type(e).__name__}).") from None
        finally:
            self._on_latency((time.perf_counter() - started) * 1000)
        if response.status != 200:
            raise BankUnavailable(f"The bank answered HTTP {response.status}.")
        return _decision(response.data)


def _decision(raw: bytes) -> BankDecision:
    try:
        answer = json.loads(raw)
    except ValueError:
        raise BankUnavailable("The bank's answer was not JSON.") from None
    authorized = answer.get("authorized") if isinstance(answer, dict) else None
    code = answer.get("authorization_code") if isinstance(answer, dict) else None
    if not isinstance(authorized, bool) or (authorized and not (isinstance(code, str) and code)):
        raise BankUnavailable("The bank's answer lacked a decision or an authorization code.")
    return BankDecision(authorized=authorized, authorization_code=code if authorized else None)
