"""Operator commands for merchants and their API keys, and payments (handlers.ops.payments).

  python -m handlers.admin [--table T] [--region R] [--endpoint-url URL] COMMAND [ARGS]

  create-merchant --name NAME [--live]
                                  create a merchant; prints its id and its new API key, once: a test key
                                  (sk_test_), or with --live a live one (sk_live_) for a real acquirer
  list-merchants                  list every merchant's keys: merchant id, key id, kind (test, live, or old:
                                  a pgw_ key no gateway takes any more), active/revoked, name
  rotate-key --merchant-id ID [--live] [--revoke-old]
                                  give an existing merchant a new key, printed once (also a merchant whose
                                  keys are all revoked); --revoke-old then revokes its other keys
  revoke-key < key.txt [--merchant-id ID]
                                  revoke the API key read from standard input (one line); with
                                  --merchant-id, only if the key is that merchant's
  revoke-key --key-id KEY_ID --merchant-id ID
                                  revoke a key you do not hold, by the key id list-merchants shows: only
                                  if it is that merchant's. Both print the merchant, key id and time
  show PAYMENT_ID --merchant-id ID
                                  show a payment as its merchant sees it (status, amounts captured and
                                  refunded, expiry) and its captures, voids and refunds: kind, id,
                                  status, amount, region, created_at, failure_reason; never card data
  pending [--owner-region R]      list the payments whose outcome is not known yet (default: --region's),
                                  then the captures, voids and refunds that region wrote still pending
  resolve ID [--owner-region R] [--bank-url URL] [--unknown-outcome settle|reverse]
                                  settle one pending payment now: ask the bank by its reference and
                                  write the bank's answer (no record there: reverse it, then failed);
                                  an operation's id (cp_, vd_, re_): ask the bank, finish it under the
                                  same reference if the bank has not done it, write the outcome
  endpoints --merchant-id ID      list a merchant's webhook endpoints: id, status, URL, event types,
                                  created_at, why disabled; never a secret
  event EVENT_ID --merchant-id ID show a webhook event, its deliveries and every attempt (endpoint,
                                  time, HTTP status or error, duration)
  resend EVENT_ID --merchant-id ID [--endpoint-id WE_ID]
                                  requeue the event, due now: its region's sender delivers it at its
                                  next run, with the same webhook-id

Only keys' SHA-256 hashes are stored: a key id is the first 12 hex digits of its hash, and a lost
key cannot be shown again. Without --revoke-old the old keys keep working, so a merchant can switch
without downtime. The options before COMMAND default to $TABLE_NAME (else payment-gateway),
$AWS_REGION or $AWS_DEFAULT_REGION (else eu-west-1) and $DYNAMODB_ENDPOINT_URL (else AWS).

Uses the normal AWS credential chain; --endpoint-url points it at a local DynamoDB (on 127.0.0.1 or
localhost, dummy credentials are used when the environment has none, as the local stack needs none).
Exit status: 0 done, 1 an expected failure (one line on stderr), 2 a usage error.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from datetime import UTC, datetime
from urllib.parse import urlsplit

import attrs
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
)

from handlers.adapters.dynamo import DynamoRepository, make_client
from handlers.contract import schema
from handlers.domain import cards, ids
from handlers.domain.auth import KeyMode, hash_api_key, key_mode, new_api_key
from handlers.domain.errors import ConditionFailed, StorageUnavailable
from handlers.domain.models import Merchant
from handlers.domain.ports import MerchantDirectory
from handlers.ops.cli import AdminError, Command, argument, default_region
from handlers.ops.payments import PAYMENT_COMMANDS
from handlers.ops.webhooks import WEBHOOK_COMMANDS
from handlers.wire.converter import format_timestamp

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
KEY_ID_LENGTH = 12  # hex digits of the key's hash: enough to tell a merchant's keys apart, useless to a thief
_KEY_ID = re.compile(f"[0-9a-f]{{{KEY_ID_LENGTH}}}")


class KeyInUse(AdminError):
    pass


class UnknownKey(AdminError):
    pass


class UnknownMerchant(AdminError):
    pass


@attrs.frozen
class Revoked:
    """What a revocation did, for the operator's record."""

    merchant_id: str
    key_id: str
    at: datetime


def _repository(table_name: str, endpoint_url: str | None, region: str | None) -> DynamoRepository:
    if endpoint_url and urlsplit(endpoint_url).hostname in _LOOPBACK and "AWS_ACCESS_KEY_ID" not in os.environ:
        os.environ.update(AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local")  # noqa: S106 - not a secret
    # An operator's command, not on a payment's clock: patient with a slow or distant table, but quick
    # to give up on an endpoint that does not accept connections (3 attempts of 2 s, plus backoff).
    client = make_client(default_region(region), endpoint_url, timeout=5.0, connect_timeout=2.0)
    return DynamoRepository(client, table_name)


def key_id(key_hash: str) -> str:
    return key_hash[:KEY_ID_LENGTH]


# --- the use cases, over the MerchantDirectory port ---------------------------------------------------


def add_merchant(
    directory: MerchantDirectory,
    name: str,
    merchant_id: str | None = None,
    api_key: str | None = None,
    mode: KeyMode = KeyMode.TEST,
) -> tuple[str, str]:
    """Store a merchant's key hash; return (merchant id, API key). The key is not recoverable later.
    A new key is a test one unless `mode` says live; a given key must be of either kind."""
    if cards.contains_pan(name):  # free text, stored and listed as given (PCI DSS 3.5.1)
        raise AdminError("A merchant's name must not contain a card number: it is stored as given.")
    if api_key is not None and (key_mode(api_key) is None or api_key in (m.prefix for m in KeyMode)):
        raise AdminError("An API key starts sk_test_ (a test acquirer) or sk_live_ (a real one), then the key.")
    key = api_key or new_api_key(mode)
    kind = key_mode(key)
    merchant = Merchant(
        id=merchant_id or ids.new_merchant_id(datetime.now(UTC)), name=name, key_mode=kind and kind.value
    )
    try:
        directory.add_key(hash_api_key(key), merchant)
    except ConditionFailed:
        # Re-seeding the same merchant with the same key (a local table that outlives a restart) is a no-op.
        holder = directory.merchant_for_key(hash_api_key(key))
        if holder is None or holder.id != merchant.id:
            raise KeyInUse("This API key is already assigned to another merchant.") from None
    return merchant.id, key


def _revoke_hash(directory: MerchantDirectory, key_hash: str, merchant_id: str) -> Revoked:
    try:
        directory.revoke_key(key_hash)
    except ConditionFailed:
        raise UnknownKey("No such API key: nothing was revoked.") from None
    return Revoked(merchant_id, key_id(key_hash), datetime.now(UTC))


def revoke(directory: MerchantDirectory, api_key: str, merchant_id: str | None = None) -> Revoked:
    """Revoke a key the operator holds; with `merchant_id`, only if it is that merchant's."""
    key_hash = hash_api_key(api_key)
    holder = directory.merchant_for_key(key_hash)
    if holder is None:
        raise UnknownKey("No such API key: nothing was revoked.")
    if merchant_id is not None and holder.id != merchant_id:
        raise UnknownKey(f"This API key belongs to another merchant, not {merchant_id}: nothing was revoked.")
    return _revoke_hash(directory, key_hash, holder.id)


def revoke_by_id(directory: MerchantDirectory, merchant_id: str, wanted: str) -> Revoked:
    """Revoke a key the operator does not hold, by its key id. The merchant id is required with it: a key id
    copied from the wrong line of list-merchants must not cut off another merchant."""
    if not _KEY_ID.fullmatch(wanted):
        raise AdminError(f"--key-id must be the {KEY_ID_LENGTH} hex digits list-merchants shows, not {wanted!r}.")
    matches = [(key_hash, merchant) for key_hash, merchant in directory.api_keys() if key_id(key_hash) == wanted]
    mine = [key_hash for key_hash, merchant in matches if merchant.id == merchant_id]
    if not matches:
        raise UnknownKey(f"No key {wanted}: nothing was revoked (list-merchants shows every key id).")
    if not mine:
        raise UnknownKey(f"Key {wanted} belongs to another merchant, not {merchant_id}: nothing was revoked.")
    if len(mine) > 1:  # 48 bits of hash: practically never, but never revoke a key nobody named
        raise AdminError(f"Key id {wanted} matches {len(mine)} keys of {merchant_id}: revoke by the key itself.")
    return _revoke_hash(directory, mine[0], merchant_id)


def rotate(directory: MerchantDirectory, merchant_id: str, mode: KeyMode = KeyMode.TEST) -> tuple[str, list[str]]:
    """Add a new key for an existing merchant; return it and the hashes of the merchant's other active keys.

    A merchant exists only as its key items, revoked ones included: they carry its name."""
    keys = [(key_hash, merchant) for key_hash, merchant in directory.api_keys() if merchant.id == merchant_id]
    if not keys:
        raise UnknownMerchant(f"No merchant {merchant_id!r} (list-merchants shows them).")
    name = next((merchant.name for _, merchant in keys if merchant.active), keys[0][1].name)
    key = new_api_key(mode)
    directory.add_key(hash_api_key(key), Merchant(id=merchant_id, name=name, key_mode=mode.value))
    return key, [key_hash for key_hash, merchant in keys if merchant.active]


# --- the same with a table named as the command line does (kept for scripts and tests) -----------------


def create_merchant(
    name: str,
    *,
    table_name: str,
    endpoint_url: str | None = None,
    region: str | None = None,
    merchant_id: str | None = None,
    api_key: str | None = None,
    mode: KeyMode = KeyMode.TEST,
) -> tuple[str, str]:
    return add_merchant(_repository(table_name, endpoint_url, region), name, merchant_id, api_key, mode)


def revoke_key(api_key: str, *, table_name: str, endpoint_url: str | None = None, region: str | None = None) -> Revoked:
    return revoke(_repository(table_name, endpoint_url, region), api_key)


# --- subcommands: one function each, and one entry in COMMANDS ------------------------------------------


def _print_new_key(merchant_id: str, key: str) -> None:
    print(f"merchant_id: {merchant_id}\napi_key: {key}\nkey_id: {key_id(hash_api_key(key))}")
    print(f"mode: {key_mode(key)} ({_MODE_USE[key_mode(key) or KeyMode.TEST]})")
    print("(store the key now: only its hash is kept)", flush=True)


_MODE_USE = {
    KeyMode.TEST: "works only on a stack whose acquirer is the simulator; --live for a real acquirer's",
    KeyMode.LIVE: "works only on a stack with a real acquirer (bankUrl)",
}


def _mode(args: argparse.Namespace) -> KeyMode:
    return KeyMode.LIVE if args.live else KeyMode.TEST


def _create_merchant(repository: DynamoRepository, args: argparse.Namespace) -> None:
    _print_new_key(*add_merchant(repository, args.name, mode=_mode(args)))


def _list_merchants(repository: DynamoRepository, _: argparse.Namespace) -> None:
    rows = sorted(repository.api_keys(), key=lambda row: (row[1].id, not row[1].active, row[0]))
    if not rows:
        print("no merchants")
        return
    width = max(len("MERCHANT_ID"), *(len(merchant.id) for _, merchant in rows))
    print(f"{'MERCHANT_ID':<{width}}  {'KEY_ID':<{KEY_ID_LENGTH}}  KIND  STATE    NAME")
    for key_hash, merchant in rows:
        state = "active" if merchant.active else "revoked"
        kind = merchant.key_mode or "old"  # made before kinds (pgw_...): refused since; rotate-key replaces it
        print(f"{merchant.id:<{width}}  {key_id(key_hash)}  {kind:<4}  {state:<7}  {merchant.name}")


def _rotate_key(repository: DynamoRepository, args: argparse.Namespace) -> None:
    key, old_keys = rotate(repository, args.merchant_id, _mode(args))
    _print_new_key(args.merchant_id, key)  # before revoking: a failure there must not lose the new key
    for key_hash in old_keys if args.revoke_old else ():
        repository.revoke_key(key_hash)
        print(f"revoked_key: {key_id(key_hash)}")


def _print_revoked(revoked: Revoked) -> None:
    print(f"revoked_key: {revoked.key_id}\nmerchant_id: {revoked.merchant_id}")
    print(f"revoked_at: {format_timestamp(revoked.at)}")


def _revoke_key(repository: DynamoRepository, args: argparse.Namespace) -> None:
    if args.key_id is not None:
        if args.merchant_id is None:
            raise AdminError("--key-id needs --merchant-id: the merchant whose key it is, as list-merchants shows it.")
        _print_revoked(revoke_by_id(repository, args.merchant_id, args.key_id.lower()))
        return
    key = sys.stdin.readline().strip()
    if not key:
        raise AdminError('No API key on standard input: pipe it in, as in echo "$KEY" | ... revoke-key')
    _print_revoked(revoke(repository, key, args.merchant_id))


_LIVE = argument(
    "--live",
    action="store_true",
    help="a live key (sk_live_), for a stack with a real acquirer; by default a test key (sk_test_), which only "
    "a stack with the bank simulator (and the local stack) takes",
)

COMMANDS: dict[str, Command] = {
    "create-merchant": Command(
        "create a merchant and print its id and new API key (once)",
        _create_merchant,
        (argument("--name", required=True, help="the merchant's name, for operators (not unique)"), _LIVE),
    ),
    "list-merchants": Command(
        "list every merchant's keys: merchant id, key id (hash prefix), kind (test/live/old), active/revoked, name "
        "(scans the table)",
        _list_merchants,
    ),
    "rotate-key": Command(
        "give an existing merchant (even one whose keys are all revoked) a new API key, printed once",
        _rotate_key,
        (
            argument("--merchant-id", required=True, help="the merchant, as list-merchants shows it"),
            _LIVE,
            argument(
                "--revoke-old",
                action="store_true",
                help="then revoke the merchant's other keys (by default they keep working: a switch without downtime)",
            ),
        ),
    ),
    "revoke-key": Command(
        "revoke an API key: the key itself, read from standard input (one line), or --key-id with --merchant-id",
        _revoke_key,
        (
            argument(
                "--key-id",
                help="revoke the key with this key id (as list-merchants shows it) instead; needs --merchant-id",
            ),
            argument(
                "--merchant-id",
                help="the merchant whose key it is: required with --key-id, checked against a key from standard input",
            ),
        ),
    ),
    **PAYMENT_COMMANDS,
    **WEBHOOK_COMMANDS,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m handlers.admin", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--table",
        default=os.environ.get("TABLE_NAME", schema.DEFAULT_TABLE_NAME),
        help=f"the DynamoDB table (default: $TABLE_NAME, else {schema.DEFAULT_TABLE_NAME})",
    )
    parser.add_argument(
        "--region", default=None, help="its AWS region (default: $AWS_REGION or $AWS_DEFAULT_REGION, else eu-west-1)"
    )
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("DYNAMODB_ENDPOINT_URL"),
        help="a DynamoDB endpoint other than AWS's, e.g. the local stack's (default: $DYNAMODB_ENDPOINT_URL)",
    )
    subcommands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="one of these (COMMAND --help shows its options):"
    )
    for name, command in COMMANDS.items():
        subcommand = subcommands.add_parser(name, help=command.help, description=command.help)
        for option in command.arguments:
            subcommand.add_argument(*option.flags, **option.options)
    return parser


def _explain(error: Exception, args: argparse.Namespace) -> str:
    """The one line an operator sees for each expected failure. StorageUnavailable is looked through:
    it is the payment path's word for "retry later", and the operator needs to know what to fix."""
    cause = error.__cause__ if isinstance(error, StorageUnavailable) and error.__cause__ else error
    match cause:
        case AdminError():
            return str(cause)
        case NoCredentialsError():
            return (
                "No AWS credentials: set them up as for the AWS CLI (AWS_PROFILE, AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, ...), or use --endpoint-url for a local DynamoDB."
            )
        case EndpointConnectionError() | ConnectTimeoutError():
            endpoint = str(cause.kwargs.get("endpoint_url") or args.endpoint_url).rstrip("/")
            return f"Cannot reach DynamoDB at {endpoint} (check --endpoint-url, --region and the network)."
        case ClientError() if cause.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            where = f"at {args.endpoint_url}" if args.endpoint_url else f"in {default_region(args.region)}"
            return f"No table {args.table!r} {where} (check --table and --region)."
        case ClientError():
            details = cause.response.get("Error", {})
            return f"DynamoDB refused the request: {details.get('Code')}: {details.get('Message')}"
        case _:
            return f"The AWS SDK failed: {cause}"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command].run(_repository(args.table, args.endpoint_url, args.region), args)
    except (AdminError, StorageUnavailable, ClientError, BotoCoreError) as e:
        print("error:", *_explain(e, args).split(), file=sys.stderr)  # one line, whatever AWS's message holds
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
