"""What `python -m local_gateway` prints once the stack is up: its URLs, merchants and settings, and how to try it."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from local_gateway.options import Options
from local_gateway.topology import RegionEndpoint


class _Server(Protocol):
    @property
    def url(self) -> str: ...


class RunningStack(Protocol):
    """What the banner reads of local_gateway.runner.Stack."""

    @property
    def server(self) -> _Server: ...

    @property
    def regions(self) -> Sequence[RegionEndpoint]: ...

    @property
    def bank_url(self) -> str: ...

    @property
    def dynamodb_url(self) -> str: ...

    @property
    def merchants(self) -> Sequence[tuple[str, str]]: ...


def banner(stack: RunningStack, options: Options) -> str:
    global_url = stack.server.url
    rows = [("global endpoint (Route 53)", global_url)]
    rows.append(("live view (browser)", f"{global_url}/_local/"))
    rows += [(f"{endpoint.region} API", endpoint.url) for endpoint in stack.regions]
    rows.append(("bank simulator", stack.bank_url))
    rows.append(
        (
            "DynamoDB" if options.dynamodb_endpoint else "DynamoDB (moto)",
            f"{stack.dynamodb_url}  table {options.table_name}",
        )
    )
    for merchant_id, api_key in stack.merchants:
        rows += [("merchant", merchant_id), ("  its API key", f"{api_key}  (a test key: sk_test_)")]
    rows.append(("data", _lifetime(options)))
    rows.append(("handler logs (JSON, EMF)", handler_logs(options)))
    rows.append(("authorizer cache", f"{options.authorizer_cache_seconds:g} s per region: {_revocation(options)}"))
    rows.append(("authorization TTL", _authorization_ttl(options)))
    key = stack.merchants[0][1]
    served = "the Lambda handlers" if options.compute == "lambda" else "the container's server (gunicorn)"
    lines = [f"Local payment gateway: {served} behind both regions, one shared DynamoDB table", ""]
    lines += [f"  {label:<28}{value}" for label, value in rows]
    lines += ["", f"Try it (a test card for every outcome: README.md#{TEST_CARDS_ANCHOR}):"]
    lines += [f"  export KEY={shlex.quote(key)}", *_curl_example(global_url), ""]
    lines += [
        f"  curl -s -X POST {global_url}/_local/regions/eu/outage   # take eu-west-1 down (DELETE: back up)",
        f"  curl -s {global_url}/_local/regions                     # which region is serving",
        "",
    ]
    if not options.quiet:
        lines.append("Below: one line per request (time, region, method, path, status, latency).")
    lines.append("Ctrl-C stops everything.")
    return "\n".join(lines)


TEST_CARDS_ANCHOR = "test-cards"


def handler_logs(options: Options) -> str:
    if options.quiet:
        return "discarded (--quiet)"
    if options.verbose:
        return "on this console (--verbose)"
    try:
        return str(options.log_file.relative_to(Path.cwd()))
    except ValueError:
        return str(options.log_file)


def _lifetime(options: Options) -> str:
    """What survives a restart: a newcomer's payments and key do not."""
    stored = "in your DynamoDB" if options.dynamodb_endpoint else "in memory, gone when the stack stops"
    key = "kept as given (--merchant)" if options.merchants else "new each run (--merchant ID:KEY keeps one)"
    return f"{stored}; the merchant's key: {key}"


def _revocation(options: Options) -> str:
    if options.authorizer_cache_seconds == 0:
        return "off, a revoked key stops at once"
    return "a revoked key keeps working up to that long"


def _authorization_ttl(options: Options) -> str:
    """How long a manual authorization may wait for its capture here (--authorization-ttl)."""
    if options.authorization_ttl is None:
        return "7 days: a manual authorization not captured by then expires (--authorization-ttl)"
    return f"{options.authorization_ttl:g} s: a manual authorization not captured by then expires"


def _curl_example(global_url: str) -> list[str]:
    body = (
        '{"amount": 1050, "currency": "GBP", "reference": "order-123", '
        '"card": {"number": "4242424242424291", "expiry_month": 4, "expiry_year": 2030, "cvv": "123"}}'
    )
    return [
        f'  curl -s {global_url}/v1/payments -H "Authorization: Bearer $KEY" \\',
        "    -H 'Content-Type: application/json' -H 'Idempotency-Key: order-123' \\",
        f"    -d '{body}'",
        "  # Again: the same payment comes back (Idempotent-Replayed: true); the bank is called once.",
        "  # On 409, 503, 202 (pending) or no answer: retry with the same Idempotency-Key, never a new one.",
        f'  curl -s {global_url}/v1/payments -H "Authorization: Bearer $KEY"',
        f'  python3 examples/merchant.py --url {global_url} --key "$KEY"   # a client that follows those rules',
    ]
