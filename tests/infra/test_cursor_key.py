"""CURSOR_KEY signs list cursors (handlers.wire.cursors). It is derived from the fingerprint key, so it
needs no new secret, is the same in both regions (a page's cursor works in either) and is one-way
(the list functions that hold it never hold the key that fingerprints card data). Only the functions
that answer pages get it; on Fargate it is a Secrets Manager secret, never a plain variable."""

from __future__ import annotations

import hashlib
import hmac

from handlers.contract import routes
from handlers.entrypoints.settings import Settings
from tests.infra.conftest import FARGATE
from tests.infra.helpers import FUNCTION, TASK_DEFINITION
from tests.infra.mocks import is_secret
from tests.infra.program import TEST_FINGERPRINT_KEY, ProgramRun, run_program

PAGING = {
    f"payment-gateway-{f.name}" for f in (routes.LIST_PAYMENTS, routes.LIST_WEBHOOK_ENDPOINTS, routes.LIST_EVENTS)
}
EXPECTED = hmac.new(TEST_FINGERPRINT_KEY.encode(), b"list-cursor", hashlib.sha256).hexdigest()


def _environments(run: ProgramRun) -> dict[str, dict[str, str]]:
    return {f.plain["name"]: f.plain["environment"]["variables"] for f in run.of_type(FUNCTION)}


def test_only_the_list_functions_get_it_and_it_is_the_same_in_both_regions(eu: ProgramRun, us: ProgramRun) -> None:
    for run in (eu, us):
        environments = _environments(run)
        assert {name for name, env in environments.items() if "CURSOR_KEY" in env} == PAGING
        for name in PAGING:
            env = environments[name]
            assert env["CURSOR_KEY"] == EXPECTED and "FINGERPRINT_KEY" not in env
            assert Settings.from_env({"AWS_REGION": run.region, **env}).require_cursor_key() == EXPECTED.encode()


def test_it_is_kept_secret(eu: ProgramRun) -> None:
    for function in eu.of_type(FUNCTION):
        if function.plain["name"] in PAGING:
            assert is_secret(function.inputs["environment"]), function.plain["name"]


def test_on_fargate_it_is_a_secret_of_the_task_not_a_variable() -> None:
    run = run_program("eu", FARGATE)
    [definition] = run.one(TASK_DEFINITION).json("containerDefinitions")
    assert "CURSOR_KEY" not in {e["name"] for e in definition["environment"]}
    assert "CURSOR_KEY" in {s["name"] for s in definition["secrets"]}
