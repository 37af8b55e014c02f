"""Each benchmark's children and calls run and answer as they must (one untimed round, no timing asserted):
the warm and cold benchmarks once ran against a configuration the handlers had stopped accepting."""

from __future__ import annotations

import os

import pytest

from bench import coldstart, warm
from bench.child import MODES
from bench.coldstart import REPO


@pytest.mark.parametrize("mode", MODES)
def test_each_cold_start_child_answers_as_its_route_must(mode: str) -> None:
    answer, _ = coldstart.run_child(mode, REPO, coldstart.child_environment(dict(os.environ)))
    expected = {"floor": 0, "post": 201, "authorizer": 200}.get(mode, 200)
    assert answer["status"] == expected


@pytest.mark.parametrize("phase", ["fakes", "boto3"])
def test_one_warm_round_serves_every_route(phase: str) -> None:
    result = warm.measure(phase, iterations=1, warmup=0)
    assert set(warm.ROUTES) <= set(result.cpu_us)
    if phase == "boto3":  # a keyed payment: its claim, its write-ahead record, its final record
        assert result.storage_calls["post"] == [3]
