from pathlib import Path

import pytest

from bench import report


def test_a_new_section_is_appended_and_the_prose_kept() -> None:
    text = report.replace_section("# Performance\n\nHand-written method.\n", "cold-start", "figures v1")
    assert text.startswith("# Performance\n\nHand-written method.\n")
    assert report.section(text, "cold-start") == "figures v1"


def test_rewriting_a_section_replaces_only_that_section() -> None:
    text = report.replace_section("intro\n", "warm", "old warm")
    text = report.replace_section(text, "cold-start", "old cold")
    text += "\nclosing prose\n"
    text = report.replace_section(text, "warm", "new warm\nsecond line")
    assert report.section(text, "warm") == "new warm\nsecond line"
    assert report.section(text, "cold-start") == "old cold"
    assert text.count("<!-- bench:warm -->") == 1
    assert text.startswith("intro\n") and text.endswith("closing prose\n")


def test_section_bodies_are_inserted_literally() -> None:
    body = r"a backslash \1 and \g<0> stay as they are"
    assert report.section(report.replace_section("", "warm", body), "warm") == body


def test_section_names_are_checked() -> None:
    with pytest.raises(ValueError):
        report.replace_section("", "no spaces allowed", "x")


def test_write_sections_creates_then_updates_the_file(tmp_path: Path) -> None:
    path = tmp_path / "docs" / "performance.md"
    report.write_sections(path, {"cold-start": "one", "warm": "two"})
    report.write_sections(path, {"warm": "three"})
    text = path.read_text()
    assert text.startswith("# Performance\n")
    assert report.section(text, "cold-start") == "one"
    assert report.section(text, "warm") == "three"


def test_table_renders_markdown() -> None:
    assert report.table(("a", "b"), [(1, "x")]) == "| a | b |\n|---|---|\n| 1 | x |"


def test_stamp_names_the_machine_and_the_command() -> None:
    stamp = report.stamp("python -m bench --quick")
    assert "Python" in stamp and "CPUs" in stamp and "`python -m bench --quick`" in stamp
