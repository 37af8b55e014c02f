"""A JSON body that repeats a key is refused with a 400 naming it, on every route with a body: Python's
json keeps the last value, so `{"amount":1050,"amount":2000}` would charge 2000 while a client, a log or
a WAF rule that keeps the first reads 1050."""

from __future__ import annotations

import json

import pytest

from handlers.domain.errors import InvalidRequest
from handlers.wire import http

EVENT = {"headers": {"Content-Type": "application/json"}, "isBase64Encoded": False}


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('{"amount":1050,"amount":2000,"currency":"GBP"}', "amount"),
        ('{"card":{"number":"4242424242424242","number":"4000056655665556"}}', "number"),
        ('{"events":["payment.captured"],"url":"https://a.example/","url":"https://b.example/"}', "url"),
        ('[{"a":1,"a":1}]', "a"),  # even with the same value: the body is ambiguous to other readers
    ],
)
def test_a_repeated_key_is_a_400_naming_it(body: str, key: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        http.json_body({**EVENT, "body": body})
    assert [field.field for field in refused.value.fields] == [key]
    assert "more than once" in refused.value.fields[0].message


def test_a_body_without_repeats_reads_as_before() -> None:
    body = {"amount": 1050, "card": {"number": "4242424242424242", "cvv": "123"}, "metadata": {"amount": 1}}
    assert http.json_body({**EVENT, "body": json.dumps(body)}) == body  # a key repeated at another level is fine
    assert http.optional_json_body({**EVENT, "body": ""}) == {}


def test_a_repeated_key_that_is_a_card_number_is_named_without_it() -> None:
    body = '{"4242424242424242":1,"4242424242424242":2}'
    with pytest.raises(InvalidRequest) as refused:
        http.json_body({**EVENT, "body": body})
    assert "4242424242424242" not in repr(refused.value.fields) and "4242424242424242" not in str(refused.value)


def test_integers_are_read_exactly_up_to_forty_digits_and_past_every_range_beyond() -> None:
    """Python refuses to convert over 4,300 digits ("not valid JSON" was the answer): longer integers
    than any field takes read as a value past its range, so the field's own check names it."""
    forty, long, longest = "9" * 40, "9" * 41, "9" * 5000
    body = f'{{"a":{forty},"b":-{forty},"c":{long},"d":-{longest}}}'
    read = http.json_body({**EVENT, "body": body})
    assert read == {"a": int("9" * 40), "b": -int("9" * 40), "c": 10**40, "d": -(10**40)}
