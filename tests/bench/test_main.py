import pytest

from bench import __main__ as cli
from bench import suite


def test_only_selects_benchmarks_and_rejects_unknown_names() -> None:
    assert cli.parse_args(["--only", "cold,warm"]).selected == ["cold", "warm"]
    assert cli.parse_args([]).selected == list(cli.BENCHMARKS)
    with pytest.raises(SystemExit):
        cli.parse_args(["--only", "cold,typo"])


def test_quick_plans_are_shorter_in_every_dimension() -> None:
    full, quick = suite.Plan("x"), suite.Plan.quick("x")
    assert quick.cold_rounds < full.cold_rounds
    assert quick.warm_iterations < full.warm_iterations
    assert quick.load_seconds < full.load_seconds
    assert quick.step_seconds < full.step_seconds
    assert quick.load_rate == full.load_rate == 167  # the target rate itself is never reduced
