"""handlers.domain never reads the environment: configuration reaches it as arguments, read once by
the entry points (handlers.entrypoints.settings). Import-linter sees modules, not `os.environ`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parents[2] / "handlers" / "domain"
ENVIRONMENT = frozenset({"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"})


def environment_reads(source: str) -> list[str]:
    """Each place `source` reaches the environment through `os`, however `os` or the name is imported."""
    tree = ast.parse(source)
    imports = [node for node in ast.walk(tree) if isinstance(node, ast.Import)]
    os_names = {alias.asname or alias.name for node in imports for alias in node.names if alias.name == "os"}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            names = [alias.name for alias in node.names if alias.name in ENVIRONMENT | {"*"}]
            found += [f"line {node.lineno}: from os import {name}" for name in names]
        elif _is_os_attribute(node, os_names):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def _is_os_attribute(node: ast.AST, os_names: set[str]) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr in ENVIRONMENT
        and isinstance(node.value, ast.Name)
        and node.value.id in os_names
    )


@pytest.mark.parametrize("module", sorted(DOMAIN.glob("*.py")), ids=lambda path: path.name)
def test_no_domain_module_reads_the_environment(module: Path) -> None:
    assert environment_reads(module.read_text()) == []


@pytest.mark.parametrize(
    "source",
    [
        "import os\nos.environ['X']",
        "import os\nos.getenv('X')",
        "import os as system\nsystem.environ.get('X')",
        "from os import environ",
        "from os import getenv as read",
        "from os import *",
    ],
)
def test_the_check_finds_each_way_of_reading_it(source: str) -> None:
    assert environment_reads(source)


def test_the_check_leaves_other_uses_of_os_alone() -> None:
    assert environment_reads("import os\nos.urandom(16)\nsettings.environ") == []
