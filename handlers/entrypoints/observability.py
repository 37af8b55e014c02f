"""Structured JSON logs and CloudWatch embedded-metric-format (EMF) metrics on stdout.

Written on the standard library instead of Powertools: Logger + Metrics cost ~130 ms of cold
start, more than the whole budget left after boto3 (see docs/performance.md).
"""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import math
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from handlers.domain.cards import mask_pans

_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "log_context", default=MappingProxyType({})
)
# Fields of every line and metric record of this process: its region, so logs gathered from both
# regions (a central log account, the local stack's one file) still say which one wrote each line.
_process_fields: dict[str, str] = {}
_LINE_JSON = json.JSONEncoder(default=str)  # built once: json.dumps builds one a call
_STANDARD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._second: tuple[int | None, str] = (None, "")  # the last second written and its text (one tuple: threads)

    def format(self, record: logging.LogRecord) -> str:
        # The time, level and logger are written by this process, not passed to it: they are not searched.
        entry: dict[object, object] = {
            "timestamp": self._timestamp(record),
            "level": record.levelname,
            "logger": record.name,
        }
        try:
            # Last line of defence: nothing that looks like a card number leaves the process.
            return _LINE_JSON.encode(entry | _masked_dict(_fields(record)))
        except Exception as error:  # any field's str() may raise anything
            # A record that cannot be written (a cycle, a key JSON refuses, arguments that do not fit the
            # message) is written without its fields: logging's own error report would print its
            # arguments to stderr, unmasked.
            unwritable = {
                "message": "log_record_unwritable",
                "error": type(error).__name__,
                "template": record.msg if isinstance(record.msg, str) else type(record.msg).__name__,
            }
            return _LINE_JSON.encode(entry | _masked_dict(unwritable))

    def _timestamp(self, record: logging.LogRecord) -> str:
        second = math.floor(record.created)
        written = self._second
        if written[0] != second:
            written = self._second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        return f"{written[1]}.{int(record.msecs):03d}Z"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {"message": record.getMessage(), **_process_fields, **_context.get()}
    fields.update((k, v) for k, v in record.__dict__.items() if k not in _STANDARD_ATTRIBUTES)
    if record.exc_info:
        fields["exception"] = "".join(traceback.format_exception(*record.exc_info))
    return fields


def _masked(value: object) -> object:
    """A record's fields with every card number masked, field by field and before JSON escapes them:
    escaped, a number written with tabs or line breaks ("4111\\t1111...") is no longer one number to
    the mask, and "é" written as \\u00e9 would run into the digits after it. What json.dumps would
    write as text (numbers, `default=str`'s objects) is masked as that text."""
    if isinstance(value, str):
        return mask_pans(value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        written = int.__repr__(value) if isinstance(value, int) else float.__repr__(value)
        masked = mask_pans(written)
        return value if masked == written else masked
    if isinstance(value, dict):
        return _masked_dict(value)
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    return mask_pans(str(value))


def _masked_dict(fields: dict[Any, Any]) -> dict[object, object]:
    return {_masked(key): _masked(value) for key, value in fields.items()}


def configure_logging(level: str = "INFO", region: str | None = None) -> None:
    """Replace whatever handler the runtime installed with one JSON line per record on stdout; with
    `region`, every line and metric record of the process names it."""
    _process_fields.clear()
    if region:
        _process_fields["region"] = region
    _skip_what_the_lines_do_not_write()
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("botocore").setLevel(logging.WARNING)


def _skip_what_the_lines_do_not_write() -> None:
    """The logging module's own optimisations (its HOWTO, "Optimization"): no caller lookup (a walk of the
    stack), thread, process or task names per record. A line writes none of them; ~12 us of a warm payment."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    if sys.version_info >= (3, 12):
        logging.logAsyncioTasks = False


def log_context(**values: str) -> LogContext:
    """Within it, every line and metric record of this task carries these fields too."""
    return LogContext(values)


class LogContext:
    """log_context's context manager; a class, not @contextmanager: two a request, ~1.5 us each less."""

    __slots__ = ("_token", "_values")

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = values
        self._token: contextvars.Token[Mapping[str, str]] | None = None

    def __enter__(self) -> None:
        if self._token is not None:  # as @contextmanager's generator: one use at a time
            raise RuntimeError("log_context is already entered")
        self._token = _context.set({**_context.get(), **self._values})

    def __exit__(self, *_exc: object) -> None:
        token, self._token = self._token, None
        if token is not None:
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
    sets = tuple(map(tuple, dimension_sets)) if dimension_sets is not None else (tuple(dimensions),)
    fields = {name: value, **_process_fields, **dimensions, **_context.get()}
    milliseconds = int(time.time() * 1000)
    if "_aws" in fields:  # a field named _aws replaces the directive, as in one dict: only its place is left
        sys.stdout.write(json.dumps({"_aws": None} | fields) + "\n")
        return
    # The text json.dumps writes for the whole record; the directive, the same on every call, encoded once.
    directive = _directive(namespace, name, unit, sets)
    sys.stdout.write(
        f'{{"_aws": {{"Timestamp": {milliseconds}, "CloudWatchMetrics": {directive}}}, {json.dumps(fields)[1:]}\n'
    )


@functools.lru_cache(maxsize=256)
def _directive(namespace: str, name: str, unit: str, sets: tuple[tuple[str, ...], ...]) -> str:
    """EMF's CloudWatchMetrics directive as JSON text. A record's names come from code: few of them."""
    metric = {
        "Namespace": namespace,
        "Dimensions": [list(keys) for keys in sets],
        "Metrics": [{"Name": name, "Unit": unit}],
    }
    return json.dumps([metric])
