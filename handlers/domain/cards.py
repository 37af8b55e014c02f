"""Card rules: Luhn, brand from the number's prefix (IIN ranges), CVV length, finding and masking
card numbers in free text."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

# (brand, IIN ranges as (low, high, prefix length)); first match wins.
_BRAND_RANGES: tuple[tuple[str, tuple[tuple[int, int, int], ...]], ...] = (
    ("amex", ((34, 34, 2), (37, 37, 2))),
    ("visa", ((4, 4, 1),)),
    ("mastercard", ((51, 55, 2), (2221, 2720, 4))),
    ("discover", ((6011, 6011, 4), (644, 649, 3), (65, 65, 2), (622126, 622925, 6))),
    ("jcb", ((3528, 3589, 4),)),
)
MIN_PAN_LENGTH, MAX_PAN_LENGTH = 13, 19
# What the API's `card.number` accepts (handlers.wire.converter): any brand, known or not.
MIN_CARD_NUMBER_LENGTH, MAX_CARD_NUMBER_LENGTH = 14, 19
# Digit groups joined by up to three separators: spaces, dashes, dots, slashes or underscores:
# "4111 1111 1111 1111", "3782-822463-10005", "4 1 1 1 ...", "4111 - 1111.1111 1111", "4111/1111/1111/1111".
# Unicode spaces and dashes count, and so do invisible characters (zero-width space, soft hyphen, BOM):
# text pasted from documents has them.
_SEPARATOR = r"[\s.\-_/\u00ad\u2010-\u2015\u2212\u200b-\u200d\u2060\ufeff]"
# What a person types: the chains contains_pan looks in (a merchant's free text).
_TYPED_CHAIN = re.compile(r"(\d+(?:" + _SEPARATOR + r"{1,3}\d+)*)")
_TYPED_GROUPS = re.compile(r"(\d+)")
# What a log line may hold besides: a number as Python's repr or JSON wrote it, in a KeyError's message
# or a traceback ("4111\\t1111...", "4111\\xa01111...", "\\u20284111..."). There any one-character
# escape separates groups, and an escape's hex digits are never a number's: outside a chain, an escape
# is matched whole (group 1 empty), so no chain starts inside one.
_ESCAPE = r"\\(?:[\\ntrfvab\"']|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})"
_WRITTEN_CHAIN = re.compile(r"(\d+(?:(?:" + _SEPARATOR + "|" + _ESCAPE + r"){1,3}\d+)*)|" + _ESCAPE)
_WRITTEN_GROUPS = re.compile(_ESCAPE + r"|(\d+)")
_ASCII_DIGITS = b"0123456789"


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


def accepted_as_card_number(digits: str) -> bool:
    """The predicate of the API's `card.number` (handlers.wire.converter): 14-19 ASCII digits, Luhn-valid."""
    return (
        is_ascii_digits(digits)
        and MIN_CARD_NUMBER_LENGTH <= len(digits) <= MAX_CARD_NUMBER_LENGTH
        and luhn_valid(digits)
    )


def contains_pan(text: str) -> bool:
    """A number `card.number` would accept (any brand: Diners, UnionPay, Mir... as well as those
    brand_of names), or a 13-digit one of a named brand, unbroken or written in groups, in any
    script's digits. The price: one in ten other 14-19 digit numbers (an order id) passes Luhn and
    is refused too; a merchant can add a letter to it."""
    return not _fewer_digits_than_a_pan(text) and any(True for _ in _card_spans(text, _is_card_number, escapes=False))


def mask_pans(text: str) -> str:
    """Replace any Luhn-valid 13-19 digit number, unbroken or in groups (escaped separators too), by
    [card]: a last line of defence for logs and echoed names, so it does not ask for a network's prefix."""
    if _fewer_digits_than_a_pan(text):
        return text
    pieces, end = [], 0
    for start, stop in _merged(_card_spans(text, luhn_valid, escapes=True)):
        pieces += [text[end:start], "[card]"]
        end = stop
    return "".join(pieces) + text[end:]


def _fewer_digits_than_a_pan(text: str) -> bool:
    """A fast exit (a log field costs ~0.2 us instead of a regex scan): text with fewer than 13 digits
    holds no card number. `\\d` also matches other scripts' digits, so text beyond ASCII is searched."""
    if len(text) < MIN_PAN_LENGTH:
        return True
    if not text.isascii():
        return False
    encoded = text.encode()
    return len(encoded) - len(encoded.translate(None, _ASCII_DIGITS)) < MIN_PAN_LENGTH


def _is_card_number(digits: str) -> bool:
    return accepted_as_card_number(digits) or (luhn_valid(digits) and brand_of(digits) != "unknown")


def _card_spans(text: str, accept: Callable[[str], bool], *, escapes: bool) -> Iterator[tuple[int, int]]:
    """Where `text` holds an accepted number: whole digit groups of one chain, 13-19 digits in all.
    Whole groups only: the digits of "2026 4111" are not split to make a number. With `escapes`, the
    chains of a log line (_WRITTEN_CHAIN), else of typed text."""
    chains, digit_groups = (_WRITTEN_CHAIN, _WRITTEN_GROUPS) if escapes else (_TYPED_CHAIN, _TYPED_GROUPS)
    for chain in chains.finditer(text):
        start, end = chain.span(1)
        if end - start < MIN_PAN_LENGTH:
            continue  # an escape outside a chain (-1, -1), or too short to hold 13 digits
        groups = [group.span(1) for group in digit_groups.finditer(text, start, end) if group.start(1) >= 0]
        for first in range(len(groups)):
            last = _last_group(text, groups, first, accept)
            if last is not None:
                yield groups[first][0], groups[last][1]


def _last_group(text: str, groups: list[tuple[int, int]], first: int, accept: Callable[[str], bool]) -> int | None:
    """The last group of the longest accepted number that starts with group `first`."""
    digits, found = "", None
    for index in range(first, len(groups)):
        digits += text[slice(*groups[index])]
        if len(digits) > MAX_PAN_LENGTH:
            break
        if len(digits) >= MIN_PAN_LENGTH and accept(_ascii(digits)):
            found = index
    return found


def _ascii(digits: str) -> str:
    # \d also matches other scripts' digits (full-width, Arabic-Indic...): the same number to a reader.
    return digits if digits.isascii() else "".join(str(int(char)) for char in digits)


def _merged(spans: Iterator[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """Overlapping spans as one (they come sorted by start)."""
    current: tuple[int, int] | None = None
    for start, stop in spans:
        if current is not None and start <= current[1]:
            current = (current[0], max(current[1], stop))
            continue
        if current is not None:
            yield current
        current = (start, stop)
    if current is not None:
        yield current
