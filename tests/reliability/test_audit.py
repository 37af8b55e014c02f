"""The card-data audit itself: it must find what it is meant to find, and only that."""

from __future__ import annotations

import json

import pytest

from tests.reliability.audit import CardAudit

PAN, CVV = "4242424242424291", "423"


def audit() -> CardAudit:
    found = CardAudit()
    found.register(PAN, CVV)
    return found


def test_a_card_number_or_cvv_anywhere_in_a_stored_item_is_a_leak() -> None:
    assert audit().check_items([{"status": {"S": "authorized"}, "note": {"S": CVV}}], "t")
    assert audit().check_items([{"reference": {"S": f"order {PAN}"}}], "t")
    assert audit().check_items([{"cvv": {"S": "000"}}], "t")  # a field named like one


def test_a_stored_number_equal_to_some_cvv_is_not_a_leak() -> None:
    """An amount of 423 minor units is stored as {"N": "423"}: a number, not the CVV string."""
    assert audit().check_items([{"amount": {"N": CVV}, "card": {"M": {"expiry_month": {"N": "4"}}}}], "t") == []
    assert audit().check_items([{"note": {"S": CVV}}], "t")


def test_a_reference_equal_to_some_cvv_is_the_merchants_text_not_a_leak() -> None:
    """Generated references such as "423" collide with generated CVVs; card numbers there still count."""
    assert audit().check_items([{"reference": {"S": CVV}, "status": {"S": "declined"}}], "t") == []


def test_a_response_echoing_such_a_reference_is_not_a_leak_but_anything_else_is() -> None:
    assert audit().check_responses([f'{{"id": "pay_1", "reference": "{CVV}"}}'], "t") == []
    assert audit().check_responses([f'{{"data": [{{"reference": "x", "code": "{CVV}"}}]}}'], "t")
    assert audit().check_responses([f'{{"reference": "{PAN}"}}'], "t")
    assert audit().check_responses([f'not json "{CVV}"'], "t")


def test_log_lines_are_checked_for_cvvs_everywhere() -> None:
    assert audit().check("log lines", [f'{{"reference": "{CVV}"}}'], "t")


GROUPED = [
    "4242 4242 4242 4291",
    "4242-4242-4242-4291",
    "4242.4242.4242.4291",
    "4242 - 4242.4242-4291",
    "4 2 4 2 4 2 4 2 4 2 4 2 4 2 9 1",
    "4242\u00a04242\u20134242\t4291",  # Unicode separators and a tab: escaped in the scanned JSON
]


@pytest.mark.parametrize("written", GROUPED)
def test_a_card_number_written_in_groups_is_found_in_storage_logs_and_responses(written: str) -> None:
    assert audit().check_items([{"reference": {"S": f"order {written}"}}], "t")
    assert audit().check_responses([json.dumps({"id": "pay_1", "reference": written})], "t")
    assert audit().check("log lines", [json.dumps({"message": f"charging {written}"})], "t")


def test_digits_of_a_card_number_split_by_other_text_are_not_it() -> None:
    """Only separators join digits: JSON's own punctuation between numbers does not."""
    assert audit().check_items([{"a": {"S": PAN[:10]}, "b": {"S": PAN[10:]}}], "t") == []
    assert audit().check_responses([json.dumps({"data": [int(PAN[:8]), int(PAN[8:])]})], "t") == []
    assert (
        audit().check("log lines", [json.dumps({"message": f"{PAN[:8]}/{PAN[8:]} at 2026-11-26 10:00:00"})], "t") == []
    )
