"""Bad input, generated: whatever a client sends, the answer is a documented 4xx, never a 5xx,
the bank is not called and nothing is stored.

Every answer is also checked against docs/openapi.yaml, the error map and the headers
(tests/reliability/gateway.py: check_reply). Example counts are bounded here; `make soak` runs the
slow copies with the soak profile.
"""

from __future__ import annotations

import base64
import json
import string
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import assume
from hypothesis import strategies as st

from handlers.contract import limits
from handlers.domain import cards
from handlers.entrypoints import api
from handlers.wire.validation import MAX_IDEMPOTENCY_KEY_LENGTH
from tests.reliability.conftest import scan
from tests.reliability.faultbank import FaultBank
from tests.reliability.gateway import Gateway, Reply, card_body
from tests.reliability.properties import property_test
from tests.support import AMEX, VISA_AUTHORIZED, proxy_event

pytestmark = pytest.mark.usefixtures("gateway")

# --- strategies ---------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
    st.text(alphabet=string.digits, min_size=10, max_size=25),
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=15,
)
THIS_YEAR = datetime.now(UTC).year
FIELD_NAMES = ("amount", "currency", "reference", "card")
CARD_FIELDS = ("number", "expiry_month", "expiry_year", "cvv")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _valid_number(value: object) -> bool:
    return (
        isinstance(value, str) and cards.is_ascii_digits(value) and 14 <= len(value) <= 19 and cards.luhn_valid(value)
    )


def _amount_ok(v: object) -> bool:
    return _is_int(v) and 1 <= v <= 99_999_999  # type: ignore[operator]


def _currency_ok(v: object) -> bool:
    return v in ("GBP", "EUR", "USD")


def _reference_ok(v: object) -> bool:
    return v is None or isinstance(v, str)


def _card_ok(v: object) -> bool:
    return isinstance(v, dict)


def _month_ok(v: object) -> bool:
    return _is_int(v) and 1 <= v <= 12  # type: ignore[operator]


def _year_ok_or_ambiguous(v: object) -> bool:
    # This year is left out: with month 4 it is valid or expired depending on today's date.
    return _is_int(v) and THIS_YEAR <= v <= 9999  # type: ignore[operator]


def _visa_cvv_ok(v: object) -> bool:
    return isinstance(v, str) and cards.is_ascii_digits(v) and len(v) == 3


def rejected_by(
    valid: Callable[[object], bool], values: st.SearchStrategy[Any] = json_values
) -> st.SearchStrategy[Any]:
    def invalid(value: object) -> bool:  # a named function: hypothesis does not parse its source
        return not valid(value)

    return values.filter(invalid)


# For each field, values the contract (docs/openapi.yaml) rejects there, from the field's own
# neighbourhood (near-misses) and from anywhere (any JSON value of another shape).
INVALID: dict[str, st.SearchStrategy[Any]] = {
    "amount": st.one_of(
        rejected_by(_amount_ok),
        st.sampled_from([0, -1, 100_000_000, 10**20, 10.0, 1050.5, True, "1050", None, [1050]]),
    ),
    "currency": st.one_of(
        rejected_by(_currency_ok),
        st.sampled_from(["gbp", "GB", "GBPX", "JPY", "ＧＢＰ", "GBP ", ""]),
    ),
    "reference": st.one_of(
        rejected_by(_reference_ok),
        st.text(min_size=129, max_size=300),
        # JSON's "\ud800" escape decodes to an unpaired surrogate, which has no UTF-8 form to store
        st.builds(lambda a, s, b: a + s + b, st.text(max_size=20), st.characters(categories=["Cs"]), st.text()),
    ),
    "card": rejected_by(_card_ok),
    "card.number": st.one_of(
        rejected_by(_valid_number),
        rejected_by(_valid_number, st.text(alphabet=string.digits, min_size=12, max_size=21)),
        st.sampled_from(
            ["4242 4242 4242 4291", "4242-4242-4242-4291", "４２４２４２４２４２４２４２９１", "4242424242424291\n"]
        ),
    ),
    "card.expiry_month": rejected_by(_month_ok),
    "card.expiry_year": st.one_of(
        rejected_by(_year_ok_or_ambiguous),
        st.integers(min_value=1000, max_value=THIS_YEAR - 1),  # expired
    ),
    "card.cvv": st.one_of(
        rejected_by(_visa_cvv_ok),
        st.sampled_from(["1234", "12", "12a", "١٢٣", " 123"]),  # 4 digits is wrong for a Visa card
    ),
}
KNOWN_FIELDS = frozenset(FIELD_NAMES + CARD_FIELDS)


def _unknown_field(name: str) -> bool:
    return name not in KNOWN_FIELDS


@st.composite
def mutated_bodies(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A valid request with one field broken: replaced by an invalid value, removed, or one added."""
    body = card_body(VISA_AUTHORIZED)
    body["card"] = dict(body["card"])
    how = draw(st.sampled_from(["replace", "remove", "add"]))
    if how == "add":
        name = draw(st.text(min_size=1, max_size=30).filter(_unknown_field))
        where = draw(st.sampled_from(["", "card."]))
        (body if not where else body["card"])[name] = draw(json_values)
        return body, where + name
    path = draw(
        st.sampled_from(
            sorted(INVALID) if how == "replace" else ["amount", "currency", "card", *[f"card.{f}" for f in CARD_FIELDS]]
        )
    )
    parent, _, leaf = path.rpartition(".")
    target = body["card"] if parent else body
    if how == "remove":
        del target[leaf]
    else:
        target[leaf] = draw(INVALID[path])
    return body, path


def not_a_payment(value: object) -> bool:
    return not (isinstance(value, dict) and isinstance(value.get("card"), dict))


# --- the invariant ------------------------------------------------------------------------------


def assert_refused(reply: Reply, store: Any, bank: FaultBank, *statuses: int) -> None:
    assert 400 <= reply.status < 500, f"{reply.status}: {reply.raw[:300]}"
    if statuses:
        assert reply.status in statuses, reply.raw[:300]
    assert bank.calls == [], "the bank was called for a refused request"
    assert scan(store) == [], "a refused request stored something"


# --- bodies -------------------------------------------------------------------------------------


def _any_json_value(gateway: Gateway, store: Any, bank: FaultBank, value: Any) -> None:
    assume(not_a_payment(value))
    reply = gateway.post(raw=json.dumps(value), key="k-any")
    assert_refused(reply, store, bank, 400, 413)


test_any_json_value_is_refused, test_any_json_value_is_refused_soak = property_test(150, value=json_values)(
    _any_json_value
)


def _one_broken_field(gateway: Gateway, store: Any, bank: FaultBank, case: tuple[dict[str, Any], str]) -> None:
    body, path = case
    reply = gateway.post(body, key="k-broken")
    assert_refused(reply, store, bank, 400)
    assert reply.error["type"] == "invalid_request"
    named = {f["field"] for f in reply.error["fields"]}
    echoed = cards.mask_pans(path)  # an unknown key that is a card number is named "[card]"
    assert echoed in named, f"{echoed} not in {named}"


test_one_broken_field_is_named, test_one_broken_field_is_named_soak = property_test(250, case=mutated_bodies())(
    _one_broken_field
)


def _many_broken_fields(gateway: Gateway, store: Any, bank: FaultBank, data: st.DataObject) -> None:
    body = card_body(VISA_AUTHORIZED)
    body["card"] = dict(body["card"])
    broken = data.draw(st.sets(st.sampled_from(sorted(INVALID)), min_size=2, max_size=len(INVALID)))
    if "card" in broken:  # a broken card hides the card's own fields
        broken = {p for p in broken if not p.startswith("card.")}
    for path in broken:
        parent, _, leaf = path.rpartition(".")
        (body["card"] if parent else body)[leaf] = data.draw(INVALID[path])
    card = body.get("card")
    if isinstance(card, dict):
        # Expiry and CVV length are judged together with the month and the number: an expired
        # year beside a broken month, or a 4-digit CVV beside a broken number, is not reported.
        if "card.expiry_month" in broken and _is_int(card["expiry_year"]) and 1000 <= card["expiry_year"] <= 9999:
            broken.discard("card.expiry_year")
        if "card.number" in broken and isinstance(card["cvv"], str) and card["cvv"] in ("1234",):
            broken.discard("card.cvv")
    reply = gateway.post(body)
    assert_refused(reply, store, bank, 400)
    assert {f["field"] for f in reply.error["fields"]} >= broken


test_every_broken_field_is_named, test_every_broken_field_is_named_soak = property_test(150, data=st.data())(
    _many_broken_fields
)


def _raw_bytes(gateway: Gateway, store: Any, bank: FaultBank, raw: bytes) -> None:
    reply = gateway.post(raw=raw)  # bytes: a base64-encoded event, as API Gateway sends binary bodies
    assert_refused(reply, store, bank, 400, 413)


invalid_utf8 = st.builds(
    lambda prefix, bad, suffix: prefix + bad + suffix,
    st.sampled_from([b"", b'{"amount": "', b'{"reference": "', json.dumps(card_body(AMEX, "1234"))[:-1].encode()]),
    st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xe2\x82", b"\x80"]),
    st.sampled_from([b"", b'"}', b"}"]),
)
test_arbitrary_and_invalid_utf8_bytes_are_refused, test_arbitrary_and_invalid_utf8_bytes_are_refused_soak = (
    property_test(200, raw=st.one_of(st.binary(max_size=300), invalid_utf8))(_raw_bytes)
)


def _text_bodies(gateway: Gateway, store: Any, bank: FaultBank, raw: str) -> None:
    assume(not_a_payment(_loads_or_none(raw)))
    reply = gateway.post(raw=raw)  # str: a text event body; may hold lone surrogates
    assert_refused(reply, store, bank, 400, 413)


def _loads_or_none(raw: str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


test_arbitrary_text_is_refused, test_arbitrary_text_is_refused_soak = property_test(
    200, raw=st.one_of(st.text(), st.text(alphabet=st.characters(categories=["Cs", "Cc", "Zs", "So"])))
)(_text_bodies)


def _sizes_and_depths(gateway: Gateway, store: Any, bank: FaultBank, shape: str, size: int) -> None:
    if shape == "long reference":
        raw = json.dumps({**card_body(VISA_AUTHORIZED), "reference": "é" * (128 + size)})
    elif shape == "deep array":
        raw = "[" * size + "]" * size
    elif shape == "deep object in card":
        raw = json.dumps(card_body(VISA_AUTHORIZED))[:-1] + ', "x": ' + '{"a":' * size + "1" + "}" * size + "}"
    else:  # a huge number literal
        raw = '{"amount": 1' + "0" * size + ', "currency": "GBP"}'
    reply = gateway.post(raw=raw)
    expected = 413 if len(raw.encode()) > limits.MAX_BODY_BYTES else 400
    assert_refused(reply, store, bank, expected)


test_long_deep_and_huge_are_refused, test_long_deep_and_huge_are_refused_soak = property_test(
    150,
    shape=st.sampled_from(["long reference", "deep array", "deep object in card", "huge number"]),
    size=st.one_of(st.integers(1, 20_000), st.integers(8150, 8250)),
)(_sizes_and_depths)


@pytest.mark.parametrize(
    "raw",
    [
        '{"amount": NaN, "currency": "GBP"}',
        '{"amount": Infinity}',
        '{"amount": -Infinity}',
        '{"amount": 1e400}',
        '{"amount": -0}',
        '{"amount": 1E2}',
        '{"amount": 0x10}',
        '{"amount": 1050,}',
        "{'amount': 1050}",
        '{"amount": 1050} {"amount": 1050}',
        "\ufeff{}",
        "",
        "null",
        "   ",
        '"' + "a" * 100 + '"',
    ],
)
def test_json_edge_cases_are_refused(gateway: Gateway, store: Any, bank: FaultBank, raw: str) -> None:
    assert_refused(gateway.post(raw=raw), store, bank, 400)


def test_duplicate_keys_take_the_last_value_and_are_still_validated(
    gateway: Gateway, store: Any, bank: FaultBank
) -> None:
    body = json.dumps(card_body(VISA_AUTHORIZED))[:-1] + ', "amount": -5}'
    assert_refused(gateway.post(raw=body), store, bank, 400)


# --- headers ------------------------------------------------------------------------------------


def _content_types(gateway: Gateway, store: Any, bank: FaultBank, content_type: str | None) -> None:
    media = (content_type or "").split(";")[0].strip().lower()
    assume(media != "application/json")
    event = proxy_event("POST", "/v1/payments", body=card_body(VISA_AUTHORIZED), headers={"Idempotency-Key": "k"})
    if content_type is None:
        del event["headers"]["Content-Type"]
    else:
        event["headers"]["Content-Type"] = content_type
    reply = gateway.send(api.create_payment, event)
    assert_refused(reply, store, bank, 415)


content_types = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            "text/plain",
            "application/xml",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/json-patch+json",
            "application/vnd.api+json",
            "application/jsonp",
            "json",
            "application/ json",
            "application/json\x00",
        ]
    ),
)
test_non_json_content_types_are_415, test_non_json_content_types_are_415_soak = property_test(
    150, content_type=content_types
)(_content_types)


@pytest.mark.parametrize("content_type", ["APPLICATION/JSON", "application/json; charset=utf-8", " application/json "])
def test_json_content_type_variants_are_accepted(gateway: Gateway, bank: FaultBank, content_type: str) -> None:
    reply = gateway.post(card_body(VISA_AUTHORIZED), headers={"Content-Type": content_type})
    assert reply.status == 201 and len(bank.calls) == 1


def _invalid_key(value: str) -> bool:
    return not (1 <= len(value) <= MAX_IDEMPOTENCY_KEY_LENGTH and all(" " <= c <= "~" for c in value))


def _idempotency_keys(gateway: Gateway, store: Any, bank: FaultBank, key: str, header_name: str) -> None:
    reply = gateway.post(card_body(VISA_AUTHORIZED), headers={header_name: key})
    assert_refused(reply, store, bank, 400)
    assert reply.error["fields"] == [{"field": "Idempotency-Key", "message": reply.error["fields"][0]["message"]}]


weird_keys = st.one_of(
    st.just(""),
    st.text(min_size=1).filter(_invalid_key),
    st.text(alphabet=string.printable, min_size=1).filter(_invalid_key),  # \t \n \r \x0b \x0c
    st.text(alphabet=string.ascii_letters, min_size=256, max_size=2000),
    st.sampled_from(["ключ", "key\u200b", "key\x7f", "ﬀ", "key\u0000", "😀", "k\u00a0ey"]),
)
test_invalid_idempotency_keys_are_400, test_invalid_idempotency_keys_are_400_soak = property_test(
    200, key=weird_keys, header_name=st.sampled_from(["Idempotency-Key", "idempotency-key", "IDEMPOTENCY-KEY"])
)(_idempotency_keys)


def test_valid_but_odd_idempotency_keys_work_and_replay(gateway: Gateway, bank: FaultBank) -> None:
    for key in [" ", "~" * 255, "#", "IDEMPOTENCY#x", "PAYMENT#pay_01", "a b", '"quoted"', "\\"]:
        first = gateway.post(card_body(VISA_AUTHORIZED), key=key)
        again = gateway.post(card_body(VISA_AUTHORIZED), key=key)
        assert (first.status, again.status) == (201, 201), key
        assert again.body == first.body and again.headers.get("Idempotent-Replayed") == "true"
    assert len(bank.calls) == 8


def test_missing_authorizer_context_is_401_not_500(gateway: Gateway, store: Any, bank: FaultBank) -> None:
    reply = gateway.post(card_body(VISA_AUTHORIZED), merchant=None)
    assert_refused(reply, store, bank, 401)


@pytest.mark.parametrize("mutation", ["no headers", "no body", "body null base64", "bad base64", "urlsafe base64"])
def test_odd_events_are_4xx(gateway: Gateway, store: Any, bank: FaultBank, mutation: str) -> None:
    event = proxy_event("POST", "/v1/payments", body=card_body(VISA_AUTHORIZED))
    if mutation == "no headers":
        event["headers"] = None
    elif mutation == "no body":
        event["body"] = None
    elif mutation == "body null base64":
        event.update(body=None, isBase64Encoded=True)
    elif mutation == "bad base64":
        event.update(body="not base64!!", isBase64Encoded=True)
    else:
        event.update(body=base64.urlsafe_b64encode(b'{"a": "\xff\xfe"}').decode(), isBase64Encoded=True)
    reply = gateway.send(api.create_payment, event)
    assert_refused(reply, store, bank)


# --- reads ----------------------------------------------------------------------------------------


def _get_any_id(gateway: Gateway, store: Any, bank: FaultBank, payment_id: str) -> None:
    reply = gateway.get(payment_id)
    assert (reply.status, reply.kind) == (404, "not_found")
    assert bank.calls == []


test_any_payment_id_is_404, test_any_payment_id_is_404_soak = property_test(
    200,
    payment_id=st.one_of(
        st.text(),
        st.from_regex(r"\Apay_[0-9A-Z]{20,30}\Z"),
        st.sampled_from(["pay_", "pay_" + "Z" * 26, "pay_01" + "0" * 24 + "#", "../pay_x", "%00", "PAYMENT#"]),
    ),
)(_get_any_id)

LIST_PARAMETERS = ["limit", "cursor", "status", "created_from", "created_to"]
query_values = st.one_of(
    st.text(max_size=40),
    st.integers(-5, 500).map(str),
    st.sampled_from(["authorized", "declined", "failed", "AUTHORIZED", "pending"]),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat()),
    st.binary(max_size=30).map(lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")),
    st.text(alphabet="0123456789ABCDEFGHJKMNPQRSTVWXYZ", min_size=26, max_size=26).map(
        lambda u: base64.urlsafe_b64encode(("pay_" + u).encode()).decode().rstrip("=")
    ),
)


def _outside_id_range(name: str, text: str) -> bool:
    """A timestamp that trips the known bug below (remove this filter when that test passes)."""
    if name not in ("created_from", "created_to"):
        return False
    try:
        moment = datetime.fromisoformat(text)
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC) - timedelta(milliseconds=1) < datetime(1970, 1, 1, tzinfo=UTC)
    except ValueError:
        return False
    except OverflowError:
        return True


def _list_queries(gateway: Gateway, store: Any, bank: FaultBank, query: dict[str, str]) -> None:
    assume(not any(_outside_id_range(name, value) for name, value in query.items()))
    reply = gateway.list_payments(**query)
    assert reply.status in (200, 400), f"{reply.status} for {query}: {reply.raw[:300]}"
    if reply.status == 200:
        assert reply.body == {"data": [], "next_cursor": None}
    else:
        assert reply.kind == "invalid_request" and reply.error["fields"]
    assert bank.calls == []


test_any_list_query_is_200_or_400, test_any_list_query_is_200_or_400_soak = property_test(
    200,
    query=st.dictionaries(
        st.one_of(st.sampled_from(LIST_PARAMETERS), st.text(min_size=1, max_size=15)), query_values, max_size=4
    ),
)(_list_queries)


@pytest.mark.parametrize(
    "query",
    [
        {"created_from": "1969-12-31T23:59:59Z"},
        {"created_to": "1970-01-01T00:00:00Z"},
        {"created_to": "0001-01-01T00:00:00+01:00"},
        {"created_from": "9999-12-31T23:59:59-23:59"},
    ],
)
def test_timestamps_outside_the_id_range_are_400(gateway: Gateway, query: dict[str, str]) -> None:
    assert gateway.list_payments(**query).status == 400


def test_a_repeated_query_parameter_is_400(gateway: Gateway) -> None:
    event = proxy_event("GET", "/v1/payments", query={"limit": "5"})
    event["multiValueQueryStringParameters"] = {"limit": ["5", "500"], "status": ["failed"]}
    reply = gateway.send(api.list_payments, event)
    assert reply.status == 400 and reply.error["fields"] == [{"field": "limit", "message": "must be given once"}]
