"""Turn a py-spy `--format raw` profile (collapsed stacks: `frame;frame;... count`) into tables."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

_LINE_NUMBER = re.compile(r":\d+\)$")


@dataclass(frozen=True)
class Row:
    frame: str
    samples: int
    share: float


def _frame(raw: str) -> str:
    """`Class.method (path/to/file.py:123)` -> `Class.method (path/to/file.py)`."""
    return _LINE_NUMBER.sub(")", raw.strip())


def parse_collapsed(text: str) -> list[tuple[list[str], int]]:
    stacks = []
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append(([_frame(f) for f in stack.split(";")], int(count)))
    return stacks


def inclusive(text: str, top: int = 15, *, contains: str = "") -> list[Row]:
    """Frames by the share of samples in which they are on the stack (each counted once per stack)."""
    stacks = parse_collapsed(text)
    total = sum(count for _, count in stacks) or 1
    counts: Counter[str] = Counter()
    for frames, count in stacks:
        for frame in set(frames):
            if contains in frame:
                counts[frame] += count
    return [Row(frame, samples, samples / total) for frame, samples in counts.most_common(top)]


def self_time(text: str, top: int = 15) -> list[Row]:
    """Frames by the share of samples in which they are the innermost frame."""
    stacks = parse_collapsed(text)
    total = sum(count for _, count in stacks) or 1
    counts: Counter[str] = Counter()
    for frames, count in stacks:
        counts[frames[-1]] += count
    return [Row(frame, samples, samples / total) for frame, samples in counts.most_common(top)]
