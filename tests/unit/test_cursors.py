"""List cursors are tamper-evident and bound to their merchant and their list: anything else is refused
before the id it carries is read (handlers.wire.cursors)."""

from __future__ import annotations

import base64

import pytest

from handlers.domain.ids import is_payment_id
from handlers.wire.cursors import NOT_OURS, Cursors

KEY = b"cursor-key-of-the-unit-tests-32by"
PAYMENT_ID = "pay_01KAZRHEFVFQT8HGSFMMKKJWWB"
MINE = Cursors(KEY, "mer_a", "payments")


def test_a_cursor_gives_back_its_id() -> None:
    assert MINE.decode(MINE.encode(PAYMENT_ID), is_payment_id) == PAYMENT_ID


@pytest.mark.parametrize(
    "other",
    [
        Cursors(KEY, "mer_b", "payments"),  # another merchant's list
        Cursors(KEY, "mer_a", "events"),  # another list of the same merchant
        Cursors(b"another-stack-s-cursor-key-32byt", "mer_a", "payments"),  # another stack
    ],
    ids=["merchant", "list", "key"],
)
def test_a_cursor_works_only_on_the_list_that_returned_it(other: Cursors) -> None:
    with pytest.raises(ValueError, match=NOT_OURS):
        MINE.decode(other.encode(PAYMENT_ID), is_payment_id)


def test_any_changed_byte_is_refused() -> None:
    raw = bytearray(base64.urlsafe_b64decode(MINE.encode(PAYMENT_ID) + "=="))
    for index in range(len(raw)):
        tampered = bytearray(raw)
        tampered[index] ^= 0x01
        cursor = base64.urlsafe_b64encode(bytes(tampered)).decode().rstrip("=")
        with pytest.raises(ValueError, match=NOT_OURS):
            MINE.decode(cursor, is_payment_id)


@pytest.mark.parametrize(
    "cursor",
    [
        base64.urlsafe_b64encode(PAYMENT_ID.encode()).decode().rstrip("="),  # the old, unsigned form
        "",
        "nope",
        "é",
        "=" * 8,
        "A" * 4000,
        MINE.encode(PAYMENT_ID) + "!",  # stray characters that a lenient decoder drops
    ],
)
def test_what_no_list_returned_is_refused(cursor: str) -> None:
    with pytest.raises(ValueError, match=NOT_OURS):
        MINE.decode(cursor, is_payment_id)


def test_a_signed_id_of_the_wrong_shape_is_refused() -> None:
    """The MAC is checked first, and the id must still be one of the list's."""
    with pytest.raises(ValueError, match=NOT_OURS):
        MINE.decode(MINE.encode("evt_01KAZRHEFVFQT8HGSFMMKKJWWB"), is_payment_id)


def test_the_key_is_not_in_the_repr() -> None:
    assert KEY.decode() not in repr(MINE)


def test_the_standard_alphabet_is_not_taken_for_the_url_safe_one() -> None:
    """One cursor, one spelling: `+` and `/` for `-` and `_` decode to the same bytes, and are refused."""
    lists = (Cursors(KEY, f"mer_{n}", "payments") for n in range(100))
    cursors, cursor = next((c, text) for c in lists if set(text := c.encode(PAYMENT_ID)) & set("-_"))
    assert cursors.decode(cursor, is_payment_id) == PAYMENT_ID
    with pytest.raises(ValueError, match=NOT_OURS):
        cursors.decode(cursor.replace("-", "+").replace("_", "/"), is_payment_id)


def test_the_unused_bits_of_the_last_character_must_be_as_written() -> None:
    """Base64 ignores the last character's spare bits: another letter there would decode the same."""
    cursor = MINE.encode(PAYMENT_ID)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    same = [
        c
        for c in alphabet
        if c != cursor[-1]
        and base64.urlsafe_b64decode(cursor[:-1] + c + "==") == base64.urlsafe_b64decode(cursor + "==")
    ]
    assert same, "this cursor's last character has spare bits"
    for other in same:
        with pytest.raises(ValueError, match=NOT_OURS):
            MINE.decode(cursor[:-1] + other, is_payment_id)
