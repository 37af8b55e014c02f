"""The command line and what the runner prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_gateway import launch
from local_gateway.runner import Options, Stack, banner, parse_args
from local_gateway.topology import DEV_FINGERPRINT_KEY, lambda_environment, local_environment, port_for


def test_defaults() -> None:
    assert parse_args([]) == Options(port=8080)


def test_every_option() -> None:
    options = parse_args(
        [
            "--port",
            "0",
            "--merchant",
            "m_a:key:with:colons",
            "--merchant",
            "m_b:k2",
            "--dynamodb-endpoint",
            "http://127.0.0.1:8000",
            "--bank-url",
            "http://127.0.0.1:9/payments",
            "--quiet",
        ]
    )

    assert options.port == 0
    assert options.merchants == (("m_a", "key:with:colons"), ("m_b", "k2"))
    assert options.dynamodb_endpoint == "http://127.0.0.1:8000"
    assert options.bank_url == "http://127.0.0.1:9/payments"
    assert options.quiet


@pytest.mark.parametrize(
    "argv", [["--merchant", "no-key"], ["--merchant", ":k"], ["--port", "65534"], ["--port", "-1"]]
)
def test_bad_arguments_exit(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(argv)


def test_ports_follow_the_global_port_or_are_all_free() -> None:
    assert [port_for(8080, offset) for offset in range(4)] == [8080, 8081, 8082, 8083]
    assert {port_for(0, offset) for offset in range(4)} == {0}


def test_the_lambdas_get_local_wiring_and_no_real_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "real")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("BANK_READ_TIMEOUT_MS", "900")

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
    assert "AWS_PROFILE" not in env and "AWS_SESSION_TOKEN" not in env and "HTTPS_PROXY" not in env
    assert env["AWS_ACCESS_KEY_ID"] == "local"


def test_local_environment_drops_every_aws_variable() -> None:
    env = local_environment("eu-west-1", {"AWS_ENDPOINT_URL": "https://x", "PATH": "/bin"})

    assert env["PATH"] == "/bin" and "AWS_ENDPOINT_URL" not in env


def test_banner_lists_urls_merchants_and_a_curl_example() -> None:
    class FakeServer:
        url = "http://127.0.0.1:8080"

    stack = Stack(FakeServer(), bank_url="http://127.0.0.1:8083/payments", dynamodb_url="http://127.0.0.1:5000")  # type: ignore[arg-type]
    stack.merchants = [("m_a", "pgw_key")]

    text = banner(stack, Options())

    assert "http://127.0.0.1:8080" in text and "http://127.0.0.1:8083/payments" in text
    assert "m_a" in text and "Authorization: Bearer pgw_key" in text
    assert "curl" in text and "/_local/regions/eu/outage" in text
    assert "ready" not in text.splitlines()


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
