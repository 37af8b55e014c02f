"""What the Lambda archive ships: the handlers' layers the functions run and their dependencies,
the simulator only for a stack that deploys it, and each handler a stack names importable from its
own archive alone."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

import pytest

from components.lambda_settings import RUNTIME_VERSION
from components.packaging import build_lambda_archive, distribution_files, parse_requirements
from tests.infra.conftest import FARGATE
from tests.infra.program import ProgramRun, run_program

ROOT = Path(__file__).resolve().parents[2]
RUN_BY_FUNCTIONS = {"__init__.py", "requirements.txt", "contract", "domain", "wire", "adapters", "entrypoints"}
REAL_BANK = {"payment-gateway:bankUrl": "https://acquirer.example/v1/authorize"}
# Imports each dotted handler from the archive unpacked at argv[1], and nothing from the repository:
# -I keeps the working directory and PYTHONPATH off sys.path; the interpreter's site-packages stay
# (boto3 and botocore come with the Lambda runtime, not in the archive).
IMPORT_HANDLERS = """
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
found = {}
for dotted in sys.argv[2:]:
    module, _, attribute = dotted.rpartition(".")
    try:
        found[dotted] = callable(getattr(importlib.import_module(module), attribute))
    except (ImportError, AttributeError) as e:
        found[dotted] = repr(e)
print(json.dumps({"origin": importlib.import_module("handlers").__file__, "found": found}))
"""


def handlers_parts(entries: tuple[str, ...]) -> set[str]:
    """The handlers package's top-level modules and subpackages in the archive."""
    return {PurePosixPath(e).parts[1] for e in entries if PurePosixPath(e).parts[0] == "handlers"}


def dependency_top_levels() -> set[str]:
    requirements = parse_requirements((ROOT / "handlers" / "requirements.txt").read_text())
    return {PurePosixPath(name).parts[0] for r in requirements for name, _ in distribution_files(r)}


def test_the_archive_ships_the_layers_the_functions_run_and_the_pinned_dependencies_only(tmp_path: Path) -> None:
    entries = build_lambda_archive(ROOT, tmp_path).entries

    assert handlers_parts(entries) == RUN_BY_FUNCTIONS
    assert {PurePosixPath(e).parts[0] for e in entries} == {"handlers"} | dependency_top_levels()
    assert not [e for e in entries if "__pycache__" in e or e.endswith((".pyc", ".pyo"))]
    # the layers' own modules, not only their packages
    assert {"handlers/entrypoints/api.py", "handlers/domain/service.py", "handlers/contract/routes.py"} <= set(entries)


def test_the_simulator_ships_only_with_a_stack_that_deploys_it_and_the_operators_commands_never(
    tmp_path: Path,
) -> None:
    with_simulator = build_lambda_archive(ROOT, tmp_path / "a", simulator=True).entries
    without = build_lambda_archive(ROOT, tmp_path / "b").entries

    assert handlers_parts(with_simulator) == RUN_BY_FUNCTIONS | {"simulator"}
    assert handlers_parts(without) == RUN_BY_FUNCTIONS
    assert "handlers/simulator/bank.py" in with_simulator
    on_disk = {p.name for p in (ROOT / "handlers").iterdir() if p.name != "__pycache__"}
    assert on_disk - handlers_parts(with_simulator) == {"ops", "admin.py"}  # `python -m handlers.admin`


def deployed_handlers(run: ProgramRun) -> tuple[set[str], set[str]]:
    """The handler strings of the stack's Lambda functions, and the hashes of the code they deploy."""
    functions = run.of_type("aws:lambda/function:Function")
    return {f.inputs["handler"] for f in functions}, {f.inputs["sourceCodeHash"] for f in functions}


def import_from(archive: Path, target: Path, dotted: set[str]) -> dict[str, object]:
    with zipfile.ZipFile(archive) as unpacked:
        unpacked.extractall(target)
    command = [sys.executable, "-I", "-c", IMPORT_HANDLERS, str(target), *sorted(dotted)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    result: dict[str, object] = json.loads(done.stdout)
    assert str(result["origin"]).startswith(str(target)), "imported from the repository, not the archive"
    return result


@pytest.mark.parametrize(
    ("overrides", "simulator"),
    [({}, True), (REAL_BANK, False), (FARGATE, True), ({**FARGATE, **REAL_BANK}, False)],
    ids=["lambda-simulator", "lambda-bank", "fargate-simulator", "fargate-bank"],
)
def test_every_handler_a_stack_names_imports_from_the_archive_it_deploys(
    overrides: dict[str, str], simulator: bool, tmp_path: Path
) -> None:
    handlers, hashes = deployed_handlers(run_program("eu", overrides))
    archive = build_lambda_archive(ROOT, tmp_path, bytecode_for=RUNTIME_VERSION, simulator=simulator)

    assert hashes == {archive.sha256_base64}  # the stack deploys this very archive
    assert ("handlers.simulator.bank.handler" in handlers) == simulator
    found = import_from(archive.path, tmp_path / "unpacked", handlers)["found"]
    assert found == dict.fromkeys(handlers, True)
