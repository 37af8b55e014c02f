"""The local stack (`python -m local_gateway`, started by local_gateway.launch) for the load
benchmark, and the CPU each of its processes uses (the bottleneck is the process that runs out of
CPU first).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.loadgen import Merchant
from local_gateway import launch

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Stack:
    process: subprocess.Popen[str]
    base_url: str
    dynamodb_url: str
    banner: list[str] = field(default_factory=list)

    def processes(self) -> dict[str, int]:
        """name -> pid for the stack and its children (role taken from `--name`)."""
        found = {"global endpoint": self.process.pid}
        for pid in launch.descendants(self.process.pid):
            args = cmdline(pid)
            if "--name" in args:
                name = args[args.index("--name") + 1]
                found[name] = pid
                # A container region's gunicorn (master, then workers) runs below its child.
                for n, server in enumerate(sorted(launch.descendants(pid))):
                    found[f"{name} server {n}"] = server
        return found


@contextlib.contextmanager
def running(
    merchants: Sequence[Merchant],
    *,
    dynamodb_endpoint: str | None = None,
    compute: str | None = None,
    embedded_dynamodb: str | None = None,
    as_make_run: bool = False,
    root: Path = launch.REPO_ROOT,
) -> Iterator[Stack]:
    """as_make_run: with `make run`'s output (the access log, the handlers' logs in the stack's log
    file) instead of --quiet. root: the source tree to run (another checkout's, for a before/after)."""
    merchant_keys = {m.id: m.api_key for m in merchants}
    command = launch.runner_command(
        merchants=merchant_keys,
        dynamodb_endpoint=dynamodb_endpoint,
        quiet=not as_make_run,
        verbose=False,
        compute=compute,
        embedded_dynamodb=embedded_dynamodb,
    )
    with launch.launched(command, cwd=root) as stack:
        urls = stack.urls
        dynamodb = next((url for label, url in urls.items() if label.startswith("DynamoDB")), "")
        yield Stack(stack.process, urls["global endpoint (Route 53)"], dynamodb, stack.banner)


# --- CPU accounting from /proc ---------------------------------------------------------------------


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _stat_fields(pid: int) -> list[str]:
    """Fields of /proc/pid/stat after the command name: [state, ppid, ...]."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return text.rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (0 if it is gone)."""
    fields = _stat_fields(pid)
    if len(fields) < 13:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU seconds all processes on the machine have used (every core), from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


class CpuMeter:
    """CPU seconds used by each named process (and by this one) between start() and stop()."""

    def __init__(self, processes: dict[str, int]) -> None:
        self._processes = dict(processes)
        self._before: dict[str, float] = {}
        self._started = 0.0
        self.wall = 0.0
        self.used: dict[str, float] = {}

    def start(self) -> None:
        self._before = {name: cpu_seconds(pid) for name, pid in self._processes.items()}
        self._before["load generator"] = time.process_time()
        self._before["machine"] = machine_busy_seconds()
        self._started = time.perf_counter()

    def stop(self) -> None:
        self.wall = time.perf_counter() - self._started
        self.used = {name: cpu_seconds(pid) - self._before[name] for name, pid in self._processes.items()}
        self.used["load generator"] = time.process_time() - self._before["load generator"]
        ours = sum(self.used.values())
        # Everything else running on this shared machine meanwhile (other people's tests, ...).
        self.used["other processes"] = max(0.0, machine_busy_seconds() - self._before["machine"] - ours)

    def share(self) -> dict[str, float]:
        """Fraction of one core each process used over the interval."""
        return {name: used / self.wall for name, used in self.used.items()} if self.wall else {}
