"""The operator command `python -m handlers.admin`: its help, its failures, list-merchants and rotate-key,
over moto's DynamoDB (in process) or as a subprocess where the environment itself is the case."""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from handlers.adapters.dynamo import DynamoRepository
from handlers.contract import schema
from handlers.domain.auth import KeyMode, hash_api_key
from handlers.domain.models import Merchant
from handlers.entrypoints import authorizer
from handlers.ops import admin
from tests.integration.conftest import REGION, TABLE

ROOT = Path(__file__).resolve().parents[2]
METHOD_ARN = "arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/live/GET/v1/payments"


Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """`cli(*args, stdin="")` runs the command in process on the test table: (exit code, stdout, stderr)."""

    def run(*args: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        capsys.readouterr()  # drop what ran before, such as the authorizer's log lines
        code = admin.main(["--table", TABLE, "--region", REGION, *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def printed(out: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)


def authorized_merchant(key: str) -> str | None:
    event = {
        "type": "REQUEST",
        "methodArn": METHOD_ARN,
        "headers": {"Authorization": f"Bearer {key}"},
        "requestContext": {"requestId": "r-1"},
    }
    result = authorizer.handler(event, None)
    [statement] = result["policyDocument"]["Statement"]
    if statement["Effect"] == "Deny":  # an unknown or revoked key is denied (401 via ACCESS_DENIED)
        return None
    principal: str = result["principalId"]
    return principal


def listed(out: str) -> list[list[str]]:
    header, *rows = out.splitlines()
    assert header.split() == ["MERCHANT_ID", "KEY_ID", "KIND", "STATE", "NAME"]
    return [row.split(maxsplit=4) for row in rows]


def assert_one_line_failure(code: int, out: str, err: str, expected: str) -> None:
    assert code != 0
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert expected in err
    assert out == ""


# --- help ----------------------------------------------------------------------------------------------


def test_help_describes_every_option_and_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    parser = admin.build_parser()
    [subcommands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(subcommands.choices) == set(admin.COMMANDS)
    for name, subparser in [("", parser), *subcommands.choices.items()]:
        for action in subparser._actions:
            assert action.help, (name, action.dest)
            for flag in action.option_strings:  # the docstring's usage names every option
                assert flag in ("-h", "--help") or flag in (admin.__doc__ or ""), flag
    with pytest.raises(SystemExit) as exit_:
        admin.main(["--help"])
    assert exit_.value.code == 0
    help_text = capsys.readouterr().out
    for name, command in admin.COMMANDS.items():
        assert f"\n  {name} " in (admin.__doc__ or ""), name
        assert name in help_text and command.help.split()[0] in help_text


# --- failures: one line on stderr, a non-zero exit -----------------------------------------------------


@pytest.mark.usefixtures("lambda_env")
@pytest.mark.parametrize(
    ("args", "stdin", "expected"),
    [
        (["revoke-key"], "sk_test_never_issued\n", "No such API key"),
        (["revoke-key"], "", "No API key on standard input"),
        (["revoke-key"], "\n", "No API key on standard input"),
        (["revoke-key", "--key-id", "0123456789ab"], "", "--key-id needs --merchant-id"),
        (["revoke-key", "--key-id", "sk_test_x", "--merchant-id", "mer_x"], "", "--key-id must be the 12 hex digits"),
        (["revoke-key", "--key-id", "0123456789ab", "--merchant-id", "mer_x"], "", "No key 0123456789ab: nothing"),
        (["rotate-key", "--merchant-id", "mer_nobody"], "", "No merchant 'mer_nobody'"),
        (["--table", "missing", "list-merchants"], "", "No table 'missing' in eu-west-1"),
        (["--table", "missing", "revoke-key"], "sk_test_x\n", "No table 'missing' in eu-west-1"),
        (["--table", "missing", "create-merchant", "--name", "acme"], "", "No table 'missing'"),
        (["--table", "missing", "rotate-key", "--merchant-id", "mer_x"], "", "No table 'missing'"),
    ],
)
def test_expected_failures_are_one_line_and_a_non_zero_exit(
    cli: Cli, args: list[str], stdin: str, expected: str
) -> None:
    assert_one_line_failure(*cli(*args, stdin=stdin), expected)


def run_clean(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    """The command on a machine with no AWS configuration at all: no credentials, files or metadata."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    command = [sys.executable, "-m", "handlers.admin", *args]
    done = subprocess.run(
        command, cwd=ROOT, env=env, input="", capture_output=True, text=True, timeout=120, check=False
    )
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("command", [["list-merchants"], ["create-merchant", "--name", "acme"]])
def test_no_credentials_is_one_line(tmp_path: Path, command: list[str]) -> None:
    assert_one_line_failure(*run_clean(tmp_path, "--region", REGION, *command), "No AWS credentials")


@pytest.mark.parametrize("command", [["list-merchants"], ["rotate-key", "--merchant-id", "mer_x"]])
def test_an_unreachable_endpoint_is_one_line_that_names_it(tmp_path: Path, command: list[str]) -> None:
    code, out, err = run_clean(tmp_path, "--endpoint-url", "http://127.0.0.1:1", *command)
    assert_one_line_failure(code, out, err, "Cannot reach DynamoDB at http://127.0.0.1:1")


# --- list-merchants ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("lambda_env")
def test_list_merchants_shows_every_key_with_its_state_but_never_a_key(cli: Cli, dynamodb: Any) -> None:
    acme_id, acme_key = admin.create_merchant("acme corp", table_name=TABLE, region=REGION)
    gone_id, gone_key = admin.create_merchant("gone", table_name=TABLE, region=REGION, mode=KeyMode.LIVE)
    admin.revoke_key(gone_key, table_name=TABLE, region=REGION)
    old_key = "pgw_" + "o" * 43  # made before keys had kinds: the item holds none
    DynamoRepository(dynamodb, TABLE).add_key(hash_api_key(old_key), Merchant(id="mer_old", name="old one"))
    payment = {schema.PARTITION_KEY: {"S": schema.merchant_pk(acme_id)}, schema.SORT_KEY: {"S": "PAYMENT#p1"}}
    dynamodb.put_item(TableName=TABLE, Item=payment)  # other items in the table are not merchants

    code, out, err = cli("list-merchants")
    assert (code, err) == (0, "")
    assert sorted(listed(out)) == sorted(
        [
            [acme_id, hash_api_key(acme_key)[:12], "test", "active", "acme corp"],
            [gone_id, hash_api_key(gone_key)[:12], "live", "revoked", "gone"],
            ["mer_old", hash_api_key(old_key)[:12], "old", "active", "old one"],
        ]
    )
    assert acme_key not in out and gone_key not in out
    assert hash_api_key(acme_key) not in out  # only a prefix of the hash identifies a key


@pytest.mark.usefixtures("lambda_env")
def test_list_merchants_on_an_empty_table(cli: Cli) -> None:
    assert cli("list-merchants") == (0, "no merchants\n", "")


class SmallPages:
    """A client whose Scan returns two items a page, as a large table's would return 1 MB."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.scans = 0

    def scan(self, **request: Any) -> Any:
        self.scans += 1
        return self.client.scan(**request, Limit=2)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_listing_keys_reads_every_page_of_the_scan(dynamodb: Any) -> None:
    client = SmallPages(dynamodb)
    repository = DynamoRepository(client, TABLE)  # type: ignore[arg-type]
    made = {admin.add_merchant(repository, f"m{i}") for i in range(5)}
    assert {(merchant.id, key_hash) for key_hash, merchant in repository.api_keys()} == {
        (merchant_id, hash_api_key(key)) for merchant_id, key in made
    }
    assert client.scans > 2


# --- rotate-key ----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("lambda_env")
@pytest.mark.parametrize(("flags", "prefix", "mode"), [((), "sk_test_", "test"), (("--live",), "sk_live_", "live")])
def test_create_merchant_and_rotate_key_make_a_test_key_unless_told_live(
    cli: Cli, flags: tuple[str, ...], prefix: str, mode: str
) -> None:
    """A forgotten --live gives a key a real acquirer's stack refuses: never one that reaches it."""
    code, out, _ = cli("create-merchant", "--name", "acme", *flags)
    created = printed(out)
    assert code == 0 and created["api_key"].startswith(prefix) and created["mode"].startswith(mode + " (")
    code, out, _ = cli("rotate-key", "--merchant-id", created["merchant_id"], *flags)
    assert code == 0 and printed(out)["api_key"].startswith(prefix) and printed(out)["mode"].startswith(mode)


@pytest.mark.usefixtures("lambda_env")
def test_rotate_key_adds_a_key_and_keeps_the_old_one_by_default(cli: Cli) -> None:
    merchant_id, old_key = admin.create_merchant("acme", table_name=TABLE, region=REGION)
    code, out, err = cli("rotate-key", "--merchant-id", merchant_id)
    assert (code, err) == (0, "")
    new = printed(out)
    assert new["merchant_id"] == merchant_id and new["api_key"] != old_key
    assert new["key_id"] == hash_api_key(new["api_key"])[:12]
    assert "revoked_key" not in new
    assert authorized_merchant(new["api_key"]) == merchant_id
    assert authorized_merchant(old_key) == merchant_id


@pytest.mark.usefixtures("lambda_env")
def test_rotate_key_with_revoke_old_revokes_every_other_key_of_that_merchant_only(cli: Cli) -> None:
    merchant_id, first = admin.create_merchant("acme", table_name=TABLE, region=REGION)
    _, second = admin.create_merchant("acme", table_name=TABLE, region=REGION, merchant_id=merchant_id)
    other_id, other_key = admin.create_merchant("other", table_name=TABLE, region=REGION)

    code, out, err = cli("rotate-key", "--merchant-id", merchant_id, "--revoke-old")
    assert (code, err) == (0, "")
    new_key = printed(out)["api_key"]
    revoked = [line.removeprefix("revoked_key: ") for line in out.splitlines() if line.startswith("revoked_key: ")]
    assert sorted(revoked) == sorted([hash_api_key(first)[:12], hash_api_key(second)[:12]])
    assert authorized_merchant(new_key) == merchant_id
    assert authorized_merchant(first) is None and authorized_merchant(second) is None
    assert authorized_merchant(other_key) == other_id


@pytest.mark.usefixtures("lambda_env")
def test_a_revoked_merchant_gets_a_key_again_under_its_name(cli: Cli) -> None:
    merchant_id, old_key = admin.create_merchant("acme corp", table_name=TABLE, region=REGION)
    code, out, err = cli("revoke-key", stdin=old_key + "\n")
    assert (code, err, printed(out)["merchant_id"]) == (0, "", merchant_id)
    assert authorized_merchant(old_key) is None

    code, out, err = cli("rotate-key", "--merchant-id", merchant_id, "--revoke-old")
    assert (code, err) == (0, "")
    new_key = printed(out)["api_key"]
    assert authorized_merchant(new_key) == merchant_id
    assert authorized_merchant(old_key) is None
    rows = listed(cli("list-merchants")[1])
    assert sorted(rows) == sorted(
        [
            [merchant_id, hash_api_key(new_key)[:12], "test", "active", "acme corp"],
            [merchant_id, hash_api_key(old_key)[:12], "test", "revoked", "acme corp"],
        ]
    )


# --- revoke-key ----------------------------------------------------------------------------------------


def key_id_of(key: str) -> str:
    return hash_api_key(key)[:12]


def assert_revoked(out: str, merchant_id: str, key: str, before: datetime) -> None:
    """The command says what it revoked: the merchant, the key id and when."""
    said = printed(out)
    assert (said["merchant_id"], said["revoked_key"]) == (merchant_id, key_id_of(key))
    assert before <= datetime.fromisoformat(said["revoked_at"]) <= datetime.now(UTC)
    assert key not in out


@pytest.mark.usefixtures("lambda_env")
def test_revoke_by_key_id_revokes_that_key_of_that_merchant_and_says_so(cli: Cli) -> None:
    """An operator rarely holds a leaked key: the key id from list-merchants is enough, with its merchant."""
    merchant_id, leaked = admin.create_merchant("acme", table_name=TABLE, region=REGION)
    _, kept = admin.create_merchant("acme", table_name=TABLE, region=REGION, merchant_id=merchant_id)
    before = datetime.now(UTC)

    code, out, err = cli("revoke-key", "--key-id", key_id_of(leaked), "--merchant-id", merchant_id)
    assert (code, err) == (0, "")
    assert_revoked(out, merchant_id, leaked, before)
    assert authorized_merchant(leaked) is None
    assert authorized_merchant(kept) == merchant_id


@pytest.mark.usefixtures("lambda_env")
def test_revoke_by_key_id_refuses_another_merchants_key(cli: Cli) -> None:
    """A key id copied from the wrong line of list-merchants must not cut another merchant off."""
    acme_id, _ = admin.create_merchant("acme", table_name=TABLE, region=REGION)
    other_id, other_key = admin.create_merchant("other", table_name=TABLE, region=REGION)

    code, out, err = cli("revoke-key", "--key-id", key_id_of(other_key), "--merchant-id", acme_id)
    assert_one_line_failure(code, out, err, f"belongs to another merchant, not {acme_id}: nothing was revoked")
    assert authorized_merchant(other_key) == other_id


@pytest.mark.usefixtures("lambda_env")
def test_revoke_by_key_id_needs_the_merchant_id(cli: Cli) -> None:
    merchant_id, key = admin.create_merchant("acme", table_name=TABLE, region=REGION)
    assert_one_line_failure(*cli("revoke-key", "--key-id", key_id_of(key)), "--key-id needs --merchant-id")
    assert authorized_merchant(key) == merchant_id


@pytest.mark.usefixtures("lambda_env")
def test_a_key_from_standard_input_is_checked_against_the_merchant_named(cli: Cli) -> None:
    acme_id, _ = admin.create_merchant("acme", table_name=TABLE, region=REGION)
    other_id, other_key = admin.create_merchant("other", table_name=TABLE, region=REGION)

    code, out, err = cli("revoke-key", "--merchant-id", acme_id, stdin=other_key + "\n")
    assert_one_line_failure(code, out, err, f"belongs to another merchant, not {acme_id}: nothing was revoked")
    assert authorized_merchant(other_key) == other_id

    before = datetime.now(UTC)
    code, out, err = cli("revoke-key", "--merchant-id", other_id, stdin=other_key + "\n")
    assert (code, err) == (0, "")
    assert_revoked(out, other_id, other_key, before)
    assert authorized_merchant(other_key) is None


@pytest.mark.usefixtures("lambda_env")
def test_a_key_from_standard_input_says_whose_key_it_revoked(cli: Cli) -> None:
    merchant_id, key = admin.create_merchant("acme", table_name=TABLE, region=REGION)
    before = datetime.now(UTC)
    code, out, err = cli("revoke-key", stdin=key + "\n")
    assert (code, err) == (0, "")
    assert_revoked(out, merchant_id, key, before)


@pytest.mark.usefixtures("lambda_env")
def test_a_key_id_shared_by_two_keys_of_the_merchant_revokes_neither(cli: Cli, dynamodb: Any) -> None:
    """48 bits of hash make it all but impossible; if it happens, no key is revoked that nobody named."""
    repository = DynamoRepository(dynamodb, TABLE)
    shared = "0123456789ab"
    for rest in ("0" * 52, "1" * 52):
        repository.add_key(shared + rest, Merchant(id="mer_twice", name="twice"))
    code, out, err = cli("revoke-key", "--key-id", shared, "--merchant-id", "mer_twice")
    assert_one_line_failure(code, out, err, "matches 2 keys")
    assert [merchant.active for _, merchant in repository.api_keys()] == [True, True]


@pytest.mark.parametrize("written", ["6200 0000 0000 0005", "3056-9309-0259-04", "4242424242424291"])
def test_a_merchant_name_holding_a_card_number_is_refused_and_nothing_is_stored(dynamodb: Any, written: str) -> None:
    repository = DynamoRepository(dynamodb, TABLE)
    with pytest.raises(admin.AdminError, match="must not contain a card number"):
        admin.add_merchant(repository, f"acme {written}")
    assert list(repository.api_keys()) == []
