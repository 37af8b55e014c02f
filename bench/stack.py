"""Start and stop the local stack (`python -m local_gateway`) for the load benchmark, and watch the
CPU each of its processes uses (the bottleneck is the process that runs out of CPU first).

Only processes this module started are ever signalled, by pid.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.loadgen import Merchant

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 15.0
_URL = re.compile(r"^\s*(?P<label>[A-Za-z0-9 ()-]+?)\s{2,}(?P<url>http://127\.0\.0\.1:\d+)\S*")
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
        for pid in descendants(self.process.pid):
            args = cmdline(pid)
            if "--name" in args:
                found[args[args.index("--name") + 1]] = pid
        return found


def start(merchants: Sequence[Merchant], *, dynamodb_endpoint: str | None = None, quiet: bool = True) -> Stack:
    args = [sys.executable, "-m", "local_gateway", "--port", "0"]
    args += [f"--merchant={m.id}:{m.api_key}" for m in merchants]
    if dynamodb_endpoint:
        args += ["--dynamodb-endpoint", dynamodb_endpoint]
    if quiet:
        args.append("--quiet")
    process = subprocess.Popen(
        args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.PIPE, text=True
    )
    lines: list[str] = []
    urls: dict[str, str] = {}
    timer = threading.Timer(START_TIMEOUT_SECONDS, process.kill)
    timer.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip())
            match = _URL.match(line)
            if match:
                urls.setdefault(match["label"], match["url"])
            if line.strip() == "ready":
                break
    finally:
        timer.cancel()
    if process.poll() is not None or "global endpoint (Route 53)" not in urls:
        stop_process(process)
        raise RuntimeError("the local stack did not start:\n" + "\n".join(lines[-20:]))
    # Keep reading stdout so the stack never blocks on a full pipe.
    threading.Thread(target=_drain, args=(process,), daemon=True).start()
    dynamodb = next((url for label, url in urls.items() if label.startswith("DynamoDB")), "")
    return Stack(process, urls["global endpoint (Route 53)"], dynamodb, lines)


def _drain(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    for _ in process.stdout:
        pass


def stop_process(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def running(merchants: Sequence[Merchant], *, dynamodb_endpoint: str | None = None) -> Iterator[Stack]:
    stack = start(merchants, dynamodb_endpoint=dynamodb_endpoint)
    try:
        yield stack
    finally:
        stop_process(stack.process)


# --- CPU accounting from /proc ---------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            parent = _stat_fields(int(entry.name))
            if parent:
                children.setdefault(int(parent[1]), []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


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
