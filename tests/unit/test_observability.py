"""The JSON log formatter's card mask: no card number, in any notation, leaves in a log line."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

import pytest

from handlers.entrypoints.observability import JsonFormatter, configure_logging, emit_metric, log_context
from tests.support import UNNAMED_BRAND_WRITINGS, VISA_AUTHORIZED, luhn_complete

NOTATIONS = {
    "plain": VISA_AUTHORIZED,
    "spaces": "4242 4242 4242 4291",
    "dashes": "4242-4242-4242-4291",
    "dots": "4242.4242.4242.4291",
    # JSON escapes these separators (\t, \n): the mask must see the number before it does.
    "tabs": "4242\t4242\t4242\t4291",
    "line breaks": "4242\n4242\n4242\n4291",
    "CRLF": "4242\r\n4242\r\n4242\r\n4291",
    # ... and these a traceback's repr escapes (\xa0, \u200b, \u2028): a KeyError's message.
    "no-break spaces": "4242\xa04242\xa04242\xa04291",
    "zero-width spaces": "4242\u200b4242\u200b4242\u200b4291",
    "line separators": "4242\u20284242\u20284242\u20284291",
    "arabic-indic": VISA_AUTHORIZED.translate({ord("0") + d: 0x0660 + d for d in range(10)}),
}


def format_record(message: str, *args: object, extra: dict[Any, Any] | None = None, failure: str | None = None) -> str:
    """One record as the formatter writes it; with `failure`, logged while handling an exception chain."""
    logger = logging.getLogger("tests.observability")
    exc_info = None
    if failure is not None:
        try:
            raise ValueError(f"declined card {failure}") from KeyError(failure)
        except ValueError:
            exc_info = sys.exc_info()
    record = logger.makeRecord(logger.name, logging.ERROR, __file__, 1, message, args, exc_info, extra=extra)
    return JsonFormatter().format(record)


@pytest.mark.parametrize("written", NOTATIONS.values(), ids=NOTATIONS.keys())
def test_a_card_number_anywhere_in_a_record_comes_out_as_card(written: str) -> None:
    with log_context(request_id=f"req {written}"):
        line = format_record(
            "charging %s failed", written, extra={"card": written, "details": {"pan": written}}, failure=written
        )

    entry = json.loads(line)
    assert entry["message"] == "charging [card] failed"
    assert (entry["card"], entry["details"], entry["request_id"]) == ("[card]", {"pan": "[card]"}, "req [card]")
    assert "ValueError: declined card [card]" in entry["exception"]  # the message, in the traceback
    assert "KeyError: '[card]'" in entry["exception"]  # and the exception it was raised from
    assert "4242" not in line and "4291" not in line  # not one group of its digits
    assert "\\u0664\\u0662" not in line  # nor in other digits, as JSON escapes them


class Wrapped:
    """An object json.dumps writes with `default=str`."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return f"Wrapped({self.text})"


def test_numbers_lists_and_objects_are_masked_as_the_line_writes_them() -> None:
    number = int(VISA_AUTHORIZED)
    extra = {"pan": number, "pans": (number, "ok"), "wrapped": Wrapped(NOTATIONS["tabs"]), number: "key", "n": 7}
    extra["float"] = float(number)  # written 4242424242424291.0
    extra["large float"] = float(number) * 1000  # written 4.242424242424291e+18: its groups make the number
    entry = json.loads(format_record("card", extra=extra))
    assert (entry["pan"], entry["pans"], entry["wrapped"], entry["[card]"]) == (
        "[card]",
        ["[card]", "ok"],
        "Wrapped([card])",
        "key",
    )
    assert (entry["float"], entry["large float"]) == ("[card].0", "[card]e+18")
    assert entry["n"] == 7 and isinstance(entry["n"], int)  # what holds no card number keeps its type


def test_digits_an_escape_writes_are_not_taken_for_a_card_number() -> None:
    """Masked before escaping: the \\u0001 of a control character does not join the digits after it."""
    digits = luhn_complete("000111111111111")[4:]  # 12 digits: 0001 + these, 16, pass Luhn
    line = format_record("id \x01%s", digits)
    assert "\\u0001" + digits in line  # what the formatter before masked, as one 16-digit number
    assert json.loads(line)["message"] == f"id \x01{digits}"


def test_other_numbers_are_left_alone() -> None:
    entry = json.loads(format_record("order %s at %s", "1764150000124", "2026-11-26 10:00:00", extra={"amount": 1050}))
    assert (entry["message"], entry["amount"]) == ("order 1764150000124 at 2026-11-26 10:00:00", 1050)


def test_a_card_number_after_a_non_ascii_character_is_masked_and_the_line_stays_ascii() -> None:
    """json.dumps escapes "°" as \\u00b0: masking after that would see one longer number, 04242...91."""
    line = format_record("n°%s, é%s, \ud800\x7f", VISA_AUTHORIZED, NOTATIONS["spaces"])

    assert line.isascii() and "\\u00b0" in line and "\\ud800\\u007f" in line  # as json.dumps writes it by default
    assert json.loads(line)["message"] == "n°[card], é[card], \ud800\x7f"
    assert "4242" not in line


@pytest.mark.parametrize("written", UNNAMED_BRAND_WRITINGS.values(), ids=UNNAMED_BRAND_WRITINGS.keys())
def test_numbers_of_brands_the_gateway_does_not_name_are_masked(written: str) -> None:
    entry = json.loads(format_record("reference %s", written, extra={"reference": written}))
    assert (entry["message"], entry["reference"]) == ("reference [card]", "[card]")


def test_every_line_and_metric_record_names_the_region_it_was_configured_with(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Logs gathered from both regions (the local stack's one file, a central log account) say who wrote them."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging("INFO", "us-east-1")
        logging.getLogger("tests.observability").info("hello", extra={"payment_id": "pay_1"})
        emit_metric("Test", "Things", 1, "Count", {"Outcome": "ok"})
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [line["region"] for line in lines] == ["us-east-1", "us-east-1"]
        assert lines[0]["payment_id"] == "pay_1" and lines[1]["Outcome"] == "ok"
        configure_logging("INFO")  # none given: none written
        emit_metric("Test", "Things", 1, "Count", {})
        assert "region" not in json.loads(capsys.readouterr().out)
    finally:
        configure_logging("INFO")
        root.handlers[:] = handlers
        root.setLevel(level)


def test_a_configured_process_logs_without_walking_the_stack_for_its_caller(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The caller, thread and process of a record are in no line: configure_logging stops the logging
    module looking them up (its documented optimisations) and the lines are unchanged."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    for name in ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing"):
        monkeypatch.setattr(logging, name, getattr(logging, name))  # restored after the test
    try:
        configure_logging("INFO", "eu-west-1")

        def no_caller_lookup(*_args: object, **_kwargs: object) -> None:
            raise AssertionError("findCaller walked the stack")

        monkeypatch.setattr(logging.Logger, "findCaller", no_caller_lookup)
        logging.getLogger("tests.observability").info("hello", extra={"payment_id": "pay_1"})
        entry = json.loads(capsys.readouterr().out)
        assert (entry["message"], entry["payment_id"], entry["region"]) == ("hello", "pay_1", "eu-west-1")
        record = logging.getLogger("x").makeRecord("x", logging.INFO, "f", 1, "m", (), None)
        assert (record.threadName, record.processName, record.process) == (None, None, None)
    finally:
        configure_logging("INFO")
        root.handlers[:] = handlers
        root.setLevel(level)


def test_each_line_has_its_own_records_time_to_the_millisecond() -> None:
    """The formatter keeps the text of the last second it wrote: records in that second, the next and
    an earlier one each get their own time."""
    formatter = JsonFormatter()
    written = []
    for created in (1796665218.974, 1796665218.001, 1796665219.5, 1796665218.25, 86400.0, -1.5):
        record = logging.LogRecord("x", logging.INFO, "f", 1, "m", (), None)
        record.created, record.msecs = created, round(created * 1000) % 1000
        written.append(json.loads(formatter.format(record))["timestamp"])
    assert written == [
        "2026-12-07T17:40:18.974Z",
        "2026-12-07T17:40:18.001Z",
        "2026-12-07T17:40:19.500Z",
        "2026-12-07T17:40:18.250Z",
        "1970-01-02T00:00:00.000Z",
        "1969-12-31T23:59:58.500Z",  # a second before the epoch: not the cache's empty value
    ]


def _reference_metric_line(
    name: str, value: float, dimensions: dict[str, str], sets: list[list[str]] | None, timestamp: object
) -> str:
    """The line emit_metric wrote as one json.dumps of a dict, before its directive was cached."""
    directive = {
        "Namespace": "Test",
        "Dimensions": sets or [list(dimensions)],
        "Metrics": [{"Name": name, "Unit": "Count"}],
    }
    return (
        json.dumps({"_aws": {"Timestamp": timestamp, "CloudWatchMetrics": [directive]}, name: value, **dimensions})
        + "\n"
    )


@pytest.mark.parametrize(
    ("name", "value", "dimensions", "sets"),
    [
        (
            "Responses",
            1,
            {"FunctionName": "create_payment", "StatusClass": "2xx"},
            [["FunctionName"], ["FunctionName", "StatusClass"]],
        ),
        ("Payments", 1, {"Status": "captured"}, None),
        ("BankLatency", 12.5, {"Outcome": 'é\u2028"quoted"'}, None),
        ("Status", 3, {"Status": "wins"}, None),  # a dimension named as the metric: the dimension's value
        ("Things", 1, {"_aws": "odd"}, None),  # a field named _aws replaces the directive, as in one dict
        ("Empty", 0, {}, None),
    ],
)
def test_metric_lines_are_the_json_of_one_record(
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: float,
    dimensions: dict[str, str],
    sets: list[list[str]] | None,
) -> None:
    for _ in range(2):  # the second from the cached directive
        emit_metric("Test", name, value, "Count", dimensions, dimension_sets=sets)
        line = capsys.readouterr().out
        directive = json.loads(line)["_aws"]
        timestamp = directive["Timestamp"] if isinstance(directive, dict) else None
        assert line == _reference_metric_line(name, value, dimensions, sets, timestamp)
        assert timestamp is None or 0 < timestamp <= time.time() * 1000


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text")


@pytest.mark.parametrize(
    "why",
    ["cycle", "arguments", "unprintable", "deep"],
)
def test_a_record_that_cannot_be_written_is_a_line_without_its_fields_and_never_an_error(
    why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not logging's error report either: it prints the record's arguments to stderr, unmasked."""
    cycle: dict[str, object] = {"pan": VISA_AUTHORIZED}
    cycle["self"] = cycle
    deep: list[object] = [VISA_AUTHORIZED]
    for _ in range(5000):
        deep = [deep]
    message, args, extra = {
        "cycle": ("charging %s", (VISA_AUTHORIZED,), {"details": cycle}),
        "arguments": ("charging %d", (VISA_AUTHORIZED,), {}),
        "unprintable": ("charging %s", (VISA_AUTHORIZED,), {"thing": Unprintable()}),
        "deep": ("charging %s", (VISA_AUTHORIZED,), {"nested": deep}),
    }[why]
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging("INFO", "eu-west-1")
        logging.getLogger("tests.observability").info(message, *args, extra=extra)
        captured = capsys.readouterr()
    finally:
        configure_logging("INFO")
        root.handlers[:] = handlers
        root.setLevel(level)
    entry = json.loads(captured.out)
    assert (entry["message"], entry["template"], entry["level"]) == ("log_record_unwritable", message, "INFO")
    assert "4242" not in captured.out + captured.err


def test_log_context_is_entered_once_at_a_time_and_nests() -> None:
    outer = log_context(request_id="r1")
    with outer:
        with log_context(merchant_id="m1"):
            assert json.loads(format_record("x"))["merchant_id"] == "m1"
        with pytest.raises(RuntimeError), outer:
            pass
        assert json.loads(format_record("x"))["request_id"] == "r1"
    entry = json.loads(format_record("x"))
    assert "request_id" not in entry and "merchant_id" not in entry
    with outer:  # and again, once left
        assert json.loads(format_record("x"))["request_id"] == "r1"
