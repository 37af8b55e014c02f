"""Run `__main__.py` under mocks with the config of a real `Pulumi.<stack>.yaml`."""

from __future__ import annotations

import functools
import json
import runpy
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pulumi
import yaml

from tests.infra.mocks import PROJECT, Recorded, RecordingMocks, close_runtime, fresh_runtime

ROOT = Path(__file__).resolve().parents[2]
TEST_FINGERPRINT_KEY = "test-only-fingerprint-key-of-32-bytes"
SECRET_KEYS = (f"{PROJECT}:fingerprintKey", f"{PROJECT}:bankUrl")


def stack_file_config(stack: str) -> dict[str, str]:
    """The stack file's config as Pulumi hands it to a program: strings, objects as JSON."""
    data = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in data.items()}


@dataclass
class ProgramRun:
    stack: str
    region: str
    mocks: RecordingMocks
    exports: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # what it told `pulumi up` through pulumi.log.warn

    def custom(self) -> list[Recorded]:
        return self.mocks.custom()

    def of_type(self, typ: str) -> list[Recorded]:
        return self.mocks.of_type(typ)

    def one(self, typ: str, name: str | None = None) -> Recorded:
        return self.mocks.one(typ, name)


@functools.cache
def _run(stack: str, overrides: tuple[tuple[str, str], ...]) -> ProgramRun:
    # The stack files name no bank on purpose (the deployer must); these runs use the simulator.
    bank = {} if f"{PROJECT}:bankUrl" in dict(overrides) else {f"{PROJECT}:bankSimulator": "true"}
    config = {**stack_file_config(stack), f"{PROJECT}:fingerprintKey": TEST_FINGERPRINT_KEY, **bank, **dict(overrides)}
    mocks = fresh_runtime(stack, config, SECRET_KEYS)
    exported: dict[str, Any] = {}
    resolved: dict[str, Any] = {}
    warned: list[str] = []

    def program() -> pulumi.Output[Any]:
        with (
            patch.object(pulumi, "export", exported.__setitem__),
            patch.object(pulumi.log, "warn", lambda message, *_, **__: warned.append(message)),
        ):
            runpy.run_path(str(ROOT / "__main__.py"))
        return pulumi.Output.all(**exported).apply(resolved.update)

    try:
        pulumi.runtime.test(program)()  # type: ignore[no-untyped-call]
    finally:
        close_runtime(mocks)
    return ProgramRun(stack=stack, region=config["aws:region"], mocks=mocks, exports=resolved, warnings=warned)


def run_program(stack: str, overrides: dict[str, str] | Iterable[tuple[str, str]] = ()) -> ProgramRun:
    """Run (once per distinct config; results are plain data) the program for `stack`."""
    items = overrides.items() if isinstance(overrides, dict) else overrides
    return _run(stack, tuple(sorted(items)))
