"""The wheel a platform team installs, built once per run from the tracked files (tests/packaging)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def tracked_tree(target: Path) -> Path:
    """The tree as a tag checks it out: tracked files only (no caches, build/ or virtualenv)."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tracked_tree(tmp_path_factory.mktemp("checkout"))
    out = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(source)]
    subprocess.run(pip, check=True, capture_output=True, timeout=600)
    (built,) = out.glob("payment_gateway-*.whl")
    return built
