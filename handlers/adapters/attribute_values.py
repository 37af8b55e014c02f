"""DynamoDB attribute values to and from plain Python values, as boto3's TypeSerializer/TypeDeserializer.

Written here because `boto3.dynamodb.types` imports the whole of boto3 (and s3transfer): about a
fifth of a cold start for two small functions (docs/performance.md). Same encoding, same decimal
context, same refusals; numbers come back as Decimal, binaries as bytes. One difference: a float
anywhere is stored as the Decimal of its repr (boto3 refuses floats; the adapter converted them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Set
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import Any

# DynamoDB's numbers: 38 significant digits, exponents -130..125; anything it would round is refused.
DYNAMODB_CONTEXT = Context(Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow])
_EXACT_INT = 10**38  # an int of at most 38 digits is one DynamoDB number, written as str() writes it


def to_attribute(value: object) -> dict[str, Any]:
    """One Python value as a DynamoDB attribute value ({"S": ...}, {"N": ...}, ...)."""
    # Exact types first, by identity: this runs for every attribute of every write (~70 per payment).
    if type(value) is str:
        return {"S": value}
    if type(value) is int and -_EXACT_INT < value < _EXACT_INT:
        return {"N": str(value)}  # what the decimal context writes for an int it holds exactly
    if value is None:
        return {"NULL": True}
    if type(value) is bool:
        return {"BOOL": value}
    if type(value) is dict:
        return {"M": to_item(value)}
    return _any_attribute(value)


def _any_attribute(value: object) -> dict[str, Any]:
    """Subclasses (a str Enum, an IntEnum), Decimals, floats, large ints, other containers."""
    if type(value) is float:
        written = repr(value)
        # Without an exponent (1e-4 <= |value| < 1e16) and finite, repr is what Decimal(repr) writes: the
        # due times and leases of every payment. Others (1e-05, inf) take the decimal context's path.
        if "e" not in written and "n" not in written:
            return {"N": written}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bool):  # before int: bool is an int subclass
        return {"BOOL": value}
    if isinstance(value, int | Decimal | float):
        return {"N": _number(Decimal(repr(value)) if isinstance(value, float) else value)}
    return _composite(value)


def to_item(values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: to_attribute(value) for name, value in values.items()}


def from_attribute(attribute: Mapping[str, Any]) -> Any:
    """One DynamoDB attribute value as a Python value."""
    ((kind, value),) = attribute.items()
    try:
        decode = _DECODERS[kind]
    except KeyError:
        raise TypeError(f"Unknown DynamoDB attribute type {kind!r}") from None
    return decode(value)


def from_item(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {name: from_attribute(attribute) for name, attribute in item.items()}


def _composite(value: object) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return {"M": to_item(value)}
    if isinstance(value, list | tuple):
        return {"L": [to_attribute(element) for element in value]}
    if isinstance(value, bytes | bytearray):
        return {"B": bytes(value)}
    if isinstance(value, Set):
        return _set(value)
    raise TypeError(f"Unsupported type {type(value).__name__!r} for a DynamoDB attribute value")


def _identity(value: Any) -> Any:
    return value


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "S": _identity,
    "N": DYNAMODB_CONTEXT.create_decimal,
    "BOOL": _identity,
    "NULL": lambda _: None,
    "M": from_item,
    "L": lambda values: [from_attribute(element) for element in values],
    "B": bytes,
    "SS": set,
    "NS": lambda numbers: {DYNAMODB_CONTEXT.create_decimal(number) for number in numbers},
    "BS": lambda binaries: {bytes(binary) for binary in binaries},
}


def _number(value: int | Decimal) -> str:
    number = str(DYNAMODB_CONTEXT.create_decimal(value))
    if number in ("Infinity", "NaN", "-Infinity", "sNaN"):
        raise TypeError("Infinity and NaN not supported")
    return number


def _set(values: Set[Any]) -> dict[str, list[Any]]:
    # boto3's order: an empty set is a number set (DynamoDB then refuses it, as it refuses boto3's).
    if all(isinstance(v, int | Decimal) for v in values):
        return {"NS": [_number(v) for v in values]}
    if all(isinstance(v, str) for v in values):
        return {"SS": list(values)}
    if all(isinstance(v, bytes | bytearray) for v in values):
        return {"BS": [bytes(v) for v in values]}
    raise TypeError("A DynamoDB set holds only strings, only numbers or only binaries")
