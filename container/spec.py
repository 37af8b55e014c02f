"""What the image runs, read from one place by the Dockerfile test, the Pulumi program and the local
stack's `--compute container` mode, so the three cannot drift. Imports nothing."""

from __future__ import annotations

# The container listens here; the ALB's target group uses the same port.
PORT = 8080
HEALTH_PATH = "/health"
# The load balancer's target health check: "this process answers", with no I/O. The deep HEALTH_PATH
# (a strongly consistent DynamoDB read, 0.5 s deadline) stays Route 53's regional check: as a target
# check, 30 s of DynamoDB or KMS slowness would mark every task unhealthy and ECS would replace them
# all at once, while a region whose table is unwell is Route 53's to drop.
LIVENESS_PATH = "/health/live"
# The image's entry point: the server and its settings, then the application it serves. Per region,
# `python -m local_gateway --compute container` runs the same SERVER (with the bind address
# substituted) serving the image's application wrapped in the local stack's extras.
SERVER: tuple[str, ...] = ("gunicorn", "--config", "container/gunicorn_conf.py")
APP = "container.app:application"
COMMAND: tuple[str, ...] = (*SERVER, APP)
DOCKERFILE = "container/Dockerfile"
# The task's only writable paths (gunicorn's worker heartbeat files, Python's tempfile): task-local
# bind mounts on a read-only root. The Dockerfile declares each as a world-writable (1777) VOLUME,
# so that ECS copies that mode into the mount; otherwise ECS creates it root-owned 0755 and uid 10001
# cannot write there (ECS developer guide, "Use bind mounts with Amazon ECS").
SCRATCH_PATHS: tuple[str, ...] = ("/tmp",)  # noqa: S108 (a task-local volume, not a shared /tmp)
