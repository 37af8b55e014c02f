"""Identifiers: prefixed ULIDs, unguessable (80 random bits) and sortable by creation time."""

from __future__ import annotations

from datetime import UTC, datetime

from ulid import ULID

PAYMENT_PREFIX = "pay_"
MERCHANT_PREFIX = "mer_"
_ULID_LENGTH = 26
_CROCKFORD_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # each character's value is its position
_CROCKFORD = frozenset(_CROCKFORD_ALPHABET)
_RANDOM_BYTES = 10
_MAX_MILLISECONDS = 2**48 - 1  # a ULID's timestamp field
_TIMESTAMP_LENGTH = 10  # a ULID's first 10 characters: 48 bits of milliseconds
# Crockford's base32 as python-ulid decodes it: upper and lower case.
_DECODE = {char: value for value, upper in enumerate(_CROCKFORD_ALPHABET) for char in (upper, upper.lower())}


def new_payment_id(now: datetime) -> str:
    return PAYMENT_PREFIX + str(ULID.from_timestamp(now.timestamp()))


def new_merchant_id(now: datetime) -> str:
    return MERCHANT_PREFIX + str(ULID.from_timestamp(now.timestamp()))


# A capture's, void's or refund's id: its kind's prefix and a ULID (refunds list oldest first by it).
OPERATION_PREFIXES = {"capture": "cp_", "void": "vd_", "refund": "re_"}


def new_operation_id(kind: str, now: datetime) -> str:
    return OPERATION_PREFIXES[kind] + str(ULID.from_timestamp(now.timestamp()))


def creation_order(text: str) -> str:
    """A payment's or an operation's id without its prefix: sorts by creation time across kinds."""
    return text.split("_", 1)[1]


def is_operation_id(text: str, kind: str) -> bool:
    prefix = OPERATION_PREFIXES[kind]
    return text.startswith(prefix) and is_payment_id(PAYMENT_PREFIX + text.removeprefix(prefix))


def is_payment_id(text: str) -> bool:
    ulid = text.removeprefix(PAYMENT_PREFIX)
    return (
        text.startswith(PAYMENT_PREFIX)
        and len(ulid) == _ULID_LENGTH
        and set(ulid) <= _CROCKFORD
        and ulid[0] <= "7"  # a 26-character ULID above 7ZZZ... overflows 128 bits
    )


def created_at(payment_id: str) -> datetime:
    """The creation time is the id's timestamp, so sort order and time filters always agree.

    Decoded here, not by `ULID.from_str(...).datetime`: only the timestamp is needed, and a payment
    reads it twice (~16 us each through python-ulid, ~2% of a warm payment; docs/performance.md). The
    same answer and the same refusals (tests/unit/test_ids.py compares them)."""
    ulid = payment_id.removeprefix(PAYMENT_PREFIX)
    if len(ulid) != _ULID_LENGTH or not _DECODE.keys() >= set(ulid):
        raise ValueError(f"Not a ULID: {ulid!r}")
    milliseconds = 0
    for char in ulid[:_TIMESTAMP_LENGTH]:
        milliseconds = milliseconds * 32 + _DECODE[char]
    # Above 7ZZZZZZZZZ (a ULID beyond 128 bits) is past datetime's year 9999: ValueError as well.
    return datetime.fromtimestamp(milliseconds / 1000, UTC)


def successor(payment_id: str) -> str:
    """The smallest payment id above this one (a key range's exclusive start just past its items)."""
    return PAYMENT_PREFIX + str(ULID.from_int(int(ULID.from_str(payment_id.removeprefix(PAYMENT_PREFIX))) + 1))


def id_bound(moment: datetime, *, upper: bool) -> str:
    """The smallest (or largest) payment id that can be created at this millisecond."""
    milliseconds = min(max(int(moment.astimezone(UTC).timestamp() * 1000), 0), _MAX_MILLISECONDS)
    randomness = (b"\xff" if upper else b"\x00") * _RANDOM_BYTES
    return PAYMENT_PREFIX + str(ULID.from_bytes(milliseconds.to_bytes(6, "big") + randomness))
