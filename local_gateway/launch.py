"""Start `python -m local_gateway` as a child process and wait for its `ready` line.

This is the runner's documented interface (docs/local.md: the options, the banner, `ready` on
stdout, SIGTERM to stop) seen from outside, shared by the end-to-end and reliability suites and the
load benchmark. Only the process started here is ever signalled, by pid.
"""

from __future__ import annotations

import contextlib
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 120.0
STOP_TIMEOUT = 15.0
# "  eu-west-1 API               http://127.0.0.1:39091": a label, two or more spaces, a local URL
_ADDRESS = re.compile(r"^\s+(?P<label>\S.*?)\s{2,}(?P<url>http://127\.0\.0\.1:\d+\S*)")


class LaunchFailed(RuntimeError):
    """The stack exited, or printed no `ready` in time; the message ends with its last output."""


@dataclass
class Launched:
    process: subprocess.Popen[str]
    banner: list[str]  # stdout up to `ready`

    @property
    def urls(self) -> dict[str, str]:
        """Banner label -> URL, e.g. "global endpoint (Route 53)" -> "http://127.0.0.1:8080"."""
        found: dict[str, str] = {}
        for line in self.banner:
            match = _ADDRESS.match(line)
            if match:
                found.setdefault(match["label"], match["url"])
        return found


def runner_command(
    *,
    port: int = 0,
    merchants: Mapping[str, str] | None = None,
    bank_url: str | None = None,
    dynamodb_endpoint: str | None = None,
    quiet: bool = False,
    verbose: bool = True,
    resolver_interval: float | None = None,
    resolve_after: float | None = None,
    authorizer_cache_seconds: float | None = None,
    compute: str | None = None,
    embedded_dynamodb: str | None = None,
    authorization_ttl: float | None = None,
    webhook_retry_delays: str | None = None,
    bank_ledger: str | None = None,
) -> list[str]:
    """The command line for these options (merchants: id -> API key).

    `verbose` (unless `quiet`): the handlers' JSON logs come on stderr with the rest, which
    `launched` sends to its `log`, instead of the runner's default file in the repository."""
    command = [sys.executable, "-m", "local_gateway", "--port", str(port)]
    valued = {
        "--compute": compute,
        "--embedded-dynamodb": embedded_dynamodb,
        "--resolver-interval": resolver_interval,
        "--resolve-after": resolve_after,
        "--authorizer-cache-seconds": authorizer_cache_seconds,
        "--authorization-ttl": authorization_ttl,
        "--webhook-retry-delays": webhook_retry_delays,
        "--bank-ledger": bank_ledger,
    }
    for flag, value in valued.items():
        if value is not None:
            command += [flag, str(value)]
    for merchant_id, key in (merchants or {}).items():
        command += ["--merchant", f"{merchant_id}:{key}"]
    if bank_url:
        command += ["--bank-url", bank_url]
    if dynamodb_endpoint:
        command += ["--dynamodb-endpoint", dynamodb_endpoint]
    if quiet:
        command.append("--quiet")
    elif verbose:
        command.append("--verbose")
    return command


@contextlib.contextmanager
def launched(
    command: list[str], *, log: Path | None = None, ready_timeout: float = READY_TIMEOUT, cwd: Path = REPO_ROOT
) -> Iterator[Launched]:
    """The running stack until the block ends, then stopped (SIGTERM, then SIGKILL if it hangs).
    Its stderr (the access log, and the handlers' JSON logs with --verbose) goes to `log`, or is
    discarded. `cwd`: the source tree it runs from (another checkout's, for a before/after)."""
    with contextlib.ExitStack() as resources:
        stderr = resources.enter_context(log.open("wb")) if log else subprocess.DEVNULL
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module (runner_command)
            command,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",  # one undecodable byte must not kill the reader and block the stack
        )
    try:
        try:
            banner = _banner_until_ready(process, ready_timeout)
        except LaunchFailed as failure:
            stop(process)
            raise LaunchFailed(f"{failure}\n{log.read_text(errors='replace')[-3000:] if log else ''}") from None
        yield Launched(process, banner)
    finally:
        stop(process)
        _close_stdout(process)


def _close_stdout(process: subprocess.Popen[str]) -> None:
    for thread in threading.enumerate():
        if thread.name == f"local-stack-stdout-{process.pid}":
            thread.join(timeout=5)  # EOF comes once the stack and its children are gone
    if process.stdout:
        process.stdout.close()


def stop(process: subprocess.Popen[str], timeout: float = STOP_TIMEOUT) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _banner_until_ready(process: subprocess.Popen[str], timeout: float) -> list[str]:
    lines: queue.Queue[str | None] = queue.Queue()
    ready = threading.Event()

    def pump() -> None:  # reads stdout to the end, so the stack never blocks on a full pipe
        assert process.stdout is not None
        with contextlib.suppress(ValueError, OSError):  # closed under it at teardown
            for line in process.stdout:
                if not ready.is_set():
                    lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, name=f"local-stack-stdout-{process.pid}", daemon=True).start()
    banner: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise LaunchFailed(f"no 'ready' within {timeout:.0f} s:\n" + "\n".join(banner[-20:])) from None
        if line is None:
            raise LaunchFailed(f"exited with {process.wait()} before 'ready':\n" + "\n".join(banner[-20:]))
        if line == "ready":
            ready.set()
            return banner
        banner.append(line)


def descendants(pid: int) -> list[int]:
    """Every process below pid, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, pending = [], [pid]
    while pending:
        below = children.get(pending.pop(), [])
        found += below
        pending += below
    return found
