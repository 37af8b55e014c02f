"""Each documented use of the installed distribution imports with the base dependencies and its extra:
`container` (compute: fargate's image build and server), `admin` (python -m handlers.admin), and the
components with the base dependencies alone. The third-party imports of the files each use lists are
read from the source (ast; what those files import of `handlers.*` is not followed: the container's
image pins are checked apart), mapped to the distributions that provide them, and must be among the
base dependencies, the extra and what those require in turn."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
OURS = {"handlers", "components", "proxy_gateway", "container"}
USES = {
    "container": ["components/image.py", "container"],
    "admin": ["handlers/admin.py", "handlers/ops"],
}


def project() -> dict[str, object]:
    loaded: dict[str, object] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return loaded


def name_of(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[@]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def closure(names: set[str]) -> set[str]:
    """The distributions and everything they require (installed here), by normalized name."""
    found, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        try:
            requirements = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:  # a marker keeps it out of this Python
            continue
        todo.extend(name_of(r) for r in requirements if "extra ==" not in r)
    return found


def imported(paths: list[str], leaving_out: tuple[str, ...] = ()) -> set[str]:
    modules: set[str] = set()
    for path in paths:
        target = ROOT / path
        sources = [target] if target.is_file() else sorted(target.rglob("*.py"))
        for source in (s for s in sources if str(s.relative_to(ROOT)) not in leaving_out):
            for node in ast.walk(ast.parse(source.read_text())):
                if isinstance(node, ast.Import):
                    modules |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    modules.add(node.module.split(".")[0])
    return {m for m in modules if m not in OURS and m not in sys.stdlib_module_names and m != "__future__"}


def missing_from(available: set[str], modules: set[str]) -> dict[str, set[str]]:
    providers = importlib.metadata.packages_distributions()
    needed = {module: {d.lower().replace("_", "-") for d in providers.get(module, [module])} for module in modules}
    return {module: dists for module, dists in needed.items() if not dists & available}


def test_the_components_import_with_the_base_dependencies_alone() -> None:
    """A plain `pip install payment-gateway` builds every component but the Fargate image's."""
    base = {name_of(r) for r in project()["dependencies"]}  # type: ignore[attr-defined]
    needed = imported(["components"], leaving_out=("components/image.py",))  # the handlers run on Lambda's own
    assert missing_from(closure(base), needed) == {}


@pytest.mark.parametrize("extra", sorted(USES))
def test_each_extra_covers_the_imports_of_its_use(extra: str) -> None:
    declared = project()
    base = {name_of(r) for r in declared["dependencies"]}  # type: ignore[attr-defined]
    extras: dict[str, list[str]] = declared["optional-dependencies"]  # type: ignore[assignment]
    available = closure(base | {name_of(r) for r in extras[extra]})
    missing = missing_from(available, imported(USES[extra]))
    assert missing == {}, f"[{extra}] lacks the distributions of {missing}"


def test_the_container_extra_holds_the_images_own_pins() -> None:
    pins = re.findall(r"^([A-Za-z0-9_.-]+==\S+)", (ROOT / "container" / "requirements.txt").read_text(), re.M)
    extras: dict[str, list[str]] = project()["optional-dependencies"]  # type: ignore[assignment]
    assert set(pins) <= set(extras["container"])
