"""The Lambda archive: contents, reproducibility and refusals."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import importlib.util
import shutil
import sys
import zipfile
from pathlib import Path, PurePosixPath

import pulumi
import pytest

from components.packaging import (
    FIXED_DATE_TIME,
    PackagingError,
    build_lambda_archive,
    parse_requirements,
)
from components.regional_gateway import RUNTIME, RUNTIME_VERSION
from tests.infra.program import ProgramRun

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "handlers" / "requirements.txt"
# The only handler modules the tests may rely on; the rest of handlers/ changes under other hands.
SHARED_MODULES = (
    "handlers/__init__.py",
    "handlers/contract/__init__.py",
    "handlers/contract/schema.py",
    "handlers/contract/routes.py",
)


def names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def top_levels(entries: list[str]) -> set[str]:
    return {PurePosixPath(e).parts[0] for e in entries}


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A copy of the shared handler modules, plus things that must stay out of the archive."""
    root = tmp_path / "src"
    (root / "handlers" / "tests").mkdir(parents=True)
    (root / "handlers" / "__pycache__").mkdir()
    for module in SHARED_MODULES:
        (root / module).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / module, root / module)
    (root / "handlers" / "tests" / "test_x.py").write_text("assert True\n")
    (root / "handlers" / "test_inline.py").write_text("assert True\n")
    (root / "handlers" / "conftest.py").write_text("")
    (root / "handlers" / "__pycache__" / "schema.cpython-311.pyc").write_bytes(b"\x00")
    (root / "handlers" / "stale.pyc").write_bytes(b"\x00")
    return root


def build(root: Path, out: Path, requirements: Path = REQUIREMENTS) -> tuple[Path, str]:
    archive = build_lambda_archive(root, out, requirements_file=requirements)
    return archive.path, archive.sha256_base64


def test_archive_of_the_real_tree_has_handlers_and_dependencies(tmp_path: Path) -> None:
    archive = build_lambda_archive(ROOT, tmp_path)
    entries = names(archive.path)
    assert set(SHARED_MODULES) <= set(entries)
    assert {"attr", "attrs", "cattrs", "ulid", "typing_extensions.py"} <= top_levels(entries)
    assert entries == list(archive.entries)


def test_archive_excludes_pulumi_tests_and_bytecode(source: Path, tmp_path: Path) -> None:
    path, _ = build(source, tmp_path / "out")
    entries = names(path)
    assert not any(PurePosixPath(e).parts[0].startswith("pulumi") for e in entries)
    assert not any({"tests", "__pycache__"} & set(PurePosixPath(e).parts) for e in entries)
    assert not any(e.endswith((".pyc", ".pyo")) for e in entries)
    assert "handlers/test_inline.py" not in entries
    assert "handlers/conftest.py" not in entries
    assert not any(e.endswith(("/RECORD", "/INSTALLER", "/direct_url.json")) for e in entries)


def test_archive_entries_are_sorted_with_fixed_metadata(source: Path, tmp_path: Path) -> None:
    path, _ = build(source, tmp_path / "out")
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {FIXED_DATE_TIME}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}
    assert {i.compress_type for i in infos} == {zipfile.ZIP_STORED}


def test_build_is_reproducible_and_the_hash_is_lambdas_format(source: Path, tmp_path: Path) -> None:
    first, first_hash = build(source, tmp_path / "one")
    second, second_hash = build(source, tmp_path / "two")
    assert first.read_bytes() == second.read_bytes()
    assert first_hash == second_hash == base64.b64encode(hashlib.sha256(first.read_bytes()).digest()).decode()


def test_a_changed_handler_changes_the_hash(source: Path, tmp_path: Path) -> None:
    _, before = build(source, tmp_path / "out")
    schema = source / "handlers" / "contract" / "schema.py"
    schema.write_text(schema.read_text() + "\n# changed\n")
    _, after = build(source, tmp_path / "out")
    assert before != after


def test_a_change_in_excluded_files_keeps_the_hash(source: Path, tmp_path: Path) -> None:
    _, before = build(source, tmp_path / "out")
    (source / "handlers" / "tests" / "test_x.py").write_text("assert 1 == 1\n")
    (source / "handlers" / "__pycache__" / "other.cpython-311.pyc").write_bytes(b"\x01")
    _, after = build(source, tmp_path / "out")
    assert before == after


def test_compiled_extension_in_handlers_is_refused(source: Path, tmp_path: Path) -> None:
    (source / "handlers" / "speedups.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\x7fELF")
    with pytest.raises(PackagingError, match="compiled extension"):
        build(source, tmp_path / "out")


def test_compiled_extension_in_a_dependency_is_refused(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    (site / "fastthing").mkdir(parents=True)
    (site / "fastthing" / "__init__.py").write_text("")
    (site / "fastthing" / "_speed.abi3.so").write_bytes(b"\x7fELF")
    dist_info = site / "fastthing-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: fastthing\nVersion: 1.0\n")
    (dist_info / "RECORD").write_text(
        "fastthing/__init__.py,,\nfastthing/_speed.abi3.so,,\nfastthing-1.0.dist-info/METADATA,,\n"
    )
    monkeypatch.syspath_prepend(str(site))
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("fastthing==1.0\n")
    with pytest.raises(PackagingError, match="compiled extension"):
        build(source, tmp_path / "out", requirements)


def test_pulumi_is_refused_even_if_required(source: Path, tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"pulumi=={importlib.metadata.version('pulumi')}\n")
    with pytest.raises(PackagingError, match="never be in the Lambda archive"):
        build(source, tmp_path / "out", requirements)


@pytest.mark.parametrize("line", ["attrs", "attrs>=20", "attrs @ https://example.com/attrs.whl"])
def test_unpinned_requirements_are_refused(line: str) -> None:
    with pytest.raises(PackagingError, match="pinned"):
        parse_requirements(line)


def test_a_version_other_than_the_pin_is_refused(source: Path, tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("attrs==0.0.1\n")
    with pytest.raises(PackagingError, match=r"pins 0\.0\.1"):
        build(source, tmp_path / "out", requirements)


def test_bytecode_is_added_only_for_the_runtimes_python_and_reproducibly(tmp_path: Path) -> None:
    """Lambda cannot write __pycache__ in /var/task: shipping pycs saves every cold start's compile."""
    this_python = sys.version_info[:2]
    first = build_lambda_archive(ROOT, tmp_path / "a", bytecode_for=this_python)
    again = build_lambda_archive(ROOT, tmp_path / "b", bytecode_for=this_python)
    other = build_lambda_archive(ROOT, tmp_path / "c", bytecode_for=(this_python[0], this_python[1] + 1))
    assert first.sha256_base64 == again.sha256_base64  # unchecked-hash pycs carry no timestamp
    tag = sys.implementation.cache_tag
    pycs = {e for e in first.entries if e.endswith(".pyc")}
    modules = {e for e in first.entries if e.endswith(".py")}
    assert pycs == {
        str(PurePosixPath(m).parent / "__pycache__" / f"{PurePosixPath(m).stem}.{tag}.pyc") for m in modules
    }
    assert not any(e.endswith(".pyc") for e in other.entries)  # another version would ignore them
    with zipfile.ZipFile(first.path) as archive:
        header = archive.read(f"handlers/domain/__pycache__/service.{tag}.pyc")[:8]
    assert header[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(header[4:8], "little") == 0b01  # hash-based, unchecked (PEP 552)


@pytest.fixture
def warnings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the build tells `pulumi preview`/`up` through pulumi.log.warn."""
    said: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *args, **kwargs: said.append(message))
    return said


def test_a_source_only_archive_is_warned_about_with_the_fix(source: Path, tmp_path: Path, warnings: list[str]) -> None:
    this_python = sys.version_info[:2]
    runtime = (this_python[0], this_python[1] + 1)
    archive = build_lambda_archive(source, tmp_path / "out", requirements_file=tmp_path / "none", bytecode_for=runtime)
    assert not any(e.endswith(".pyc") for e in archive.entries)
    running, wanted = f"{this_python[0]}.{this_python[1]}", f"{runtime[0]}.{runtime[1]}"
    assert len(warnings) == 1
    assert f"built by Python {running}, not the functions' runtime Python {wanted}" in warnings[0]
    assert "source only" in warnings[0]
    assert f"python{wanted} -m venv .venv" in warnings[0]  # in a package user's own terms first
    assert warnings[0].endswith(f"make clean && make install PYTHON=python{wanted}")


def test_no_warning_with_bytecode_or_when_none_was_asked_for(source: Path, tmp_path: Path, warnings: list[str]) -> None:
    none = tmp_path / "none"
    with_pycs = build_lambda_archive(source, tmp_path / "a", requirements_file=none, bytecode_for=sys.version_info[:2])
    build_lambda_archive(source, tmp_path / "b", requirements_file=none)  # bench's source-tree archive
    assert any(e.endswith(".pyc") for e in with_pycs.entries)
    assert warnings == []


def test_the_program_warns_when_deployed_from_another_python_than_the_runtime(eu: ProgramRun) -> None:
    """RUNTIME_VERSION is the functions' runtime; a `pulumi up` from another Python (3.11 here) warns once."""
    assert f"python{RUNTIME_VERSION[0]}.{RUNTIME_VERSION[1]}" == RUNTIME
    source_only = [w for w in eu.warnings if "source only" in w]
    if sys.version_info[:2] == RUNTIME_VERSION:
        assert source_only == []
    else:
        assert len(source_only) == 1 and source_only[0].endswith("make clean && make install PYTHON=python3.13")
