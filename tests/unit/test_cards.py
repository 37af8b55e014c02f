import json

import pytest

from handlers.domain import cards
from tests.support import UNNAMED_BRAND_CARDS, UNNAMED_BRAND_WRITINGS, luhn_complete


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4242424242424242", "visa"),
        ("5555555555554444", "mastercard"),
        ("2221000000000009", "mastercard"),  # 2-series
        ("2720990000000007", "mastercard"),
        ("378282246310005", "amex"),
        ("371449635398431", "amex"),
        ("6011111111111117", "discover"),
        ("6445644564456445", "discover"),
        ("6221260000000000", "discover"),
        ("3530111333300000", "jcb"),
        ("3589000000000003", "jcb"),
        ("2721000000000004", "unknown"),  # just past the 2-series range
        ("3000000000000004", "unknown"),
    ],
)
def test_brand_from_iin_ranges(number: str, brand: str) -> None:
    assert cards.brand_of(number) == brand


def test_luhn_accepts_valid_and_rejects_one_digit_changes() -> None:
    valid = luhn_complete("424242424242429")
    assert cards.luhn_valid(valid)
    for position in range(len(valid)):
        changed = valid[:position] + str((int(valid[position]) + 1) % 10) + valid[position + 1 :]
        assert not cards.luhn_valid(changed)


def test_unicode_digits_are_not_digits() -> None:
    assert not cards.is_ascii_digits("４２４２")  # fullwidth
    assert not cards.is_ascii_digits("12²")
    assert cards.is_ascii_digits("0123")


def test_cvv_length_depends_on_brand() -> None:
    assert cards.cvv_length("amex") == 4
    assert cards.cvv_length("visa") == 3


def test_mask_pans_masks_card_numbers_but_not_other_numbers() -> None:
    text = 'card 4242424242424291 at 1764150000124 id {"n": "378282246310005"}'
    masked = cards.mask_pans(text)
    assert "4242424242424291" not in masked
    assert "378282246310005" not in masked
    # A digit run that fails Luhn stays; one in ten other long numbers is masked too, a fair price.
    assert "1764150000124" in masked


# The same card numbers as merchants write them: any grouping, spaces, dashes, dots or a mix.
WRITTEN_CARD_NUMBERS = [
    "4242 4242 4242 4291",
    "4242-4242-4242-4291",
    "4242.4242.4242.4291",
    "4242-4242 4242.4291",  # mixed
    "4 2 4 2 4 2 4 2 4 2 4 2 4 2 9 1",  # a separator between every digit
    "4242 - 4242 - 4242 - 4291",
    "424 242 424 242 429 1",
    "3782 822463 10005",  # American Express, 4-6-5
    "3782-822463-10005",
    "5555.5555.5555.4444",
    "4222 2222 2222 2",  # 13 digits
    "4242\u00a04242\u00a04242\u00a04291",  # no-break spaces, as pasted from a document
    "4242\u20134242\u20134242\u20134291",  # en dashes
    "４２４２ ４２４２ ４２４２ ４２９１",  # full-width digits
    "4242\t4242\n4242\r\n4291",  # tabs and line breaks
]


@pytest.mark.parametrize("written", WRITTEN_CARD_NUMBERS)
def test_a_card_number_written_in_groups_is_a_card_number(written: str) -> None:
    assert cards.contains_pan(written)
    assert cards.contains_pan(f"order for {written}, thanks")
    assert cards.mask_pans(f"card {written} exp 04/30") == "card [card] exp 04/30"


@pytest.mark.parametrize(
    "text",
    [
        "qty 2 4242 4242 4242 4291",  # a number before it
        "4242 4242 4242 4291 123",  # and its CVV after it
        "2026-11-26 4242-4242-4242-4291",
    ],
)
def test_a_card_number_is_found_among_other_numbers(text: str) -> None:
    assert cards.contains_pan(text)
    masked = cards.mask_pans(text)
    assert "[card]" in masked and "4242" not in masked.replace("[card]", "")


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-26 10:00:00",
        "2026-11-26 10:00:00.123456",
        "20261126 101500 123456",
        "26/11/2026",
        "+55 11 91234-5678",  # a mobile number with a Mastercard prefix that fails Luhn
        "+44 20 7946 0958",
        "555-123-4567",
        "1764 1500 0012 3",  # Luhn-valid but no card network's prefix
        "order 1764150000123",
        "4242 4242 4242 4241",  # fails Luhn
        "4242 4242 4242",  # 12 digits
        "192.168.100.200",
        "INV-2026-000123",
    ],
)
def test_timestamps_phone_numbers_and_order_ids_are_not_card_numbers(text: str) -> None:
    assert not cards.contains_pan(text)


def test_mask_pans_masks_each_card_number_and_keeps_the_rest() -> None:
    text = "a 4242 4242 4242 4291, b 3782-822463-10005 at 2026-11-26 10:00:00 tel +44 20 7946 0958"
    assert cards.mask_pans(text) == "a [card], b [card] at 2026-11-26 10:00:00 tel +44 20 7946 0958"


@pytest.mark.parametrize("written", UNNAMED_BRAND_WRITINGS.values(), ids=UNNAMED_BRAND_WRITINGS.keys())
def test_a_number_of_a_brand_the_gateway_does_not_name_is_a_card_number(written: str) -> None:
    """Diners, UnionPay, Mir: `card.number` accepts them, so free text must refuse them too."""
    assert cards.contains_pan(f"order {written} thanks")
    assert cards.mask_pans(f"order {written} thanks") == "order [card] thanks"


@pytest.mark.parametrize("number", UNNAMED_BRAND_CARDS.values())
def test_the_card_fields_predicate_accepts_the_unnamed_brands(number: str) -> None:
    assert cards.brand_of(number) == "unknown" and cards.accepted_as_card_number(number)


def test_a_text_that_is_only_a_thirteen_digit_card_number_is_masked() -> None:
    """The shortest text that can hold a card number is the number itself."""
    assert cards.contains_pan("4222222222222")
    assert cards.mask_pans("4222222222222") == "[card]"
    assert cards.mask_pans("422222222222") == "422222222222"  # 12 digits: none


# Separators that Python's repr or JSON (ensure_ascii) write as escapes: "4242\\xa04242..." in a traceback.
ESCAPED_SEPARATORS = [
    "\t",
    "\n",
    "\r\n",
    "\x0b",
    "\x0c",
    "\xa0",
    "\xad",
    "\u200b",
    "\u2007",
    "\u2013",
    "\u2028",
    "\ufeff",
]


@pytest.mark.parametrize("separator", ESCAPED_SEPARATORS, ids=[repr(s) for s in ESCAPED_SEPARATORS])
def test_a_card_number_is_masked_as_repr_and_json_escape_its_separators(separator: str) -> None:
    typed = separator.join(("4242", "4242", "4242", "4291"))
    assert cards.contains_pan(typed) and cards.mask_pans(typed) == "[card]"
    for written in (repr(typed), repr(KeyError(typed)), json.dumps(typed), json.dumps({"m": f"x{typed}"})):
        masked = cards.mask_pans(written)
        assert "[card]" in masked and "4242" not in masked and "4291" not in masked, written
        # A merchant's text is refused for what a person types, not for escapes (docs/openapi.yaml).
        # (repr keeps a printable separator such as an en dash as it is: that text is typed text.)
        assert typed in written or not cards.contains_pan(written)


def test_an_escapes_hex_digits_are_never_digits_of_a_card_number() -> None:
    assert cards.mask_pans("\\u20284242424242424291") == "\\u2028[card]"  # the escape kept whole
    # 4242 + 424242424291 would pass Luhn; the first four are an escape's hex (\\u4242), not digits.
    assert cards.mask_pans("\\u4242424242424291") == "\\u4242424242424291"
    assert cards.mask_pans("\\x41424242424242424291") == "\\x41[card]"


def test_merchant_text_with_an_escape_written_in_it_is_not_refused() -> None:
    """contains_pan (a merchant's reference, description, name) looks only at typed separators."""
    assert not cards.contains_pan("lines 1234567\\n8901237")
    assert cards.mask_pans("lines 1234567\\n8901237") == "lines [card]"  # a log line masks it
