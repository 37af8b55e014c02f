"""The container image, checked from the tree (no Docker engine runs here or in CI): its base is
pinned by digest, it runs spec.COMMAND as a non-root user, and what its COPY lines take from the
build context that .dockerignore lets through is the runtime code only."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

from container import spec

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / spec.DOCKERFILE
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
# Everything the image may hold of this repository, by top-level directory.
RUNTIME_PACKAGES = {"handlers", "proxy_gateway", "container"}


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def instructions(text: str) -> list[Instruction]:
    """Dockerfile instructions, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    found = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            found.append(Instruction(keyword.upper(), arguments.strip()))
    return found


def only(keyword: str) -> list[Instruction]:
    return [i for i in instructions(DOCKERFILE.read_text()) if i.keyword == keyword]


def test_the_base_is_python_3_13_slim_for_arm64_pinned_by_digest() -> None:
    (base,) = only("FROM")
    words = base.arguments.split()
    assert "--platform=linux/arm64" in words
    image = words[-1]
    assert image.startswith("python:3.13-slim-bookworm@sha256:")
    assert DIGEST.search(image), "the base image must be pinned by its digest"


def test_it_runs_spec_command_exactly() -> None:
    (cmd,) = only("CMD")
    assert json.loads(cmd.arguments) == list(spec.COMMAND)
    assert not only("ENTRYPOINT")
    assert only("EXPOSE") == [Instruction("EXPOSE", str(spec.PORT))]


def test_it_runs_as_a_numeric_non_root_user() -> None:
    users = only("USER")
    assert users, "no USER: the container would run as root"
    uid = users[-1].arguments.split(":")[0]
    assert uid.isdigit() and int(uid) != 0
    keywords = [i.keyword for i in instructions(DOCKERFILE.read_text())]
    assert "RUN" not in keywords[keywords.index("USER") :]  # nothing after it runs as root


def declared_volumes() -> list[str]:
    """The paths of the Dockerfile's VOLUME instructions (JSON or plain form)."""
    paths: list[str] = []
    for volume in only("VOLUME"):
        text = volume.arguments
        paths += json.loads(text) if text.startswith("[") else text.split()
    return paths


@pytest.mark.parametrize("path", spec.SCRATCH_PATHS)
def test_each_scratch_path_is_a_world_writable_volume_that_ecs_copies_into_the_mount(path: str) -> None:
    """On Fargate a bind mount at a path the image does not declare as a VOLUME is root-owned 0755:
    the non-root user could not write gunicorn's worker files there and no worker would boot."""
    assert path in declared_volumes()
    steps = instructions(DOCKERFILE.read_text())
    declared = next(i for i, step in enumerate(steps) if step.keyword == "VOLUME" and path in step.arguments)
    chmod = re.compile(rf"\bchmod\s+1777\s+(?:\S+\s+)*{re.escape(path)}(?:\s|$)")
    assert any(s.keyword == "RUN" and chmod.search(s.arguments) for s in steps[:declared]), f"{path} is not 1777"
    # A build step changing a declared volume after the VOLUME line is discarded.
    assert not [s for s in steps[declared + 1 :] if s.keyword in ("RUN", "COPY", "ADD") and path in s.arguments]


def test_nothing_writes_bytecode_at_run_time_and_it_is_compiled_at_build() -> None:
    env = " ".join(i.arguments for i in only("ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert any("compileall" in i.arguments for i in only("RUN"))


def test_it_installs_the_pinned_requirements_of_the_handlers_and_the_server() -> None:
    (install,) = [i for i in only("RUN") if "pip install" in i.arguments]
    assert "-r handlers/requirements.txt" in install.arguments
    assert "-r container/requirements.txt" in install.arguments
    pins = (ROOT / "container" / "requirements.txt").read_text()
    assert re.search(r"^gunicorn==\S+", pins, re.M) and re.search(r"^boto3==\S+", pins, re.M)
    root_pins = (ROOT / "requirements.txt").read_text()
    assert re.search(r"^boto3==(\S+)", pins, re.M)[1] == re.search(r"^boto3==(\S+)", root_pins, re.M)[1]  # type: ignore[index]


# --- What the image holds: the COPY lines over the context .dockerignore admits ---------------


def ignore_rules(text: str) -> list[tuple[bool, str]]:
    """(excludes, pattern) per line, as Docker reads .dockerignore."""
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            rules.append((not negated, line.lstrip("!").strip("/")))
    return rules


def _pattern(pattern: str) -> re.Pattern[str]:
    parts = []
    for segment in pattern.split("/"):
        if segment == "**":
            parts.append("(?:[^/]+/)*")
        else:
            parts.append(re.escape(segment).replace(r"\*", "[^/]*").replace(r"\?", "[^/]") + "/")
    return re.compile("".join(parts).removesuffix("/") + "$")


def admitted(path: PurePosixPath, rules: list[tuple[bool, str]]) -> bool:
    """The last rule that matches the path or one of its directories decides."""
    excluded = False
    prefixes = [str(PurePosixPath(*path.parts[: n + 1])) for n in range(len(path.parts))]
    for excludes, pattern in rules:
        regex = _pattern(pattern)
        if any(regex.match(prefix) for prefix in prefixes):
            excluded = excludes
    return not excluded


def build_context(root: Path) -> set[PurePosixPath]:
    rules = ignore_rules((root / ".dockerignore").read_text())
    files = (PurePosixPath(p.relative_to(root).as_posix()) for p in root.rglob("*") if p.is_file())
    return {f for f in files if ".git" not in f.parts[:1] and admitted(f, rules)}


def image_files(root: Path) -> set[str]:
    """The files the COPY lines put under WORKDIR; a source missing from the context fails the build."""
    context = build_context(root)
    placed: set[str] = set()
    for copy in only("COPY"):
        *sources, destination = copy.arguments.split()
        for source in sources:
            source_path = PurePosixPath(source.rstrip("/"))
            if source.endswith("/"):
                below = {f for f in context if source_path in f.parents}
                assert below, f"COPY {source}: nothing in the build context"
                placed |= {str(PurePosixPath(destination) / f.relative_to(source_path)) for f in below}
            else:
                assert source_path in context, f"COPY {source}: not in the build context"
                target = PurePosixPath(destination)
                placed.add(str(target / source_path.name if destination.endswith("/") else target))
    return placed


def test_the_image_holds_the_runtime_packages_of_the_tree_and_nothing_else() -> None:
    files = image_files(ROOT)

    assert {PurePosixPath(f).parts[0] for f in files} <= RUNTIME_PACKAGES
    for package in RUNTIME_PACKAGES:
        assert f"{package}/__init__.py" in files
    expected = {
        "container/app.py",
        "container/gunicorn_conf.py",
        "handlers/contract/routes.py",
        "handlers/requirements.txt",
    }
    assert expected | {"proxy_gateway/authorization.py"} <= files
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]
    # Every module of the three packages that reaches the build is copied: none is left behind.
    assert {str(f) for f in build_context(ROOT)} == files


@pytest.fixture
def decoy_tree(tmp_path: Path) -> Path:
    """The tree as a developer's machine has it: a virtualenv, caches, tests, the local stack."""
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "container", root / "container", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "proxy_gateway", root / "proxy_gateway", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "handlers", root / "handlers", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".dockerignore", root / ".dockerignore")
    decoys = [
        "tests/e2e/test_payments.py",
        "bench/loadgen.py",
        "local_gateway/topology.py",
        "local_gateway/moto_server.py",
        ".venv/lib/python3.11/site-packages/pulumi/__init__.py",
        "pulumi/__init__.py",
        "docs/cost.md",
        "components/regional_gateway.py",
        "__main__.py",
        "Pulumi.yaml",
        "build/lambda.zip",
        "handlers/__pycache__/api.cpython-313.pyc",
        "handlers/test_inline.py",
        "handlers/conftest.py",
        "handlers/.env",
        "proxy_gateway/tests/test_x.py",
        "container/__pycache__/app.cpython-311.pyc",
    ]
    for decoy in decoys:
        (root / decoy).parent.mkdir(parents=True, exist_ok=True)
        (root / decoy).write_text("decoy\n")
    return root


def test_no_test_bench_local_stack_pulumi_venv_or_docs_file_reaches_the_image(decoy_tree: Path) -> None:
    files = image_files(decoy_tree)

    assert files, "the COPY lines found nothing"
    assert "decoy\n" not in {(decoy_tree / f).read_text() for f in files if (decoy_tree / f).is_file()}
    forbidden = ("tests/", "bench/", "local_gateway/", ".venv/", "pulumi", "docs/", "components/", "build/")
    assert not [f for f in files if f.startswith(forbidden) or "/tests/" in f or "test_" in f or "conftest" in f]
    assert not (build_context(decoy_tree) - {PurePosixPath(f) for f in files}), "the context holds more than the image"
