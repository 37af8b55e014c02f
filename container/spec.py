"""What the image runs, read from one place by the Dockerfile test, the Pulumi program and the local
stack's `--compute container` mode, so the three cannot drift. Imports nothing."""

from __future__ import annotations

# The container listens here; the ALB's target group and health check use the same values.
PORT = 8080
HEALTH_PATH = "/health"
# The image's entry point, and what `python -m local_gateway --compute container` runs per region
# (with the port and bind address substituted).
COMMAND: tuple[str, ...] = ("gunicorn", "--config", "container/gunicorn_conf.py", "container.app:application")
DOCKERFILE = "container/Dockerfile"
