"""How many Fargate tasks the design load needs: plain arithmetic, shared by the stack config's defaults
and the cost model (bench/cost/parameters.py). Imports nothing, so the cost model runs without Pulumi.

After a failover one region carries the whole design load, and scaling out takes minutes (a metric
period, the alarm, a task start), so the *minimum* fleet of each region is sized for all of it.
"""

from __future__ import annotations

import math

DESIGN_REQUESTS_PER_MINUTE = 10_000
DESIGN_REQUESTS_PER_SECOND = DESIGN_REQUESTS_PER_MINUTE / 60  # 167/s
# Measured: `python -m bench --only compute` (docs/performance.md) gave 4.8-5.5 ms of CPU per request for
# the gunicorn process serving the handlers over dynalite (x86 here; Graviton is assumed equal).
CONTAINER_CPU_MS_PER_REQUEST = 5.0
TASK_CPU_UNITS = 512  # 0.5 vCPU; Fargate's CPU units: 1024 = one vCPU
TASK_MEMORY_MB = 1024
TARGET_CPU_PERCENT = 50.0  # headroom for a burst while scaling out
MIN_TASKS = 2  # one per availability zone: an AZ can fail
# Scale out to three times the design load in one region before the maximum stops it.
MAX_LOAD_FACTOR = 3.0


def requests_per_task_per_second(
    cpu_units: int = TASK_CPU_UNITS,
    cpu_ms_per_request: float = CONTAINER_CPU_MS_PER_REQUEST,
    target_cpu_percent: float = TARGET_CPU_PERCENT,
) -> float:
    """What one task serves at the CPU target (the bank's wait holds a thread, not a CPU)."""
    return cpu_units / 1024 * target_cpu_percent / 100 * 1000 / cpu_ms_per_request


def tasks_for(requests_per_second: float, per_task: float | None = None) -> int:
    """Tasks to serve `requests_per_second` in one region at the CPU target, never fewer than MIN_TASKS."""
    capacity = requests_per_task_per_second() if per_task is None else per_task
    return max(MIN_TASKS, math.ceil(requests_per_second / capacity))


DEFAULT_MIN_TASKS = tasks_for(DESIGN_REQUESTS_PER_SECOND)
DEFAULT_MAX_TASKS = tasks_for(MAX_LOAD_FACTOR * DESIGN_REQUESTS_PER_SECOND)
# ALBRequestCountPerTarget is a per-minute sum per target: scale out before a task passes its CPU target.
DEFAULT_REQUESTS_PER_TARGET = math.floor(requests_per_task_per_second() * 60)
