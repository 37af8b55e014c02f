import json
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.domain import cards, ids
from handlers.domain.errors import InvalidRequest
from handlers.wire.converter import _has_control, _is_control
from handlers.wire.cursors import Cursors
from handlers.wire.validation import (
    ValidationRules,
    parse_idempotency_key,
    parse_list_query,
    parse_payment_command,
    parse_payment_request,
    refuse_query_parameters,
)
from tests.support import AMEX, UNNAMED_BRAND_WRITINGS, VISA_AUTHORIZED, luhn_complete, payment_body

TODAY = date(2026, 11, 26)
RULES = ValidationRules()

CURSORS = Cursors(b"cursor-key-of-the-unit-tests", "mer_a", "payments")


def fields_of(body: object, rules: ValidationRules = RULES) -> dict[str, str]:
    with pytest.raises(InvalidRequest) as raised:
        parse_payment_request(body, rules, TODAY)
    return {f.field: f.message for f in raised.value.fields}


def test_a_valid_request_becomes_a_payment_request() -> None:
    request = parse_payment_request(payment_body(), RULES, TODAY)
    assert request.amount == 1050
    assert request.card.number == VISA_AUTHORIZED
    assert request.reference == "order-123"


def test_a_payment_command_keeps_the_body_as_canonical_json_only_with_a_key_and_shows_neither() -> None:
    body = payment_body()
    reordered = dict(reversed(list(body.items())))
    keyed = parse_payment_command("mer_a", reordered, "key-77", RULES, TODAY)
    assert keyed.request == parse_payment_request(body, RULES, TODAY) and keyed.merchant_id == "mer_a"
    assert keyed.idempotency is not None and keyed.idempotency.key == "key-77"
    assert keyed.idempotency.body == json.dumps(body, sort_keys=True, separators=(",", ":"))
    assert "key-77" not in repr(keyed) and VISA_AUTHORIZED not in repr(keyed)
    assert parse_payment_command("mer_a", body, None, RULES, TODAY).idempotency is None
    with pytest.raises(InvalidRequest):
        parse_payment_command("mer_a", payment_body(amount=0), "key-77", RULES, TODAY)


def test_reference_is_optional() -> None:
    body = payment_body()
    del body["reference"]
    assert parse_payment_request(body, RULES, TODAY).reference is None


def test_every_bad_field_is_reported_together() -> None:
    body = payment_body(amount="10", currency="JPY", card__number="4242424242424241", card__cvv="12", unknown=1)
    body["card"]["expiry_month"] = 13
    assert set(fields_of(body)) == {"amount", "currency", "card.number", "card.cvv", "card.expiry_month", "unknown"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", True),
        ("amount", 10.0),
        ("amount", 10.5),
        ("amount", "10"),
        ("amount", 0),
        ("amount", -1),
        ("amount", 100_000_000),
        ("amount", None),
        ("currency", "gbp"),
        ("currency", "GB"),
        ("currency", "CHF"),
        ("currency", 826),
        ("reference", "x" * 129),
        ("reference", 5),
        ("card__number", 4242424242424291),
        ("card__number", "4242 4242 4242 4291"),
        ("card__number", "4242424242424241"),  # Luhn fails
        ("card__number", "4242424242429"),  # 13 digits
        ("card__number", "42424242424242424244"),  # 20 digits
        ("card__number", "４２４２４２４２４２４２４２９１"),
        ("card__cvv", 123),
        ("card__cvv", "12"),
        ("card__cvv", "12345"),
        ("card__cvv", "12a"),
        ("card__cvv", "1234"),  # 4 digits on a Visa
        ("card__expiry_month", 0),
        ("card__expiry_month", "4"),
        ("card__expiry_month", True),
        ("card__expiry_year", 30),
        ("card__expiry_year", 2025),  # expired
        ("card__expiry_year", "2030"),
        ("card", "4242424242424291"),
        ("card", None),
    ],
)
def test_bad_values_name_their_field(field: str, value: object) -> None:
    errors = fields_of(payment_body(**{field: value}))
    assert list(errors) == [field.replace("__", ".")]


def test_missing_fields_are_each_reported() -> None:
    assert fields_of({"card": {}}) == {
        "amount": "is required",
        "currency": "is required",
        "card.number": "is required",
        "card.expiry_month": "is required",
        "card.expiry_year": "is required",
        "card.cvv": "is required",
    }


def test_unknown_nested_field_is_rejected() -> None:
    assert fields_of(payment_body(card__name="A N Other")) == {"card.name": "is not a known field"}


def test_current_month_is_valid_and_last_month_is_expired() -> None:
    parse_payment_request(payment_body(card__expiry_month=11, card__expiry_year=2026), RULES, TODAY)
    assert list(fields_of(payment_body(card__expiry_month=10, card__expiry_year=2026))) == ["card.expiry_month"]


def test_amex_needs_four_digit_cvv() -> None:
    parse_payment_request(payment_body(AMEX, card__cvv="1234"), RULES, TODAY)
    assert fields_of(payment_body(AMEX, card__cvv="123")) == {"card.cvv": "must be 4 digits for this card"}


def test_currency_allow_list_is_configurable() -> None:
    rules = ValidationRules(allowed_currencies=frozenset({"CHF"}))
    parse_payment_request(payment_body(currency="CHF"), rules, TODAY)
    assert fields_of(payment_body(currency="GBP"), rules) == {"currency": "must be one of CHF"}


@pytest.mark.parametrize("body", [[], "x", 1, None, [payment_body()]])
def test_non_object_bodies_are_rejected(body: object) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_payment_request(body, RULES, TODAY)
    assert "JSON object" in str(raised.value)


def test_messages_never_echo_the_card_number_or_cvv() -> None:
    body = payment_body(card__number="4242424242424241", card__cvv="98765")
    assert "4242424242424241" not in repr(fields_of(body))
    assert "98765" not in repr(fields_of(body))


@pytest.mark.parametrize("key", ["a", "x" * 255, "order-123:retry ~!"])
def test_idempotency_keys_accepted(key: str) -> None:
    assert parse_idempotency_key(key) == key


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "ünïcode", "line\n"])
def test_idempotency_keys_rejected(key: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_idempotency_key(key)
    assert [f.field for f in raised.value.fields] == ["Idempotency-Key"]


def test_list_query_defaults_and_values() -> None:
    assert parse_list_query({}, CURSORS).limit == 20
    cursor = CURSORS.encode("pay_01KAZRHEFVFQT8HGSFMMKKJWWB")
    query = parse_list_query(
        {"limit": "100", "cursor": cursor, "status": "declined", "created_from": "2026-11-01T00:00:00Z"}, CURSORS
    )
    assert (query.limit, query.after_id, query.status and query.status.value) == (
        100,
        "pay_01KAZRHEFVFQT8HGSFMMKKJWWB",
        "declined",
    )
    assert query.created_from is not None and query.created_from.tzinfo is not None


def test_list_query_reports_every_bad_parameter() -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_list_query(
            {"limit": "0", "cursor": "nope", "status": "paid", "created_from": "yesterday", "sort": "asc"}, CURSORS
        )
    assert {f.field for f in raised.value.fields} == {"limit", "cursor", "status", "created_from", "sort"}


@pytest.mark.parametrize("limit", ["101", "-1", "1.5", "", "１０", "9" * 400])
def test_list_limit_bounds(limit: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_list_query({"limit": limit}, CURSORS)


def test_created_to_must_follow_created_from() -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_list_query({"created_from": "2026-11-02T00:00:00Z", "created_to": "2026-11-01T00:00:00Z"}, CURSORS)
    assert [f.field for f in raised.value.fields] == ["created_to"]


def test_card_numbers_are_refused_in_the_reference() -> None:
    assert fields_of(payment_body(reference=f"order for {VISA_AUTHORIZED}")) == {
        "reference": "must not contain a card number"
    }
    # Timestamps and numeric ids pass: 1764150000123 is Luhn-valid but no card network's number.
    parse_payment_request(payment_body(reference="order 1764150000123"), RULES, TODAY)


@pytest.mark.parametrize(
    "written",
    [
        "4242 4242 4242 4291",
        "4242-4242-4242-4291",
        "4242.4242.4242.4291",
        "3782 822463 10005",
        "4-2-4-2-4-2-4-2-4-2-4-2-4-2-9-1",
    ],
)
def test_card_numbers_written_in_groups_are_refused_in_the_reference(written: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_payment_request(payment_body(reference=f"order for {written}"), RULES, TODAY)
    assert {f.field: f.message for f in raised.value.fields} == {"reference": "must not contain a card number"}
    assert written not in str(raised.value) + repr(raised.value.fields)


@pytest.mark.parametrize(
    "reference", ["2026-11-26 10:00:00", "+55 11 91234-5678", "1764 1500 0012 3", "INV-2026-000123"]
)
def test_timestamps_phone_numbers_and_order_ids_in_groups_pass(reference: str) -> None:
    assert parse_payment_request(payment_body(reference=reference), RULES, TODAY).reference == reference


def test_an_unpaired_surrogate_in_the_reference_is_refused_before_the_bank() -> None:
    """json.loads accepts "\\ud800"; DynamoDB could not store the result after the bank had charged."""
    body = json.loads(json.dumps(payment_body()).replace('"order-123"', '"order \\ud800"'))
    assert fields_of(body) == {"reference": "must be valid Unicode text (no unpaired surrogates)"}
    assert parse_payment_request(payment_body(reference="commande n° 42 \U0001f4b3"), RULES, TODAY).reference


def test_an_unknown_field_is_named_in_the_error_but_never_as_a_card_number() -> None:
    """Found by hypothesis: the field list echoes the client's key, and a key can be a card number."""
    body = payment_body()
    body[VISA_AUTHORIZED] = 1
    body["card"]["y" * 200] = 2
    assert fields_of(body) == {"[card]": "is not a known field", "card." + "y" * 64 + "...": "is not a known field"}


def test_an_unknown_query_parameter_is_never_echoed_as_a_card_number() -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_list_query({VISA_AUTHORIZED: "1"}, CURSORS)
    assert [f.field for f in raised.value.fields] == ["[card]"]


def test_unknown_names_written_as_grouped_card_numbers_are_never_echoed() -> None:
    body = payment_body()
    body["4242 4242 4242 4291"] = 1
    body["card"]["pan 4242-4242-4242-4291"] = 2
    assert fields_of(body) == {"[card]": "is not a known field", "card.pan [card]": "is not a known field"}
    with pytest.raises(InvalidRequest) as raised:
        parse_list_query({"4242.4242.4242.4291": "1"}, CURSORS)
    assert [f.field for f in raised.value.fields] == ["[card]"]


def test_idempotency_keys_may_hold_any_digits_because_they_are_stored_hashed() -> None:
    assert parse_idempotency_key(f"{VISA_AUTHORIZED}-retry") == f"{VISA_AUTHORIZED}-retry"


@pytest.mark.parametrize(
    "moment", ["1969-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "9999-12-31T23:00:00-05:00", "1900-01-01"]
)
def test_list_timestamps_must_be_representable(moment: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_list_query({"created_from": moment}, CURSORS)
    assert [f.field for f in raised.value.fields] == ["created_from"]


@pytest.mark.parametrize(
    "moment", ["2026-11-01", "2026-11-01T00:00:00", "2026-11-01 00:00:00Z", "20261101T000000Z", "2026-W44-7", ""]
)
def test_list_timestamps_must_be_rfc_3339_date_times_with_an_offset(moment: str) -> None:
    """OpenAPI's `format: date-time`: a date alone or a time without an offset is not read as UTC."""
    with pytest.raises(InvalidRequest) as raised:
        parse_list_query({"created_to": moment}, CURSORS)
    assert [(f.field, f.message) for f in raised.value.fields] == [
        ("created_to", "must be an RFC 3339 date-time with an offset (Z or +hh:mm), e.g. 2026-11-26T10:00:00Z")
    ]


@pytest.mark.parametrize("moment", ["2026-11-01T00:00:00 01:00", "2026-11-01T00:00:00.250 00:00"])
def test_a_plus_that_became_a_space_is_told_to_be_percent_encoded(moment: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_list_query({"created_from": moment}, CURSORS)
    [error] = raised.value.fields
    assert error.field == "created_from" and "percent-encode + as %2B" in error.message


@pytest.mark.parametrize(
    ("moment", "utc"),
    [
        ("2026-11-26t10:00:00z", "2026-11-26T10:00:00+00:00"),
        ("2026-11-26T10:00:00.5-00:00", "2026-11-26T10:00:00.500000+00:00"),
        ("2026-11-26T11:30:00+01:30", "2026-11-26T10:00:00+00:00"),
    ],
)
def test_list_timestamps_take_every_rfc_3339_form(moment: str, utc: str) -> None:
    query = parse_list_query({"created_from": moment}, CURSORS)
    assert query.created_from is not None and query.created_from.isoformat() == utc


def test_routes_without_query_parameters_refuse_each_one_through_the_mask() -> None:
    refuse_query_parameters({})
    with pytest.raises(InvalidRequest) as raised:
        refuse_query_parameters({"x": "1", VISA_AUTHORIZED: ""})
    assert str(raised.value) == "The request has 2 invalid fields."
    assert [(f.field, f.message) for f in raised.value.fields] == [
        ("x", "is not a known query parameter"),
        ("[card]", "is not a known query parameter"),
    ]


def test_list_timestamps_are_normalised_to_utc() -> None:
    query = parse_list_query({"created_from": "2026-11-26T12:00:00+02:00"}, CURSORS)
    assert query.created_from is not None and query.created_from.isoformat() == "2026-11-26T10:00:00+00:00"


def test_created_to_at_the_epoch_is_refused_and_bounds_clamp() -> None:
    with pytest.raises(InvalidRequest):
        parse_list_query({"created_to": "1970-01-01T00:00:00Z"}, CURSORS)
    assert ids.id_bound(datetime(1969, 1, 1, tzinfo=UTC), upper=False) == "pay_" + "0" * 26


@pytest.mark.parametrize("written", UNNAMED_BRAND_WRITINGS.values(), ids=UNNAMED_BRAND_WRITINGS.keys())
def test_numbers_of_brands_the_gateway_does_not_name_are_refused_in_the_reference(written: str) -> None:
    """Diners 30569309025904, UnionPay 6200000000000005, Mir 2200000000000004 were stored as given."""
    with pytest.raises(InvalidRequest) as raised:
        parse_payment_request(payment_body(reference=f"order {written}"), RULES, TODAY)
    assert {f.field: f.message for f in raised.value.fields} == {"reference": "must not contain a card number"}


# --- property: whatever `card.number` accepts, `reference` refuses, however it is written ---------

_ASCII_DIGITS = st.text(alphabet="0123456789", min_size=12, max_size=21)
_SEPARATORS = st.sampled_from([" ", "-", ".", "/", "_", " - ", "\u00a0", "\u2013", "\u200b", "  "])
_WORDS = st.text(alphabet="abcdefghij ,:#()", max_size=12)


def _card_number_accepted(number: str) -> bool:
    body = payment_body(number, card__cvv="1234" if number.startswith(("34", "37")) else "123")
    try:
        parse_payment_request(body, RULES, TODAY)
    except InvalidRequest:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(digits=_ASCII_DIGITS)
def test_the_card_fields_predicate_is_cards_accepted_as_card_number(digits: str) -> None:
    assert _card_number_accepted(digits) == cards.accepted_as_card_number(digits)


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.text(alphabet="0123456789", min_size=13, max_size=18),
    cuts=st.lists(st.integers(min_value=1, max_value=18), max_size=6),
    separator=_SEPARATORS,
    full_width=st.booleans(),
    before=_WORDS,
    after=_WORDS,
)
def test_any_number_the_card_field_accepts_is_refused_in_the_reference_in_any_notation(
    prefix: str, cuts: list[int], separator: str, full_width: bool, before: str, after: str
) -> None:
    number = luhn_complete(prefix)
    assert _card_number_accepted(number)
    written = separator.join(_split(number, cuts))
    if full_width:
        written = written.translate({ord("0") + d: 0xFF10 + d for d in range(10)})
    reference = f"{before} {written} {after}"  # at most 12 + 19 + 6 * 3 + 12 characters of the 128 allowed
    assert fields_of(payment_body(reference=reference)) == {"reference": "must not contain a card number"}
    assert cards.mask_pans(reference) == f"{before} [card] {after}"  # and a log line masks it


def _split(number: str, cuts: list[int]) -> list[str]:
    points = sorted({cut for cut in cuts if cut < len(number)})
    return [number[start:end] for start, end in zip([0, *points], [*points, len(number)], strict=True)]


def test_the_ascii_fast_path_finds_exactly_the_control_characters_the_slow_path_finds() -> None:
    """_has_control answers ASCII text with one isprintable() call: it must agree with the per-character
    rule for every ASCII character, wherever it stands, and leave other text to that rule."""
    for code in range(0x300):
        char = chr(code)
        for text in (char, f"order {char}", f"{char}-1", f"é{char}"):
            assert _has_control(text) == any(_is_control(c) for c in text), (code, text)
    assert all(_has_control(f"order {char}") for char in "\u2028\u2029\u202e\u2066\x85")
    assert not _has_control("order-123 / ref: #42 (ok)")
