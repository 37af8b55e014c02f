"""The Lambda entry points, driven by REST API proxy events, over moto's DynamoDB and the bank
simulator on a real localhost HTTP server."""

from __future__ import annotations

import base64
import json
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from handlers.contract import schema
from handlers.domain import ids
from handlers.entrypoints import api
from handlers.wire.cursors import NOT_OURS
from tests.integration.conftest import TABLE, BankGate, reset_handler_caches
from tests.support import AMEX, VISA_AUTHORIZED, VISA_BANK_DOWN, VISA_DECLINED, payment_body, proxy_event

pytestmark = pytest.mark.usefixtures("lambda_env")
PAYMENT_KEYS = {
    *("id", "status", "amount", "currency", "reference", "card", "authorization_code", "created_at", "region"),
    *("capture_method", "amount_captured", "amount_refunded", "authorization_expires_at"),
}


def post(body: object = None, merchant: str = "mer_a", key: str | None = None, **kwargs: Any) -> dict[str, Any]:
    headers = {"Idempotency-Key": key} if key is not None else {}
    headers.update(kwargs.pop("headers", {}))
    event = proxy_event("POST", "/v1/payments", body=body, merchant_id=merchant, headers=headers, **kwargs)
    return api.create_payment(event, None)


def get(payment_id: str, merchant: str = "mer_a") -> dict[str, Any]:
    event = proxy_event(
        "GET",
        "/v1/payments/{id}",
        path=f"/v1/payments/{payment_id}",
        path_parameters={"id": payment_id},
        merchant_id=merchant,
    )
    return api.get_payment(event, None)


def listing(merchant: str = "mer_a", **query: str) -> dict[str, Any]:
    return api.list_payments(proxy_event("GET", "/v1/payments", query=query, merchant_id=merchant), None)


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def error_of(response: dict[str, Any]) -> dict[str, Any]:
    error: dict[str, Any] = body_of(response)["error"]
    return error


def stored_items(dynamodb: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = dynamodb.scan(TableName=TABLE)["Items"]
    return items


def test_authorized_payment_is_created_and_retrievable(bank_calls: list[dict[str, Any]]) -> None:
    created = post(payment_body())
    payment = body_of(created)
    assert created["statusCode"] == 201
    assert set(payment) == PAYMENT_KEYS
    assert payment["status"] == "authorized" and payment["authorization_code"]
    assert payment["card"] == {"brand": "visa", "last4": "4291", "expiry_month": 4, "expiry_year": 2030}
    assert payment["id"].startswith("pay_") and payment["region"] == "eu-west-1"
    assert payment["created_at"].endswith("Z") and len(payment["created_at"]) == 24
    assert bank_calls[0]["reference"] == payment["id"]
    assert bank_calls[0]["expiry_date"] == "04/2030"
    fetched = get(payment["id"])
    assert fetched["statusCode"] == 200 and body_of(fetched) == payment


def test_declined_payment_is_201_without_code() -> None:
    payment = body_of(post(payment_body(VISA_DECLINED)))
    assert (payment["status"], payment["authorization_code"]) == ("declined", None)


def test_every_response_carries_the_request_id() -> None:
    event = proxy_event("POST", "/v1/payments", body={"amount": "x"})
    response = api.create_payment(event, None)
    assert response["headers"]["X-Request-Id"] == event["requestContext"]["requestId"]
    assert get("pay_unknown")["headers"]["X-Request-Id"]


def test_bank_failure_is_502_with_a_retrievable_failed_payment() -> None:
    response = post(payment_body(VISA_BANK_DOWN))
    error = error_of(response)
    assert response["statusCode"] == 502 and error["type"] == "bank_unavailable"
    failed = body_of(get(error["payment_id"]))
    assert (failed["status"], failed["authorization_code"]) == ("failed", None)


def test_validation_errors_list_every_field_and_touch_nothing(dynamodb: Any, bank_calls: list[Any]) -> None:
    response = post(payment_body(amount=1.5, currency="XXX", card__number="1234"), key="k1")
    error = error_of(response)
    assert response["statusCode"] == 400 and error["type"] == "invalid_request"
    assert {f["field"] for f in error["fields"]} == {"amount", "currency", "card.number"}
    assert bank_calls == [] and stored_items(dynamodb) == []


def test_a_repeated_key_is_refused_naming_it_and_charges_nothing(dynamodb: Any, bank_calls: list[Any]) -> None:
    """`{"amount":1050,"amount":2000}` was charged 2000: the body is refused before any read or write."""
    body = json.dumps(payment_body(amount=1050))
    raw = body.replace('"amount": 1050', '"amount": 1050, "amount": 2000')
    assert raw != body
    response = post(raw_body=raw, key="twice")
    error = error_of(response)
    assert (response["statusCode"], error["type"]) == (400, "invalid_request")
    assert error["fields"] == [{"field": "amount", "message": "is given more than once"}]
    assert bank_calls == [] and stored_items(dynamodb) == []
    assert post(payment_body(amount=1050), key="twice")["statusCode"] == 201  # the key was not taken


@pytest.mark.parametrize(
    ("field", "digits", "message"),
    [
        ("amount", "9" * 5000, "must be between 1 and"),  # past Python's 4,300-digit conversion limit
        ("amount", "-" + "9" * 5000, "must be between 1 and"),
        ("card__expiry_month", "1" * 41, "must be between 1 and 12"),
    ],
    ids=["amount", "negative-amount", "month"],
)
def test_an_integer_too_long_to_read_is_named_by_its_field(
    field: str, digits: str, message: str, dynamodb: Any, bank_calls: list[Any]
) -> None:
    """A 5,000-digit amount was reported as "not valid JSON": it is valid JSON, and out of its field's range."""
    raw = json.dumps(payment_body(**{field: "PLACEHOLDER"})).replace('"PLACEHOLDER"', digits)
    response = post(raw_body=raw, key="long")
    error = error_of(response)
    assert (response["statusCode"], error["type"]) == (400, "invalid_request"), error
    assert [f["field"] for f in error["fields"]] == [field.replace("__", ".")]
    assert error["fields"][0]["message"].startswith(message)
    assert bank_calls == [] and stored_items(dynamodb) == []


@pytest.mark.parametrize(
    "text", ["order\x00123", "order\n123", "order\x7f", "order\x85", "order\u2028", "order\u2029", "gro\u202eredro"]
)
def test_a_control_character_in_the_reference_is_refused(text: str, bank_calls: list[Any]) -> None:
    response = post(payment_body(reference=text), key="ctl")
    error = error_of(response)
    assert (response["statusCode"], error["fields"]) == (
        400,
        [{"field": "reference", "message": "must not contain control characters"}],
    )
    assert bank_calls == []


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/json; charset=latin-1", 415),
        ("application/json; charset=ISO-8859-1", 415),
        ("application/json;charset=utf-16", 415),
        ("application/json; charset=UTF-8", 201),
        ('application/json; charset="utf-8"', 201),
        ("application/json", 201),
    ],
)
def test_a_charset_other_than_utf8_is_415(content_type: str, status: int, bank_calls: list[Any]) -> None:
    response = post(payment_body(), key=f"cs-{content_type}", headers={"Content-Type": content_type})
    assert response["statusCode"] == status, response["body"]
    if status == 415:
        assert error_of(response)["type"] == "unsupported_media_type" and bank_calls == []


@pytest.mark.parametrize("written", ["4242 4242 4242 4291", "4242-4242-4242-4291", "4242.4242.4242.4291"])
def test_a_card_number_in_groups_in_the_reference_is_refused_and_not_echoed(
    written: str, dynamodb: Any, bank_calls: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    response = post(payment_body(reference=f"order for {written}"), key="grouped")
    error = error_of(response)
    assert (response["statusCode"], error["type"]) == (400, "invalid_request")
    assert error["fields"] == [{"field": "reference", "message": "must not contain a card number"}]
    everything = response["body"] + capsys.readouterr().out
    assert VISA_AUTHORIZED not in re.sub(r"[ .-]", "", everything)  # in no notation
    assert bank_calls == [] and stored_items(dynamodb) == [] and body_of(listing())["data"] == []


@pytest.mark.parametrize(
    ("kwargs", "status", "kind"),
    [
        ({"raw_body": "{not json"}, 400, "invalid_request"),
        ({"raw_body": "[1, 2]"}, 400, "invalid_request"),
        ({"raw_body": ""}, 400, "invalid_request"),
        ({"raw_body": b"\xff\xfe{}"}, 400, "invalid_request"),
        ({"raw_body": "[" * 100_000 + "]" * 100_000}, 413, "payload_too_large"),
        ({"raw_body": "[" * 5000 + "]" * 5000}, 400, "invalid_request"),
        ({"raw_body": '{"amount": ' + "9" * 5000 + "}"}, 400, "invalid_request"),
        ({"raw_body": "{}", "headers": {"Content-Type": "text/plain"}}, 415, "unsupported_media_type"),
        ({"raw_body": "{}", "headers": {"Idempotency-Key": "é"}}, 400, "invalid_request"),
    ],
)
def test_malformed_requests_are_4xx(kwargs: dict[str, Any], status: int, kind: str) -> None:
    response = post(**kwargs)
    assert (response["statusCode"], error_of(response)["type"]) == (status, kind)


def test_missing_content_type_is_415() -> None:
    event = proxy_event("POST", "/v1/payments", body=payment_body())
    del event["headers"]["Content-Type"]
    assert api.create_payment(event, None)["statusCode"] == 415


def test_idempotent_replay_returns_the_original(bank_calls: list[Any]) -> None:
    first = post(payment_body(), key="order-123")
    again = post(payment_body(), key="order-123")
    assert (again["statusCode"], again["body"]) == (first["statusCode"], first["body"])
    assert again["headers"]["Idempotent-Replayed"] == "true"
    assert len(bank_calls) == 1


def test_reused_key_with_another_body_is_422(bank_calls: list[Any]) -> None:
    post(payment_body(), key="order-123")
    response = post(payment_body(amount=999), key="order-123")
    assert (response["statusCode"], error_of(response)["type"]) == (422, "idempotency_key_reused")
    assert len(bank_calls) == 1


def test_key_in_flight_is_409_with_retry_after(bank_calls: list[Any], bank_gate: BankGate) -> None:
    bank_gate.hold()
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(post, payment_body(), key="in-flight")
        assert bank_gate.arrived.wait(timeout=10)  # the first request is now at the bank
        second = post(payment_body(), key="in-flight")
        bank_gate.opened.set()
        assert first.result(timeout=10)["statusCode"] == 201
    assert (second["statusCode"], error_of(second)["type"]) == (409, "request_in_progress")
    assert second["headers"]["Retry-After"] == "1"
    assert len(bank_calls) == 1


def test_a_503_is_final_without_a_key_and_pending_with_one_and_never_sent_again(bank_calls: list[Any]) -> None:
    """Without a key the refusal proves nothing was charged (502). A key's reference is shared by
    both regions, so a refusal is pending (202) until the resolver may reverse it (docs/bank.md)."""
    keyless = error_of(post(payment_body(VISA_BANK_DOWN)))
    assert keyless["type"] == "bank_unavailable" and "nothing was charged" in keyless["message"]
    keyed = post(payment_body(VISA_BANK_DOWN), key="k-502")
    assert keyed["statusCode"] == 202 and body_of(keyed)["status"] == "pending"
    replay = post(payment_body(VISA_BANK_DOWN), key="k-502")
    assert replay["statusCode"] == 409  # its lease still runs: never sent twice
    assert len(bank_calls) == 2


def test_same_key_for_two_merchants_gives_two_payments() -> None:
    a = body_of(post(payment_body(), merchant="mer_a", key="shared"))
    b = body_of(post(payment_body(), merchant="mer_b", key="shared"))
    assert a["id"] != b["id"]


def test_merchants_see_only_their_own_payments() -> None:
    mine = body_of(post(payment_body(), merchant="mer_a"))
    theirs = get(mine["id"], merchant="mer_b")
    missing = get(ids.new_payment_id(datetime.now(UTC)), merchant="mer_b")
    assert theirs["statusCode"] == missing["statusCode"] == 404
    assert error_of(theirs) == error_of(missing)
    assert body_of(listing(merchant="mer_b"))["data"] == []


def test_list_pages_through_a_merchants_payments() -> None:
    bodies = (payment_body(VISA_AUTHORIZED), payment_body(VISA_DECLINED), payment_body(AMEX, card__cvv="1234"))
    made = [body_of(post(body))["id"] for body in bodies]
    first = body_of(listing(limit="2"))
    second = body_of(listing(limit="2", cursor=first["next_cursor"]))
    assert [p["id"] for p in first["data"] + second["data"]] == list(reversed(made))
    assert second["next_cursor"] is None
    assert [p["id"] for p in body_of(listing(status="declined"))["data"]] == [made[1]]


def test_a_cursor_works_only_for_the_merchant_and_list_it_was_given_to() -> None:
    """A cursor is the last id with a keyed MAC: another merchant's, an edited one or one made from an id
    (the old, unsigned form) is a 400 naming `cursor`, and nothing of the other merchant is read."""
    for body in (payment_body(), payment_body(VISA_DECLINED)):
        post(body, merchant="mer_a")
    post(payment_body(), merchant="mer_b")
    cursor = body_of(listing(limit="1"))["next_cursor"]
    assert body_of(listing(limit="1", cursor=cursor))["data"]  # its own merchant's next page
    last_id = body_of(listing(limit="1"))["data"][0]["id"]
    unsigned = base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")
    edited = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")
    for merchant, sent in (("mer_b", cursor), ("mer_a", unsigned), ("mer_a", edited)):
        response = listing(merchant=merchant, cursor=sent)
        assert response["statusCode"] == 400, (merchant, sent)
        assert error_of(response)["fields"] == [{"field": "cursor", "message": NOT_OURS}]


def test_bad_list_query_is_400_with_fields() -> None:
    response = listing(limit="500", status="unknown", created_from="soon")
    assert response["statusCode"] == 400
    assert {f["field"] for f in error_of(response)["fields"]} == {"limit", "status", "created_from"}


def test_repeated_query_parameter_is_400() -> None:
    event = proxy_event("GET", "/v1/payments", query={"limit": "5"})
    event["multiValueQueryStringParameters"] = {"limit": ["5", "6"]}
    assert api.list_payments(event, None)["statusCode"] == 400


def test_a_repeated_query_parameter_is_named_but_never_as_a_card_number() -> None:
    event = proxy_event("GET", "/v1/payments", query={"limit": "5"})
    event["multiValueQueryStringParameters"] = {"limit": ["5", "6"], "4242 4242 4242 4291": ["1", "2"]}
    response = api.list_payments(event, None)
    assert [f["field"] for f in error_of(response)["fields"]] == ["limit", "[card]"]
    assert VISA_AUTHORIZED not in re.sub(r"[ .-]", "", response["body"])


def test_health_reports_region_and_fails_when_the_table_is_gone(dynamodb: Any) -> None:
    healthy = api.health(proxy_event("GET", "/health", merchant_id=None), None)
    assert (healthy["statusCode"], body_of(healthy)) == (200, {"status": "ok", "region": "eu-west-1"})
    dynamodb.delete_table(TableName=TABLE)
    sick = api.health(proxy_event("GET", "/health", merchant_id=None), None)
    assert (sick["statusCode"], error_of(sick)["type"]) == (503, "service_unavailable")


def test_missing_configuration_is_a_500_without_internals(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FINGERPRINT_KEY")
    reset_handler_caches()
    response = post(payment_body())
    assert (response["statusCode"], error_of(response)["type"]) == (500, "internal_error")
    assert "FINGERPRINT_KEY" not in response["body"] and "Traceback" not in response["body"]


def test_malformed_configuration_is_a_500_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BANK_READ_TIMEOUT_MS", "soon")
    reset_handler_caches()
    response = post(payment_body())
    assert (response["statusCode"], error_of(response)["type"]) == (500, "internal_error")


def test_a_lease_shorter_than_the_bank_deadline_is_a_500_before_any_charge(
    monkeypatch: pytest.MonkeyPatch, bank_calls: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("IDEMPOTENCY_LEASE_SECONDS", "0.5")
    reset_handler_caches()
    response = post(payment_body(), key="short-lease")
    assert (response["statusCode"], error_of(response)["type"]) == (500, "internal_error")
    assert any("IDEMPOTENCY_LEASE_SECONDS" in getattr(r, "reason", "") for r in caplog.records)  # logged
    assert bank_calls == []


def test_no_card_number_or_cvv_reaches_storage_logs_or_responses(
    dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    cards = [(VISA_AUTHORIZED, "739"), (VISA_DECLINED, "846"), (VISA_BANK_DOWN, "951"), (AMEX, "6284")]
    bodies = [post(payment_body(number, card__cvv=cvv), key=f"scan-{cvv}")["body"] for number, cvv in cards]
    bodies.append(post(payment_body(VISA_AUTHORIZED, card__cvv="739", amount=-1))["body"])
    bodies.append(post(payment_body("4242424242424241", card__cvv="739"))["body"])  # fails Luhn
    everything = json.dumps(stored_items(dynamodb)) + capsys.readouterr().out + "".join(bodies)
    assert "payment_processed" in everything  # the logs really were captured
    for number, cvv in [*cards, ("4242424242424241", "739")]:
        assert number not in everything
        assert f'"{cvv}"' not in everything
    assert '"cvv"' not in json.dumps(stored_items(dynamodb))


def test_payments_emit_embedded_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    post(payment_body(VISA_DECLINED))
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    by_name = {r["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]: r for r in records}
    assert by_name["Payments"]["Status"] == "declined"
    assert by_name["Payments"]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "PaymentGateway"
    assert by_name["BankLatency"]["BankLatency"] > 0


def test_items_use_the_shared_key_schema(dynamodb: Any) -> None:
    payment = body_of(post(payment_body(), key="order-77"))
    keys = {(item["pk"]["S"], item["sk"]["S"]) for item in stored_items(dynamodb)}
    claim_keys = {sk for _, sk in keys if sk.startswith(schema.IDEMPOTENCY_PREFIX)}
    event_keys = {sk for _, sk in keys if sk.startswith(schema.EVENT_PREFIX)}  # its payment.authorized
    assert len(event_keys) == 1
    assert keys - {(schema.merchant_pk("mer_a"), sk) for sk in claim_keys | event_keys} == {
        (schema.merchant_pk("mer_a"), schema.payment_sk(payment["id"]))
    }
    [claim_key] = claim_keys
    assert re.fullmatch(schema.IDEMPOTENCY_PREFIX + "[0-9a-f]{64}", claim_key)  # an HMAC, not "order-77"
    assert "order-77" not in json.dumps(stored_items(dynamodb))


# --- query parameters: every route refuses the ones it does not take --------------------------


UNKNOWN_QUERY = {"field": "x", "message": "is not a known query parameter"}


def test_an_unknown_query_parameter_on_get_is_the_lists_400_even_for_an_existing_payment() -> None:
    payment_id = body_of(post(payment_body()))["id"]
    event = proxy_event(
        "GET", "/v1/payments/{id}", path_parameters={"id": payment_id}, query={"x": "1"}, merchant_id="mer_a"
    )
    response = api.get_payment(event, None)
    listed = listing(x="1")
    assert response["statusCode"] == listed["statusCode"] == 400
    assert (
        error_of(response)
        == error_of(listed)
        == {
            "type": "invalid_request",
            "message": "The request has 1 invalid field.",
            "fields": [UNKNOWN_QUERY],
        }
    )


def test_a_query_parameter_named_like_a_card_number_is_masked_on_get() -> None:
    event = proxy_event("GET", "/v1/payments/{id}", path_parameters={"id": "pay_x"}, query={VISA_AUTHORIZED: ""})
    response = api.get_payment(event, None)
    assert error_of(response)["fields"] == [{"field": "[card]", "message": "is not a known query parameter"}]
    assert VISA_AUTHORIZED not in response["body"]


def test_a_query_string_on_post_is_refused_before_the_bank_and_the_store(dynamodb: Any, bank_calls: list[Any]) -> None:
    response = post(payment_body(), key="k-query", query={"x": "1", "amount": "5"})
    assert (response["statusCode"], error_of(response)["type"]) == (400, "invalid_request")
    assert error_of(response)["fields"] == [UNKNOWN_QUERY, {"field": "amount", "message": UNKNOWN_QUERY["message"]}]
    assert bank_calls == [] and stored_items(dynamodb) == []
    assert post(payment_body(), key="k-query")["statusCode"] == 201  # the key was not taken


def test_a_query_string_on_health_is_refused_too() -> None:
    response = api.health(proxy_event("GET", "/health", query={"x": ""}, merchant_id=None), None)
    assert (response["statusCode"], error_of(response)["fields"]) == (400, [UNKNOWN_QUERY])


def test_a_repeated_query_parameter_on_get_is_400() -> None:
    event = proxy_event("GET", "/v1/payments/{id}", path_parameters={"id": "pay_x"}, query={"x": "1"})
    event["multiValueQueryStringParameters"] = {"x": ["1", "2"]}
    assert error_of(api.get_payment(event, None))["message"] == "A query parameter was repeated."


# --- bodies and timestamps ---------------------------------------------------------------------


def test_an_oversized_body_is_413_whatever_its_content_type() -> None:
    response = post(raw_body="x" * 16_385, headers={"Content-Type": "text/plain"})
    assert (response["statusCode"], error_of(response)) == (
        413,
        {"type": "payload_too_large", "message": "The request body must be at most 16384 bytes."},
    )
    assert post(raw_body="x" * 16_384, headers={"Content-Type": "text/plain"})["statusCode"] == 415


def test_a_timestamp_whose_plus_became_a_space_says_to_percent_encode_it() -> None:
    response = listing(created_from="2026-01-01T00:00:00 00:00", created_to="2026-01-02")
    fields = {f["field"]: f["message"] for f in error_of(response)["fields"]}
    assert response["statusCode"] == 400
    assert "percent-encode + as %2B" in fields["created_from"]
    assert fields["created_to"].startswith("must be an RFC 3339 date-time with an offset")


def test_a_filtered_page_may_be_short_or_empty_with_a_cursor_and_only_null_ends_the_list() -> None:
    """As docs/openapi.yaml says: a filter is applied to what one bounded read covers. Two declined payments
    lie behind 260 newer authorized ones: the first pages of `status=declined` are empty, with a cursor, and
    following the cursors to null gives both."""
    declined = [body_of(post(payment_body(VISA_DECLINED), key=f"declined-{n}"))["id"] for n in range(2)]
    for n in range(260):
        assert post(payment_body(), key=f"authorized-{n}")["statusCode"] == 201
    pages: list[list[str]] = []
    cursor: str | None = None
    for _ in range(20):
        page = body_of(listing(status="declined", limit="2", **({"cursor": cursor} if cursor else {})))
        pages.append([p["id"] for p in page["data"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert cursor is None and sorted(pid for page in pages for pid in page) == sorted(declined)
    assert pages[0] == [] and len(pages) > 1  # an empty page that is not the end
    assert all(len(page) <= 2 for page in pages)


@pytest.mark.parametrize("text", ["café 👩‍👩‍👧 order", "طلب-١٢٣", "order\u200d1", "עברית"])
def test_text_of_any_script_emoji_and_joiners_is_kept_as_given(text: str) -> None:
    response = post(payment_body(reference=text), key=f"text-{text.encode().hex()}")
    assert response["statusCode"] == 201 and body_of(response)["reference"] == text
