import re
from pathlib import Path

import pytest

from bench import __main__ as cli
from bench import report, suite


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


def _fake_runners(plan: suite.Plan) -> dict[str, cli.Runner]:
    return {name: (section, lambda: f"figures of {plan.command}") for name, section in _SECTIONS.items()}


_SECTIONS = {"cold": "cold-start", "warm": "warm", "baseline": "load-baseline", "load": "load-moto"}
_SECTIONS["dynalite"] = "load-dynalite"


@pytest.fixture
def pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A copy of docs/performance.md and the untracked results page, and benchmarks that take no time."""
    docs, results = tmp_path / "docs" / "performance.md", tmp_path / "results" / "performance.md"
    docs.parent.mkdir()
    docs.write_text(cli.DOCS_OUTPUT.read_text())
    monkeypatch.setattr(cli, "DOCS_OUTPUT", docs)
    monkeypatch.setattr(cli, "RESULTS_OUTPUT", results)
    monkeypatch.setattr(cli, "runners", _fake_runners)
    return docs, results


def test_by_default_the_figures_are_printed_and_kept_out_of_the_tracked_page(
    pages: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    docs, results = pages
    before = docs.read_bytes()

    assert cli.main(["--only", "cold"]) == 0

    assert docs.read_bytes() == before
    assert report.section(results.read_text(), "cold-start") == "figures of python -m bench --only cold"
    assert "figures of python -m bench --only cold" in capsys.readouterr().out


def test_write_rewrites_only_the_benchmarks_sections_of_the_page(pages: tuple[Path, Path]) -> None:
    docs, results = pages
    before = docs.read_text()

    assert cli.main(["--only", "warm", "--write"]) == 0

    after = docs.read_text()
    assert report.section(after, "warm") == "figures of python -m bench --only warm --write"
    assert report.section(after, "cold-start") == report.section(before, "cold-start")
    assert after.split("<!-- bench:")[0] == before.split("<!-- bench:")[0]  # the hand-written prose
    assert not results.exists()


def test_the_default_target_is_untracked_and_write_targets_the_docs() -> None:
    assert cli.parse_args([]).target == cli.RESULTS_OUTPUT == cli.REPO / "bench" / "results" / "performance.md"
    assert "bench/results/" in (cli.REPO / ".gitignore").read_text().splitlines()
    assert cli.parse_args(["--write"]).target == cli.DOCS_OUTPUT == cli.REPO / "docs" / "performance.md"
    assert cli.parse_args(["--output", "x.md"]).target == Path("x.md")


def test_help_gives_each_benchmarks_rough_duration(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.parse_args(["--help"])
    lines = capsys.readouterr().out.splitlines()

    for name in (*cli.BENCHMARKS, "all"):
        row = next(line for line in lines if line.strip().startswith(name + " "))
        assert re.search(r"\d+(\.\d+)? min.*\d+(\.\d+)? (min|s)$", row), row
