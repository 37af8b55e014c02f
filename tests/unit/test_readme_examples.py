"""The README's list example stays useful: its dates are computed when it runs, never a fixed month that
empties as time passes (it filtered November 2026 while the local stack's payments were made later)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from handlers.wire.cursors import Cursors
from handlers.wire.validation import parse_list_query

README = Path(__file__).resolve().parents[2] / "README.md"

CURSORS = Cursors(b"cursor-key-of-the-unit-tests", "mer_a", "payments")


def _list_calls() -> list[str]:
    return re.findall(r'curl -s "(http://127\.0\.0\.1:8080/v1/payments\?[^"]+)"', README.read_text())


def test_the_list_examples_filter_by_dates_computed_when_they_run() -> None:
    calls = [url for url in _list_calls() if "created_" in url]
    assert calls, "the README shows a list filtered by date"
    for url in calls:
        assert not re.search(r"created_(from|to)=\d", url), f"a fixed date goes stale: {url}"


def test_the_computed_dates_are_what_the_api_accepts() -> None:
    for url in _list_calls():
        expanded = re.sub(
            r"\$\((date [^)]*)\)",
            lambda command: subprocess.run(
                command.group(1).split(), capture_output=True, text=True, check=True
            ).stdout.strip(),
            url,
        )
        query = {name: values[0] for name, values in parse_qs(urlsplit(expanded).query).items()}
        parse_list_query(query, CURSORS)  # raises InvalidRequest on a date the API refuses
