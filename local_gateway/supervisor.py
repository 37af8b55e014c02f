"""Start, watch and stop the stack's child processes, leaving no orphans.

Each child runs in its own session, so a Ctrl-C in the terminal reaches only the runner, which
then stops the children in order: SIGTERM to the child's process group, a bounded wait, SIGKILL.
If the runner itself dies, each child sees EOF on its stdin pipe and exits (see child.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent


class StartupError(RuntimeError):
    pass


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    port: int | None = None  # announced once ready

    @property
    def pid(self) -> int:
        return self.process.pid


class Supervisor:
    def __init__(self, python: str = sys.executable, cwd: Path = REPO_ROOT) -> None:
        self._python = python
        self._cwd = cwd
        self.children: list[Child] = []

    def spawn(self, name: str, args: Sequence[str], env: Mapping[str, str]) -> Child:
        command = [self._python, "-m", "local_gateway.child", *args, "--name", name]
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=dict(env), cwd=self._cwd, start_new_session=True
        )
        child = Child(name, process, tuple(args), dict(env))
        self.children.append(child)
        return child

    def respawn(self, child: Child) -> Child:
        """Start a dead child again on the port it had, the way Lambda starts a new instance."""
        self.children.remove(child)
        with contextlib.suppress(OSError):
            if child.process.stdin is not None:
                child.process.stdin.close()
        args = list(child.args)
        if child.port is not None and "--port" in args:
            args[args.index("--port") + 1] = str(child.port)
        return self.spawn(child.name, args, child.env)

    def wait_ready(self, child: Child, timeout: float) -> int:
        """Wait for the child's `{"port": N}` line and return N."""
        assert child.process.stdout is not None
        line = _read_line(child.process.stdout.fileno(), time.monotonic() + timeout)
        child.process.stdout.close()
        if line is None:
            raise StartupError(f"{child.name} was not ready within {timeout:.0f} s (its log is above)")
        if not line:  # EOF: it exited, or is exiting, before announcing its port
            code = _exit_code(child.process)
            raise StartupError(f"{child.name} exited with code {code} before it was ready (its log is above)")
        child.port = int(json.loads(line)["port"])
        return child.port

    def exited(self) -> Child | None:
        return next((child for child in self.children if child.process.poll() is not None), None)

    def stop_all(self, timeout: float = 5.0) -> None:
        for child in self.children:
            _signal_group(child, signal.SIGTERM)
            if child.process.stdin is not None:
                child.process.stdin.close()
        deadline = time.monotonic() + timeout
        for child in self.children:
            try:
                child.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0f s; killing it", child.name, timeout)
                _signal_group(child, signal.SIGKILL)
                child.process.wait()
        self.children.clear()

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop_all()


def _signal_group(child: Child, signum: int) -> None:
    if child.process.poll() is not None:
        return
    # The child leads its own session, so its process group id is its pid. Until we reap it,
    # its pid cannot be reused, so this never signals a stranger.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signum)


def _read_line(fd: int, deadline: float) -> str | None:
    """One line from fd; "" at end of file, None if the deadline passes first."""
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            return None
        chunk = os.read(fd, 4096)
        if not chunk:
            return ""
        data += chunk
    return data.decode()


def _exit_code(process: subprocess.Popen[bytes]) -> int | None:
    try:
        return process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        return None
