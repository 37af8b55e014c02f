"""format_timestamp writes with isoformat for speed: the text must be the strftime text it replaced."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

from handlers.wire.converter import format_timestamp


def _strftime_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def test_the_text_is_utc_to_the_millisecond_cut_not_rounded() -> None:
    moment = datetime(2026, 12, 7, 18, 40, 18, 974999, tzinfo=timezone(timedelta(hours=1)))
    assert format_timestamp(moment) == "2026-12-07T17:40:18.974Z"
    assert format_timestamp(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05.000Z"


def test_any_moment_from_year_1000_is_written_as_strftime_wrote_it() -> None:
    rng = random.Random(19)
    for _ in range(5000):
        offset = timezone(timedelta(minutes=rng.randint(-23 * 60, 23 * 60)))
        moment = datetime(1001, 1, 2, tzinfo=UTC) + timedelta(microseconds=rng.randint(0, 283_000_000_000_000_000))
        moment = moment.astimezone(offset)
        assert format_timestamp(moment) == _strftime_text(moment), moment
