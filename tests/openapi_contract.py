"""Check a real response against docs/openapi.yaml: documented status, required headers, body schema."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker

# The API's own headers that tell a client what to do next.
ANSWER_HEADERS = ("Idempotent-Replayed", "Retry-After")
SPEC_PATH = Path(__file__).resolve().parent.parent / "docs" / "openapi.yaml"


@functools.cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
    return loaded


def resolve(node: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in node:
        target: Any = spec()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def assert_conforms(
    method: str, path: str, status: int, headers: Mapping[str, str], body: str | bytes
) -> dict[str, Any]:
    """Raise AssertionError naming what differs; return the parsed body."""
    operation = spec()["paths"][path][method.lower()]
    documented = operation["responses"]
    assert str(status) in documented, f"{method} {path}: status {status} is not documented"
    response = resolve(documented[str(status)])
    lower = {k.lower() for k in headers}
    declared = response.get("headers", {})
    for name, header in declared.items():
        if resolve(header).get("required"):
            assert name.lower() in lower, f"{method} {path} {status}: header {name} missing"
    for name in ANSWER_HEADERS:  # what a client acts on must be in the contract it reads
        if name.lower() in lower:
            assert name.lower() in {d.lower() for d in declared}, f"{method} {path} {status}: {name} undeclared"
    schema = response["content"]["application/json"]["schema"]
    parsed: dict[str, Any] = json.loads(body)
    validator = Draft202012Validator({**schema, "components": spec()["components"]}, format_checker=FormatChecker())
    errors = sorted(validator.iter_errors(parsed), key=str)
    assert not errors, f"{method} {path} {status}: " + "; ".join(e.message for e in errors[:5])
    return parsed
