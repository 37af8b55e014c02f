"""Cold start: fresh interpreters, interleaved, each timed from its first line to its first answer.

Every round runs the floor and each handler once, in a rotating order, so drift on a noisy
machine hits all of them alike. The figure is the median over rounds; the ratio is the median of
the per-round ratios handler/floor (target: at most 1.3), with their interquartile range.

Three code roots:
- source: the repository as it is, with the .pyc files Python cached on earlier runs;
- archive: the Lambda zip that components.packaging builds, unpacked, with bytecode writing off.
  The archive carries no .pyc (by design: reproducible bytes), and /var/task is read-only, so on
  Lambda every cold start compiles handlers/attrs/cattrs/ulid from source. boto3 comes from the
  environment with its .pyc, as it does from the Lambda runtime;
- archive + .pyc: the same, with bytecode compiled at build time (what a packaging step could do).
"""

from __future__ import annotations

import compileall
import json
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.child import BOOT, MARKER
from bench.stats import median, percentile, ratio
from components.packaging import build_lambda_archive

REPO = Path(__file__).resolve().parent.parent
HANDLER_MODES = ("post", "get", "list", "authorizer")
CHILD_TIMEOUT_SECONDS = 60
TARGET_RATIO = 1.3


def child_environment(base: Mapping[str, str]) -> dict[str, str]:
    """What the Pulumi program gives the functions, with dummy credentials (nothing is ever sent)."""
    env = {k: v for k, v in base.items() if not k.startswith(("AWS_", "PYTHON"))}
    env.update(
        {
            "AWS_REGION": "eu-west-1",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_SESSION_TOKEN": "bench",
            "AWS_EC2_METADATA_DISABLED": "true",  # never probe an instance metadata service
            "TABLE_NAME": "payment-gateway",
            "BANK_URL": "http://127.0.0.1:9/never-called",
            "FINGERPRINT_KEY": "bench-fingerprint-key",
            "CURSOR_KEY": "bench-cursor-key",  # the list functions sign their cursors
            "API_KEY_MODE": "test",  # the benchmarks' key is a test key (events.API_KEY)
            "LOG_LEVEL": "INFO",
        }
    )
    return env


@dataclass
class ColdStartResult:
    rounds: int
    code_root: str
    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def median_ms(self, mode: str) -> float:
        return median(self.samples[mode])

    def paired_ratios(self, mode: str) -> list[float]:
        """Each round's handler time over the same round's floor: neighbours in time share the noise."""
        return [ratio(value, floor) for value, floor in zip(self.samples[mode], self.samples["floor"], strict=True)]

    def ratio(self, mode: str) -> float:
        """The median of the per-round ratios (robust to drift on a shared machine)."""
        return median(self.paired_ratios(mode))

    def ratio_spread(self, mode: str) -> tuple[float, float]:
        """Interquartile range of the per-round ratios."""
        ratios = self.paired_ratios(mode)
        return percentile(ratios, 25), percentile(ratios, 75)


def run_child(
    mode: str, code_root: Path, env: Mapping[str, str], *, extra_flags: Sequence[str] = ()
) -> tuple[dict[str, object], str]:
    completed = subprocess.run(
        [sys.executable, *extra_flags, "-c", BOOT, str(code_root), str(REPO), mode],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_SECONDS,
        check=False,
        cwd=tempfile.gettempdir(),  # not the repository: sys.path[0] must not shadow the code root
    )
    result = parse_child_output(completed.stdout)
    if completed.returncode != 0 or result is None:
        raise RuntimeError(f"cold-start child {mode!r} failed ({completed.returncode}): {completed.stderr[-2000:]}")
    return result, completed.stderr


def parse_child_output(stdout: str) -> dict[str, object] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARKER):
            parsed: dict[str, object] = json.loads(line.removeprefix(MARKER))
            return parsed
    return None


def measure(
    rounds: int, code_root: Path, env: Mapping[str, str], progress: Callable[[str], None] = lambda _: None
) -> ColdStartResult:
    modes = ("floor", *HANDLER_MODES)
    result = ColdStartResult(rounds=rounds, code_root=str(code_root))
    for _ in range(2):  # untimed: fill the OS page cache and the .pyc caches
        for mode in modes:
            run_child(mode, code_root, env)
    for index in range(rounds):
        shift = index % len(modes)
        for mode in modes[shift:] + modes[:shift]:
            answer, _ = run_child(mode, code_root, env)
            expected = 0 if mode == "floor" else (201 if mode == "post" else 200)
            if answer["status"] != expected:
                raise RuntimeError(f"cold-start child {mode!r} answered {answer['status']}, expected {expected}")
            result.samples[mode].append(float(str(answer["ms"])))
        progress(f"cold start round {index + 1}/{rounds}")
    return result


def import_profile(
    code_root: Path, env: Mapping[str, str], mode: str = "post", top: int = 10
) -> list[tuple[str, float]]:
    """`-X importtime` of one child, self time summed per top-level package (ms), largest first."""
    _, stderr = run_child(mode, code_root, env, extra_flags=("-X", "importtime"))
    return aggregate_importtime(stderr)[:top]


def aggregate_importtime(stderr: str) -> list[tuple[str, float]]:
    totals: dict[str, float] = defaultdict(float)
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        try:
            self_us, _cumulative, name = (part.strip() for part in line.removeprefix("import time:").split("|", 2))
            totals[name.split(".")[0]] += int(self_us) / 1000
        except ValueError:
            continue
    return sorted(totals.items(), key=lambda item: item[1], reverse=True)


@dataclass(frozen=True)
class ArchiveInfo:
    path: Path
    stored_bytes: int
    deflated_bytes: int
    entries: int
    unpacked: Path


def build_archive(workdir: Path) -> ArchiveInfo:
    """The deployed Lambda archive, from the infrastructure's own packaging code, unpacked."""
    built = build_lambda_archive(REPO, workdir)
    unpacked = workdir / "unpacked"
    with zipfile.ZipFile(built.path) as archive:
        archive.extractall(unpacked)
        deflated = workdir / "deflated.zip"
        with zipfile.ZipFile(deflated, "w", compression=zipfile.ZIP_DEFLATED) as packed:
            for name in archive.namelist():
                packed.writestr(name, archive.read(name))
    return ArchiveInfo(
        path=built.path,
        stored_bytes=built.path.stat().st_size,
        deflated_bytes=deflated.stat().st_size,
        entries=len(built.entries),
        unpacked=unpacked,
    )


def precompiled_copy(unpacked: Path, target: Path) -> Path:
    """The unpacked archive plus .pyc files, as a build step could add them (the suggested fix).

    UNCHECKED_HASH .pyc files carry no timestamp and `ddir` fixes the file names compiled in,
    so the same sources give the same bytes: the archive would stay reproducible. They are only
    valid for the interpreter version that wrote them (on Lambda: the runtime's, python3.13).
    """
    shutil.copytree(unpacked, target)
    compiled = compileall.compile_dir(
        target, quiet=1, ddir="/var/task", invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
    )
    if not compiled:
        raise RuntimeError(f"compileall failed in {target}")
    return target


def archive_environment(base: Mapping[str, str]) -> dict[str, str]:
    env = child_environment(base)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # /var/task is read-only: no .pyc survives between cold starts
    return env


def environ() -> dict[str, str]:
    return dict(os.environ)
