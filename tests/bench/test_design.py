"""The design benchmark (issue 19): the mix, the A/B order, what reaches the stack, and its report."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from bench import __main__ as cli
from bench import loadgen, stack, suite


def fake_step(rate: float, latency: float) -> suite.Step:
    """Every request answered 200 in `latency` seconds."""
    result = loadgen.LoadResult(rate=rate, duration=1.0)
    result.outcomes = [loadgen.Outcome("get", 0.0, latency, 200) for _ in range(int(rate))]
    return suite.Step(result, {})


def test_the_design_mix_is_80_20_plus_5_percent_lists() -> None:
    kinds = loadgen.choose_kinds(20_000, loadgen.DESIGN_MIX, seed=3)
    posts, gets, lists = (kinds.count(kind) / len(kinds) for kind in ("post", "get", "list"))
    assert posts / gets == pytest.approx(4.0, rel=0.05)  # 80/20
    assert lists == pytest.approx(0.05 / 1.05, abs=0.01)  # plus 5%


def test_ab_rounds_alternate_which_variant_goes_first() -> None:
    assert suite.ab_order(1) == ["indexed", "moto"]
    assert suite.ab_order(3) == ["indexed", "moto", "moto", "indexed", "indexed", "moto"]


def test_design_is_a_benchmark_of_make_bench() -> None:
    assert "design" in cli.BENCHMARKS and "design" in cli.DURATIONS
    assert cli.parse_args(["--only", "design"]).selected == ["design"]
    assert cli.runners(suite.Plan("x"))["design"][0] == "load-design"


def test_each_run_starts_its_own_stack_with_the_variant_and_sends_the_design_mix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[str | None] = []
    sent: list[dict[str, Any]] = []

    @contextlib.contextmanager
    def running(merchants: Sequence[loadgen.Merchant], **options: Any) -> Iterator[Any]:
        started.append(options.get("embedded_dynamodb"))
        assert len(merchants) == suite.DESIGN_MERCHANTS
        yield stack.Stack(process=None, base_url="http://127.0.0.1:9", dynamodb_url="")  # type: ignore[arg-type]

    def measured(base_url: str, rate: float, seconds: float, *args: Any, **options: Any) -> suite.Step:
        sent.append({"rate": rate, "seconds": seconds, **options})
        return fake_step(rate, 0.2 if rate < 100 else 3.0)

    monkeypatch.setattr(stack, "running", running)
    monkeypatch.setattr(stack.Stack, "processes", lambda self: {})
    monkeypatch.setattr(suite, "measured_run", measured)
    plan = suite.Plan("python -m bench --only design", design_rounds=1, load_seconds=2.0)

    text = suite.design_section(plan, lambda _: None)

    assert started == ["indexed", "moto", "indexed", "moto"]  # two A/B runs, then a peak search each
    assert all(call["mix"] == loadgen.DESIGN_MIX for call in sent)
    assert [call["check_read_back"] for call in sent[:2]] == [True, True]
    assert sent[0]["rate"] == plan.load_rate and sent[0]["seconds"] == 2.0
    assert "**98 req/s**" in text  # 50, 62, 78, 98 pass; 122 fails, then 110 too
    assert "moto's p99 is **1.0x** indexed's" in text  # the fake answers both alike


def test_the_ratio_line_compares_medians_of_each_variant() -> None:
    runs = [("indexed", fake_step(100, 0.2)), *(("moto", fake_step(100, p99)) for p99 in (0.8, 1.0, 1.2))]
    line = suite.ab_ratio_line(runs)
    assert "moto's p99 is **5.0x** indexed's" in line
    assert suite.ab_ratio_line(runs[:1]) == "_No ratio: a variant has no run._"


def test_with_a_baseline_the_design_load_runs_that_commit_s_tree_against_this_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    started: list[tuple[str | None, Path | None, bool]] = []

    @contextlib.contextmanager
    def running(merchants: Sequence[loadgen.Merchant], **options: Any) -> Iterator[Any]:
        started.append((options.get("embedded_dynamodb"), options.get("root"), options["as_make_run"]))
        yield stack.Stack(process=None, base_url="http://127.0.0.1:9", dynamodb_url="")  # type: ignore[arg-type]

    @contextlib.contextmanager
    def baseline_tree(ref: str) -> Iterator[Path]:
        assert ref == "abc123"
        yield tmp_path

    monkeypatch.setattr(stack, "running", running)
    monkeypatch.setattr(suite, "baseline_tree", baseline_tree)
    monkeypatch.setattr(stack.Stack, "processes", lambda self: {})
    monkeypatch.setattr(suite, "measured_run", lambda *args, **options: fake_step(args[1], 0.2))
    plan = suite.Plan("python -m bench --only design --baseline abc123", design_rounds=2, design_baseline="abc123")

    text = suite.design_section(plan, lambda _: None)

    this, before = ("indexed", None, True), (None, tmp_path, True)
    assert started == [this, before, before, this, this, before]  # A/B, B/A, then a peak search each
    assert "before (abc123)'s p99 is **1.0x** indexed's" in text
    assert "**Highest rate with p99 < 1 s, no errors, ≥ 95% achieved, before (abc123)**" in text


def test_the_baseline_tree_holds_the_commit_s_files() -> None:
    if not (suite.REPO / ".git").exists():
        pytest.skip("not a git checkout")
    with suite.baseline_tree("HEAD") as root:
        assert (root / "local_gateway" / "__main__.py").is_file()
        assert (root / "Makefile").read_bytes() == (suite.REPO / "Makefile").read_bytes()


def test_cpu_per_request_counts_the_stack_s_processes_only() -> None:
    step = fake_step(100, 0.1)
    step.cpu_seconds = {"dynamodb": 0.2, "eu-west-1": 0.3, "load generator": 5.0, "other processes": 9.0}
    step.cpu = {"other processes": 0.9}
    assert suite._cpu_per_request_line(step) == (
        "CPU per request (ms, the stack's processes): 5.0 (eu-west-1 3.00, dynamodb 2.00); "
        "other processes on the machine meanwhile 0.90 of a core."
    )


def test_baseline_is_an_option_of_make_bench() -> None:
    assert cli.parse_args(["--only", "design", "--baseline", "abc"]).baseline == "abc"
