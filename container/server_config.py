"""gunicorn's settings, from the environment with the image's defaults (container/spec.py).

gunicorn_conf.py (what spec.COMMAND passes to `--config`) applies them; kept here as a function
so a test can read them for any environment.

- PORT (spec.PORT) and HOST (all interfaces: the ALB reaches the task on its ENI), or BIND: any
  gunicorn bind address, e.g. `fd://3` for a socket the local stack opened;
- WEB_CONCURRENCY worker processes, GUNICORN_THREADS threads each (gthread: the handlers wait on
  DynamoDB and the bank, so threads, not processes, carry the concurrency);
- GRACEFUL_TIMEOUT: what a SIGTERM (ECS stopping the task) leaves in-flight requests, within
  ECS's 30 s stopTimeout;
- ACCESS_LOG=off drops the access log; LOG_LEVEL (the handlers' variable) sets gunicorn's level;
- LOCAL_CONTROL=1 (the local stack only): one worker, so the simulated outage, which lives in the
  worker's memory, is the same for every request; it loads the app itself (no preload), so the
  local extras' resolver thread (local_gateway.container_local) runs in the process that serves.

Nothing is written outside /tmp (the root filesystem is read-only): no pid file, no control
socket, worker heartbeat files in the temporary directory.
"""

from __future__ import annotations

from collections.abc import Mapping

from container import spec

DEFAULT_WORKERS = 2
DEFAULT_THREADS = 16
DEFAULT_GRACEFUL_TIMEOUT = 25
# Longer than the ALB's 60 s idle timeout: the load balancer, not the target, closes idle
# connections, so it never sends a request on a connection the task is closing (a 502).
KEEPALIVE_SECONDS = 75


def gunicorn_settings(env: Mapping[str, str]) -> dict[str, object]:
    local_control = env.get("LOCAL_CONTROL") == "1"
    return {
        "bind": [_bind(env)],
        "worker_class": "gthread",
        "workers": 1 if local_control else int(env.get("WEB_CONCURRENCY", DEFAULT_WORKERS)),
        "threads": int(env.get("GUNICORN_THREADS", DEFAULT_THREADS)),
        # The app (handlers, boto3) is imported once, before the workers fork: a broken task stops
        # at startup, and the workers share its memory. Locally the one worker loads it (its local
        # extras start a thread) and a failure to boot stops gunicorn as well.
        "preload_app": not local_control,
        "timeout": 30,
        "graceful_timeout": int(env.get("GRACEFUL_TIMEOUT", DEFAULT_GRACEFUL_TIMEOUT)),
        "keepalive": KEEPALIVE_SECONDS,
        "control_socket_disable": True,
        "pidfile": None,
        "worker_tmp_dir": None,  # the temporary directory (/tmp)
        "accesslog": None if env.get("ACCESS_LOG", "on") == "off" else "-",
        "errorlog": "-",
        "loglevel": env.get("LOG_LEVEL", "INFO").lower(),
        "logger_class": "container.gunicorn_logging.JsonLogger",
        "proc_name": "payment-gateway",
    }


def _bind(env: Mapping[str, str]) -> str:
    if env.get("BIND"):
        return env["BIND"]
    host = env.get("HOST", "0.0.0.0")  # noqa: S104 - in the task's network namespace, behind its security group
    return f"{host}:{int(env.get('PORT', spec.PORT))}"
