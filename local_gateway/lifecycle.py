"""How every child process lives under the runner, whichever its role (child.py, container_region.py).

A leaf: the readiness line on stdout, then stdout pointed where the handlers' logs go, and the
watchdog that stops the child when its stdin reaches EOF (the parent holds the other end).
"""

from __future__ import annotations

import json
import os
import sys
import threading


def announce(port: int, quiet: bool, log_file: str | None = None) -> None:
    """The readiness line for the parent; afterwards stdout is only the handlers' logs."""
    sys.stdout.write(json.dumps({"port": port}) + "\n")
    sys.stdout.flush()
    if quiet:
        target = os.open(os.devnull, os.O_WRONLY)
    elif log_file:
        # O_APPEND: every process of the stack appends whole lines to the one file.
        target = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    else:
        target = 2
    os.dup2(target, 1)


def watch_stdin(stop: threading.Event) -> None:
    # os.read, not sys.stdin: a thread blocked inside the buffered reader holds its lock and
    # makes the interpreter abort at exit.
    while os.read(0, 4096):
        pass
    stop.set()
