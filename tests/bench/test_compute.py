"""The compute comparison's accounting: whose CPU counts as the region's, per option."""

from __future__ import annotations

import pytest

from bench import __main__ as bench_main
from bench.compute import cpu_ms_per_request, region_cpu

USED = {
    "global endpoint": 4.0,
    "eu-west-1": 1.5,  # lambda: the whole region; container: the child that only runs the local resolver
    "eu-west-1 server 0": 0.25,  # container: gunicorn's master
    "eu-west-1 server 1": 2.0,  # and its worker
    "us-east-1": 0.5,
    "bank": 1.0,
}


def test_a_lambda_region_is_its_child_process() -> None:
    assert region_cpu("lambda", USED) == 1.5


def test_a_container_region_is_its_gunicorn_processes_only() -> None:
    assert region_cpu("container", USED) == 2.25
    assert cpu_ms_per_request("container", USED, 1000) == pytest.approx(2.25)
    assert cpu_ms_per_request("container", USED, 0) == 0.0


def test_compute_is_one_of_the_benchmarks() -> None:
    assert bench_main.parse_args(["--only", "compute"]).selected == ["compute"]
