"""The two compute options side by side (`python -m bench --only compute`): the local stack with
`--compute lambda` and with `--compute container`, both running in the one benchmark run, each on
its own dynalite (moto tops out near 55 requests/s, below the design rate, whatever serves the
handlers), loaded in turn at the design rate and then stepped up to the highest rate with
p99 < 1 s. Also: how long the container's entry point takes from start to its first healthy answer.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import emulators, loadgen, report, stack
from bench.stats import median
from container import spec
from handlers.contract.schema import DEFAULT_TABLE_NAME
from local_gateway import launch
from local_gateway.topology import lambda_environment

REPO = Path(__file__).resolve().parent.parent
MODES = ("lambda", "container")
STARTUP_ROUNDS = 5
TABLE = DEFAULT_TABLE_NAME
Log = Callable[[str], None]


@dataclass
class Running:
    mode: str
    stack: stack.Stack
    processes: dict[str, int]
    merchants: list[loadgen.Merchant]
    dynamodb_url: str
    bank_url: str


@contextlib.contextmanager
def both_stacks(merchant_count: int) -> Iterator[dict[str, Running]]:
    """One local stack per compute option, each over its own dynalite, all up at once."""
    with contextlib.ExitStack() as resources:
        running: dict[str, Running] = {}
        for mode in MODES:
            server = emulators.start("dynalite")
            resources.callback(server.stop)
            merchants = loadgen.bench_merchants(merchant_count)
            up = resources.enter_context(stack.running(merchants, dynamodb_endpoint=server.url, compute=mode))
            processes = {**up.processes(), "dynalite": server.process.pid}
            bank_url = launch.Launched(up.process, up.banner).urls["bank simulator"]
            running[mode] = Running(mode, up, processes, merchants, server.url, bank_url)
        yield running


def region_cpu(mode: str, used: dict[str, float], region: str = "eu-west-1") -> float:
    """CPU seconds of what serves the region's requests: the Lambda child (its API Gateway stand-in,
    the handlers, the local resolver thread) or the container's gunicorn processes (what the task
    runs, plus the same local extras and resolver thread; the region child around them only relays
    gunicorn's log)."""
    if mode == "container":
        return sum(seconds for name, seconds in used.items() if name.startswith(f"{region} server"))
    return used.get(region, 0.0)


def cpu_ms_per_request(mode: str, used: dict[str, float], requests: int) -> float:
    return region_cpu(mode, used) / requests * 1000 if requests else 0.0


# --- the container's startup ------------------------------------------------------------------------


def container_startup(dynamodb_url: str, bank_url: str, rounds: int, log: Log) -> list[float]:
    """Seconds from starting spec.COMMAND (image settings: two workers) to its first 200 on
    spec.HEALTH_PATH, which also reaches the table."""
    samples = []
    for _ in range(rounds):
        port = _free_port()
        env = lambda_environment("eu-west-1", table_name=TABLE, dynamodb_url=dynamodb_url, bank_url=bank_url)
        env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
        env.update(HOST="127.0.0.1", PORT=str(port), ACCESS_LOG="off", LOG_LEVEL="WARNING")
        started = time.perf_counter()
        process = subprocess.Popen(
            list(spec.COMMAND), cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            while not _healthy(port):
                if process.poll() is not None or time.perf_counter() - started > 60:
                    raise RuntimeError(f"the container's server did not start (exit {process.poll()})")
                time.sleep(0.01)
            samples.append(time.perf_counter() - started)
        finally:
            process.terminate()
            process.wait(30)
    log(f"container startup: median {median(samples):.2f} s over {rounds}")
    return samples


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", spec.HEALTH_PATH)
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def startup_line(samples: Sequence[float]) -> str:
    return (
        f"**Container startup** (`{' '.join(spec.COMMAND)}`, the image's settings: 2 workers, preloaded app; "
        f"from the process start to its first 200 on `{spec.HEALTH_PATH}`, {len(samples)} rounds): median "
        f"{median(list(samples)):.2f} s, {min(samples):.2f} to {max(samples):.2f} s. It is paid once per task "
        "(a deployment, a scale-out, a replacement), never per request; the ALB sends traffic only after "
        "the target group's health checks pass."
    )


def cpu_table(rows: Sequence[tuple[str, str, dict[str, float], int]]) -> str:
    body = [
        (name, mode, f"{cpu_ms_per_request(mode, used, requests):.2f} ms", report.ms(region_cpu(mode, used)), requests)
        for name, mode, used, requests in rows
    ]
    return report.table(("run", "compute", "region CPU per request", "region CPU in all", "requests"), body)
