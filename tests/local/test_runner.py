"""The command line and what the runner prints."""

from __future__ import annotations

import http.client
import os
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from handlers.entrypoints.settings import Settings
from local_gateway import launch
from local_gateway.runner import (
    DEFAULT_LOG_FILE,
    TEST_CARDS_ANCHOR,
    Options,
    Stack,
    banner,
    parse_args,
    resolver_environment,
)
from local_gateway.topology import (
    DEV_FINGERPRINT_KEY,
    RegionEndpoint,
    lambda_environment,
    local_environment,
    port_for,
)

REPO = Path(__file__).resolve().parents[2]


def test_defaults() -> None:
    options = parse_args([])
    assert options == Options(port=8080)
    assert options.authorizer_cache_seconds == 300  # handlers.contract.routes.AUTHORIZER_CACHE_SECONDS, as deployed
    assert options.log_file == DEFAULT_LOG_FILE == REPO / ".local" / "stack-8080.log"
    assert not options.verbose and not options.quiet


def test_two_stacks_never_share_a_log_file_by_default() -> None:
    """Each run rewrites its file: a second stack on other ports must not empty the first one's."""
    first, second = parse_args([]).log_file, parse_args(["--port", "9000"]).log_file
    free = parse_args(["--port", "0"]).log_file
    assert len({first, second, free}) == 3 and second.name == "stack-9000.log"
    assert free.name == f"stack-pid{os.getpid()}.log"  # free ports: named by the runner's process


def test_the_default_log_file_is_gitignored() -> None:
    assert ".local/" in (REPO / ".gitignore").read_text().splitlines()


def test_output_and_cache_options(tmp_path: Path) -> None:
    options = parse_args(["--verbose", "--authorizer-cache-seconds", "1.5", "--log-file", str(tmp_path / "x.log")])
    assert options.verbose and options.authorizer_cache_seconds == 1.5
    assert options.log_file == tmp_path / "x.log"


def test_every_option() -> None:
    options = parse_args(
        [
            "--port",
            "0",
            "--merchant",
            "m_a:sk_test_key:with:colons",
            "--merchant",
            "m_b:sk_test_k2",
            "--dynamodb-endpoint",
            "http://127.0.0.1:8000",
            "--bank-url",
            "http://127.0.0.1:9/payments",
            "--quiet",
        ]
    )

    assert options.port == 0
    assert options.merchants == (("m_a", "sk_test_key:with:colons"), ("m_b", "sk_test_k2"))
    assert options.dynamodb_endpoint == "http://127.0.0.1:8000"
    assert options.bank_url == "http://127.0.0.1:9/payments"
    assert options.quiet


@pytest.mark.parametrize(
    "argv",
    [
        ["--merchant", "no-key"],
        ["--merchant", ":sk_test_k"],
        ["--merchant", "m_a:sk_live_k"],  # the local acquirer is a test one: live keys are refused
        ["--merchant", "m_a:pgw_k"],
        ["--merchant", "m_a:sk_test_"],  # the prefix alone is no key
        ["--port", "65534"],
        ["--port", "-1"],
        ["--quiet", "--verbose"],
        ["--authorizer-cache-seconds", "-1"],
        ["--authorizer-cache-seconds", "3601"],
        ["--authorization-ttl", "0"],
        ["--authorization-ttl", "-5"],
        ["--authorization-ttl", "nan"],
        ["--authorization-ttl", "inf"],
        ["--authorization-ttl", "soon"],
    ],
)
def test_bad_arguments_exit(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(argv)


def test_the_authorization_ttl_reaches_every_function_and_resolver_of_both_regions() -> None:
    """One environment per region child: its API functions stamp authorization_expires_at with it,
    and its resolver loop expires by it (handlers.entrypoints.settings: AUTHORIZATION_TTL_SECONDS)."""
    options = parse_args(["--authorization-ttl", "2.5"])
    assert options.authorization_ttl == 2.5
    for region in ("eu-west-1", "us-east-1"):
        env = lambda_environment(region, table_name="t", dynamodb_url="http://x:1", bank_url="http://x:2/payments")
        env.update(resolver_environment(options, env))
        assert env["AUTHORIZATION_TTL_SECONDS"] == "2.5"
        assert Settings.from_env(env).authorization_ttl == 2.5
    # Without the option the handlers keep their own default (7 days, as deployed).
    assert "AUTHORIZATION_TTL_SECONDS" not in resolver_environment(parse_args([]), {})
    assert parse_args([]).authorization_ttl is None


def test_ports_follow_the_global_port_or_are_all_free() -> None:
    assert [port_for(8080, offset) for offset in range(4)] == [8080, 8081, 8082, 8083]
    assert {port_for(0, offset) for offset in range(4)} == {0}


def test_the_lambdas_get_local_wiring_and_no_real_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "real")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("BANK_READ_TIMEOUT_MS", "900")
    monkeypatch.setenv("API_KEY_MODE", "live")  # whatever is exported: the local acquirer is a test one

    env = lambda_environment(
        "us-east-1", table_name="t", dynamodb_url="http://127.0.0.1:1", bank_url="http://127.0.0.1:2/payments"
    )

    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert (env["TABLE_NAME"], env["DYNAMODB_ENDPOINT_URL"], env["BANK_URL"]) == (
        "t",
        "http://127.0.0.1:1",
        "http://127.0.0.1:2/payments",
    )
    assert env["FINGERPRINT_KEY"] == DEV_FINGERPRINT_KEY
    assert env["BANK_READ_TIMEOUT_MS"] == "900"  # the handlers' tunables pass through
    assert env["API_KEY_MODE"] == "test"
    assert "AWS_PROFILE" not in env and "AWS_SESSION_TOKEN" not in env and "HTTPS_PROXY" not in env
    assert env["AWS_ACCESS_KEY_ID"] == "local"


def test_local_environment_drops_every_aws_variable() -> None:
    env = local_environment("eu-west-1", {"AWS_ENDPOINT_URL": "https://x", "PATH": "/bin"})

    assert env["PATH"] == "/bin" and "AWS_ENDPOINT_URL" not in env


def _banner(options: Options, key: str = "sk_test_key", regions: list[RegionEndpoint] | None = None) -> str:
    class FakeServer:
        url = "http://127.0.0.1:8080"

    stack = Stack(FakeServer(), bank_url="http://127.0.0.1:8083/payments", dynamodb_url="http://127.0.0.1:5000")  # type: ignore[arg-type]
    stack.merchants = [("m_a", key)]
    stack.regions = regions or []
    return banner(stack, options)


def test_banner_lists_urls_merchants_and_a_curl_example() -> None:
    text = _banner(Options())

    assert "http://127.0.0.1:8080" in text and "http://127.0.0.1:8083/payments" in text
    assert "m_a" in text and "sk_test_key" in text
    assert "curl" in text and "/_local/regions/eu/outage" in text
    assert "ready" not in text.splitlines()


def test_banner_says_the_data_is_in_memory_and_the_demo_key_is_new_each_run() -> None:
    """A newcomer would otherwise look for yesterday's payments, or paste yesterday's key."""
    [default] = [line for line in _banner(Options()).splitlines() if line.strip().startswith("data")]
    assert "in memory, gone when the stack stops" in default and "new each run" in default
    seeded = Options(merchants=(("m_a", "sk_test_key"),), dynamodb_endpoint="http://127.0.0.1:8000")
    [kept] = [line for line in _banner(seeded).splitlines() if line.strip().startswith("data")]
    assert "in your DynamoDB" in kept and "kept as given" in kept
    assert "sk_test_key  (a test key: sk_test_)" in _banner(Options())


def test_banner_exports_the_key_and_the_curl_line_uses_it() -> None:
    lines = _banner(Options(), key="sk_test_a b'c").splitlines()

    export = next(line.strip() for line in lines if line.strip().startswith("export KEY="))
    assert shlex.split(export) == ["export", "KEY=sk_test_a b'c"]  # pastes into a shell as it is
    assert any('-H "Authorization: Bearer $KEY"' in line for line in lines)


def test_banner_keeps_one_idempotency_key_per_payment_and_points_to_the_test_cards() -> None:
    text = _banner(Options())

    assert "Idempotency-Key: order-123'" in text and "attempt" not in text
    assert "retry with the same Idempotency-Key" in text
    assert f"README.md#{TEST_CARDS_ANCHOR}" in text
    headings = [
        line.lstrip("#").strip().lower().replace(" ", "-")
        for line in (REPO / "README.md").read_text().splitlines()
        if line.startswith("##")  # "# ..." lines in the code blocks are comments
    ]
    assert TEST_CARDS_ANCHOR in headings


def test_banner_says_where_the_handler_logs_go_and_how_long_a_revoked_key_works(tmp_path: Path) -> None:
    assert "handler logs (JSON, EMF)    " + str(tmp_path / "h.log") in _banner(Options(log_file=tmp_path / "h.log"))
    assert "on this console (--verbose)" in _banner(Options(verbose=True))
    assert "discarded (--quiet)" in _banner(Options(quiet=True))
    assert "1 s per region: a revoked key keeps working up to that long" in _banner(Options(authorizer_cache_seconds=1))


def test_banner_says_when_a_manual_authorization_expires() -> None:
    assert "authorization TTL           7 days" in _banner(Options())
    assert "authorization TTL           3 s: a manual authorization" in _banner(Options(authorization_ttl=3))


def test_handler_settings_a_payment_would_refuse_stop_the_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BANK_READ_TIMEOUT_MS", "20000")  # outlasts the default 10 s idempotency lease
    with (
        pytest.raises(launch.LaunchFailed, match="exited with 1") as failure,
        launch.launched(launch.runner_command(), log=tmp_path / "stack.log"),
    ):
        pytest.fail("the stack started")
    assert "IDEMPOTENCY_LEASE_SECONDS must exceed" in str(failure.value)


def _call(base_url: str, method: str, path: str, key: str | None = None) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", urlsplit(base_url).port, timeout=30)
    try:
        connection.request(method, path, headers={"Authorization": f"Bearer {key}"} if key else {})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


@pytest.mark.parametrize("compute", ["lambda", "container"])
def test_the_console_has_one_readable_line_per_event_and_the_handlers_json_is_in_the_log_file(
    tmp_path: Path, compute: str
) -> None:
    console, handler_log, key = tmp_path / "console.log", tmp_path / "handlers.log", "sk_test_console-test-key"
    command = [
        *launch.runner_command(merchants={"m_a": key}, verbose=False, compute=compute),
        *("--log-file", str(handler_log)),
    ]
    with launch.launched(command, log=console) as stack:
        url = stack.urls["global endpoint (Route 53)"]
        assert _call(url, "GET", "/v1/payments", key) == 200
        assert _call(url, "POST", "/_local/regions/eu/outage") == 200
        assert _call(url, "DELETE", "/_local/regions/eu/outage") == 200
    lines = console.read_text().splitlines()

    access = [line for line in lines if re.fullmatch(r"\d\d:\d\d:\d\d eu-west-1 GET /v1/payments 200 \d+\.\d ms", line)]
    assert len(access) == 1, lines
    assert [line[9:] for line in lines if "outage O" in line] == [
        "eu-west-1 simulated outage ON",
        "eu-west-1 simulated outage OFF",
    ]
    assert not [line for line in lines if line.count("eu-west-1") > 1], lines
    assert not [line for line in lines if line.startswith("{") or "/health" in line], lines  # no JSON, no probes
    handler_lines = handler_log.read_text().splitlines()
    assert any('"message": "authorized"' in line for line in handler_lines)
    assert all(line.startswith("{") for line in handler_lines)


def test_docs_local_shows_every_line_the_banner_prints() -> None:
    """The sample in docs/local.md is the banner's rows: a row added to one and not the other fails."""
    docs = (REPO / "docs" / "local.md").read_text()
    sample = docs[docs.index("  global endpoint (Route 53)") :].split("\n\n", 1)[0]
    regions = [RegionEndpoint("eu", "eu-west-1", 8081), RegionEndpoint("us", "us-east-1", 8082)]
    printed = _banner(Options(), regions=regions).split("\n\n")[1]
    assert _labels(sample) == _labels(printed)


def _labels(rows: str) -> set[str]:
    return {line[2:30].strip() for line in rows.splitlines() if not line.startswith("```")}
