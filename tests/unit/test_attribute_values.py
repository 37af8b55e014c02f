"""handlers.adapters.attribute_values against boto3's own TypeSerializer/TypeDeserializer, its model."""

from __future__ import annotations

from collections import OrderedDict
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Any

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from hypothesis import given
from hypothesis import strategies as st

from handlers.adapters.attribute_values import DYNAMODB_CONTEXT, from_attribute, from_item, to_attribute, to_item

_numbers = st.integers(min_value=-(10**37), max_value=10**37) | st.decimals(
    min_value=Decimal("-1e20"), max_value=Decimal("1e20"), places=6, allow_nan=False, allow_infinity=False
)
_scalars = st.text() | st.booleans() | st.none() | _numbers | st.binary(max_size=8)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


def _plain(value: Any) -> Any:
    """boto3 wraps binaries in Binary; ours are bytes."""
    if isinstance(value, Binary):
        return bytes(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@given(_values)
def test_values_are_encoded_as_boto3_encodes_them(value: Any) -> None:
    assert to_attribute(value) == TypeSerializer().serialize(value)


class Count(IntEnum):
    ONE = 1


class Colour(StrEnum):
    RED = "red"


def _boto3_or_refusal(value: object) -> object:
    try:
        return TypeSerializer().serialize(value)
    except ArithmeticError:  # decimal's Rounded and Inexact: more than 38 digits
        return "refused"


def _ours_or_refusal(value: object) -> object:
    try:
        return to_attribute(value)
    except ArithmeticError:
        return "refused"


@given(
    st.integers(min_value=-(10**39), max_value=10**39) | st.sampled_from([10**38 - 1, 10**38, -(10**38 - 1), -(10**38)])
)
def test_ints_on_both_sides_of_38_digits_are_encoded_or_refused_as_boto3_does(value: int) -> None:
    assert _ours_or_refusal(value) == _boto3_or_refusal(value)


def test_subclasses_of_str_int_and_dict_are_encoded_as_boto3_encodes_them() -> None:
    for value in (Count.ONE, Colour.RED, True, OrderedDict(a=Count.ONE), [Colour.RED, Count.ONE]):
        assert to_attribute(value) == TypeSerializer().serialize(value), value


@given(_values)
def test_attributes_are_decoded_as_boto3_decodes_them(value: Any) -> None:
    attribute = TypeSerializer().serialize(value)
    assert from_attribute(attribute) == _plain(TypeDeserializer().deserialize(attribute))


def test_sets_round_trip() -> None:
    item = {"tags": {"a", "b"}, "counts": {1, 2}, "blobs": {b"x"}}
    assert to_item(item) == {k: TypeSerializer().serialize(v) for k, v in item.items()}
    assert from_item(to_item(item)) == {"tags": {"a", "b"}, "counts": {Decimal(1), Decimal(2)}, "blobs": {b"x"}}


def test_floats_are_stored_as_the_decimal_of_their_repr() -> None:
    # The adapter stores due times (time.time() floats); boto3 refuses floats, so it converted them first.
    assert to_attribute(1733500000.123456) == {"N": "1733500000.123456"}
    assert to_item({"due": 0.1}) == {"due": {"N": "0.1"}}


@pytest.mark.parametrize("value", [10**39, Decimal("NaN"), Decimal("Infinity"), object(), {1, "a"}])
def test_what_dynamodb_cannot_hold_is_refused_as_boto3_refuses_it(value: object) -> None:
    with pytest.raises(Exception) as ours:
        to_attribute(value)
    with pytest.raises(Exception) as theirs:
        TypeSerializer().serialize(value)
    assert type(ours.value) is type(theirs.value)


@given(
    st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, -0.0, 1e-4, 1e-5, 1e16, 1e15 + 0.5, 100.0])
)
def test_floats_are_written_as_the_decimal_of_their_repr_whatever_their_size(value: float) -> None:
    """Floats without an exponent take a fast path: the same text as the decimal context's, the same refusals."""

    def through_the_context() -> object:
        try:
            return {"N": str(DYNAMODB_CONTEXT.create_decimal(Decimal(repr(value))))}
        except ArithmeticError:
            return "refused"

    expected = through_the_context()
    if expected != "refused" and expected["N"] in ("Infinity", "-Infinity", "NaN"):  # type: ignore[index]
        expected = "refused"
    try:
        ours: object = to_attribute(value)
    except (ArithmeticError, TypeError):
        ours = "refused"
    assert ours == expected
