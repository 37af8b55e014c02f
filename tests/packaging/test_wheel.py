"""The package a platform team depends on: `pip wheel .` from a clean copy of the tree, installed
into a fresh virtualenv, and another team's program (examples/third_region) run under Pulumi mocks
from outside the repository, importing the components and handlers from the installed wheel."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from components.packaging import build_lambda_archive
from components.regional_gateway import RUNTIME_VERSION

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "third_region"
SHIPPED = {"components", "handlers", "proxy_gateway", "container"}
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pulumi_aws.*")


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """A fresh virtualenv with only the wheel installed; its dependencies (pulumi and the handlers'
    pins, 360 MB) are this environment's, reached through a .pth after the venv's own site-packages."""
    root = tmp_path_factory.mktemp("consumer") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    python = root / "bin" / "python"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet", str(wheel)]
    subprocess.run(install, check=True, capture_output=True, timeout=300)
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (site / "zz_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return root


def test_the_wheel_holds_the_components_the_handlers_and_nothing_of_the_repositorys_own(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {PurePosixPath(n).parts[0] for n in names if not n.startswith("payment_gateway-")}

    assert tops == SHIPPED
    assert "handlers/requirements.txt" in names and "components/packaging.py" in names
    assert not [n for n in names if "/tests/" in n or "test_" in n or "conftest" in n or n.endswith(".pyc")]


def test_its_dependencies_pin_the_handlers_requirements_as_the_archive_needs() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = re.findall(r"^([A-Za-z0-9_.-]+==\S+)", (ROOT / "handlers" / "requirements.txt").read_text(), re.M)

    assert set(pins) <= set(declared)


def run_example(venv: Path, workdir: Path) -> dict[str, Any]:
    program = workdir / "program"
    shutil.copytree(EXAMPLE, program)
    shutil.copy(ROOT / "tests" / "infra" / "mocks.py", workdir / "mocks_harness.py")
    shutil.copy(Path(__file__).with_name("example_driver.py"), workdir / "example_driver.py")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    report = workdir / "report.json"
    command = [str(venv / "bin" / "python"), "example_driver.py", str(report), str(program)]
    done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(report.read_text())
    return result


def test_another_teams_program_deploys_a_third_region_from_the_installed_package(venv: Path, tmp_path: Path) -> None:
    report = run_example(venv, tmp_path)

    site = str(venv)
    assert report["components"].startswith(site) and report["handlers"].startswith(site), "imported from the tree"
    assert not [p for p in report["sys_path"] if p and Path(p).resolve() == ROOT]
    regions = {region for _, _, region in report["resources"] if region}
    assert regions == {"ap-southeast-2"}
    # Attach mode: the gateway's table is looked up, never created, in this region.
    assert not [r for r in report["resources"] if r[0] == "aws:dynamodb/table:Table"]
    assert ["aws:dynamodb/getTable:getTable", "payment-gateway", "ap-southeast-2"] in report["calls"]
    assert report["function_names"] and all(name.startswith("payments-apac-") for name in report["function_names"])
    assert {"aws:apigateway/restApi:RestApi", "aws:cloudwatch/metricAlarm:MetricAlarm"} <= {
        r[0] for r in report["resources"]
    }
    assert report["exports"] == ["dashboardUrl", "regionalApiUrl"]
    # New code goes live: with no gradual deployment (no CodeDeploy group), no alias may leave its version
    # to one, so each `live` alias follows the version every `pulumi up` publishes (the mock's "7").
    assert report["aliases"] and report["deployment_groups"] == 0
    assert all(version == "7" and "functionVersion" not in ignored for _, version, ignored in report["aliases"])
    # Every duration alarm can fire: its threshold is under its function's timeout.
    assert report["duration_alarms"]
    for function_name, threshold in report["duration_alarms"]:
        assert threshold < 1000 * report["timeouts"][function_name], (function_name, threshold)
    # The installed handlers make the very archive this repository's program deploys.
    assert not report["archive"]["path"].startswith(site)
    from_tree = build_lambda_archive(ROOT, tmp_path / "tree", bytecode_for=RUNTIME_VERSION)
    assert (report["archive"]["sha256"], report["archive"]["entries"]) == (
        from_tree.sha256_base64,
        list(from_tree.entries),
    )
