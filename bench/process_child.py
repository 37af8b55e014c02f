"""The whole-process cold-start child: a fresh interpreter, its real adapters, one answer over the network.

Started by bench.process_cold as `python -c BOOT <code root> <repo root> <mode> <fake url>`, timed from
its first line. Unlike bench.child nothing is swapped: the payments function named in the route
table builds its own DynamoDB client and bank client and talks to bench.process_cold's fake on
127.0.0.1, which answers every call at once. What is measured is what a Lambda cold start costs
up to the first response: imports, the client's construction and its first request (endpoint
resolution, the service model's shapes, signing), the bank's first connection.

- floor: `import boto3`, one DynamoDB client and one PutItem to the same fake;
- post: `handlers.contract.routes.CREATE_PAYMENT.handler` serves one keyed POST /v1/payments.
This module imports only the standard library at top level.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from typing import Any

MARKER = "BENCH_RESULT "
MODES = ("floor", "post")

BOOT = (
    "import time; _t0 = time.perf_counter()\n"
    "import sys; sys.path[:0] = sys.argv[1:3]\n"
    "from bench.process_child import main; main(sys.argv[3], sys.argv[4], _t0)\n"
)


def main(mode: str, fake_url: str, started: float) -> None:
    status = _run(mode, fake_url)
    elapsed_ms = (time.perf_counter() - started) * 1000
    modules = sorted(name for name in sys.modules if "." not in name)
    sys.stdout.write(MARKER + json.dumps({"mode": mode, "ms": elapsed_ms, "status": status, "modules": modules}))
    sys.stdout.write("\n")
    sys.stdout.flush()


def _run(mode: str, fake_url: str) -> int:
    if mode == "floor":
        return _floor(fake_url)
    if mode == "post":
        return _post()
    raise SystemExit(f"unknown mode {mode!r}; expected one of {MODES}")


def _floor(fake_url: str) -> int:
    import boto3  # noqa: PLC0415 - inside the timed region on purpose

    client = boto3.client("dynamodb", region_name="eu-west-1", endpoint_url=fake_url)
    answer = client.put_item(TableName="payment-gateway", Item={"pk": {"S": "floor"}, "sk": {"S": "floor"}})
    return int(answer["ResponseMetadata"]["HTTPStatusCode"])


def _post() -> int:
    # The entry point as the Pulumi program names it: whatever module that is, it is what Lambda imports.
    from handlers.contract.routes import CREATE_PAYMENT  # noqa: PLC0415

    module_name, _, function_name = CREATE_PAYMENT.handler.rpartition(".")
    handler = getattr(importlib.import_module(module_name), function_name)
    from bench import events  # noqa: PLC0415 - standard library and tests.support only

    response: dict[str, Any] = handler(events.post_payment("cold-start-whole-process-1"), None)
    return int(response["statusCode"])
