"""Acquiring-bank simulator: the protocol of docs/bank.md over a ledger (handlers.simulator.ledger).

`SimulatedBank` is the bank as plain Python (the domain's tests can run it in process); `handler`
is the Lambda proxy adapter over it, served locally by local_gateway and deployed behind a
Function URL (whose payload 2.0 events it reads too).

Card rules: a card number ending 1/3/5/7/9 is authorized, 2/4/6/8 declined, 0 answers HTTP 503
(nothing recorded); three fault cards charge and then misbehave (FAULT_CARDS). The ledger is in
DynamoDB when TABLE_NAME is set; boto3 is imported by the first call's factory, not at import, so
importing the module loads only the standard library, attrs and handlers.domain.models.
"""

from __future__ import annotations

import base64
import enum
import functools
import hashlib
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import unquote

from handlers.domain.models import BankStatus
from handlers.simulator.ledger import Ledger, LedgerEntry, MemoryLedger

REQUIRED_FIELDS = ("card_number", "expiry_date", "currency", "amount", "cvv", "reference")
# URL-safe, so inquiry and reversal URLs carry it as it is.
REFERENCE = re.compile(r"[A-Za-z0-9._~-]{1,128}")
CARD_NUMBER = re.compile(r"[0-9]{12,19}")
EXPIRY = re.compile(r"(0[1-9]|1[0-2])/[0-9]{4}")
DEFAULT_LATE_SECONDS = 2.0  # longer than the gateway's default 0.6 s read deadline
# A proxy result carrying this header makes local_gateway close the connection without answering
# (proxy_gateway.lambda_proxy.DROP_CONNECTION_HEADER); behind a Function URL it is an empty 502.
DROP_CONNECTION_HEADER = "X-Local-Drop-Connection"


class Fault(enum.Enum):
    LATE_ANSWER = "late_answer"  # charge, then answer after late_seconds
    DROPPED_CONNECTION = "dropped_connection"  # charge, then close the connection without an answer
    ERROR_AFTER_CHARGE = "error_after_charge"  # charge, then HTTP 500


# Luhn-valid Visa numbers ending in an odd digit (so each charge is an authorization), recognised
# by the whole number. The gateway accepts them like any card.
FAULT_CARDS: Mapping[str, Fault] = {
    "4000000000001091": Fault.LATE_ANSWER,
    "4000000000002099": Fault.DROPPED_CONNECTION,
    "4000000000005001": Fault.ERROR_AFTER_CHARGE,
}


class Answer(NamedTuple):
    """An HTTP answer: status and JSON body. `status` None: the connection is dropped, no answer."""

    status: int | None
    body: dict[str, Any] | None


DROPPED = Answer(None, None)


def body_fingerprint(body: Mapping[str, Any]) -> str:
    """Tells a retry of an authorization from another request reusing its reference, without
    keeping the card: SHA-256 over amount, currency, expiry, the card's last four and its length.
    Its limit: two bodies that differ only in the hidden digits or the CVV count as the same."""
    number = str(body["card_number"])
    parts = [body["amount"], body["currency"], body["expiry_date"], number[-4:], len(number)]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


class SimulatedBank:
    """The acquirer of docs/bank.md. Each method returns the HTTP answer the bank would give."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        late_seconds: float = DEFAULT_LATE_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.ledger = ledger
        self._late_seconds = late_seconds
        self._sleep = sleep
        self._now = now

    def authorize(self, body: object) -> Answer:
        problem = _invalid(body)
        if problem is not None:
            return Answer(400, {"error": problem})
        assert isinstance(body, dict)
        number: str = body["card_number"]
        if number.endswith("0"):
            return Answer(503, {"error": "issuer_unavailable"})
        entry = self._entry(body)
        existing = self.ledger.add(entry)
        if existing is not None:
            if existing.status is BankStatus.REVERSED:
                return Answer(409, {"error": "reference_reversed"})
            if existing.fingerprint != entry.fingerprint:
                return Answer(409, {"error": "reference_reused"})
            entry = existing  # a retry: the first answer again, nothing charged twice
        return self._after_charge(FAULT_CARDS.get(number), _decision(entry))

    def inquire(self, reference: str) -> Answer:
        if not REFERENCE.fullmatch(reference):
            return Answer(400, {"error": "invalid reference"})
        entry = self.ledger.get(reference)
        return Answer(404, {"error": "not_found"}) if entry is None else Answer(200, _record(entry))

    def reverse(self, reference: str) -> Answer:
        if not REFERENCE.fullmatch(reference):
            return Answer(400, {"error": "invalid reference"})
        return Answer(200, _record(self.ledger.reverse(reference, self._now().isoformat())))

    def _entry(self, body: dict[str, Any]) -> LedgerEntry:
        number: str = body["card_number"]
        authorized = int(number[-1]) % 2 == 1
        return LedgerEntry(
            reference=body["reference"],
            status=BankStatus.AUTHORIZED if authorized else BankStatus.DECLINED,
            authorization_code=secrets.token_hex(6).upper() if authorized else None,
            amount=body["amount"],
            currency=body["currency"],
            card_last4=number[-4:],
            fingerprint=body_fingerprint(body),
            created_at=self._now().isoformat(),
        )

    def _after_charge(self, fault: Fault | None, answer: Answer) -> Answer:
        if fault is Fault.LATE_ANSWER:
            self._sleep(self._late_seconds)
        elif fault is Fault.DROPPED_CONNECTION:
            return DROPPED
        elif fault is Fault.ERROR_AFTER_CHARGE:
            return Answer(500, {"error": "internal_error"})
        return answer


def _invalid(body: object) -> str | None:
    """Why the body cannot be processed (field names only: never a value, which may be a card)."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    missing = [name for name in REQUIRED_FIELDS if name not in body]
    if missing:
        return "missing fields: " + ", ".join(missing)
    amount = body["amount"]
    patterns = {"card_number": CARD_NUMBER, "expiry_date": EXPIRY, "reference": REFERENCE}
    checks = {
        name: isinstance(body[name], str) and bool(pattern.fullmatch(body[name])) for name, pattern in patterns.items()
    }
    checks["amount"] = isinstance(amount, int) and not isinstance(amount, bool) and amount > 0
    checks |= {name: isinstance(body[name], str) for name in ("currency", "cvv")}
    invalid = [name for name, valid in checks.items() if not valid]
    return "invalid fields: " + ", ".join(invalid) if invalid else None


def _decision(entry: LedgerEntry) -> Answer:
    if entry.status is BankStatus.AUTHORIZED:
        return Answer(200, {"authorized": True, "authorization_code": entry.authorization_code})
    return Answer(200, {"authorized": False, "authorization_code": ""})


def _record(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "status": entry.status.value,
        "authorization_code": entry.authorization_code,
        "amount": entry.amount,
        "currency": entry.currency,
    }


# --- the Lambda adapter ----------------------------------------------------------------------------

_factory_lock = threading.Lock()


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return handle(simulated_bank(), event)


def handle(bank: SimulatedBank, event: Mapping[str, Any]) -> dict[str, Any]:
    """The proxy adapter over a given bank (tests serve an in-memory one through it)."""
    method, segments = _request_line(event)
    if method == "POST" and len(segments) >= 2 and segments[-1] == "reversal":
        answer = bank.reverse(segments[-2])
    elif method == "POST":
        answer = bank.authorize(_json_body(event))
    elif method == "GET" and segments:
        answer = bank.inquire(segments[-1])
    else:
        answer = Answer(404, {"error": "not_found"})
    return _proxy_result(answer)


def simulated_bank() -> SimulatedBank:
    # The local gateway runs handlers on threads: two first calls must not make two ledgers.
    with _factory_lock:
        return _make_bank()


@functools.cache
def _make_bank() -> SimulatedBank:
    late_seconds = float(os.environ.get("BANK_SIMULATOR_LATE_SECONDS", DEFAULT_LATE_SECONDS))
    return SimulatedBank(_ledger(os.environ), late_seconds=late_seconds)


def _ledger(env: Mapping[str, str]) -> Ledger:
    """DynamoDB where TABLE_NAME names the table (the local stack, a deployment); otherwise memory."""
    table = env.get("TABLE_NAME")
    if not table:
        return MemoryLedger()
    # Imported here: boto3 costs ~0.4 s, paid by the first call rather than by every import.
    from handlers.adapters.dynamo import make_client  # noqa: PLC0415
    from handlers.simulator.dynamo_ledger import DynamoLedger  # noqa: PLC0415

    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "eu-west-1"
    timeout = int(env.get("DYNAMODB_TIMEOUT_MS", "500")) / 1000
    return DynamoLedger(make_client(region, env.get("DYNAMODB_ENDPOINT_URL") or None, timeout=timeout), table)


def _request_line(event: Mapping[str, Any]) -> tuple[str, list[str]]:
    """Method and path segments from a REST (v1) event or a Function URL's payload 2.0 event."""
    http = (event.get("requestContext") or {}).get("http") or {}
    method = str(event.get("httpMethod") or http.get("method") or "").upper()
    path = str(event.get("rawPath") or event.get("path") or "/")
    return method, [unquote(segment) for segment in path.split("/") if segment]


def _json_body(event: Mapping[str, Any]) -> object:
    raw = event.get("body") or ""
    try:
        text = base64.b64decode(raw).decode() if event.get("isBase64Encoded") else raw
        return json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than the parser goes
        return None


def _proxy_result(answer: Answer) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if answer.status is None:
        return {"statusCode": 502, "headers": {**headers, DROP_CONNECTION_HEADER: "true"}, "body": ""}
    return {"statusCode": answer.status, "headers": headers, "body": json.dumps(answer.body)}
