"""Shared fixtures: a fresh event loop and fresh mocks for every test, and cached whole-program runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pulumi
import pytest

from tests.infra.mocks import Recorded, RecordingMocks, close_runtime, fresh_runtime
from tests.infra.program import ProgramRun, run_program


def pytest_configure(config: pytest.Config) -> None:
    # pulumi_aws warns at import about resources this program does not use.
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:pulumi_aws.*")


@pytest.fixture(autouse=True)
def mocks() -> Iterator[RecordingMocks]:
    """Every test starts with a new asyncio loop, a new mocks object and `aws:region` eu-west-1."""
    recording = fresh_runtime("test", {"aws:region": "eu-west-1"})
    yield recording
    close_runtime(recording)


def run(fn: Callable[[], Any]) -> Any:
    """Run `fn` under the mocks, wait for every resource, and return `fn`'s result resolved."""
    box: dict[str, Any] = {}

    def body() -> pulumi.Output[Any]:
        return pulumi.Output.from_input(fn()).apply(lambda value: box.setdefault("value", value))

    pulumi.runtime.test(body)()  # type: ignore[no-untyped-call]
    return box.get("value")


_RUNS: dict[str, tuple[list[Recorded], list[tuple[str, dict[str, Any]]], Any]] = {}


def run_once(key: str, mocks: RecordingMocks, fn: Callable[[], Any]) -> Any:
    """`run(fn)` the first time `key` is seen; later, replay its recorded resources into `mocks`.

    For the many tests that inspect the same default component: each still gets its fresh mocks.
    """
    if key not in _RUNS:
        result = run(fn)
        _RUNS[key] = (list(mocks.resources), list(mocks.calls), result)
        return result
    resources, calls, result = _RUNS[key]
    mocks.resources.extend(resources)
    mocks.calls.extend(calls)
    return result


@pytest.fixture(scope="session")
def eu() -> ProgramRun:
    """The whole program for the eu stack, configured from Pulumi.eu.yaml."""
    return run_program("eu")


@pytest.fixture(scope="session")
def us() -> ProgramRun:
    return run_program("us")


DOMAIN = {"payment-gateway:domainName": "pay.example.com", "payment-gateway:hostedZoneId": "Z0123456789EXAMPLE"}


@pytest.fixture(scope="session")
def eu_domain() -> ProgramRun:
    """The eu stack with a custom domain configured on top of its stack file."""
    return run_program("eu", DOMAIN)


@pytest.fixture(scope="session")
def us_domain() -> ProgramRun:
    return run_program("us", DOMAIN)


FARGATE = {**DOMAIN, "payment-gateway:compute": "fargate"}


@pytest.fixture(scope="session")
def eu_fargate() -> ProgramRun:
    """The eu stack with `compute: fargate` (which needs a domain)."""
    return run_program("eu", FARGATE)


@pytest.fixture(scope="session")
def us_fargate() -> ProgramRun:
    return run_program("us", FARGATE)


@pytest.fixture(params=["eu_fargate", "us_fargate"])
def fargate_stack(request: pytest.FixtureRequest) -> ProgramRun:
    run_: ProgramRun = request.getfixturevalue(request.param)
    return run_


@pytest.fixture(params=["eu", "us", "eu_domain", "us_domain"])
def any_stack(request: pytest.FixtureRequest) -> ProgramRun:
    """Each program variant in turn."""
    run_: ProgramRun = request.getfixturevalue(request.param)
    return run_
