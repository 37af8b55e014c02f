"""What the local stack is made of: regions, ports, and the environment each Lambda sees.

Ports: with `--port N` the global endpoint listens on N, eu-west-1 on N+1, us-east-1 on N+2 and
the bank simulator on N+3; with `--port 0` every one is a free port chosen by the OS.
The embedded DynamoDB always takes a free port.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from handlers.contract.routes import BANK_SIMULATOR, Route

# Both regions share the one table in this region (see moto_server.py).
TABLE_REGION = "eu-west-1"
BANK_PORT_OFFSET = 3
# The bank simulator as the payments handler calls it (BANK_URL ends in /payments; docs/bank.md),
# and at the root as a Function URL serves it.
BANK_ROUTES = tuple(
    route
    for base in ("/payments", "")
    for route in (
        Route("POST", base or "/", BANK_SIMULATOR, False),
        Route("GET", base + "/{reference}", BANK_SIMULATOR, False),
        Route("POST", base + "/{reference}/reversal", BANK_SIMULATOR, False),
        Route("POST", base + "/{reference}/capture", BANK_SIMULATOR, False),
        Route("POST", base + "/{reference}/refunds", BANK_SIMULATOR, False),
        Route("GET", base + "/{reference}/refunds/{refund_reference}", BANK_SIMULATOR, False),
    )
)
# DEV ONLY: the HMAC key for card fingerprints. In AWS the key comes from Secrets Manager.
LOCAL_DYNAMODB_TIMEOUT_MS = 3000
DEV_FINGERPRINT_KEY = "local-dev-only-fingerprint-key--never-use-outside-localhost"
DEV_CURSOR_KEY = "local-dev-only-cursor-key--never-use-outside-localhost"
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
# Nothing the stack starts may reach a real AWS account or a proxy: these are dropped.
_DROPPED_PREFIXES = ("AWS_",)
_DROPPED = frozenset({"http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"})


@dataclass(frozen=True)
class Region:
    key: str  # the short name in /_local/regions/{key}/outage
    name: str
    port_offset: int


REGIONS = (Region("eu", "eu-west-1", 1), Region("us", "us-east-1", 2))


@dataclass(frozen=True)
class RegionEndpoint:
    """A running region as the global endpoint and the live view reach it."""

    key: str  # as in /_local/regions/{key}/outage
    region: str
    port: int
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def port_for(base: int, offset: int) -> int:
    return 0 if base == 0 else base + offset


def local_environment(region: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without AWS credentials, profiles or proxies, plus dummy credentials."""
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if k not in _DROPPED and not k.startswith(_DROPPED_PREFIXES)}
    env.update(LOCAL_CREDENTIALS)
    env.update(AWS_REGION=region, AWS_DEFAULT_REGION=region, AWS_EC2_METADATA_DISABLED="true")
    env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost", PYTHONUNBUFFERED="1")
    return env


def lambda_environment(
    region: str, *, table_name: str, dynamodb_url: str, bank_url: str, log_level: str = "INFO"
) -> dict[str, str]:
    """What the deployed functions get from their configuration, with local values.

    Where the stack is wired is fixed; the handlers' tunables (BANK_CONNECT_TIMEOUT_MS,
    BANK_READ_TIMEOUT_MS, ALLOWED_CURRENCIES, LOG_LEVEL, ...) keep the handlers' own defaults
    unless exported in the caller's environment.
    """
    env = local_environment(region)
    env.update(TABLE_NAME=table_name, DYNAMODB_ENDPOINT_URL=dynamodb_url, BANK_URL=bank_url)
    # Its acquirer, the simulator or any --bank-url, is a test one: test keys only, whatever the caller exported.
    env["API_KEY_MODE"] = "test"
    env.setdefault("FINGERPRINT_KEY", DEV_FINGERPRINT_KEY)
    env.setdefault("CURSOR_KEY", DEV_CURSOR_KEY)
    env.setdefault("LOG_LEVEL", log_level)
    env.setdefault("METRICS_NAMESPACE", "PaymentGateway/Local")
    # The embedded emulator answers a 100-item Query in hundreds of ms under load (DynamoDB: tens).
    env.setdefault("DYNAMODB_TIMEOUT_MS", str(LOCAL_DYNAMODB_TIMEOUT_MS))
    return env


def bank_environment(
    *, table_name: str, dynamodb_url: str, log_level: str = "INFO", ledger_in_table: bool = True
) -> dict[str, str]:
    """The bank simulator's: its ledger's table, as deployed (`ledger_in_table`; otherwise no
    TABLE_NAME, and the simulator keeps its books in memory), and nothing of the gateway's (no
    BANK_URL, no FINGERPRINT_KEY or CURSOR_KEY). BANK_SIMULATOR_LATE_SECONDS passes through when exported."""
    env = local_environment(TABLE_REGION)
    env.update(DYNAMODB_ENDPOINT_URL=dynamodb_url)
    if ledger_in_table:
        env["TABLE_NAME"] = table_name
    env.pop("BANK_URL", None)
    env.pop("FINGERPRINT_KEY", None)
    env.pop("CURSOR_KEY", None)
    env["LOG_LEVEL"] = log_level
    env.setdefault("DYNAMODB_TIMEOUT_MS", str(LOCAL_DYNAMODB_TIMEOUT_MS))
    return env
