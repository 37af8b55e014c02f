"""The import contracts of pyproject.toml (`make lint`) hold, and each fails the build on an import
that breaks it: `lint-imports` runs on a copy of the tree with one bad import injected."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("handlers", "components", "proxy_gateway", "container", "local_gateway", "deploy", "bench", "tools")
CONTRACTS = {
    contract["id"]: contract["name"]
    for contract in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
}


def lint_imports(root: Path) -> tuple[int, str]:
    """Exit status and the report, unwrapped, of `lint-imports` run on the tree at `root`."""
    command = [str(Path(sys.executable).with_name("lint-imports")), "--no-cache", "--no-logo"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"COLUMNS": "500"}
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False)
    return done.returncode, re.sub(r"\s+", " ", done.stdout + done.stderr)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the packages the contracts name, and the contracts."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_every_contract() -> None:
    status, report = lint_imports(ROOT)
    assert status == 0, report
    assert f"{len(CONTRACTS)} kept, 0 broken" in report


def test_the_copy_keeps_them_too(tree: Path) -> None:
    """So a broken contract below is the injected import's doing."""
    assert lint_imports(tree)[0] == 0


@pytest.mark.parametrize(
    ("module", "bad_import", "contract"),
    [
        ("handlers/domain/models.py", "import boto3", "domain-is-plain-python"),
        ("handlers/domain/ports.py", "from handlers.adapters import dynamo", "domain-is-plain-python"),
        ("handlers/domain/service.py", "from handlers.entrypoints import settings", "domain-is-plain-python"),
        ("handlers/entrypoints/api.py", "import pulumi", "handlers-stand-alone"),
        ("handlers/wire/http.py", "from local_gateway import logs", "handlers-stand-alone"),
        ("components/edge.py", "from handlers.wire import http", "components-read-the-contract"),
        ("components/global_store.py", "from handlers.domain import models", "components-read-the-contract"),
        ("handlers/contract/schema.py", "from handlers.domain import models", "handlers-layers"),
        ("handlers/wire/converter.py", "from handlers.adapters import attribute_values", "handlers-layers"),
        ("handlers/entrypoints/settings.py", "from handlers.simulator import ledger", "handlers-layers"),
        ("container/spec.py", "from local_gateway import topology", "container-without-local-stack"),
        ("handlers/domain/models.py", "from handlers.domain import service", "packages-acyclic"),
        ("components/common.py", "from components import edge", "packages-acyclic"),
        ("local_gateway/probes.py", "from local_gateway import child", "packages-acyclic"),
    ],
)
def test_a_violating_import_fails_the_lint_naming_its_contract(
    tree: Path, module: str, bad_import: str, contract: str
) -> None:
    with (tree / module).open("a") as source:
        source.write(f"\n{bad_import}  # injected\n")

    status, report = lint_imports(tree)

    assert status != 0
    assert f"{CONTRACTS[contract]} BROKEN" in report, report
