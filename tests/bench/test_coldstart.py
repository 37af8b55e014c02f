import pytest

from bench import coldstart
from bench.child import MARKER


def test_the_child_result_is_the_marked_line_among_the_handler_logs() -> None:
    stdout = '{"level": "INFO", "message": "payment_processed"}\n' + MARKER + '{"mode": "post", "ms": 251.5}\n'
    assert coldstart.parse_child_output(stdout) == {"mode": "post", "ms": 251.5}
    assert coldstart.parse_child_output("no marker here\n") is None


def test_importtime_is_summed_per_top_level_package() -> None:
    stderr = "\n".join(
        [
            "import time: self [us] | cumulative | imported package",
            "import time:      1000 |       1000 |   botocore.compat",
            "import time:      2500 |       3500 | botocore",
            "import time:       500 |        500 |     handlers.domain.models",
            "some other line",
        ]
    )
    assert coldstart.aggregate_importtime(stderr) == [("botocore", 3.5), ("handlers", 0.5)]


def test_ratios_are_to_the_floor_median() -> None:
    result = coldstart.ColdStartResult(rounds=3, code_root="x")
    result.samples["floor"] = [100.0, 300.0, 200.0]
    result.samples["post"] = [260.0, 240.0, 250.0]
    assert result.median_ms("floor") == 200.0
    assert result.ratio("post") == 1.25


def test_children_never_inherit_real_credentials_or_python_settings() -> None:
    env = coldstart.child_environment(
        {"AWS_PROFILE": "prod", "AWS_SECRET_ACCESS_KEY": "real", "PYTHONPATH": "/x", "PATH": "/usr/bin"}
    )
    assert "AWS_PROFILE" not in env and "PYTHONPATH" not in env
    assert env["AWS_SECRET_ACCESS_KEY"] == "bench"
    assert env["PATH"] == "/usr/bin"
    assert coldstart.archive_environment({})["PYTHONDONTWRITEBYTECODE"] == "1"


def test_the_ratio_pairs_each_round_with_its_own_floor() -> None:
    # Round 2 ran while the machine was busy: everything took twice as long. Paired ratios see 1.2
    # in every round; a ratio of medians would not.
    result = coldstart.ColdStartResult(rounds=3, code_root="x")
    result.samples["floor"] = [100.0, 200.0, 110.0]
    result.samples["post"] = [120.0, 240.0, 132.0]
    assert result.ratio("post") == pytest.approx(1.2)
    assert result.ratio_spread("post") == pytest.approx((1.2, 1.2))
