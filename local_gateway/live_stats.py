"""A region child's own numbers for the live view: the last minute of requests and EMF metrics.

The handlers write their metrics as EMF lines on stdout (handlers/entrypoints/observability.py emit_metric),
as in Lambda. `tee_stdout` puts a `MetricsTee` in front of sys.stdout: every line still goes where
it went, and the EMF ones also feed a `RollingStats`. `RegionStatsApp` wraps the region's gateway
(either compute option's: local_gateway.gateway, or the container's in container_local.py): it
times each request, reads the money its answers moved (local_gateway.live_money), and answers
`GET /_local/stats` (outage or not) with `RollingStats.snapshot()` and the last payments answered.

Cost per record is O(1): a prefix check, for EMF lines one json.loads, then a few dict updates under
a lock in a ring of one-second slots. Latencies go into log-spaced histogram bins (~4% wide), so
memory is bounded by the window (60 slots) times the bins in use, whatever the traffic.
"""

from __future__ import annotations

import json
import math
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO, cast

from local_gateway.live_money import MoneySeen
from proxy_gateway.messages import HttpRequest, HttpResponse, json_response

STATS_PATH = "/_local/stats"
WINDOW_SECONDS = 60
BINS_PER_DOUBLING = 16  # bin width 2**(1/16): a percentile is within ~2% of the true value
# The resolver's levels: each report replaces the last one, they do not add up.
GAUGES = frozenset({"PaymentsPending", "OperationsPending", "OldestPendingAge", "HeartbeatAge", "OldestUndeliveredAge"})
_EMF_PREFIX = '{"_aws"'  # emit_metric's json.dumps keeps the "_aws" key first

Clock = Callable[[], float]


def _bin(value_ms: float) -> int:
    return math.floor(math.log2(max(value_ms, 0.001)) * BINS_PER_DOUBLING)


def _bin_value(index: int) -> float:
    """The geometric middle of a bin."""
    return float(2 ** ((index + 0.5) / BINS_PER_DOUBLING))


def percentiles(bins: Mapping[int, int], wanted: Iterable[float]) -> dict[str, float | None]:
    """{"p50": ms, ...} from one histogram; None when it is empty."""
    total = sum(bins.values())
    ordered = sorted(bins.items())
    found: dict[str, float | None] = {}
    for quantile in wanted:
        name = f"p{quantile * 100:g}"
        if not total:
            found[name] = None
            continue
        rank, seen = quantile * total, 0
        for index, count in ordered:
            seen += count
            if seen >= rank:
                found[name] = round(_bin_value(index), 3)
                break
    return found


def _p50_p99(bins: Mapping[int, int]) -> dict[str, float | None]:
    return percentiles(bins, (0.5, 0.99))


@dataclass
class _Slot:
    second: int = -1
    counts: dict[str, dict[str, float]] = field(default_factory=dict)
    latencies: dict[str, dict[int, int]] = field(default_factory=dict)

    def copy(self) -> _Slot:
        counts = {series: dict(values) for series, values in self.counts.items()}
        return _Slot(self.second, counts, {series: dict(bins) for series, bins in self.latencies.items()})

    def reset(self, second: int) -> None:
        self.second = second
        self.counts = {}
        self.latencies = {}


class RollingStats:
    """Counts by key and latency histograms over the last WINDOW_SECONDS, plus last-value gauges."""

    def __init__(self, clock: Clock = time.time, window: int = WINDOW_SECONDS) -> None:
        self._clock = clock  # wall time: the regions' and the global endpoint's seconds line up
        self._window = window
        self._slots = [_Slot() for _ in range(window)]
        self._gauges: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def count(self, series: str, key: str, amount: float = 1) -> None:
        with self._lock:
            counts = self._slot().counts.setdefault(series, {})
            counts[key] = counts.get(key, 0) + amount

    def observe(self, series: str, value_ms: float) -> None:
        index = _bin(value_ms)
        with self._lock:
            bins = self._slot().latencies.setdefault(series, {})
            bins[index] = bins.get(index, 0) + 1

    def gauge(self, name: str, value: float) -> None:
        with self._lock:
            self._gauges[name] = (value, self._clock())

    def _slot(self) -> _Slot:
        second = int(self._clock())
        slot = self._slots[second % self._window]
        if slot.second != second:
            slot.reset(second)
        return slot

    def snapshot(self) -> dict[str, Any]:
        """The window as JSON: totals, percentiles, gauges, and per-second series for charts."""
        now = self._clock()
        first = int(now) - self._window + 1
        with self._lock:  # copies only: the percentiles are worked out after the lock is released
            live = {slot.second: slot.copy() for slot in self._slots if slot.second >= first}
            gauges = dict(self._gauges)
        slots = [live.get(second) for second in range(first, first + self._window)]
        counts = _merge_counts(slot.counts for slot in slots if slot)
        merged = _merge_bins(slot.latencies for slot in slots if slot)
        return {
            "window_seconds": self._window,
            "counts": counts,
            "latency_ms": {series: {"count": sum(bins.values()), **_p50_p99(bins)} for series, bins in merged.items()},
            "gauges": {name: {"value": v, "age_seconds": round(now - when, 1)} for name, (v, when) in gauges.items()},
            "per_second": {"start": first, **_per_second(slots, counts, merged)},
        }


def _merge_counts(parts: Iterable[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    merged: dict[str, dict[str, float]] = {}
    for part in parts:
        for series, counts in part.items():
            into = merged.setdefault(series, {})
            for key, amount in counts.items():
                into[key] = into.get(key, 0) + amount
    return merged


def _merge_bins(parts: Iterable[dict[str, dict[int, int]]]) -> dict[str, dict[int, int]]:
    merged: dict[str, dict[int, int]] = {}
    for part in parts:
        for series, bins in part.items():
            into = merged.setdefault(series, {})
            for index, count in bins.items():
                into[index] = into.get(index, 0) + count
    return merged


def _per_second(
    slots: list[_Slot | None], counts: Mapping[str, object], latencies: Mapping[str, object]
) -> dict[str, dict[str, list[float | None]]]:
    """Per series, one value per second of the window: the count, and p50/p99 (None: no sample)."""
    totals: dict[str, list[float | None]] = {
        series: [sum(slot.counts.get(series, {}).values()) if slot else 0 for slot in slots] for series in counts
    }
    p50: dict[str, list[float | None]] = {series: [] for series in latencies}
    p99: dict[str, list[float | None]] = {series: [] for series in latencies}
    for series in latencies:
        for slot in slots:
            found = _p50_p99(slot.latencies.get(series, {}) if slot else {})
            p50[series].append(found["p50"])
            p99[series].append(found["p99"])
    return {"counts": totals, "p50": p50, "p99": p99}


def record_emf(stats: RollingStats, line: str) -> None:
    """Feed one EMF record (as emit_metric writes it) into stats; anything else is ignored."""
    try:
        record = json.loads(line)
        directive = record["_aws"]["CloudWatchMetrics"][0]
        dimensions = [str(record[name]) for name in directive["Dimensions"][0]]
        metrics = [(metric["Name"], metric.get("Unit", "")) for metric in directive["Metrics"]]
    except (ValueError, KeyError, IndexError, TypeError):
        return
    for name, unit in metrics:
        value = record.get(name)
        if isinstance(value, int | float):
            _record_metric(stats, name, unit, float(value), dimensions)


def _record_metric(stats: RollingStats, name: str, unit: str, value: float, dimensions: list[str]) -> None:
    key = "/".join(dimensions)
    if name in GAUGES:
        stats.gauge(f"{name}[{key}]" if key else name, value)
    elif unit == "Milliseconds":
        stats.observe(name, value)
    elif value:  # a resolver run reports its zero counts too
        stats.count(name, key or "total", int(value) if value.is_integer() else value)


class MetricsTee:
    """sys.stdout as it was, and a look at each EMF line on its way through."""

    def __init__(self, stream: TextIO, stats: RollingStats) -> None:
        self._stream = stream
        self._stats = stats

    def write(self, text: str) -> int:
        written = self._stream.write(text)
        if text.startswith(_EMF_PREFIX):  # emit_metric writes a whole record in one call
            record_emf(self._stats, text)
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def tee_stdout(stats: RollingStats) -> None:
    """From now on, the EMF lines written to sys.stdout also go to stats."""
    sys.stdout = cast(TextIO, MetricsTee(sys.stdout, stats))


class RegionApp(Protocol):
    """A region's request -> response function with its simulated outage switch."""

    @property
    def region(self) -> str: ...

    @property
    def outage(self) -> threading.Event: ...

    def __call__(self, request: HttpRequest) -> HttpResponse: ...


class RegionStatsApp:
    """The region's gateway, timed per request, plus `GET /_local/stats` (answered during an outage too)."""

    def __init__(self, gateway: RegionApp, stats: RollingStats, *, untimed_user_agents: Iterable[str] = ()) -> None:
        self.gateway = gateway
        self.stats = stats
        self.money = MoneySeen(stats)  # amounts captured and refunded, the last payments answered
        self._untimed = frozenset(untimed_user_agents)  # the health checks: not traffic

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == STATS_PATH and request.method == "GET":
            body = {
                "region": self.gateway.region,
                "outage": self.gateway.outage.is_set(),
                **self.stats.snapshot(),
                "payments": self.money.recent(),
            }
            return json_response(200, body, str(uuid.uuid4()))
        started = time.perf_counter()
        response = self.gateway(request)
        if request.path.startswith("/_local/") or request.header("User-Agent") in self._untimed:
            return response
        self.stats.observe("request", (time.perf_counter() - started) * 1000)
        self.stats.count("requests", str(response.status))
        self.money.observe(request, response)
        return response
