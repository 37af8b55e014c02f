"""A region served the container way (`--compute container`): the image's own entry point,
spec.COMMAND (gunicorn, its config, container.app), instead of the Lambda gateway.

`python -m local_gateway.child container` opens the region's socket itself (so `--port 0` works
and the port is known at once), hands it to gunicorn as `BIND=fd://N` with LOCAL_CONTROL=1 (the
simulated outage switch), waits until gunicorn answers, then announces the port like every child.
It also runs the region's resolver loop: deployed, the resolver stays the scheduled Lambda
function in both compute options, so the container itself runs none. gunicorn dies with this
process (a parent-death signal), and this process exits when gunicorn does, so the runner's
restart of a dead region restarts both.
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

from container import spec
from proxy_gateway.outage import OUTAGE_CONTROL_PATH

log = logging.getLogger("local_gateway")

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
# Locally a stop should not wait for ECS's in-flight allowance (the supervisor kills after 5 s).
LOCAL_GRACEFUL_TIMEOUT = "2"
_PR_SET_PDEATHSIG = 1


def server_environment(env: Mapping[str, str], fd: int, *, quiet: bool, access_log: bool) -> dict[str, str]:
    """The region's Lambda environment plus how the local stack runs the server."""
    server = dict(env)
    # As an activated virtualenv would: spec.COMMAND names `gunicorn`, installed beside this Python.
    server["PATH"] = os.pathsep.join(filter(None, (str(Path(sys.executable).parent), env.get("PATH"))))
    server.update(BIND=f"fd://{fd}", LOCAL_CONTROL="1", GRACEFUL_TIMEOUT=LOCAL_GRACEFUL_TIMEOUT)
    server["ACCESS_LOG"] = "on" if access_log and not quiet else "off"
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


def start_server(sock: socket.socket, *, quiet: bool, access_log: bool) -> subprocess.Popen[bytes]:
    env = server_environment(os.environ, sock.fileno(), quiet=quiet, access_log=access_log)
    return subprocess.Popen(  # noqa: S603 - spec.COMMAND, the image's own entry point
        list(spec.COMMAND),
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL if quiet else sys.stderr.fileno(),  # the handlers' logs, as a Lambda child's
        pass_fds=(sock.fileno(),),
        preexec_fn=_parent_death_signal(),  # noqa: PLW1509 - before any thread starts; only a prctl call
    )


def _parent_death_signal() -> Callable[[], None] | None:
    """gunicorn gets SIGTERM if this process dies, even by SIGKILL (Linux); elsewhere the runner's
    stop of the process group still reaches it."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def set_signal() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return set_signal


def outage_status(port: int, timeout: float = 2.0) -> bool | None:
    """Whether the region's simulated outage is on; None if the server does not answer."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", OUTAGE_CONTROL_PATH)
        response = connection.getresponse()
        return bool(json.loads(response.read())["outage"]) if response.status == 200 else None
    except (OSError, ValueError, KeyError):
        return None
    finally:
        connection.close()


def wait_until_serving(process: subprocess.Popen[bytes], port: int, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while outage_status(port) is None:
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


def serve(args: argparse.Namespace, stop: threading.Event, announce: Callable[[int, bool], None]) -> int:
    """The child's life: start the server, announce, resolve, and stop with it or with the runner."""
    from local_gateway.child import run_resolver, watch_stdin  # noqa: PLC0415 - child imports this module

    sock = open_socket(args.port)
    port = int(sock.getsockname()[1])
    process = start_server(sock, quiet=args.quiet, access_log=args.access_log)
    sock.close()  # gunicorn holds its own copy
    try:
        wait_until_serving(process, port)
        announce(port, args.quiet)
        region = os.environ.get("AWS_REGION", "eu-west-1")
        if args.resolver_interval > 0:
            is_down = region_is_down(port)
            threading.Thread(
                target=run_resolver, args=(region, is_down, args.resolver_interval, stop), name="resolver", daemon=True
            ).start()
        threading.Thread(target=watch_stdin, args=(stop,), name="parent-watchdog", daemon=True).start()
        while not stop.wait(0.1):
            if process.poll() is not None:
                log.error("%s: the server exited with code %s", args.name, process.returncode)
                return 1
        return 0
    except RuntimeError as error:
        log.error("%s failed to start: %s", args.name, error)
        return 1
    finally:
        with contextlib.suppress(OSError):
            stop_server(process)


def region_is_down(port: int) -> Callable[[], bool]:
    """For the resolver: a region that is down (or not answering) runs nothing."""
    return lambda: outage_status(port) is not False
