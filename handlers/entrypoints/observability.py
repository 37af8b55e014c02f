"""Structured JSON logs and CloudWatch embedded-metric-format (EMF) metrics on stdout.

Written on the standard library instead of Powertools: Logger + Metrics cost ~130 ms of cold
start, more than the whole budget left after boto3 (see docs/performance.md).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any

from handlers.domain.cards import mask_pans

_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "log_context", default=MappingProxyType({})
)
# Fields of every line and metric record of this process: its region, so logs gathered from both
# regions (a central log account, the local stack's one file) still say which one wrote each line.
_process_fields: dict[str, str] = {}
_STANDARD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
_BEYOND_ASCII = re.compile(r"[^\x00-\x7e]")  # what ensure_ascii escapes that ensure_ascii=False leaves (DEL too)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_process_fields,
            **_context.get(),
        }
        entry.update((k, v) for k, v in record.__dict__.items() if k not in _STANDARD_ATTRIBUTES)
        if record.exc_info:
            entry["exception"] = "".join(traceback.format_exception(*record.exc_info))
        # Last line of defence: nothing that looks like a card number leaves the process. Masked
        # before non-ASCII is escaped: the escape of "é" (\u00e9) would run into digits that follow it.
        return _ascii_json(mask_pans(json.dumps(entry, default=str, ensure_ascii=False)))


JsonFormatter.converter = time.gmtime


def _ascii_json(text: str) -> str:
    """JSON text as json.dumps' default (ensure_ascii) writes it: lines stay ASCII, even lone surrogates."""
    return _BEYOND_ASCII.sub(lambda char: json.dumps(char.group())[1:-1], text)


def configure_logging(level: str = "INFO", region: str | None = None) -> None:
    """Replace whatever handler the runtime installed with one JSON line per record on stdout; with
    `region`, every line and metric record of the process names it."""
    _process_fields.clear()
    if region:
        _process_fields["region"] = region
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("botocore").setLevel(logging.WARNING)


@contextmanager
def log_context(**values: str) -> Iterator[None]:
    token = _context.set({**_context.get(), **values})
    try:
        yield
    finally:
        _context.reset(token)


def emit_metric(
    namespace: str,
    name: str,
    value: float,
    unit: str,
    dimensions: Mapping[str, str],
    *,
    dimension_sets: Sequence[Sequence[str]] | None = None,
) -> None:
    """One EMF record; CloudWatch turns it into a metric without an API call. `dimension_sets`
    (subsets of `dimensions`' keys) publishes the one value under each set, e.g. a total and a breakdown."""
    sets = [list(keys) for keys in dimension_sets] if dimension_sets is not None else [list(dimensions)]
    record = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {"Namespace": namespace, "Dimensions": sets, "Metrics": [{"Name": name, "Unit": unit}]}
            ],
        },
        name: value,
        **_process_fields,
        **dimensions,
        **_context.get(),
    }
    sys.stdout.write(json.dumps(record) + "\n")
