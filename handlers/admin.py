"""Operator commands: create a merchant (prints its new API key once) and revoke a key.

    python -m handlers.admin create-merchant --name acme [--table T] [--region R] [--endpoint-url URL]
    python -m handlers.admin revoke-key < key.txt

Uses the normal AWS credential chain; --endpoint-url points it at a local DynamoDB (on 127.0.0.1 or
localhost, dummy credentials are used when the environment has none, as the local stack needs none).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from urllib.parse import urlsplit

from handlers import ids, schema
from handlers.auth import hash_api_key, new_api_key
from handlers.dynamo import DynamoRepository, make_client
from handlers.errors import ConditionFailed
from handlers.models import Merchant

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class KeyInUse(Exception):
    pass


def _repository(table_name: str, endpoint_url: str | None, region: str | None) -> DynamoRepository:
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "eu-west-1"
    if endpoint_url and urlsplit(endpoint_url).hostname in _LOOPBACK and "AWS_ACCESS_KEY_ID" not in os.environ:
        os.environ.update(AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local")  # noqa: S106 - not a secret
    # An operator's command, not on a payment's clock: patient with a slow or distant table.
    return DynamoRepository(make_client(region, endpoint_url, timeout=5.0), table_name)


def create_merchant(
    name: str,
    *,
    table_name: str,
    endpoint_url: str | None = None,
    region: str | None = None,
    merchant_id: str | None = None,
    api_key: str | None = None,
) -> tuple[str, str]:
    """Store a merchant's key hash; return (merchant id, API key). The key is not recoverable later."""
    merchant = Merchant(id=merchant_id or ids.new_merchant_id(datetime.now(UTC)), name=name)
    key = api_key or new_api_key()
    repository = _repository(table_name, endpoint_url, region)
    try:
        repository.add_key(hash_api_key(key), merchant)
    except ConditionFailed:
        # Re-seeding the same merchant with the same key (a local table that outlives a restart) is a no-op.
        holder = repository.merchant_for_key(hash_api_key(key))
        if holder is None or holder.id != merchant.id:
            raise KeyInUse("This API key is already assigned to another merchant.") from None
    return merchant.id, key


def revoke_key(api_key: str, *, table_name: str, endpoint_url: str | None = None, region: str | None = None) -> None:
    _repository(table_name, endpoint_url, region).revoke_key(hash_api_key(api_key))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m handlers.admin", description=__doc__.splitlines()[0])
    parser.add_argument("--table", default=os.environ.get("TABLE_NAME", schema.DEFAULT_TABLE_NAME))
    parser.add_argument("--region", default=None)
    parser.add_argument("--endpoint-url", default=os.environ.get("DYNAMODB_ENDPOINT_URL"))
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-merchant", help="create a merchant and print its new API key")
    create.add_argument("--name", required=True)
    commands.add_parser("revoke-key", help="revoke the API key read from standard input")
    args = parser.parse_args(argv)
    where = {"table_name": args.table, "endpoint_url": args.endpoint_url, "region": args.region}
    if args.command == "create-merchant":
        merchant_id, key = create_merchant(args.name, **where)
        print(f"merchant_id: {merchant_id}\napi_key: {key}\n(store the key now: only its hash is kept)")
    else:
        revoke_key(sys.stdin.readline().strip(), **where)
        print("revoked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
