"""Each documented use runs from a fresh virtualenv that holds the wheel and only the distributions its
install would bring: the base dependencies, the use's extra, and what those require in turn. No network
here, so those distributions are this environment's, each linked in by the files its metadata lists;
anything else (boto3 without the `admin` extra, pulumi-docker-build without `container`) is absent, as
after `pip install payment-gateway[...]` on a clean machine."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.packaging.test_extras import closure, name_of, project

# What each use runs, as its documentation says: the components without the image's module (a plain
# install), the Fargate image's build and its server (`container`), the operator's command (`admin`).
USES: dict[str, tuple[str, list[str]]] = {
    "components": ("", ["-c", "import components.edge, components.regional_gateway, components.container_service"]),
    "container": ("container", ["-c", "import components.image, container.app, container.gunicorn_conf, gunicorn"]),
    "admin": ("admin", ["-m", "handlers.admin", "--help"]),
}


def _distributions(extra: str) -> set[str]:
    declared = project()
    wanted = {name_of(r) for r in declared["dependencies"]}  # type: ignore[attr-defined]
    if extra:
        extras: dict[str, list[str]] = declared["optional-dependencies"]  # type: ignore[assignment]
        wanted |= {name_of(r) for r in extras[extra]}
    return closure(wanted)


def _link_distributions(names: set[str], into: Path) -> None:
    """Each distribution's top-level files and directories, linked into `into` (a site directory)."""
    into.mkdir()
    for name in names:
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:  # a marker keeps it out of this Python
            continue
        tops = {Path(str(f)).parts[0] for f in distribution.files or () if not str(f).startswith("..")}
        for top in tops:
            source = Path(str(distribution.locate_file(top)))
            if source.exists() and not (into / top).exists():
                (into / top).symlink_to(source)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> dict[str, Path]:
    """use -> the Python of a fresh virtualenv with the wheel and that use's distributions only."""
    pythons = {}
    for use, (extra, _) in USES.items():
        root = tmp_path_factory.mktemp(f"extra-{use}")
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True, timeout=120)
        python = root / "venv" / "bin" / "python"
        install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet", str(wheel)]
        subprocess.run(install, check=True, capture_output=True, timeout=300)
        _link_distributions(_distributions(extra), root / "deps")
        site = subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        (Path(site) / "zz_deps.pth").write_text(f"{root / 'deps'}\n")
        pythons[use] = python
    return pythons


# What the task definition gives the image's server (it builds the API when loaded).
TASK_ENVIRONMENT = {
    "AWS_REGION": "eu-west-1",
    "TABLE_NAME": "payment-gateway",
    "BANK_URL": "https://acquirer.example/payments",
    "FINGERPRINT_KEY": "a-test-fingerprint-key-of-32-bytes!",
    "API_KEY_MODE": "live",
    "CURSOR_KEY": "a-test-cursor-key",
}


def _run(python: Path, arguments: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), **TASK_ENVIRONMENT}  # nothing of this checkout on sys.path
    command = [str(python), *arguments]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize("use", sorted(USES))
def test_each_use_runs_with_its_install(use: str, installed: dict[str, Path], tmp_path: Path) -> None:
    run = _run(installed[use], USES[use][1], tmp_path)
    assert run.returncode == 0, f"[{use}] {run.stderr[-2000:]}"


@pytest.mark.parametrize(("use", "lacking"), [("admin", "components"), ("container", "components")])
def test_without_its_extra_a_use_fails(use: str, lacking: str, installed: dict[str, Path], tmp_path: Path) -> None:
    """The isolation is real: the admin command or the image's build in the plain install fails to import."""
    run = _run(installed[lacking], USES[use][1], tmp_path)
    assert run.returncode != 0 and "ModuleNotFoundError" in run.stderr, run.stderr[-2000:]
