"""ids.created_at decodes a ULID's timestamp itself: it must agree with python-ulid, refusals included."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from ulid import ULID

from handlers.domain import ids

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _reference(payment_id: str) -> datetime:
    return ULID.from_str(payment_id.removeprefix(ids.PAYMENT_PREFIX)).datetime


def _random_ulids(count: int) -> list[str]:
    rng = random.Random(19)
    # Half within datetime's range (to year 9999), half anywhere in the 48-bit field.
    limits = (253_402_300_799_999, 2**48 - 1)
    texts = [
        str(ULID.from_bytes(rng.randint(0, limits[i % 2]).to_bytes(6, "big") + rng.randbytes(10))) for i in range(count)
    ]
    texts += ["0" * 26, "7" + "Z" * 25, "7ZZZZZZZZZ" + "0" * 16, "0000000001" + "Z" * 16]
    return texts


def _outcome(decode: Callable[[str], datetime], payment_id: str) -> datetime | type[Exception]:
    try:
        return decode(payment_id)
    except ValueError as error:  # beyond datetime's year 9999, or not a ULID
        return type(error)


def test_created_at_is_python_ulids_datetime_for_any_ulid() -> None:
    texts = _random_ulids(2000)
    for text in texts:
        payment_id = ids.PAYMENT_PREFIX + text
        assert _outcome(ids.created_at, payment_id) == _outcome(_reference, payment_id), text
    in_range = [text for text in texts if isinstance(_outcome(_reference, text), datetime)]
    assert len(in_range) > 20  # the comparison above is not only of refusals
    assert all(ids.created_at(text).tzinfo is UTC for text in in_range)


def test_created_at_reads_lower_case_and_ids_without_their_prefix_as_python_ulid_does() -> None:
    text = str(ULID.from_timestamp(datetime(2026, 12, 7, 17, 40, 18, 974000, tzinfo=UTC).timestamp()))
    assert ids.created_at(text.lower()) == _reference(text) == datetime(2026, 12, 7, 17, 40, 18, 974000, tzinfo=UTC)
    assert ids.created_at(text) == _reference(text)


def test_new_ids_carry_the_millisecond_they_were_made_at() -> None:
    now = datetime(2026, 12, 7, 17, 40, 18, 974321, tzinfo=UTC)
    assert ids.created_at(ids.new_payment_id(now)) == now.replace(microsecond=974000)


@pytest.mark.parametrize(
    "bad",
    [
        "pay_",
        "pay_01M98SF5WSN6WWBZE0ATAE1H3",  # 25 characters
        "pay_01M98SF5WSN6WWBZE0ATAE1H3HH",  # 27
        "pay_01M98SF5WSN6WWBZE0ATAE1H3U",  # U is not Crockford's
        "pay_01M98SF5WSN6WWBZE0ATAE1H3!",  # in the randomness, still refused
        "pay_8" + "0" * 25,  # overflows 128 bits
        "pay_" + "Z" * 26,
        "pay_01M98SF5WSN6WWBZE0ATAE1H3\u0661",  # an Arabic-Indic digit
    ],
)
def test_created_at_refuses_what_python_ulid_refuses(bad: str) -> None:
    with pytest.raises(ValueError):
        _reference(bad)
    with pytest.raises(ValueError):
        ids.created_at(bad)


def test_every_crockford_character_decodes_to_its_value() -> None:
    for value, char in enumerate(CROCKFORD):
        text = "000000000" + char + "0" * 16
        assert ids.created_at(text) == datetime.fromtimestamp(value / 1000, UTC)
