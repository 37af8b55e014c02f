"""Runs examples/third_region under Pulumi mocks, in the example's own virtualenv and directory
(tests/packaging/test_wheel.py copies this file and tests/infra/mocks.py next to each other).

Writes what the test checks, as JSON, to the path given as the first argument. Imports nothing
of the repository: what it imports of the payment gateway comes from the installed package.
"""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path
from typing import Any
from unittest.mock import patch

import mocks_harness  # type: ignore[import-not-found]  # tests/infra/mocks.py, copied beside this file
import pulumi

PROJECT = "payments-apac"
FUNCTION = "aws:lambda/function:Function"
SECRETS = {
    f"{PROJECT}:fingerprintKey": "apac-test-fingerprint-key-32-bytes!",
    f"{PROJECT}:bankUrl": "https://bank.test/p",
}


def main(out: Path, program: Path) -> None:
    mocks_harness.PROJECT = PROJECT
    config = {"aws:region": "ap-southeast-2", **SECRETS}
    recording = mocks_harness.fresh_runtime("apac", config, list(SECRETS))
    exported: dict[str, Any] = {}
    resolved: dict[str, Any] = {}
    namespace: dict[str, Any] = {}

    def run() -> pulumi.Output[Any]:
        with patch.object(pulumi, "export", exported.__setitem__):
            namespace.update(runpy.run_path(str(program / "__main__.py")))
        return pulumi.Output.all(**exported).apply(resolved.update)

    try:
        pulumi.runtime.test(run)()
    finally:
        mocks_harness.close_runtime(recording)
    import components  # noqa: PLC0415 - loaded by the program by now
    import handlers  # noqa: PLC0415

    archive = namespace["archive"]
    report = {
        "components": components.__file__,
        "handlers": handlers.__file__,
        "archive": {"path": str(archive.path), "sha256": archive.sha256_base64, "entries": list(archive.entries)},
        "resources": [[r.typ, r.name, r.region] for r in recording.custom()],
        "function_names": [r.plain.get("name") for r in recording.of_type("aws:lambda/function:Function")],
        "calls": [[token, args.get("name"), args.get("region")] for token, args in recording.calls],
        "exports": sorted(resolved),
        "aliases": [
            [r.plain.get("functionName"), r.plain.get("functionVersion"), r.ignore_changes]
            for r in recording.of_type("aws:lambda/alias:Alias")
        ],
        "deployment_groups": len(recording.of_type("aws:codedeploy/deploymentGroup:DeploymentGroup")),
        "timeouts": {
            r.plain.get("name"): r.plain.get("timeout") for r in recording.of_type("aws:lambda/function:Function")
        },
        "duration_alarms": [
            [(r.plain.get("dimensions") or {}).get("FunctionName"), r.plain.get("threshold")]
            for r in recording.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
            if r.plain.get("metricName") == "Duration"
        ],
        "sys_path": sys.path,
    }
    out.write_text(json.dumps(report))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
