"""A faster DynamoDB-compatible server for the load benchmark (the stack's --dynamodb-endpoint).

dynalite: the npm package (pinned in bench/dynalite/package-lock.json), installed on first use
with `npm ci` into build/bench/dynalite and run by bench/dynalite/server.js, which prints one
JSON line `{"port": N}` when listening and exits when its stdin closes. (moto, the stack's
embedded server, already runs in its own process; the load benchmark profiles it there.)
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DYNALITE_SOURCE = Path(__file__).resolve().parent / "dynalite"
DYNALITE_DIR = REPO / "build" / "bench" / "dynalite"
START_TIMEOUT_SECONDS = 60.0
NPM_TIMEOUT_SECONDS = 300


@dataclass
class Emulator:
    name: str
    process: subprocess.Popen[str]
    url: str

    def stop(self) -> None:
        if self.process.poll() is None:
            if self.process.stdin:
                self.process.stdin.close()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def dynalite_available() -> str | None:
    """None if dynalite can be installed and run here, else why not."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    return f"{' and '.join(missing)} not installed" if missing else None


def install_dynalite() -> Path:
    DYNALITE_DIR.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json", "server.js"):
        shutil.copyfile(DYNALITE_SOURCE / name, DYNALITE_DIR / name)
    if not (DYNALITE_DIR / "node_modules" / "dynalite" / "package.json").is_file():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=DYNALITE_DIR,
            check=True,
            timeout=NPM_TIMEOUT_SECONDS,
            stdout=subprocess.DEVNULL,
        )
    return DYNALITE_DIR


def start(name: str) -> Emulator:
    if name == "dynalite":
        directory = install_dynalite()
        args = ["node", str(directory / "server.js"), "0"]
        cwd = directory
    else:
        raise ValueError(f"unknown emulator {name!r}")
    process = subprocess.Popen(
        args, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    timer = threading.Timer(START_TIMEOUT_SECONDS, process.kill)
    timer.start()
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
    finally:
        timer.cancel()
    try:
        port = int(json.loads(line)["port"])
    except (ValueError, KeyError, TypeError):
        emulator = Emulator(name, process, "")
        emulator.stop()
        raise RuntimeError(f"{name} did not start (said {line!r})") from None
    return Emulator(name, process, f"http://127.0.0.1:{port}")
