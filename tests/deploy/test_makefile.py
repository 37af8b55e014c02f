"""The Makefile's targets as the deploy guide relies on them."""

from __future__ import annotations

import re
from pathlib import Path

MAKEFILE = Path(__file__).parents[2] / "Makefile"


def prerequisites() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in MAKEFILE.read_text().splitlines():
        rule = re.match(r"^([a-z]+):(?!=)(.*)$", line)
        if rule:
            found[rule[1]] = rule[2].split()
    return found


def test_only_the_test_target_installs_the_browser() -> None:
    """`make install` is step 1 of the deploy guide: a deploying machine gets no apt-get of Chromium."""
    rules = prerequisites()
    assert "$(CHROMIUM)" not in rules["install"] and "$(STAMP)" in rules["install"]
    assert "$(CHROMIUM)" in rules["unit"] and "unit" in rules["test"]
    assert "$(CHROMIUM)" not in rules["deploy"] + rules["run"] + rules["smoke"]
