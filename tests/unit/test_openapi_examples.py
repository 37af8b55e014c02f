"""docs/openapi.yaml's examples: every operation has them (its request body's, and one per documented
answer), each matches its schema and is what the API really sends or takes, every error type is shown
where it happens, and no answer shows a card number."""

from __future__ import annotations

import ast
import itertools
import json
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from handlers.contract import gateway_errors, messages
from handlers.domain import cards, ids
from handlers.domain.models import OperationKind, Payment
from handlers.domain.service import try_again
from handlers.wire import operations, webhooks
from handlers.wire.converter import CONVERTER
from handlers.wire.validation import ValidationRules, parse_payment_request
from tests.openapi_contract import resolve, spec

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
METHODS = ("get", "put", "post", "delete", "patch")
ANSWER_TABLE_HEADER = "| Status | Error type | Money moved? | What to do next |"
# A run of digits as long as a card number (13-19), however it is grouped or in whatever script.
DIGIT_RUN = re.compile(r"(?<!\d)\d{13,}(?!\d)")


def _operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec()["paths"].items():
        for method in METHODS:
            if method in item:
                yield method.upper(), path, item[method]


def _examples(media: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The media type's named examples, each resolved (`summary`, `value`)."""
    return {name: dict(resolve(example)) for name, example in (media.get("examples") or {}).items()}


def _request_examples() -> Iterator[tuple[str, str, str, Mapping[str, Any], dict[str, Any]]]:
    """(operation, where, example name, schema, example) of every request body example."""
    for method, path, operation in _operations():
        body = resolve(operation.get("requestBody") or {})
        for media_type, media in (body.get("content") or {}).items():
            for name, example in _examples(media).items():
                yield operation["operationId"], f"{method} {path} {media_type}", name, media["schema"], example


def _response_examples() -> Iterator[tuple[str, str, str, Mapping[str, Any], dict[str, Any]]]:
    """(status, where, example name, schema, example) of every answer's example."""
    for method, path, operation in _operations():
        for status, response in operation["responses"].items():
            for media_type, media in (resolve(response).get("content") or {}).items():
                for name, example in _examples(media).items():
                    yield status, f"{method} {path} {status} {media_type}", name, media["schema"], example


def _validator(schema: Mapping[str, Any]) -> Draft202012Validator:
    """As tests/openapi_contract checks real answers: the schema with the document's components."""
    return Draft202012Validator({**schema, "components": spec()["components"]}, format_checker=FormatChecker())


def _schema_errors(schema: Mapping[str, Any], value: object) -> list[str]:
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _validator(schema).iter_errors(value))


def _error_enum() -> list[str]:
    error = spec()["components"]["schemas"]["Error"]["properties"]["error"]
    enum: list[str] = error["properties"]["type"]["enum"]
    return enum


def _answer_table() -> set[tuple[str, str]]:
    """(status, error type) of each error row of the table of answers in info.description."""
    lines = [line.strip() for line in spec()["info"]["description"].splitlines()]
    start = lines.index(ANSWER_TABLE_HEADER) + 2
    rows = itertools.takewhile(lambda line: line.startswith("|"), lines[start:])
    cells = [[cell.strip().strip("`") for cell in row.strip("|").split("|")] for row in rows]
    return {(status, kind) for status, kind, *_ in cells if kind}


def _strings_and_numbers(value: object) -> Iterator[tuple[str, str]]:
    """(path, text) of every string and number in a JSON value, keys included."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key), str(key)
            for path, text in _strings_and_numbers(item):
                yield f"{key}.{path}" if path else str(key), text
    elif isinstance(value, list):
        for index, item in enumerate(value):
            for path, text in _strings_and_numbers(item):
                yield f"{index}.{path}" if path else str(index), text
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        yield "", str(value)


def _card_numbers_in(value: object, *, allowed_at: str | None = None) -> list[str]:
    """Where `value` holds something that could be a card number: a run of 13 or more digits, or what the
    API itself refuses as one in a `reference` (grouped, in any script's digits); never the digits."""
    found = []
    for path, text in _strings_and_numbers(value):
        if path != allowed_at and (DIGIT_RUN.search(text) or cards.contains_pan(text)):
            found.append(path or "(the value)")
    return found


def _readme_test_cards() -> set[str]:
    text = README.read_text()
    start = text.index("### Test cards\n")
    section = text[start : text.index("\n### ", start + 1)]
    return set(re.findall(r"`(\d{13,19})`", section))


# --- every operation has its examples -------------------------------------------------------------


def test_every_request_body_has_examples() -> None:
    missing = []
    for method, path, operation in _operations():
        body = resolve(operation.get("requestBody") or {})
        for media_type, media in (body.get("content") or {}).items():
            if not _examples(media):
                missing.append(f"{method} {path} {media_type}")
    assert not missing, f"request bodies without an example: {missing}"


def test_every_documented_answer_has_examples() -> None:
    """Each status of each operation, in each media type; only a 204 has no body to show."""
    missing = []
    for method, path, operation in _operations():
        for status, response in operation["responses"].items():
            content = resolve(response).get("content")
            if not content:
                assert status == "204", f"{method} {path} {status} documents no body"
            for media_type, media in (content or {}).items():
                if not _examples(media):
                    missing.append(f"{method} {path} {status} {media_type}")
    assert not missing, f"answers without an example: {missing}"


def test_every_example_is_named_with_a_summary() -> None:
    examples = [*_request_examples(), *_response_examples()]
    assert examples
    for _, where, name, _, example in examples:
        assert re.fullmatch(r"[a-z0-9_]+", name), (where, name)
        assert example.get("summary"), f"{where} {name}: no summary"
        assert "value" in example, f"{where} {name}: no value"


# --- every example is what the API sends or takes --------------------------------------------------


@pytest.mark.parametrize(
    ("where", "schema", "value"),
    [
        pytest.param(where, schema, example["value"], id=f"{where} {name}")
        for _, where, name, schema, example in [*_request_examples(), *_response_examples()]
    ],
)
def test_every_example_matches_its_schema(where: str, schema: Mapping[str, Any], value: object) -> None:
    assert not _schema_errors(schema, value), _schema_errors(schema, value)


def test_the_schema_check_catches_a_drifted_example() -> None:
    """The check above is not vacuous: a payment example with a card number or a bad id fails it."""
    payment = resolve({"$ref": "#/components/examples/PaymentCaptured"})["value"]
    schema = {"$ref": "#/components/schemas/Payment"}
    assert not _schema_errors(schema, payment)
    assert _schema_errors(schema, {**payment, "card": {**payment["card"], "number": "4242424242424291"}})
    assert _schema_errors(schema, {**payment, "id": "pay_1"})
    assert _schema_errors(schema, {**payment, "created_at": "2026-11-26 10:15"})


def _parsers() -> dict[str, Callable[[object], object]]:
    """The handlers' own parser of each operation's request body: an example must pass it."""

    def operation(kind: OperationKind) -> Callable[[object], object]:
        return lambda body: operations.parse_operation_command(kind, "mer_x", "pay_x", body, None)

    return {
        "createPayment": lambda body: parse_payment_request(body, ValidationRules(), date(2026, 11, 26)),
        "capturePayment": operation(OperationKind.CAPTURE),
        "voidPayment": operation(OperationKind.VOID),
        "createRefund": operation(OperationKind.REFUND),
        "createWebhookEndpoint": lambda body: webhooks.parse_create_endpoint("mer_x", body),
        "resendEvent": webhooks.parse_resend,
        "rotateWebhookSecret": webhooks.parse_no_fields,
        "enableWebhookEndpoint": webhooks.parse_no_fields,
    }


def test_every_request_example_is_accepted_by_the_handlers() -> None:
    parsers = _parsers()
    for operation_id, where, _, _, example in _request_examples():
        assert operation_id in parsers, f"{where}: no parser of {operation_id}'s body in this test"
        parsers[operation_id](example["value"])  # raises InvalidRequest if the API would refuse it


def _payments(value: object) -> Iterator[dict[str, Any]]:
    """Every payment object in an example (a page's, an event's data too)."""
    if isinstance(value, Mapping):
        if str(value.get("id", "")).startswith(ids.PAYMENT_PREFIX) and "card" in value:
            yield dict(value)
        for item in value.values():
            yield from _payments(item)
    elif isinstance(value, list):
        for item in value:
            yield from _payments(item)


def test_every_payment_shown_is_one_the_domain_can_hold() -> None:
    """Its authorization code, captured and refunded amounts agree with its status (the domain's own
    validators), and its created_at is its id's time, as the API derives it."""
    payments = [payment for *_, example in _response_examples() for payment in _payments(example["value"])]
    assert len(payments) > 10
    for payment in payments:
        held = CONVERTER.structure({**payment, "merchant_id": "mer_x"}, Payment)  # raises if inconsistent
        assert held.created_at == ids.created_at(payment["id"]), payment["id"]
        expires = payment["authorization_expires_at"]
        assert (expires is not None) == (
            payment["capture_method"] == "manual" and payment["authorization_code"] is not None
        )
        if expires:
            assert datetime.fromisoformat(expires) > held.created_at


# --- every error type, where it happens ------------------------------------------------------------


def _error_examples() -> Iterator[tuple[str, str, str, str]]:
    """(status, error type, where, name) of every error example."""
    for status, where, name, schema, example in _response_examples():
        if schema == {"$ref": "#/components/schemas/Error"}:
            yield status, example["value"]["error"]["type"], where, name


def test_every_error_type_has_an_example() -> None:
    shown = {kind for _, kind, _, _ in _error_examples()}
    assert not set(_error_enum()) - shown, f"error types without an example: {sorted(set(_error_enum()) - shown)}"


def test_every_error_example_has_the_status_its_type_is_sent_with() -> None:
    """The table of answers (which tests/integration/test_openapi.py checks against the code) says which
    status each error type comes with; an example shows it under that status only."""
    table = _answer_table()
    for status, kind, where, name in _error_examples():
        assert (status, kind) in table, f"{where} {name}: {kind} is never a {status}"


def test_every_success_example_is_not_an_error() -> None:
    for status, where, name, _, example in _response_examples():
        if status.startswith("2"):
            assert "error" not in example["value"], (where, name)


# --- no card number in an answer ------------------------------------------------------------------


def test_no_answer_example_shows_a_card_number() -> None:
    for _, where, name, _, example in _response_examples():
        assert not _card_numbers_in(example["value"]), f"{where} {name}: {_card_numbers_in(example['value'])}"


def test_a_request_example_shows_a_card_number_only_in_card_number_and_only_a_test_card() -> None:
    test_cards = _readme_test_cards()
    assert len(test_cards) >= 12
    for _, where, name, _, example in _request_examples():
        value = example["value"]
        assert not _card_numbers_in(value, allowed_at="card.number"), (where, name)
        if isinstance(value, Mapping) and "card" in value:
            assert value["card"]["number"] in test_cards, f"{where} {name}: not a test card of the README"


@pytest.mark.parametrize(
    "written",
    [
        "4242424242424291",
        "4242 4242 4242 4291",
        "4242-4242-4242-4291",
        "４２４２ ４２４２ ４２４２ ４２９１",
        4242424242424291,
    ],
)
def test_the_card_number_check_finds_one_however_it_is_written(written: object) -> None:
    assert _card_numbers_in({"error": {"message": "x", "fields": [{"field": "card", "message": written}]}})
    assert _card_numbers_in({"reference": written})


def test_the_card_number_check_passes_what_an_answer_holds() -> None:
    assert not _card_numbers_in(json.loads('{"amount": 99999999, "created_at": "2026-11-26T10:15:30.123Z"}'))


def _answer_templates() -> list[re.Pattern[str]]:
    """Every message the API's code can write: its string literals, and its f-strings with any value
    in their holes (the handlers' and the gateway's, whose responses API Gateway and WAF also give)."""
    patterns: list[re.Pattern[str]] = []
    for root in ("handlers", "proxy_gateway"):
        for source in sorted((ROOT / root).rglob("*.py")):
            for node in ast.walk(ast.parse(source.read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) > 10:
                    patterns.append(re.compile(re.escape(node.value)))
                elif isinstance(node, ast.JoinedStr) and _literal_length(node) > 10:  # not f"{a}: {b}"
                    patterns.append(re.compile("".join(map(_hole_or_text, node.values))))
    # and the module constants built by concatenation (INTERNAL_ERROR = "..." + OUTCOME_UNKNOWN)
    for module in (messages, gateway_errors):
        patterns += [re.compile(re.escape(v)) for v in vars(module).values() if isinstance(v, str) and len(v) > 10]
    return patterns


# Holes whose every value is known: the example must show one of them, not anything.
_KNOWN_HOLES = {"try_again": (try_again(keyed=True), try_again(keyed=False))}


def _hole_or_text(part: ast.expr) -> str:
    if isinstance(part, ast.Constant):
        return re.escape(str(part.value))
    called = part.value if isinstance(part, ast.FormattedValue) else None
    if isinstance(called, ast.Call) and isinstance(called.func, ast.Name) and called.func.id in _KNOWN_HOLES:
        return "(" + "|".join(map(re.escape, _KNOWN_HOLES[called.func.id])) + ")"
    return ".*?"


def _literal_length(node: ast.JoinedStr) -> int:
    return sum(len(str(part.value)) for part in node.values if isinstance(part, ast.Constant))


def test_every_error_example_says_what_the_api_really_says() -> None:
    """An example's message is one the code writes (a changed message fails here until the spec follows)."""
    templates = _answer_templates()
    written = {
        example["value"]["error"]["message"]
        for _, _, _, schema, example in _response_examples()
        if schema == {"$ref": "#/components/schemas/Error"}
    }
    assert written
    unknown = sorted(m for m in written if not any(t.fullmatch(m) for t in templates))
    assert not unknown, f"messages no code writes: {unknown}"
