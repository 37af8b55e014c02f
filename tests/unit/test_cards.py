import pytest

from handlers import cards
from tests.support import luhn_complete


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
