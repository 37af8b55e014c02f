"""A merchant's client for the payment gateway: the API's retry rules in code, standard library only.

    python3 examples/merchant.py --url http://127.0.0.1:8080 --key "$KEY"                         # a tour
    python3 examples/merchant.py --url http://127.0.0.1:8080 --key "$KEY" --card 4000000000001091  # one card

The tour pays with three of the README's test cards (captured, declined, bank unavailable), replays
the first payment, then pages through the list with next_cursor. Then the lifecycle: a manual payment
(authorized only), a partial capture of it, two partial refunds and the list of its refunds, and a void of
another manual payment. It exits with 1 if an outcome is not the one expected.

The rules (docs/openapi.yaml, info.description), which `pay` follows:
- A payment gets one Idempotency-Key, made before its first attempt and sent with every retry of it.
  That is what makes a retry safe: the gateway answers a known key with the same payment.
- 201: final: `captured` (automatic capture, the default), `authorized` (manual) or `declined`.
- 202: `pending`, the bank's answer was lost; the gateway settles it from the bank's record. Never
  resend it as a new payment: replay the same key after Retry-After until the answer is final.
- 409 (the same key is still being processed), 503, 429, 500: retry with the same key after Retry-After.
- No answer at all (refused, reset, timed out), or a 502/504 from the API's front door (its error type
  is not `bank_unavailable`): the payment may or may not exist. Replay the same key.
- 502 `bank_unavailable`: `failed`, nothing was charged. It is final: trying again is a new payment,
  with a new key.
- Any other 4xx: the request is wrong; sending it again unchanged gives the same answer.

Captures, voids and refunds (`operate`) follow the same rules, each with an Idempotency-Key of its own:
- 200 (capture, void) or 201 (refund): final. A refund may be `failed`: the bank refused it, nothing moved.
- 202: the bank's answer was lost and the gateway finishes it: GET the payment (a refund: its refunds)
  after Retry-After until the outcome shows; replay the same key later if it has not by then.
- 409 request_in_progress, 429, 5xx and no answer: the same key again after Retry-After.
- 409 invalid_state (the payment's status does not allow it) and 422 amount_too_large: final, refused.
- Without a key, two refund requests are two refunds: this client always sends one.
"""

from __future__ import annotations

import argparse
import http.client
import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

RETRY_WITH_THE_SAME_KEY = frozenset({202, 409, 429, 500, 502, 503, 504})  # 502: unless bank_unavailable
TIMEOUT_SECONDS = 35.0  # longer than API Gateway's 29 s
TOUR = (("captured", "4242424242424291"), ("declined", "4242424242424242"), ("failed", "4242424242424200"))
MANUAL_CARD = "378282246310005"  # American Express, authorized (README, Test cards)
ROUTE = {"capture": "capture", "void": "void", "refund": "refunds"}
Log = Callable[[str], None]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: Any


@dataclass(frozen=True)
class Outcome:
    status: str  # captured, authorized, declined, failed, or pending (not final yet when we stopped asking)
    payment_id: str | None
    key: str  # its Idempotency-Key: replay it to ask again
    answer: Answer | None  # None: the last attempt got no answer at all


class Refused(Exception):
    """A 4xx other than 409 and 429: the request itself is wrong."""


class Gateway:
    """One HTTP(S) connection per request, so a dropped one never poisons the next."""

    def __init__(self, url: str, key: str) -> None:
        parts = urlsplit(url)
        self._connection = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port
        self._key = key

    def request(self, method: str, path: str, body: object = None, headers: Mapping[str, str] | None = None) -> Answer:
        """Raises OSError or http.client.HTTPException when no answer came."""
        sent = {"Authorization": f"Bearer {self._key}", **(headers or {})}
        payload = None
        if body is not None:
            payload, sent["Content-Type"] = json.dumps(body).encode(), "application/json"
        connection = self._connection(self._host, self._port, timeout=TIMEOUT_SECONDS)
        try:
            connection.request(method, path, body=payload, headers=sent)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        received = {name.lower(): value for name, value in response.getheaders()}
        return Answer(response.status, received, _json(raw))


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:  # a proxy's or a load balancer's page: the status still says what happened
        return None


def send(
    gateway: Gateway,
    method: str,
    path: str,
    *,
    retry: Callable[[Answer], bool],
    give_up_after: float,
    body: object = None,
    headers: Mapping[str, str] | None = None,
    log: Log = print,
) -> Answer | None:
    """The same request, headers included, until `retry` says no to its answer, waiting Retry-After
    (or a growing pause) in between. Returns the last answer (None: no answer) once waiting longer
    would pass `give_up_after` seconds."""
    deadline = time.monotonic() + give_up_after
    shown = f"{method} {path.partition('?')[0]}"
    attempt = 0
    while True:
        attempt += 1
        answer: Answer | None = None
        try:
            answer = gateway.request(method, path, body, headers)
        except (OSError, http.client.HTTPException) as error:
            what = f"no answer ({type(error).__name__})"
        else:
            what = describe(answer)
            if not retry(answer):
                log(f"  {shown} -> {what}")
                return answer
        pause = _pause(answer, attempt)
        if time.monotonic() + pause > deadline:
            log(f"  {shown} -> {what}: giving up for now")
            return answer
        same = " with the same Idempotency-Key" if headers and "Idempotency-Key" in headers else ""
        log(f"  {shown} -> {what}: again in {pause:g} s{same}")
        time.sleep(pause)


def pay(
    gateway: Gateway, body: Mapping[str, Any], *, key: str | None = None, give_up_after: float = 60.0, log: Log = print
) -> Outcome:
    """One payment. A new payment gets a new Idempotency-Key; pass `key` to replay one (see the rules above)."""
    key = key or f"order-{uuid.uuid4()}"
    answer = send(
        gateway,
        "POST",
        "/v1/payments",
        retry=payment_retry,
        give_up_after=give_up_after,
        body=body,
        headers={"Idempotency-Key": key},
        log=log,
    )
    if answer is None:  # still no answer: the payment may exist; replay the same key later, never a new one
        return Outcome("pending", None, key, None)
    if answer.status in (201, 202):
        return Outcome(answer.body["status"], answer.body["id"], key, answer)
    if answer.status == 502 and _error(answer).get("type") == "bank_unavailable":  # final: nothing was charged
        return Outcome("failed", _error(answer).get("payment_id"), key, answer)
    if answer.status in RETRY_WITH_THE_SAME_KEY:  # a 409 or 5xx to the end: the same key again, later
        return Outcome("pending", None, key, answer)
    raise Refused(describe(answer))


def operate(
    gateway: Gateway,
    payment_id: str,
    kind: str,
    body: Mapping[str, Any] | None = None,
    *,
    key: str | None = None,
    give_up_after: float = 60.0,
    log: Log = print,
) -> Outcome:
    """A capture, void or refund of a payment, with its own Idempotency-Key (see the rules above).
    The outcome's status: captured, voided, succeeded, failed, or pending (replay `key` later)."""
    key = key or f"{kind}-{uuid.uuid4()}"
    path = f"/v1/payments/{payment_id}/{ROUTE[kind]}"
    headers = {"Idempotency-Key": key}
    answer = send(
        gateway,
        "POST",
        path,
        retry=operation_retry,
        give_up_after=give_up_after,
        body=body or {},
        headers=headers,
        log=log,
    )
    if answer is None:
        return Outcome("pending", payment_id, key, None)
    if answer.status == 202:  # recorded, the bank's answer lost: the gateway finishes it
        return await_outcome(gateway, payment_id, kind, answer, key, give_up_after=give_up_after, log=log)
    if answer.status in (200, 201):
        return Outcome(answer.body["status"], payment_id, key, answer)
    if answer.status == 502 and _error(answer).get("type") == "bank_unavailable":  # final: nothing moved
        return Outcome("failed", payment_id, key, answer)
    if answer.status in RETRY_WITH_THE_SAME_KEY:
        return Outcome("pending", payment_id, key, answer)
    raise Refused(describe(answer))


def await_outcome(
    gateway: Gateway, payment_id: str, kind: str, accepted: Answer, key: str, *, give_up_after: float, log: Log = print
) -> Outcome:
    """After a 202: GET the payment (a refund: the payment's refunds) after Retry-After until it shows
    the operation's outcome. Never a new request: if it does not show in time, it is pending."""
    deadline = time.monotonic() + give_up_after
    refund_id = accepted.body.get("id") if kind == "refund" and isinstance(accepted.body, dict) else None
    path = f"/v1/payments/{payment_id}" + ("/refunds" if kind == "refund" else "")
    attempt = 0
    while True:
        attempt += 1
        pause = _pause(accepted if attempt == 1 else None, attempt)
        if time.monotonic() + pause > deadline:
            return Outcome("pending", payment_id, key, accepted)
        log(f"  202: the gateway finishes the {kind}; GET {path} in {pause:g} s")
        time.sleep(pause)
        answer = send(gateway, "GET", path, retry=read_retry, give_up_after=30, log=log)
        status = _shown(kind, answer, refund_id)
        if status != "pending":
            return Outcome(status, payment_id, key, answer)


def _shown(kind: str, answer: Answer | None, refund_id: str | None) -> str:
    """What a GET shows of the operation: `pending` while it does not show its outcome yet."""
    body = answer.body if answer is not None and answer.status == 200 and isinstance(answer.body, dict) else {}
    if kind == "refund":
        found = [refund for refund in body.get("data", []) if refund.get("id") == refund_id]
        return str(found[0]["status"]) if found else "pending"
    status = str(body.get("status", "authorized"))
    return "pending" if status == "authorized" else status  # a manual payment stays authorized until then


def payment_retry(answer: Answer) -> bool:
    if answer.status == 502:
        return _error(answer).get("type") != "bank_unavailable"
    return answer.status in RETRY_WITH_THE_SAME_KEY


def operation_retry(answer: Answer) -> bool:
    """As a payment's, but a 202 is followed with GET (await_outcome), not by replaying the key."""
    return answer.status != 202 and payment_retry(answer)


def read_retry(answer: Answer) -> bool:
    return answer.status == 429 or answer.status >= 500  # a GET changes nothing: safe to repeat


def pages(gateway: Gateway, *, page_size: int = 20, log: Log = print, **filters: str) -> Iterator[list[dict[str, Any]]]:
    """The payments matching `filters`, newest first, a page at a time: next_cursor goes back as cursor."""
    cursor: str | None = None
    while True:
        query = urlencode({"limit": page_size, **filters, **({"cursor": cursor} if cursor else {})})
        answer = send(gateway, "GET", f"/v1/payments?{query}", retry=read_retry, give_up_after=30, log=log)
        if answer is None or answer.status != 200:
            raise Refused(f"listing failed: {describe(answer) if answer else 'no answer'}")
        yield answer.body["data"]
        cursor = answer.body["next_cursor"]
        if cursor is None:
            return


def describe(answer: Answer) -> str:
    body = answer.body if isinstance(answer.body, dict) else {}
    if "error" in body:
        return f"{answer.status} {_error(answer).get('type')}"
    return f"{answer.status} {body.get('status', '')}".rstrip()


def _error(answer: Answer) -> dict[str, Any]:
    body = answer.body if isinstance(answer.body, dict) else {}
    error = body.get("error")
    return error if isinstance(error, dict) else {}


def payment_body(
    number: str, amount: int = 1050, currency: str = "GBP", capture_method: str = "automatic"
) -> dict[str, Any]:
    cvv = "1234" if number.startswith(("34", "37")) else "123"  # American Express: 4 digits
    card = {"number": number, "expiry_month": 12, "expiry_year": time.gmtime().tm_year + 3, "cvv": cvv}
    reference = f"order-{uuid.uuid4().hex[:12]}"
    return {
        "amount": amount,
        "currency": currency,
        "reference": reference,
        "capture_method": capture_method,
        "card": card,
    }


def _pause(answer: Answer | None, attempt: int) -> float:
    retry_after = answer.headers.get("retry-after", "") if answer else ""
    if retry_after.isdigit():
        return float(retry_after)
    return min(0.5 * 2.0 ** (attempt - 1), 8.0)  # no Retry-After (no answer at all): back off


def report(result: Outcome) -> None:
    where = f" {result.payment_id}" if result.payment_id else ""
    if result.status == "failed":
        print(f"  => failed{where}: nothing was charged; trying again would be a new payment, with a new key")
    elif result.status == "pending":
        print(f"  => pending{where}: not final yet; replay key {result.key} later, never a new key")
    elif result.status in ("authorized", "captured") and result.answer and "authorization_code" in result.answer.body:
        print(f"  => {result.status}{where} (authorization code {result.answer.body['authorization_code']})")
    else:
        print(f"  => {result.status}{where}")


def tour(gateway: Gateway, page_size: int, give_up_after: float) -> int:
    """Returns how many results were not what the test cards stand for."""
    wrong = 0
    made: list[Outcome] = []
    bodies = [payment_body(number) for _, number in TOUR]
    for (expected, number), body in zip(TOUR, bodies, strict=True):
        print(f"payment of {body['amount']} {body['currency']}, card ending {number[-4:]}, {expected} expected:")
        made.append(pay(gateway, body, give_up_after=give_up_after))
        report(made[-1])
        wrong += made[-1].status != expected
    print(f"the first payment again, same body and key {made[0].key}:")
    again = pay(gateway, bodies[0], key=made[0].key, give_up_after=give_up_after)
    replayed = again.answer is not None and again.answer.headers.get("idempotent-replayed") == "true"
    print(f"  => {again.status} {again.payment_id}, Idempotent-Replayed: {str(replayed).lower()}")
    wrong += again.payment_id != made[0].payment_id or not replayed
    wrong += list_since(gateway, made, page_size)
    return wrong + lifecycle(gateway, give_up_after)


def lifecycle(gateway: Gateway, give_up_after: float) -> int:
    """A manual payment of 1050: capture 800, refund 300 then 200, list the refunds; void another one.
    Returns how many results were not the expected ones. (The simulator misbehaves on a capture or
    refund whose amount ends in 2, 3 or 4: these do not.)"""
    wrong = 0
    print(f"a manual payment (authorize only), card ending {MANUAL_CARD[-4:]}:")
    manual = pay(gateway, payment_body(MANUAL_CARD, capture_method="manual"), give_up_after=give_up_after)
    report(manual)
    if manual.status != "authorized" or manual.payment_id is None:
        return 1
    steps = (
        ("capture", {"amount": 800}, "captured"),
        ("refund", {"amount": 300, "reason": "one item returned"}, "succeeded"),
        ("refund", {"amount": 200}, "succeeded"),
    )
    for kind, body, expected in steps:
        print(f"{kind} {body['amount']} of {manual.payment_id}, {expected} expected:")
        done = operate(gateway, manual.payment_id, kind, body, give_up_after=give_up_after)
        print(f"  => {done.status}" + ("" if done.status != "pending" else f": replay key {done.key} later"))
        wrong += done.status != expected
    answer = send(gateway, "GET", f"/v1/payments/{manual.payment_id}", retry=read_retry, give_up_after=30)
    shown = answer.body if answer is not None and answer.status == 200 else {}
    print(f"  => captured {shown.get('amount_captured')}, refunded {shown.get('amount_refunded')}")
    wrong += (shown.get("amount_captured"), shown.get("amount_refunded")) != (800, 500)
    refunds = send(gateway, "GET", f"/v1/payments/{manual.payment_id}/refunds", retry=read_retry, give_up_after=30)
    amounts = [r["amount"] for r in refunds.body["data"]] if refunds is not None and refunds.status == 200 else []
    print(f"  => refunds, oldest first: {amounts}")
    wrong += amounts != [300, 200]
    print(f"another manual payment, card ending {MANUAL_CARD[-4:]}, then its void, voided expected:")
    other = pay(gateway, payment_body(MANUAL_CARD, capture_method="manual"), give_up_after=give_up_after)
    report(other)
    voided = operate(gateway, other.payment_id, "void", give_up_after=give_up_after) if other.payment_id else None
    print(f"  => {voided.status if voided else 'no payment to void'}")
    return wrong + (voided is None or voided.status != "voided")


def list_since(gateway: Gateway, made: list[Outcome], page_size: int) -> int:
    """Pages through the payments created since the tour's first one; 1 if one of the tour's is missing."""
    first = made[0].answer
    created_from = first.body["created_at"] if first and first.status in (201, 202) else "1970-01-01T00:00:00Z"
    print(f"payments since {created_from}, {page_size} a page:")
    listed = list(pages(gateway, page_size=page_size, created_from=created_from))
    found = {payment["id"] for page in listed for payment in page}
    ours = {result.payment_id for result in made if result.payment_id}  # a 502 names its payment, if it was stored
    among = "among them" if ours <= found else "NOT all among them"
    print(f"  => {len(found)} payments in {len(listed)} pages (following next_cursor); the tour's {len(ours)} {among}")
    return 0 if ours <= found else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the API, e.g. http://127.0.0.1:8080 (make run's global endpoint)")
    parser.add_argument("--key", required=True, help="a merchant's API key")
    parser.add_argument("--card", help="make one payment with this card instead of the tour")
    parser.add_argument("--amount", type=int, default=1050, help="in minor units (default 1050)")
    parser.add_argument("--currency", default="GBP")
    parser.add_argument("--page-size", type=int, default=2, help="the tour's list page size (default 2)")
    parser.add_argument(
        "--give-up-after", type=float, default=60.0, metavar="SECONDS", help="stop retrying after this long (60)"
    )
    args = parser.parse_args(argv)
    gateway = Gateway(args.url, args.key)
    try:
        if args.card:
            body = payment_body(args.card, args.amount, args.currency)
            print(f"payment of {body['amount']} {body['currency']}, card ending {args.card[-4:]}:")
            report(pay(gateway, body, give_up_after=args.give_up_after))
            return 0
        wrong = tour(gateway, args.page_size, args.give_up_after)
    except Refused as error:
        print(f"refused: {error}")
        return 1
    print("done" if not wrong else f"{wrong} unexpected result(s)")
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
