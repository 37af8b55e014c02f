"""Card rules: Luhn, brand from the number's prefix (IIN ranges), CVV length, masking."""

from __future__ import annotations

import re

# (brand, IIN ranges as (low, high, prefix length)); first match wins.
_BRAND_RANGES: tuple[tuple[str, tuple[tuple[int, int, int], ...]], ...] = (
    ("amex", ((34, 34, 2), (37, 37, 2))),
    ("visa", ((4, 4, 1),)),
    ("mastercard", ((51, 55, 2), (2221, 2720, 4))),
    ("discover", ((6011, 6011, 4), (644, 649, 3), (65, 65, 2), (622126, 622925, 6))),
    ("jcb", ((3528, 3589, 4),)),
)
_PAN_LIKE = re.compile(r"(?<!\d)\d{13,19}(?!\d)")


def is_ascii_digits(value: str) -> bool:
    # str.isdigit() alone accepts "²" and other Unicode digits.
    return value.isascii() and value.isdigit()


def luhn_valid(number: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = ord(char) - 48
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def brand_of(number: str) -> str:
    for brand, ranges in _BRAND_RANGES:
        for low, high, length in ranges:
            if low <= int(number[:length]) <= high:
                return brand
    return "unknown"


def cvv_length(brand: str) -> int:
    return 4 if brand == "amex" else 3


def contains_pan(text: str) -> bool:
    """A Luhn-valid 13-19 digit run with a card network's prefix. The prefix keeps timestamps and
    numeric order ids (one in ten of which pass Luhn) from being taken for cards."""
    return any(luhn_valid(m.group()) and brand_of(m.group()) != "unknown" for m in _PAN_LIKE.finditer(text))


def mask_pans(text: str) -> str:
    """Replace any Luhn-valid 13-19 digit run: a last line of defence for logs."""
    return _PAN_LIKE.sub(lambda m: "[card]" if luhn_valid(m.group()) else m.group(), text)
