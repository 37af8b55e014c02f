"""Child processes: readiness line, serving, clean stop, and exit when the parent goes away."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_gateway.supervisor import Child, StartupError, Supervisor
from local_gateway.topology import local_environment

FAKE_API = ["--routes", "tests.local.fake_handlers:ROUTES", "--authorizer", "tests.local.fake_handlers:AUTHORIZER"]


@pytest.fixture
def supervisor() -> Iterator[Supervisor]:
    with Supervisor() as supervisor:
        yield supervisor


def _spawn_fake_region(supervisor: Supervisor, region: str = "us-east-1") -> tuple[Child, int]:
    child = supervisor.spawn(
        region, ["lambda", *FAKE_API, "--authorizer-cache-seconds", "0"], local_environment(region)
    )
    return child, supervisor.wait_ready(child, timeout=20)


def _get(port: int, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_a_lambda_child_serves_its_routes_and_stops_cleanly(supervisor: Supervisor) -> None:
    child, port = _spawn_fake_region(supervisor)

    status, body = _get(port, "/health")
    supervisor.stop_all()

    assert (status, json.loads(body)["region"]) == (200, "us-east-1")
    assert child.process.returncode == 0
    assert not _alive(child.pid)


def test_a_child_exits_when_its_parent_goes_away(supervisor: Supervisor) -> None:
    child, _ = _spawn_fake_region(supervisor)
    assert child.process.stdin is not None

    child.process.stdin.close()  # what the kernel does when the parent dies, even by SIGKILL

    assert child.process.wait(timeout=10) == 0


def test_a_child_that_cannot_start_is_a_startup_error(supervisor: Supervisor) -> None:
    child = supervisor.spawn(
        "broken", ["lambda", "--routes", "tests.local.no_such_module:ROUTES"], local_environment("eu-west-1")
    )

    with pytest.raises(StartupError, match="broken exited with code 1"):
        supervisor.wait_ready(child, timeout=20)


def test_a_port_in_use_is_a_startup_error(supervisor: Supervisor) -> None:
    _, port = _spawn_fake_region(supervisor)
    child = supervisor.spawn("second", ["lambda", *FAKE_API, "--port", str(port)], local_environment("eu-west-1"))

    with pytest.raises(StartupError, match="second exited"):
        supervisor.wait_ready(child, timeout=20)


def test_stop_all_kills_a_child_that_ignores_sigterm(supervisor: Supervisor) -> None:
    stubborn = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('{\"port\": 1}', flush=True); time.sleep(60)"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", stubborn], stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True
    )
    child = Child("stubborn", process)
    supervisor.children.append(child)
    assert supervisor.wait_ready(child, timeout=10) == 1

    supervisor.stop_all(timeout=0.5)

    assert process.returncode == -9


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize(("flags", "indexed"), [([], True), (["--plain-moto"], False)])
def test_the_dynamodb_child_indexes_its_tables_unless_told_not_to(
    flags: list[str], indexed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from local_gateway import child, indexed_table, moto_speedups, moto_transactions  # noqa: PLC0415
    from local_gateway.live_stats import RollingStats  # noqa: PLC0415

    installed: list[bool] = []
    monkeypatch.setattr(indexed_table, "install", lambda: installed.append(True))
    # None of the child's process-wide changes in pytest's own process: other tests compare with moto as it ships.
    monkeypatch.setattr(moto_speedups, "install", lambda: None)
    monkeypatch.setattr(moto_transactions, "install", lambda: None)
    monkeypatch.setattr(moto_speedups, "tune_collector", lambda: installed.append(False))
    server, gateway = child.make_server(child.parse_args(["dynamodb", "--port", "0", *flags]), RollingStats())
    server.server_close()

    assert gateway is None
    assert installed == ([True, False] if indexed else [False])


def test_the_dynamodb_child_freezes_what_it_built_and_collects_its_heap_rarely() -> None:
    """In a process of its own, as the stack runs it: what exists once the emulator is built is out
    of every collection, and full collections wait for 100 middle ones (Python's default: 10)."""
    from local_gateway import moto_speedups  # noqa: PLC0415

    script = (
        "import gc, json\n"
        "from local_gateway import child\n"
        "from local_gateway.live_stats import RollingStats\n"
        "server, _ = child.make_server(child.parse_args(['dynamodb', '--port', '0']), RollingStats())\n"
        "left = len(gc.get_objects())\n"
        "server.server_close()\n"
        "print(json.dumps([gc.get_threshold(), gc.get_freeze_count(), left]))\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120, cwd=root
    )
    thresholds, frozen, left = json.loads(done.stdout.splitlines()[-1])

    assert thresholds == list(moto_speedups.EMULATOR_GC_THRESHOLDS) == [700, 10, 100]
    assert left < 2_000  # the server and its apps too: frozen once built, not before
    assert frozen > 50_000  # moto's modules and models (~89,000 here; a bare interpreter's ~4,800)


def test_the_runner_passes_the_embedded_dynamodb_choice_on() -> None:
    from local_gateway.launch import runner_command  # noqa: PLC0415
    from local_gateway.runner import _start_dynamodb, parse_args  # noqa: PLC0415

    assert parse_args([]).embedded_dynamodb == "indexed"
    command = runner_command(embedded_dynamodb="moto")
    assert command[command.index("--embedded-dynamodb") + 1] == "moto"
    spawned: list[list[str]] = []

    class Recorder:
        def spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
            spawned.append(args)

    for choice in ("moto", "indexed"):
        _start_dynamodb(parse_args(["--embedded-dynamodb", choice]), Recorder())  # type: ignore[arg-type]
    assert ["--plain-moto" in args for args in spawned] == [True, False]
