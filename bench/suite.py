"""Each benchmark end to end: run it, return the markdown for its section of docs/performance.md."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import coldstart, compute, emulators, loadgen, process_cold, profiles, report, stack, warm
from bench.stats import median, ratio

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"  # raw results, not committed (.gitignore)
Log = Callable[[str], None]
TARGET_RATE = 10_000 / 60  # 10,000 requests per minute
P99_LIMIT_SECONDS = 1.0
MERCHANTS = 10
WRK_CONNECTIONS = 32
READ_BACK_PAUSE_SECONDS = 5.0


@dataclass(frozen=True)
class Plan:
    command: str
    cold_rounds: int = 15
    warm_iterations: int = 5000
    warm_warmup: int = 500
    load_rate: float = round(TARGET_RATE)
    load_seconds: float = 60.0
    step_seconds: float = 20.0
    profile_seconds: float = 12.0
    wrk_seconds: int = 15
    # Client connections. The local stack runs each region's in-flight requests as threads of one
    # Python process; with hundreds in flight they queue for its GIL long enough to trip the
    # handlers' 1 s DynamoDB timeout. On AWS each concurrent execution is its own process, so a
    # bounded client pool (requests wait in the client, still timed from their scheduled send)
    # is the closer stand-in; the unbounded case is measured too, as a contrast.
    connections: int = 32
    contrast_connections: int = 256
    design_rounds: int = 2  # A/B rounds at the design rate, each variant on a fresh stack per round
    design_baseline: str | None = None  # a commit whose stack the design benchmark compares with this one

    @classmethod
    def quick(cls, command: str, **options: Any) -> Plan:
        return cls(
            command,
            cold_rounds=5,
            warm_iterations=1000,
            warm_warmup=100,
            load_seconds=15.0,
            step_seconds=6.0,
            profile_seconds=6.0,
            wrk_seconds=5,
            design_rounds=1,
            **options,
        )


def _check(passed: bool) -> str:
    return "met" if passed else "**missed**"


# --- cold start ----------------------------------------------------------------------------------------


def cold(plan: Plan, log: Log) -> str:
    env = coldstart.child_environment(coldstart.environ())
    log("cold start: source tree")
    source = coldstart.measure(plan.cold_rounds, coldstart.REPO, env, log)
    imports = coldstart.import_profile(coldstart.REPO, env)
    with tempfile.TemporaryDirectory(prefix="bench-archive-") as workdir:
        log("cold start: the Lambda archive, unpacked, no .pyc")
        archive = coldstart.build_archive(Path(workdir))
        archive_env = coldstart.archive_environment(coldstart.environ())
        deployed = coldstart.measure(plan.cold_rounds, archive.unpacked, archive_env, log)
        deployed_imports = coldstart.import_profile(archive.unpacked, archive_env)
        log("cold start: the Lambda archive with .pyc compiled at build time")
        compiled_root = coldstart.precompiled_copy(archive.unpacked, Path(workdir) / "precompiled")
        compiled = coldstart.measure(plan.cold_rounds, compiled_root, archive_env, log)
    labels = {
        "floor": 'floor: `import boto3` + `boto3.client("dynamodb")`',
        "post": "`handlers.entrypoints.api.create_payment`: first `POST /v1/payments`",
        "get": "`handlers.entrypoints.api.get_payment`: first `GET /v1/payments/{id}`",
        "list": "`handlers.entrypoints.api.list_payments`: first `GET /v1/payments`",
        "authorizer": "`handlers.entrypoints.authorizer.handler`: first authorization",
    }
    rows = []
    roots = (
        ("source tree (.pyc cached)", source),
        ("Lambda archive as deployed (no .pyc)", deployed),
        ("Lambda archive + .pyc compiled at build (a deploy from the runtime's Python)", compiled),
    )
    for root, result in roots:
        for mode in ("floor", *coldstart.HANDLER_MODES):
            value = result.ratio(mode)
            verdict = (
                "" if mode == "floor" else f"≤ {coldstart.TARGET_RATIO}x: {_check(value <= coldstart.TARGET_RATIO)}"
            )
            spread = f"{min(result.samples[mode]):.0f} to {max(result.samples[mode]):.0f}"
            low, high = result.ratio_spread(mode)
            shown = "1.00x" if mode == "floor" else f"{value:.2f}x ({low:.2f} to {high:.2f})"
            title = root if mode == "floor" else ""
            rows.append((title, labels[mode], f"{result.median_ms(mode):.0f} ms", spread, shown, verdict))
    import_rows = [(name, f"{own:.1f} ms", f"{dict(deployed_imports).get(name, 0.0):.1f} ms") for name, own in imports]
    return "\n\n".join(
        [
            report.stamp(plan.command),
            f"{plan.cold_rounds} rounds; each round starts one fresh interpreter per row in a rotating order, "
            "timed from its first line to the first answer. Median and range per row; the ratio is the median "
            "of the per-round ratios to the floor of the same round and code root (interquartile range in "
            "brackets), which cancels most of the drift on a shared machine.",
            report.table(("code root", "child process", "median", "range (ms)", "vs floor (IQR)", "target"), rows),
            f"Deployed archive (`components.packaging.build_lambda_archive`): {archive.stored_bytes / 1024:.0f} KiB "
            f"as built (entries stored, not deflated), {archive.deflated_bytes / 1024:.0f} KiB if deflated, "
            f"{archive.entries} entries. boto3/botocore are not in it (the Lambda runtime provides them).",
            "Where the POST child's import time goes (`-X importtime`, self time summed per top-level package, "
            "one run each):",
            report.table(("package", "source tree", "archive, no .pyc"), import_rows),
        ]
    )


def process_cold_section(plan: Plan, log: Log) -> str:
    """Cold start as a whole process (bench.process_cold), from the Lambda archive with its bytecode."""
    with tempfile.TemporaryDirectory(prefix="bench-process-") as workdir:
        archive = coldstart.build_archive(Path(workdir))
        root = coldstart.precompiled_copy(archive.unpacked, Path(workdir) / "precompiled")
        log("whole-process cold start: the Lambda archive with .pyc, real adapters, instant fake upstreams")
        result = process_cold.measure(plan.cold_rounds, root, coldstart.environ(), log)
    rows = []
    for measure, figures in (("wall", result.wall), ("CPU", result.cpu)):
        value, (low, high) = figures.ratio("post"), figures.ratio_spread("post")
        for mode, label in (
            ("floor", 'floor: `import boto3`, `boto3.client("dynamodb")`, one `PutItem`'),
            ("post", "`CREATE_PAYMENT.handler` (route table): first keyed `POST /v1/payments`"),
        ):
            rows.append(
                (
                    measure if mode == "floor" else "",
                    label,
                    f"{figures.median_ms(mode):.0f} ms",
                    f"{min(figures.samples[mode]):.0f} to {max(figures.samples[mode]):.0f}",
                    "1.00x" if mode == "floor" else f"{value:.2f}x ({low:.2f} to {high:.2f})",
                    ""
                    if mode == "floor"
                    else f"≤ {process_cold.TARGET_RATIO}x: {_check(value <= process_cold.TARGET_RATIO)}",
                )
            )
    return "\n\n".join(
        [
            report.stamp(plan.command),
            f"{plan.cold_rounds} rounds; each starts the floor and the payments function as fresh interpreters, "
            "in alternating order, from the Lambda archive with bytecode compiled at build. Both use their real "
            "clients against one fake on 127.0.0.1 that answers DynamoDB and the bank at once, so the first "
            "request's own work (the client's first call: service model, endpoint rules, signing; the bank's "
            "first connection) is in the figure. The ratio is the median of the per-round ratios (IQR). Wall: "
            "from the child's first line to its answer (the target's measure); CPU: the child's own user + "
            "system time, start to exit, which a loaded machine disturbs much less.",
            report.table(("time", "child process", "median", "range (ms)", "vs floor (IQR)", "target"), rows),
        ]
    )


# --- warm per-request CPU ------------------------------------------------------------------------------


def warm_section(plan: Plan, log: Log) -> str:
    parts = [report.stamp(plan.command)]
    measured: dict[str, dict[str, dict[str, float]]] = {}
    for phase, title in (
        ("fakes", "DynamoDB and bank as in-process fakes (the target: ≤ 1 ms median per payment)"),
        ("boto3", "real DynamoRepository + botocore, stopped at the socket (canned DynamoDB answers)"),
    ):
        log(f"warm: {phase}")
        result = warm.measure(phase, plan.warm_iterations, plan.warm_warmup)
        measured[phase] = {
            name: {
                "cpu_ms_median": result.summary(name).p50 / 1000,
                "log_bytes_median": _median_of(result.log_bytes[name]),
            }
            for name in warm.ROUTES
        }
        parts.append(f"**{title}**: own CPU (thread time) per call, {plan.warm_iterations} calls each, interleaved:")
        parts.append(_warm_table(result, phase))
        if phase == "boto3":
            parts.append(_lean_client_table(result))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "warm.json").write_text(json.dumps(measured, indent=2) + "\n")
    parts.append(
        "Log bytes: what the call wrote to stdout (JSON log lines and EMF metrics: CloudWatch Logs ingests "
        "them; Lambda's own START/END/REPORT lines come on top). Storage calls: DynamoDB requests the call "
        "made. The medians are also written to `bench/results/warm.json`, which "
        "`python -m bench.cost --measured` reads."
    )
    return "\n\n".join(parts)


def _warm_table(result: warm.WarmResult, phase: str) -> str:
    json_median = result.summary("json").p50
    rows = []
    for name in (*warm.BASELINES, *warm.ROUTES):
        summary = result.summary(name)
        target = ""
        if name in ("post", "post_no_key") and phase == "fakes":
            target = f"≤ 1 ms: {_check(summary.p50 <= 1000)}"
        rows.append(
            (
                _WARM_LABELS[name],
                f"{summary.p50 / 1000:.3f} ms",
                f"{summary.p99 / 1000:.3f} ms",
                f"{ratio(summary.p50, json_median):.1f}x",
                _median_of(result.log_bytes[name]),
                _median_of(result.storage_calls[name]) if phase == "boto3" else "-",
                target,
            )
        )
    headers = ("call", "median CPU", "p99 CPU", "vs json baseline", "log bytes", "storage calls", "target")
    return report.table(headers, rows)


def _lean_client_table(result: warm.WarmResult) -> str:
    rows = []
    for name in warm.ROUTES:
        now, botocore = result.summary(name).p50, result.summary(name + warm.BOTOCORE).p50
        rows.append(
            (_WARM_LABELS[name], f"{now / 1000:.3f} ms", f"{botocore / 1000:.3f} ms", f"{now / botocore - 1:+.0%}")
        )
    return (
        "`handlers.adapters.dynamo.make_client` returns the lean client of `handlers/adapters/dynamo_http.py` "
        "(botocore's credentials, HTTP layer, retries and errors, without its per-call pipeline). Measured in "
        "the same run, interleaved, against a botocore client with the same `Config` on the same call sites:\n\n"
        + report.table(("call", "median CPU, lean client", "with a botocore client", "saved"), rows)
    )


def _median_of(values: Sequence[float] | Sequence[int]) -> int:
    return int(median([float(value) for value in values])) if values else 0


_WARM_LABELS = {
    "noop": "baseline: empty handler (timer cost)",
    "json": "baseline: `json.loads` request + `json.dumps` response",
    "post": "POST /v1/payments with Idempotency-Key",
    "post_no_key": "POST /v1/payments without key",
    "get": "GET /v1/payments/{id}",
    "list": "GET /v1/payments?limit=20 (20 items)",
    "authorizer": "authorizer (cache miss)",
}


# --- load against the local stack -----------------------------------------------------------------------


@dataclass
class Step:
    result: loadgen.LoadResult
    cpu: dict[str, float]
    read_back: loadgen.ReadBack | None = None
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # used by each process over the run

    def passed(self) -> bool:
        latency = self.result.latency()
        return (
            latency.p99 < P99_LIMIT_SECONDS
            and not self.result.errors
            and self.result.achieved_rate() >= 0.95 * self.result.rate
        )


def measured_run(
    base_url: str,
    rate: float,
    seconds: float,
    merchants: Sequence[loadgen.Merchant],
    processes: dict[str, int],
    *,
    connections: int,
    check_read_back: bool = False,
    mix: Sequence[tuple[str, float]] = loadgen.DEFAULT_MIX,
) -> Step:
    meter = stack.CpuMeter(processes)
    meter.start()
    result = asyncio.run(
        loadgen.run_load(base_url, rate=rate, duration=seconds, merchants=merchants, connections=connections, mix=mix)
    )
    meter.stop()
    step = Step(result, meter.share(), cpu_seconds=dict(meter.used))
    if check_read_back:
        time.sleep(READ_BACK_PAUSE_SECONDS)  # let an overloaded stack drain first
        step.read_back = asyncio.run(loadgen.read_back(base_url, result.created(), merchants))
    return step


def peak_rates(start: float = 50.0, factor: float = 1.25, limit: float = 1000.0) -> list[float]:
    rates = [start]
    while rates[-1] * factor <= limit:
        rates.append(round(rates[-1] * factor))
    return rates


def find_peak(
    run: Callable[[float], Step], rates: Sequence[float], log: Log
) -> tuple[float | None, list[tuple[float, Step]]]:
    """Step the rate up until a step fails, then try once halfway between the last pass and the failure."""
    steps: list[tuple[float, Step]] = []
    best: float | None = None
    for rate in rates:
        step = run(rate)
        steps.append((rate, step))
        log(f"  {rate:.0f} req/s: p99 {step.result.latency().p99:.3f} s, errors {len(step.result.errors)}")
        if not step.passed():
            if best is not None and rate - best > 10:
                middle = round((best + rate) / 2)
                time.sleep(3)  # let the failed step's backlog drain
                retry = run(middle)
                steps.append((middle, retry))
                log(f"  {middle:.0f} req/s: p99 {retry.result.latency().p99:.3f} s, errors {len(retry.result.errors)}")
                if retry.passed():
                    best = middle
            break
        best = rate
    return best, steps


def find_peaks(
    runs: dict[str, Callable[[float], Step]], rates: Sequence[float], log: Log
) -> dict[str, tuple[float | None, list[tuple[float, Step]]]]:
    """find_peak for several systems at once, alternating them at each rate (a busier moment of a
    shared machine then lands on all alike); each stops at its own first failure."""
    searches = {name: _peak_search(name, run, rates, log) for name, run in runs.items()}
    results: dict[str, tuple[float | None, list[tuple[float, Step]]]] = {}
    while searches:
        for name, search in list(searches.items()):
            try:
                next(search)
            except StopIteration as done:
                results[name] = done.value
                del searches[name]
    return {name: results[name] for name in runs}


Peak = tuple[float | None, list[tuple[float, Step]]]


def _peak_search(
    name: str, run: Callable[[float], Step], rates: Sequence[float], log: Log
) -> Generator[None, None, Peak]:
    """find_peak's rules, pausing after each step."""
    steps: list[tuple[float, Step]] = []

    def one(rate: float) -> Step:
        step = run(rate)
        steps.append((rate, step))
        log(f"  {name} {rate:.0f} req/s: p99 {step.result.latency().p99:.3f} s, errors {len(step.result.errors)}")
        return step

    best: float | None = None
    for rate in rates:
        step = one(rate)
        yield
        if not step.passed():
            if best is not None and rate - best > 10:
                if one(round((best + rate) / 2)).passed():
                    best = round((best + rate) / 2)
                yield
            break
        best = rate
    return best, steps


@contextlib.contextmanager
def local_stack(emulator: str | None) -> Iterator[tuple[stack.Stack, dict[str, int], list[loadgen.Merchant]]]:
    merchants = loadgen.bench_merchants(MERCHANTS)
    server = emulators.start(emulator) if emulator else None
    try:
        with stack.running(merchants, dynamodb_endpoint=server.url if server else None) as running:
            processes = running.processes()
            if server:
                processes[server.name] = server.process.pid
            yield running, processes, merchants
    finally:
        if server:
            server.stop()


def load_section(plan: Plan, log: Log, emulator: str | None) -> str:
    label = f"--dynamodb-endpoint at {emulator} (own process)" if emulator else "as `make run` starts it (moto)"
    log(f"load: the local stack {label}, {plan.load_rate:.0f} req/s for {plan.load_seconds:.0f} s")
    with local_stack(emulator) as (running, processes, merchants):
        main = measured_run(
            running.base_url,
            plan.load_rate,
            plan.load_seconds,
            merchants,
            processes,
            connections=plan.connections,
            check_read_back=True,
        )
    log(f"  p99 {main.result.latency().p99:.3f} s, errors {len(main.result.errors)}")
    rows = [(f"target rate, {plan.connections} connections", main)]
    if main.passed():  # the contrast only means something where the bounded pool passes
        log(f"load: the same with up to {plan.contrast_connections} connections (fresh stack)")
        with local_stack(emulator) as (running, processes, merchants):
            contrast = measured_run(
                running.base_url,
                plan.load_rate,
                plan.load_seconds,
                merchants,
                processes,
                connections=plan.contrast_connections,
            )
        rows.append((f"target rate, up to {plan.contrast_connections} connections", contrast))
    log("load: peak search (fresh stack)")
    with local_stack(emulator) as (running, processes, merchants):
        peak, steps = find_peak(
            lambda rate: measured_run(
                running.base_url, rate, plan.step_seconds, merchants, processes, connections=plan.connections
            ),
            peak_rates(),
            log,
        )
        profile_text = _profile_busiest(plan, running, processes, merchants, peak or 50.0, steps, log)
        wrk_rows = _wrk(plan, running.base_url, merchants[0], log)
    parts = [
        report.stamp(plan.command),
        f"**Open loop at {plan.load_rate:.0f} req/s (10,000/min) for {plan.load_seconds:.0f} s**, stack {label}; "
        "mix 60% POST (fresh Idempotency-Key) / 30% GET by id / 10% list, "
        f"{MERCHANTS} merchants; latency from each request's scheduled send time:",
        _load_table(rows),
        _read_back_line(main),
        _cpu_line(main),
        f"**Highest rate with p99 < {P99_LIMIT_SECONDS:.0f} s, no errors, ≥ 95% of the offered rate achieved**: "
        + (f"**{peak:.0f} req/s**" if peak else "**none of the steps**")
        + f" ({plan.step_seconds:.0f} s per step, {plan.connections} connections, fresh stack):",
        _load_table([(f"{rate:.0f} req/s", step) for rate, step in steps]),
        "CPU by process at each step (share of one core): "
        + "; ".join(f"{rate:.0f}/s: " + _shares(step.cpu) for rate, step in steps),
    ]
    if profile_text:
        parts.append(profile_text)
    if wrk_rows:
        parts.append(wrk_rows)
    return "\n\n".join(parts)


# --- the design load on the embedded default (issue 19) ----------------------------------------------

# `make run`'s embedded DynamoDB: moto with the partition index (the default), and moto as it ships.
EMBEDDED = ("indexed", "moto")
# With a baseline: this tree's default against another commit's (`--baseline REF`), before/after.
BASELINE = "baseline"
DESIGN_MERCHANTS = 1  # a newcomer's `make run --merchant ...`: every payment in one partition


def design_variants(plan: Plan) -> tuple[str, str]:
    return ("indexed", BASELINE) if plan.design_baseline else EMBEDDED


def ab_order(rounds: int, variants: Sequence[str] = EMBEDDED) -> list[str]:
    """A, B, then B, A, ...: a busier moment of a shared machine lands on both alike."""
    order: list[str] = []
    for round_ in range(rounds):
        order += list(variants) if round_ % 2 == 0 else list(reversed(variants))
    return order


@contextlib.contextmanager
def design_stack(plan: Plan, variant: str, merchants: Sequence[loadgen.Merchant]) -> Iterator[stack.Stack]:
    """A fresh stack as `make run` starts it (its output included): this tree with the variant's
    embedded DynamoDB, or the baseline commit's tree with its own default."""
    if variant != BASELINE:
        with stack.running(merchants, embedded_dynamodb=variant, as_make_run=True) as running:
            yield running
        return
    assert plan.design_baseline is not None
    with baseline_tree(plan.design_baseline) as root, stack.running(merchants, as_make_run=True, root=root) as running:
        yield running


@contextlib.contextmanager
def baseline_tree(ref: str) -> Iterator[Path]:
    """The files of commit `ref` (`git archive`) in a temporary directory, run with this virtualenv."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", ref],
        check=True,
        capture_output=True,
    ).stdout
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as directory:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(directory, filter="data")
        yield Path(directory)


def design_run(plan: Plan, variant: str, rate: float, seconds: float, *, read_back: bool) -> Step:
    merchants = loadgen.bench_merchants(DESIGN_MERCHANTS)
    with design_stack(plan, variant, merchants) as running:
        return measured_run(
            running.base_url,
            rate,
            seconds,
            merchants,
            running.processes(),
            connections=plan.connections,
            check_read_back=read_back,
            mix=loadgen.DESIGN_MIX,
        )


def design_peak(plan: Plan, variant: str, log: Log) -> Peak:
    """find_peak on one fresh stack: the table grows from step to step, as it would in use."""
    merchants = loadgen.bench_merchants(DESIGN_MERCHANTS)
    with design_stack(plan, variant, merchants) as running:
        processes = running.processes()
        return find_peak(
            lambda rate: measured_run(
                running.base_url,
                rate,
                plan.step_seconds,
                merchants,
                processes,
                connections=plan.connections,
                mix=loadgen.DESIGN_MIX,
            ),
            peak_rates(),
            log,
        )


def design_section(plan: Plan, log: Log) -> str:
    variants = design_variants(plan)
    runs: list[tuple[str, Step]] = []
    for variant in ab_order(plan.design_rounds, variants):
        name = design_label(plan, variant)
        log(f"design: {name}, {plan.load_rate:.0f} req/s for {plan.load_seconds:.0f} s (fresh stack)")
        step = design_run(plan, variant, plan.load_rate, plan.load_seconds, read_back=True)
        log(f"  p99 {step.result.latency().p99:.3f} s, errors {len(step.result.errors)}")
        runs.append((variant, step))
    peaks: dict[str, Peak] = {}
    for variant in variants:
        log(f"design: peak search, {design_label(plan, variant)} (fresh stack)")
        peaks[variant] = design_peak(plan, variant, log)
    return design_report(plan, runs, peaks)


def design_label(plan: Plan, variant: str) -> str:
    return f"before ({plan.design_baseline})" if variant == BASELINE else variant


def design_report(plan: Plan, runs: Sequence[tuple[str, Step]], peaks: dict[str, Peak]) -> str:
    variants = design_variants(plan)
    compared = (
        f"this tree's default (`indexed`) and commit {plan.design_baseline}'s (`before`), each from its own "
        "source tree with this virtualenv, alternating"
        if plan.design_baseline
        else "the embedded DynamoDB with the partition index (`indexed`, the default) and as moto ships it "
        "(`moto`, `--embedded-dynamodb moto`), alternating"
    )
    label = functools.partial(design_label, plan)
    rounds = [(f"{label(variant)}, round {n // len(variants) + 1}", step) for n, (variant, step) in enumerate(runs)]
    parts = [
        report.stamp(plan.command),
        f"**The design load on `make run`'s default**: open loop at {plan.load_rate:.0f} req/s for "
        f"{plan.load_seconds:.0f} s, mix {_mix_text(loadgen.DESIGN_MIX)}, {DESIGN_MERCHANTS} merchant (every "
        f"payment in one partition), {plan.connections} connections, a fresh stack per run with `make run`'s "
        f"output (access log, handlers' log file); {compared}:",
        _load_table(rounds),
        ab_ratio_line(runs, variants, label),
        *(f"{label(variant)}: " + _read_back_line(step) for variant, step in runs),
        *(f"{label(variant)}: " + _cpu_per_request_line(step) for variant, step in runs),
    ]
    for variant, (peak, steps) in peaks.items():
        parts += [
            f"**Highest rate with p99 < {P99_LIMIT_SECONDS:.0f} s, no errors, ≥ 95% achieved, {label(variant)}**: "
            + (f"**{peak:.0f} req/s**" if peak else "**none of the steps**")
            + f" ({plan.step_seconds:.0f} s per step on one stack, the table growing):",
            _load_table([(f"{rate:.0f} req/s", step) for rate, step in steps]),
            "CPU per request at each step (ms): "
            + "; ".join(f"{rate:.0f}/s: {_cpu_per_request(step)}" for rate, step in steps),
        ]
    return "\n\n".join(parts)


def ab_ratio_line(
    runs: Sequence[tuple[str, Step]], variants: Sequence[str] = EMBEDDED, label: Callable[[str], str] = str
) -> str:
    """The second variant against the first: the median p50 and p99 of each over the rounds, and their ratios."""
    latencies = {v: [step.result.latency() for name, step in runs if name == v] for v in variants}
    if not all(latencies.values()):
        return "_No ratio: a variant has no run._"
    p50 = {v: median([latency.p50 for latency in found]) for v, found in latencies.items()}
    p99 = {v: median([latency.p99 for latency in found]) for v, found in latencies.items()}
    first, second = variants
    return (
        f"Median over the rounds: {label(first)} p50 {report.ms(p50[first])}, p99 {report.ms(p99[first])}; "
        f"{label(second)} p50 {report.ms(p50[second])}, p99 {report.ms(p99[second])}: {label(second)}'s p99 is "
        f"**{ratio(p99[second], p99[first]):.1f}x** {label(first)}'s (p50 {ratio(p50[second], p50[first]):.1f}x)."
    )


def _cpu_per_request(step: Step) -> str:
    """CPU milliseconds per request sent, the stack's processes summed and each (stable on a shared
    machine where latency is not: other people's load takes cores, it does not add CPU to ours)."""
    requests = len(step.result.outcomes) or 1
    ours = {name: used for name, used in step.cpu_seconds.items() if name not in ("load generator", "other processes")}
    each = ", ".join(
        f"{name} {1000 * used / requests:.2f}" for name, used in sorted(ours.items(), key=lambda kv: -kv[1])
    )
    return f"{1000 * sum(ours.values()) / requests:.1f} ({each})"


def _cpu_per_request_line(step: Step) -> str:
    others = step.cpu.get("other processes")
    load = f"; other processes on the machine meanwhile {others:.2f} of a core" if others is not None else ""
    return f"CPU per request (ms, the stack's processes): {_cpu_per_request(step)}{load}."


def _mix_text(mix: Sequence[tuple[str, float]]) -> str:
    total = sum(weight for _, weight in mix)
    labels = {"post": "keyed POST", "get": "GET by id", "list": "list"}
    return " / ".join(f"{weight / total:.0%} {labels.get(kind, kind)}" for kind, weight in mix)


def baseline_section(plan: Plan, log: Log) -> str:
    """The same generator at the same rate against a server that does nothing (the floor)."""
    log("load: baseline (echo server)")
    server = _start_echo()
    try:
        url = f"http://127.0.0.1:{server[1]}"
        merchants = loadgen.bench_merchants(MERCHANTS)
        step = measured_run(
            url,
            plan.load_rate,
            plan.load_seconds,
            merchants,
            {"echo server": server[0].pid},
            connections=plan.connections,
        )
        wrk_rows = _wrk(plan, url, merchants[0], log)
    finally:
        if server[0].stdin:
            server[0].stdin.close()
        server[0].wait(10)
    parts = [
        report.stamp(plan.command),
        f"**Baseline**: the same open-loop generator, {plan.load_rate:.0f} req/s for {plan.load_seconds:.0f} s, "
        f"{plan.connections} connections, "
        "against `bench/echo_server.py` (the standard library's ThreadingHTTPServer answering at once, no storage): "
        "what this machine's loopback, HTTP parsing and generator cost.",
        _load_table([("echo server", step)]),
        _cpu_line(step),
    ]
    if wrk_rows:
        parts.append(wrk_rows)
    return "\n\n".join(parts)


def _start_echo() -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.echo_server"],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    return process, int(json.loads(process.stdout.readline())["port"])


def _load_table(rows: Sequence[tuple[str, Step]]) -> str:
    body = []
    for name, step in rows:
        result, latency = step.result, step.result.latency()
        errors = result.errors
        labels = [f"{o.status or o.error}" + (f" {o.detail}" if o.detail else "") for o in errors]
        kinds = ", ".join(f"{kind} {count}" for kind, count in _count(labels).items())
        body.append(
            (
                name,
                f"{result.rate:.0f}/s",
                f"{result.achieved_rate():.1f}/s",
                latency.count,
                report.ms(latency.p50),
                report.ms(latency.p95),
                report.ms(latency.p99),
                report.ms(latency.max),
                f"{len(errors)}" + (f" ({kinds})" if kinds else ""),
                "yes" if step.passed() else "no",
            )
        )
    return report.table(
        ("run", "offered", "achieved", "requests", "p50", "p95", "p99", "max", "errors", "p99 < 1 s, 0 errors"), body
    )


def _count(values: Iterator[str] | Sequence[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def _read_back_line(step: Step) -> str:
    check = step.read_back
    if check is None:
        return ""
    lost = check.missing + check.mismatched
    verdict = "none lost" if lost == 0 else f"**{lost} lost or changed**"
    if check.errors:
        verdict += f", **{check.errors} never readable** (neither found nor 404: the stack never drained)"
    return (
        f"Read-back: {check.checked} payments answered 201, each read back with GET (after a 5 s pause; "
        f"other failures retried {loadgen.READ_BACK_ATTEMPTS - 1} times with doubling pauses, ~2 min): "
        f"{check.missing} missing, {check.mismatched} with another status, {check.errors} still unreadable: "
        f"{verdict}."
    )


def _shares(shares: dict[str, float]) -> str:
    return ", ".join(f"{name} {share:.2f}" for name, share in sorted(shares.items(), key=lambda kv: -kv[1]))


def _cpu_line(step: Step) -> str:
    return "CPU by process (share of one core over the run): " + _shares(step.cpu) + "."


def _profile_busiest(
    plan: Plan,
    running: stack.Stack,
    processes: dict[str, int],
    merchants: Sequence[loadgen.Merchant],
    rate: float,
    steps: Sequence[tuple[float, Step]],
    log: Log,
) -> str:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).is_file():
        return "_py-spy is not installed: no profile (pip install -r requirements-dev.txt)._"
    python_processes = {name: pid for name, pid in processes.items() if name != "dynalite"}
    last_cpu = steps[-1][1].cpu if steps else {}
    busiest = max(python_processes, key=lambda name: last_cpu.get(name, 0.0))
    log(f"load: profiling {busiest} at {rate:.0f} req/s with py-spy")
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as workdir:
        output = Path(workdir) / "profile.txt"
        spy = subprocess.Popen(
            [
                *(py_spy, "record", "--pid", str(python_processes[busiest])),
                *("--duration", str(int(plan.profile_seconds)), "--rate", "200"),
                *("--format", "raw", "--nonblocking", "--output", str(output)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        measured_run(
            running.base_url, rate, plan.profile_seconds + 1, merchants, processes, connections=plan.connections
        )
        try:
            _, error = spy.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            spy.kill()
            return "_py-spy did not finish; no profile._"
        if not output.is_file():
            return f"_py-spy could not profile {busiest}: {error.strip()[-300:]}_"
        text = output.read_text()
    rows = [(f"{row.share:.0%}", f"`{row.frame}`") for row in profiles.inclusive(text, 28)]
    own = [(f"{row.share:.0%}", f"`{row.frame}`") for row in profiles.self_time(text, 12)]
    return "\n\n".join(
        [
            f"**Profile of the busiest process ({busiest}, {last_cpu.get(busiest, 0.0):.2f} of a core at the last "
            f"step)**: py-spy, {plan.profile_seconds:.0f} s at {rate:.0f} req/s, 200 Hz; share of samples with the "
            "frame on the stack (inclusive), then innermost (self; blocked-on-GIL time shows up here too):",
            report.table(("inclusive", "frame"), rows),
            report.table(("self", "frame"), own),
        ]
    )


def _wrk(plan: Plan, base_url: str, merchant: loadgen.Merchant, log: Log) -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        return "_wrk is not installed (Debian: `apt-get install wrk`): no closed-loop peak run._"
    log(f"wrk: {WRK_CONNECTIONS} connections for {plan.wrk_seconds} s against {base_url}")
    script = Path(__file__).resolve().parent / "wrk_mix.lua"
    command = [wrk, "-t1", f"-c{WRK_CONNECTIONS}", f"-d{plan.wrk_seconds}s", "--timeout", "5s", "--latency"]
    completed = subprocess.run(
        [*command, "-s", str(script), base_url, "--", merchant.api_key],
        capture_output=True,
        text=True,
        timeout=plan.wrk_seconds + 60,
        check=False,
    )
    line = next((x for x in completed.stdout.splitlines() if x.startswith("WRK_RESULT ")), None)
    if line is None:
        return f"_wrk failed: {completed.stderr.strip()[-300:]}_"
    data = json.loads(line.removeprefix("WRK_RESULT "))
    seconds = data["duration_us"] / 1e6
    errors = data["non_2xx_3xx"] + data["connect"] + data["read"] + data["write"] + data["timeout"]
    return (
        f"**wrk** (closed loop, peak throughput; `wrk -t1 -c{WRK_CONNECTIONS} -d{plan.wrk_seconds}s -s "
        "bench/wrk_mix.lua`, same mix): "
        f"{data['requests'] / seconds:.0f} req/s, p50 {data['p50_us'] / 1000:.0f} ms, "
        f"p99 {data['p99_us'] / 1000:.0f} ms, max {data['max_us'] / 1000:.0f} ms, {errors} errors "
        f"({data['non_2xx_3xx']} non-2xx, {data['timeout']} timeouts). wrk's latencies start when a connection "
        "is free, so they understate queueing; its rate is the figure to read."
    )


# --- the two compute options side by side --------------------------------------------------------------


def compute_section(plan: Plan, log: Log) -> str:
    """Both options' stacks up at once, each on its own dynalite; loaded in turn, so a busier moment of
    this shared machine lands on both alike."""
    log("compute: a local stack per compute option (lambda, container), each on dynalite")
    with compute.both_stacks(MERCHANTS) as stacks:
        startup = compute.container_startup(
            stacks["container"].dynamodb_url, stacks["container"].bank_url, compute.STARTUP_ROUNDS, log
        )
        target: dict[str, Step] = {}
        for mode, up in stacks.items():
            log(f"compute: {mode} at {plan.load_rate:.0f} req/s for {plan.load_seconds:.0f} s")
            target[mode] = _compute_run(up, plan.load_rate, plan.load_seconds, plan)
            log(f"  p99 {target[mode].result.latency().p99:.3f} s, errors {len(target[mode].result.errors)}")
        log("compute: peak search, both options in turn at each rate")
        runs: dict[str, Callable[[float], Step]] = {
            mode: functools.partial(_compute_run, up, seconds=plan.step_seconds, plan=plan)
            for mode, up in stacks.items()
        }
        peaks = find_peaks(runs, peak_rates(), log)
    return _compute_report(plan, target, peaks, startup)


def _compute_run(up: compute.Running, rate: float, seconds: float, plan: Plan) -> Step:
    return measured_run(up.stack.base_url, rate, seconds, up.merchants, up.processes, connections=plan.connections)


def _compute_report(
    plan: Plan,
    target: dict[str, Step],
    peaks: dict[str, tuple[float | None, list[tuple[float, Step]]]],
    startup: list[float],
) -> str:
    rate = f"{plan.load_rate:.0f} req/s"
    cpu_rows = [(rate, mode, step.cpu_seconds, len(step.result.outcomes)) for mode, step in target.items()]
    for mode, (_, steps) in peaks.items():
        cpu_rows += [(f"{rate:.0f} req/s", mode, step.cpu_seconds, len(step.result.outcomes)) for rate, step in steps]
    peak_lines = [
        f"- `--compute {mode}`: " + (f"**{peak:.0f} req/s**" if peak else "**none of the steps**")
        for mode, (peak, _) in peaks.items()
    ]
    parts = [
        report.stamp(plan.command),
        f"**Open loop at {plan.load_rate:.0f} req/s (10,000/min) for {plan.load_seconds:.0f} s**, each compute "
        f"option's stack on its own dynalite, {plan.connections} connections; same mix and merchants as above; "
        "latency from each request's scheduled send time:",
        _load_table([(f"`--compute {mode}`", step) for mode, step in target.items()]),
        *(f"CPU by process, `--compute {mode}` (share of one core): {_shares(s.cpu)}" for mode, s in target.items()),
        f"**Highest rate with p99 < {P99_LIMIT_SECONDS:.0f} s, no errors, ≥ 95% of the offered rate achieved** "
        f"({plan.step_seconds:.0f} s per step from 50 req/s up, 1.25x a step, the two options in turn at each rate, "
        "the same stacks):",
        "\n".join(peak_lines),
        *(
            f"`--compute {mode}` steps:\n\n" + _load_table([(f"{rate:.0f} req/s", step) for rate, step in steps])
            for mode, (_, steps) in peaks.items()
        ),
        "**Region CPU per request** (user + system CPU of what serves eu-west-1, which takes all the traffic, "
        "divided by the requests answered; lambda: the region's child process, container: its gunicorn "
        "master and worker):",
        compute.cpu_table(cpu_rows),
        compute.startup_line(startup),
    ]
    return "\n\n".join(parts)
