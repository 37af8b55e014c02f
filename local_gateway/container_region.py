"""A region served the container way (`--compute container`): the image's own server, spec.SERVER
(gunicorn and its config), instead of the Lambda gateway, serving the image's API with the local
stack's extras around it (container_local.APP).

`python -m local_gateway.child container` opens the region's socket itself (so `--port 0` works
and the port is known at once), hands it to gunicorn as `BIND=fd://N` with LOCAL_CONTROL=1 (one
worker that loads the app itself), waits until gunicorn answers, then announces the port like every
child. The app adds, inside that worker, what a Lambda region child has (container_local.py: the
outage switch, WAF's body rule, the live view's stats, the readable access log, the resolver loop);
this process passes its flags on as LOCAL_* variables. Deployed, the resolver stays the scheduled
Lambda function in both compute options, so the image itself runs none.

The handlers' stdout goes where a Lambda child sends its own (--log-file, stderr, or nowhere with
--quiet). gunicorn's stderr comes through this process: its own JSON log lines become readable
lines labelled with the region, the worker's (already readable) pass as they are.

gunicorn dies with this process (a parent-death signal), and this process exits when gunicorn
does, so the runner's restart of a dead region restarts both.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import http.client
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

from container import spec
from local_gateway.container_local import APP, LocalRegionOptions
from local_gateway.lifecycle import announce, watch_stdin
from local_gateway.probes import HEALTH_CHECK_USER_AGENT
from proxy_gateway.outage import OUTAGE_CONTROL_PATH

log = logging.getLogger("local_gateway")

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
# Locally a stop should not wait for ECS's in-flight allowance (the supervisor kills after 5 s).
LOCAL_GRACEFUL_TIMEOUT = "2"
_PR_SET_PDEATHSIG = 1


def server_environment(env: Mapping[str, str], fd: int, args: argparse.Namespace) -> dict[str, str]:
    """The region's Lambda environment plus how the local stack runs the server."""
    server = dict(env)
    # As an activated virtualenv would: spec.SERVER names `gunicorn`, installed beside this Python.
    server["PATH"] = os.pathsep.join(filter(None, (str(Path(sys.executable).parent), env.get("PATH"))))
    server.update(BIND=f"fd://{fd}", LOCAL_CONTROL="1", GRACEFUL_TIMEOUT=LOCAL_GRACEFUL_TIMEOUT)
    server["ACCESS_LOG"] = "off"  # container_local writes the readable one instead
    if args.authorizer_cache_seconds is not None:
        server["AUTHORIZER_CACHE_SECONDS"] = str(args.authorizer_cache_seconds)
    local = LocalRegionOptions(
        access_log=args.access_log and not args.quiet,
        waf_body_limit=args.waf_body_limit or None,
        resolver_interval=args.resolver_interval,
        sender_interval=args.sender_interval,
    )
    server.update(local.environment())
    return server


def open_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    sock.listen(256)
    sock.set_inheritable(True)
    return sock


def handler_output(args: argparse.Namespace) -> int:
    """The file descriptor for the handlers' stdout, as lifecycle.announce picks a Lambda child's."""
    if args.quiet:
        return os.open(os.devnull, os.O_WRONLY)
    if args.log_file:
        return os.open(args.log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    return os.dup(2)


def start_server(sock: socket.socket, args: argparse.Namespace) -> subprocess.Popen[bytes]:
    env = server_environment(os.environ, sock.fileno(), args)
    stdout = handler_output(args)
    try:
        return subprocess.Popen(  # noqa: S603 - the image's own server, spec.SERVER
            [*spec.SERVER, APP],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.PIPE,  # relayed by relay_server_log
            pass_fds=(sock.fileno(),),
            preexec_fn=_parent_death_signal(),  # noqa: PLW1509 - before any thread starts; only a prctl call
        )
    finally:
        os.close(stdout)  # gunicorn holds its own copy


def relay_server_log(stream: IO[bytes], target: IO[bytes]) -> None:
    """gunicorn's stderr to ours until it closes: its JSON lines as readable ones, others unchanged."""
    for raw in iter(stream.readline, b""):
        entry = _json_log_entry(raw)
        if entry is None:
            target.write(raw)
            target.flush()
            continue
        level = logging.getLevelName(str(entry.get("level", "INFO")))
        exception = entry.get("exception")
        message = f"{entry.get('message', '')}\n{exception}".rstrip() if exception else str(entry.get("message", ""))
        log.log(level if isinstance(level, int) else logging.INFO, "%s", message)


def _json_log_entry(raw: bytes) -> dict[str, object] | None:
    if not raw.startswith(b"{"):
        return None
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) and "message" in entry else None


def _parent_death_signal() -> Callable[[], None] | None:
    """gunicorn gets SIGTERM if this process dies, even by SIGKILL (Linux); elsewhere the runner's
    stop of the process group still reaches it."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def set_signal() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return set_signal


def answers(port: int, timeout: float = 2.0) -> bool:
    """Whether the region's server answers its local outage switch: the app is loaded and serving.
    Sent as the stack's own probe, which the access log leaves out."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", OUTAGE_CONTROL_PATH, headers={"User-Agent": HEALTH_CHECK_USER_AGENT})
        response = connection.getresponse()
        return response.status == 200 and "outage" in json.loads(response.read())
    except (OSError, ValueError):
        return False
    finally:
        connection.close()


def wait_until_serving(process: subprocess.Popen[bytes], port: int, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not answers(port):
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode} before it served")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not answer within {timeout:.0f} s")
        time.sleep(0.05)


def stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def serve(args: argparse.Namespace, stop: threading.Event) -> int:
    """The child's life: start the server, announce, and stop with it or with the runner."""
    sock = open_socket(args.port)
    port = int(sock.getsockname()[1])
    process = start_server(sock, args)
    sock.close()  # gunicorn holds its own copy
    assert process.stderr is not None
    relay = threading.Thread(
        target=relay_server_log, args=(process.stderr, sys.stderr.buffer), name="server-log", daemon=True
    )
    relay.start()
    try:
        wait_until_serving(process, port)
        announce(port, args.quiet, args.log_file)
        threading.Thread(target=watch_stdin, args=(stop,), name="parent-watchdog", daemon=True).start()
        while not stop.wait(0.1):
            if process.poll() is not None:
                log.error("the server exited with code %s", process.returncode)
                return 1
        return 0
    except RuntimeError as error:
        log.error("failed to start: %s", error)
        return 1
    finally:
        with contextlib.suppress(OSError):
            stop_server(process)
        relay.join(STOP_TIMEOUT)  # its last lines (a traceback at exit) before this process ends
