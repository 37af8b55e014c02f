"""Acquiring-bank simulator: the protocol of docs/bank.md over a ledger (handlers.simulator.ledger).

`SimulatedBank` is the bank as plain Python (the domain's tests can run it in process); `handler`
is the Lambda proxy adapter over it, served locally by local_gateway and deployed behind a
Function URL (whose payload 2.0 events it reads too).

Card rules: a card number ending 1/3/5/7/9 is authorized, 2/4/6/8 declined, 0 answers HTTP 503
(nothing recorded); three fault cards charge and then misbehave (FAULT_CARDS). Captures and
refunds misbehave by their amount's last digit (OPERATION_FAULTS). The ledger is in
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
from handlers.simulator.ledger import Ledger, LedgerEntry, MemoryLedger, RefundEntry

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
# Captures and refunds, by the last digit of the operation's amount: done first, then the fault.
OPERATION_FAULTS: Mapping[int, Fault] = {
    2: Fault.LATE_ANSWER,
    3: Fault.DROPPED_CONNECTION,
    4: Fault.ERROR_AFTER_CHARGE,
}
NOT_FOUND: dict[str, Any] = {"error": "not_found"}


class Answer(NamedTuple):
    """An HTTP answer: status and JSON body. `status` None: the connection is dropped, no answer."""

    status: int | None
    body: dict[str, Any] | None


DROPPED = Answer(None, None)


def body_fingerprint(body: Mapping[str, Any]) -> str:
    """Tells a retry of an authorization from another request reusing its reference, without
    keeping the card: SHA-256 over amount, currency, expiry, the card's last four, its length and
    the capture flag. Its limit: two bodies that differ only in the hidden digits or the CVV count
    as the same."""
    number = str(body["card_number"])
    capture = body.get("capture", False)
    parts = [body["amount"], body["currency"], body["expiry_date"], number[-4:], len(number), capture]
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
        # The same fingerprint has the same capture flag: a retry answers what the first one did,
        # even after a later capture of an authorization-only reference.
        return self._after_charge(FAULT_CARDS.get(number), _decision(entry, captured=body.get("capture") is True))

    def inquire(self, reference: str) -> Answer:
        if not REFERENCE.fullmatch(reference):
            return Answer(400, {"error": "invalid reference"})
        entry = self.ledger.get(reference)
        return Answer(404, NOT_FOUND) if entry is None else Answer(200, _record(entry))

    def reverse(self, reference: str) -> Answer:
        """The reversal, which is also the void: it releases an authorization, never a capture."""
        if not REFERENCE.fullmatch(reference):
            return Answer(400, {"error": "invalid reference"})
        entry = self.ledger.reverse(reference, self._now().isoformat())
        if entry.status is BankStatus.CAPTURED:
            return Answer(409, {"error": "already_captured"})
        return Answer(200, _record(entry))

    def capture(self, reference: str, body: object) -> Answer:
        """Capture `amount` of the reference's authorization: at most one capture per reference."""
        problem = _invalid_operation(reference, body, ("amount",))
        if problem is not None:
            return Answer(400, {"error": problem})
        assert isinstance(body, dict)
        amount: int = body["amount"]
        entry = self.ledger.capture(reference, amount)
        if entry is not None and entry.status is BankStatus.CAPTURED and entry.captured_amount == amount:
            answer = {"status": "captured", "captured_amount": amount}  # captured now, or a retry
            return self._after_charge(_operation_fault(amount), Answer(200, answer))
        return _capture_refused(entry, amount)

    def refund(self, reference: str, body: object) -> Answer:
        """Refund `amount` of the reference's capture, idempotently per `refund_reference`."""
        problem = _invalid_operation(reference, body, ("refund_reference", "amount"))
        if problem is not None:
            return Answer(400, {"error": problem})
        assert isinstance(body, dict)
        asked = RefundEntry(reference, body["refund_reference"], body["amount"], self._now().isoformat())
        outcome = self.ledger.refund(asked)
        if outcome.refund is not None:  # this one, or an earlier one under the same refund reference
            if outcome.refund.amount != asked.amount:
                return Answer(409, {"error": "refund_reference_reused"})
            answer = {"status": "refunded", "refund_reference": asked.refund_reference, "amount": asked.amount}
            return self._after_charge(_operation_fault(asked.amount), Answer(200, answer))
        if outcome.entry is None:
            return Answer(404, NOT_FOUND)
        if outcome.entry.status is not BankStatus.CAPTURED:
            return Answer(409, {"error": "not_captured"})
        return Answer(409, {"error": "exceeds_captured"})  # what is left of the capture is less

    def refund_status(self, reference: str, refund_reference: str) -> Answer:
        if not (REFERENCE.fullmatch(reference) and REFERENCE.fullmatch(refund_reference)):
            return Answer(400, {"error": "invalid reference"})
        refund = self.ledger.get_refund(reference, refund_reference)
        if refund is None:
            return Answer(404, NOT_FOUND)
        return Answer(200, {"status": "refunded", "amount": refund.amount})

    def _entry(self, body: dict[str, Any]) -> LedgerEntry:
        number: str = body["card_number"]
        authorized = int(number[-1]) % 2 == 1
        captured = authorized and body.get("capture") is True
        status = BankStatus.CAPTURED if captured else BankStatus.AUTHORIZED if authorized else BankStatus.DECLINED
        return LedgerEntry(
            reference=body["reference"],
            status=status,
            authorization_code=secrets.token_hex(6).upper() if authorized else None,
            amount=body["amount"],
            currency=body["currency"],
            card_last4=number[-4:],
            fingerprint=body_fingerprint(body),
            created_at=self._now().isoformat(),
            captured_amount=body["amount"] if captured else 0,
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
    checks["capture"] = isinstance(body.get("capture", False), bool)  # optional
    invalid = [name for name, valid in checks.items() if not valid]
    return "invalid fields: " + ", ".join(invalid) if invalid else None


def _invalid_operation(reference: str, body: object, required: tuple[str, ...]) -> str | None:
    """A capture's or a refund's reference and body: `amount` an integer >= 1, `refund_reference`
    a reference's characters."""
    if not REFERENCE.fullmatch(reference):
        return "invalid reference"
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    missing = [name for name in required if name not in body]
    if missing:
        return "missing fields: " + ", ".join(missing)
    checks = {"amount": _is_amount(body["amount"])}
    if "refund_reference" in required:
        refund_reference = body["refund_reference"]
        checks["refund_reference"] = isinstance(refund_reference, str) and bool(REFERENCE.fullmatch(refund_reference))
    invalid = [name for name in required if not checks[name]]
    return "invalid fields: " + ", ".join(invalid) if invalid else None


def _is_amount(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _operation_fault(amount: int) -> Fault | None:
    return OPERATION_FAULTS.get(amount % 10)


def _decision(entry: LedgerEntry, *, captured: bool) -> Answer:
    if entry.status in (BankStatus.AUTHORIZED, BankStatus.CAPTURED):
        return Answer(200, {"authorized": True, "authorization_code": entry.authorization_code, "captured": captured})
    return Answer(200, {"authorized": False, "authorization_code": "", "captured": False})


def _capture_refused(entry: LedgerEntry | None, amount: int) -> Answer:
    """Why a capture of `amount` changed nothing, from the entry as the ledger's write found it."""
    if entry is None:
        return Answer(404, NOT_FOUND)
    if entry.status is BankStatus.DECLINED:
        return Answer(409, {"error": "declined"})
    if entry.status is BankStatus.REVERSED:
        return Answer(409, {"error": "reference_reversed"})
    if entry.amount is not None and amount > entry.amount:
        return Answer(400, {"error": "invalid fields: amount (above the authorized amount)"})
    return Answer(409, {"error": "already_captured"})  # captured before, with another amount


def _record(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "status": entry.status.value,
        "authorization_code": entry.authorization_code,
        "amount": entry.amount,
        "currency": entry.currency,
        "captured_amount": entry.captured_amount,
        "refunded_amount": entry.refunded_amount,
    }


# --- the Lambda adapter ----------------------------------------------------------------------------

_factory_lock = threading.Lock()


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return handle(simulated_bank(), event)


def handle(bank: SimulatedBank, event: Mapping[str, Any]) -> dict[str, Any]:
    """The proxy adapter over a given bank (tests serve an in-memory one through it)."""
    method, segments = _request_line(event)
    operation = segments[-1] if len(segments) >= 2 else None
    if method == "POST" and operation == "reversal":
        answer = bank.reverse(segments[-2])
    elif method == "POST" and operation == "capture":
        answer = bank.capture(segments[-2], _json_body(event))
    elif method == "POST" and operation == "refunds":
        answer = bank.refund(segments[-2], _json_body(event))
    elif method == "POST":
        answer = bank.authorize(_json_body(event))
    elif method == "GET" and len(segments) >= 3 and segments[-2] == "refunds":
        answer = bank.refund_status(segments[-3], segments[-1])
    elif method == "GET" and segments:
        answer = bank.inquire(segments[-1])
    else:
        answer = Answer(404, NOT_FOUND)
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
