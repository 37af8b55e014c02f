"""A payment's function loads only what it serves: none of the webhook sender's, the resolver's, the
lifecycle's or the webhook API's modules (handlers.entrypoints.wiring imports those when their builder
is first called). Each module kept out is import time off every cold start of create-payment."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from handlers.contract import routes

ROOT = Path(__file__).resolve().parents[2]
OTHER_FUNCTIONS_MODULES = {
    "handlers.domain.delivery",
    "handlers.domain.webhook_api",
    "handlers.domain.resolver",
    "handlers.domain.operations",
    "handlers.adapters.webhook_http",
    "handlers.adapters.dns",
}


def _loaded_by(handler: str) -> set[str]:
    module = handler.rsplit(".", 1)[0]
    code = f"import importlib, json, sys; importlib.import_module({module!r}); print(json.dumps(sorted(sys.modules)))"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(json.loads(run.stdout))


def test_the_payment_function_loads_none_of_the_other_functions_modules() -> None:
    assert not OTHER_FUNCTIONS_MODULES & _loaded_by(routes.CREATE_PAYMENT.handler)


def test_the_other_functions_still_load_theirs_when_built() -> None:
    """The lazy imports are real imports: each builder returns its service (no NameError at first call)."""
    code = (
        "import os; os.environ.update(TABLE_NAME='t', AWS_REGION='eu-west-1', BANK_URL='http://127.0.0.1:9/',"
        " FINGERPRINT_KEY='k' * 32, AWS_ACCESS_KEY_ID='a', AWS_SECRET_ACCESS_KEY='b')\n"
        "from handlers.entrypoints import wiring\n"
        "for build in (wiring.operation_service, wiring.payment_resolver, wiring.webhook_sender, wiring.webhook_api):\n"
        "    build()\n"
        "import sys, json; print(json.dumps(sorted(sys.modules)))"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert set(json.loads(run.stdout)) >= OTHER_FUNCTIONS_MODULES
