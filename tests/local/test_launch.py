"""local_gateway.launch: the runner's interface seen from outside (used by e2e, reliability, bench)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from local_gateway import launch
from local_gateway.runner import parse_args

BANNER = [
    "Local payment gateway: the Lambda handlers behind both regions, one shared DynamoDB table",
    "",
    "  global endpoint (Route 53)  http://127.0.0.1:45373",
    "  eu-west-1 API               http://127.0.0.1:39091",
    "  bank simulator              http://127.0.0.1:40169/payments",
    "  DynamoDB (moto)             http://127.0.0.1:33801  table payment-gateway",
    "  merchant                    mer_01M8BXZWF9R651V38YQN6JQGE0",
    "  curl -s http://127.0.0.1:45373/v1/payments -H 'Authorization: Bearer sk_test_x'",
]


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_banner_labels_map_to_their_urls() -> None:
    urls = launch.Launched(process=None, banner=BANNER).urls  # type: ignore[arg-type]
    assert urls == {
        "global endpoint (Route 53)": "http://127.0.0.1:45373",
        "eu-west-1 API": "http://127.0.0.1:39091",
        "bank simulator": "http://127.0.0.1:40169/payments",
        "DynamoDB (moto)": "http://127.0.0.1:33801",
    }


def test_runner_command_spells_the_documented_options() -> None:
    command = launch.runner_command(
        port=9000, merchants={"m_a": "k1", "m_b": "k2"}, bank_url="http://b", dynamodb_endpoint="http://d", quiet=True
    )
    assert command[1:] == [
        "-m", "local_gateway", "--port", "9000", "--merchant", "m_a:k1", "--merchant", "m_b:k2",
        "--bank-url", "http://b", "--dynamodb-endpoint", "http://d", "--quiet",
    ]  # fmt: skip


def test_runner_command_passes_the_authorization_ttl_the_runner_accepts() -> None:
    command = launch.runner_command(authorization_ttl=2.5, quiet=True)
    assert command[command.index("--authorization-ttl") + 1] == "2.5"
    assert parse_args(command[3:]).authorization_ttl == 2.5
    assert "--authorization-ttl" not in launch.runner_command()


def test_runner_command_asks_for_the_handler_logs_on_stderr_unless_quiet() -> None:
    command = launch.runner_command(authorizer_cache_seconds=1)
    assert command[-3:] == ["--authorizer-cache-seconds", "1", "--verbose"]  # launched() saves stderr to its log
    assert "--verbose" not in launch.runner_command(verbose=False)
    assert "--verbose" not in launch.runner_command(quiet=True)  # the runner refuses both


def test_banner_is_returned_at_ready_and_the_process_is_stopped_after(tmp_path: Path) -> None:
    code = "import time; print('  eu-west-1 API  http://127.0.0.1:1'); print('ready', flush=True); time.sleep(60)"
    with launch.launched(python(code)) as stack:
        assert stack.banner == ["  eu-west-1 API  http://127.0.0.1:1"]
        assert stack.process.poll() is None
    assert stack.process.returncode is not None  # SIGTERM ended it


def test_an_exit_before_ready_names_the_code_and_shows_the_output_and_log(tmp_path: Path) -> None:
    code = "import sys; print('starting', flush=True); sys.stderr.write('boom: no port'); sys.exit(3)"
    with (
        pytest.raises(launch.LaunchFailed, match=r"exited with 3") as failure,
        launch.launched(python(code), log=tmp_path / "stack.log"),
    ):
        pytest.fail("never ready")
    assert "starting" in str(failure.value) and "boom: no port" in str(failure.value)


def test_silence_past_the_deadline_fails_and_stops_the_process(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    code = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    with (
        pytest.raises(launch.LaunchFailed, match=r"no 'ready' within 1 s"),
        launch.launched(python(code), ready_timeout=1.0),
    ):
        pytest.fail("never ready")
    assert not Path(f"/proc/{pid_file.read_text()}").exists()  # stopped and reaped


def test_an_undecodable_byte_before_ready_does_not_stop_the_reader() -> None:
    code = "import sys, time; sys.stdout.buffer.write(b'caf\\xe9\\nready\\n'); sys.stdout.flush(); time.sleep(60)"
    with launch.launched(python(code), ready_timeout=30) as stack:
        assert stack.banner == ["caf\ufffd"]
