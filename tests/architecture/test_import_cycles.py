"""No import cycles in the local stack, the container image's code or the benchmarks, and the image's
code never reaches the local stack, read from the import graph (grimp, import-linter's engine).

The graph holds every import a module makes, also those inside functions and under TYPE_CHECKING:
a cycle closed by an import inside a function fails only when that function runs, under one option.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
# Every package of the repository but tests/: cycles through handlers or components count too.
PACKAGES = tuple(sorted(init.parent.name for init in ROOT.glob("*/__init__.py") if init.parent.name != "tests"))
ACYCLIC = ("local_gateway", "container", "bench")
Cycle = tuple[str, ...]


def import_graph(*packages: str) -> grimp.ImportGraph:
    return grimp.build_graph(*packages, cache_dir=None)  # no cache directory written into the tree


def import_cycles(graph: grimp.ImportGraph, packages: Iterable[str]) -> set[Cycle]:
    """Every cycle through a module of `packages`, as the modules along it, smallest name first:
    for each import a module makes, the shortest way back from the imported module, if any."""
    cycles: set[Cycle] = set()
    for module in sorted(m for m in graph.modules if m.partition(".")[0] in packages):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back:
                cycles.add(_from_smallest((module, *back[:-1])))
    return cycles


def _from_smallest(cycle: Cycle) -> Cycle:
    start = cycle.index(min(cycle))
    return cycle[start:] + cycle[:start]


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return import_graph(*PACKAGES)


def test_the_graph_holds_every_package_of_the_repository(graph: grimp.ImportGraph) -> None:
    assert set(ACYCLIC) | {"handlers", "components", "proxy_gateway"} <= set(PACKAGES)
    assert {"local_gateway.child", "container.wsgi", "bench.cost.model"} <= graph.modules


def test_no_import_cycles_in_the_local_stack_the_container_or_the_benchmarks(graph: grimp.ImportGraph) -> None:
    assert import_cycles(graph, ACYCLIC) == set()


def test_the_containers_code_never_imports_the_local_stack(graph: grimp.ImportGraph) -> None:
    chain = graph.find_shortest_chains("container", "local_gateway", as_packages=True)
    assert chain == set()


@pytest.fixture
def tiny_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A package with the three kinds of cycle, and an import from a function that closes none."""
    modules = {
        "__init__.py": "",
        # a -> b at import, b -> a inside a function: the kind that fails only when the function runs.
        "a.py": "from tiny_cyclic import b\n",
        "b.py": "def later():\n    from tiny_cyclic import a\n",
        # c -> d -> e -> c, the last one under TYPE_CHECKING.
        "c.py": "import tiny_cyclic.d\n",
        "d.py": "from tiny_cyclic.e import E\n",
        "e.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from tiny_cyclic import c\nE = 1\n",
        # f -> g inside a function, g imports nothing of the package: no cycle.
        "f.py": "def later():\n    from tiny_cyclic import g\n",
        "g.py": "import json\n",
    }
    package = tmp_path / "tiny_cyclic"
    package.mkdir()
    for name, text in modules.items():
        (package / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    return package.name


def test_the_cycle_check_finds_each_cycle_whatever_closes_it(tiny_package: str) -> None:
    cycles = import_cycles(import_graph(tiny_package), [tiny_package])

    assert cycles == {
        ("tiny_cyclic.a", "tiny_cyclic.b"),
        ("tiny_cyclic.c", "tiny_cyclic.d", "tiny_cyclic.e"),
    }
