"""The cold-start child: a fresh interpreter runs exactly one of these, timed from before any import.

Started by bench.coldstart as `python -c BOOT <code root> <repo root> <mode>`; BOOT takes the clock
first, puts the code root (the repository, or an unpacked Lambda archive) ahead of the repository
on sys.path, and calls main(). This module imports only the standard library at top level.

- floor: `import boto3` and one DynamoDB client, the least any handler that talks to DynamoDB pays;
- post / get / list: import handlers.entrypoints.api and serve the first request. Only the two adapters
  are swapped at their construction sites (`DynamoRepository`, `HttpBank` in handlers.entrypoints.wiring), so the
  handler's own composition runs: settings, logging setup, and `make_client`, which creates the
  DynamoDB client the first request would use (it is just never sent to);
- authorizer: the same for handlers.entrypoints.authorizer.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

MARKER = "BENCH_RESULT "
MODES = ("floor", "post", "get", "list", "authorizer")

BOOT = (
    "import time; _t0 = time.perf_counter()\n"
    "import sys; sys.path[:0] = sys.argv[1:3]\n"
    "from bench.child import main; main(sys.argv[3], _t0)\n"
)


def main(mode: str, started: float) -> None:
    status = _run(mode)
    elapsed_ms = (time.perf_counter() - started) * 1000
    handlers_module = sys.modules.get("handlers")
    origin = getattr(handlers_module, "__file__", None)
    sys.stdout.write(MARKER + json.dumps({"mode": mode, "ms": elapsed_ms, "status": status, "origin": origin}) + "\n")
    sys.stdout.flush()


def _run(mode: str) -> int:
    if mode == "floor":
        import boto3  # noqa: PLC0415 - inside the timed region on purpose

        boto3.client("dynamodb", region_name="eu-west-1")
        return 0
    if mode == "authorizer":
        return _authorizer()
    if mode in ("post", "get", "list"):
        return _api(mode)
    raise SystemExit(f"unknown mode {mode!r}; expected one of {MODES}")


def _api(mode: str) -> int:
    # Imported here, inside the timed region: these imports are what a cold start pays for.
    from bench import events  # noqa: PLC0415
    from bench.fakes import SEEDED_PAYMENT_ID, BenchBank, seeded_repository  # noqa: PLC0415
    from handlers.entrypoints import api, wiring  # noqa: PLC0415

    repository = seeded_repository(events.MERCHANT_ID, events.API_KEY)
    vars(wiring)["DynamoRepository"] = lambda client, table: _adopt(repository, client, table)
    vars(wiring)["HttpBank"] = BenchBank
    response: dict[str, Any]
    if mode == "post":
        response = api.create_payment(events.post_payment("cold-start-key-1"), None)
    elif mode == "get":
        response = api.get_payment(events.get_payment(SEEDED_PAYMENT_ID), None)
    else:
        response = api.list_payments(events.list_payments(), None)
    return int(response["statusCode"])


def _authorizer() -> int:
    from bench import events  # noqa: PLC0415
    from bench.fakes import seeded_repository  # noqa: PLC0415
    from handlers.entrypoints import authorizer  # noqa: PLC0415

    repository = seeded_repository(events.MERCHANT_ID, events.API_KEY)
    vars(authorizer)["DynamoRepository"] = lambda client, table: _adopt(repository, client, table)
    answer = authorizer.handler(events.authorizer_request(), None)
    return 200 if answer["principalId"] == events.MERCHANT_ID else 401


def _adopt(repository: Any, client: object, table: str) -> Any:
    repository.client, repository.table = client, table
    return repository
