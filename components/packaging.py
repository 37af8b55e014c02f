"""A reproducible Lambda archive: the `handlers` package plus its pure-Python dependencies.

The same source tree always gives the same bytes, so the same hash, so no spurious Lambda
update on `pulumi up`:

- entries are sorted and carry a fixed timestamp (1980-01-01, the earliest a zip can hold),
  fixed permissions (0644) and a fixed "made on Unix" marker;
- entries are STORED, not deflated: deflate output depends on the zlib build (zlib vs zlib-ng),
  so two machines could otherwise produce different archives from the same tree. The archive
  is under 1 MB, far below Lambda's 50 MB direct-upload limit, and unzipping it costs nothing;
- dependencies are copied from the distributions installed in the current environment (the
  pinned ones in `handlers/requirements.txt`), file by file from their RECORD, never from the
  network. A version mismatch or a compiled extension is refused: the archive runs on arm64
  Lambda, and an x86_64 `.so` built here would fail there at import time.

The handlers come from wherever they are imported from (`handlers_source_root`): this repository,
or the site-packages of a program that installed the `payment-gateway` package (the wheel ships
`handlers/requirements.txt` with them), so another team's Pulumi program builds the same archive.

Only what the functions run goes in: never the operator's commands (`handlers/ops`, `handlers/admin.py`,
NOT_DEPLOYED), and the bank simulator (`handlers/simulator`) only for a stack that deploys it
(`simulator=True`), so a stack with a real acquirer carries no code that approves payments by card
number. `pulumi`, tests and the tree's own `__pycache__` and `.pyc` files never go in. Bytecode is added
only when the building interpreter is the runtime's version (`bytecode_for`): Lambda cannot write
`__pycache__` in /var/task, so without it every cold start compiles every module (measured: 1.6-1.8x
the import floor instead of 1.25x, docs/performance.md). The pycs are unchecked-hash (PEP 552):
no timestamps, so the archive stays reproducible. Built by another version, the archive carries source only,
and `pulumi preview`/`up` says so with a warning (`pulumi.log.warn`) naming the fix.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import importlib.util
import io
import os
import py_compile
import re
import sys
import tempfile
import zipfile
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pulumi

FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644  # regular file, rw-r--r--
ZIP_UNIX = 3
COMPILED_SUFFIXES = frozenset({".so", ".pyd", ".dll", ".dylib"})
EXCLUDED_DIRS = frozenset({"__pycache__", "tests", "test", ".pytest_cache", ".mypy_cache"})
EXCLUDED_FILE_PATTERNS = (re.compile(r"^test_.*\.py$"), re.compile(r".*_test\.py$"), re.compile(r"^conftest\.py$"))
EXCLUDED_SUFFIXES = frozenset({".pyc", ".pyo"})
# dist-info files that name the local machine or the installer; METADATA and licences stay.
EXCLUDED_DIST_INFO = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
# Never bundled, whatever a requirements file says: the deployment tool is not runtime code.
FORBIDDEN_TOP_LEVEL = frozenset({"pulumi", "pulumi_aws", "tests"})
# Parts of the package (paths relative to it) that no function runs: the operator's commands.
NOT_DEPLOYED = ("admin.py", "ops")
# The bank simulator: archived only where it is deployed (build_lambda_archive's `simulator`).
SIMULATOR = "simulator"
_REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*(?P<version>[^\s;#]+)")


class PackagingError(Exception):
    """The archive cannot be built reproducibly or would not run on Lambda."""


@dataclass(frozen=True)
class LambdaArchive:
    """A built archive: where it is and its base64 SHA-256 (Lambda's `CodeSha256` format)."""

    path: Path
    sha256_base64: str
    entries: tuple[str, ...]


@dataclass(frozen=True)
class Requirement:
    name: str
    version: str


def parse_requirements(text: str) -> list[Requirement]:
    """Pinned `name==version` lines; anything unpinned is refused (it would not be reproducible)."""
    requirements = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _REQUIREMENT.match(line)
        if match is None:
            raise PackagingError(f"handlers requirement {line!r} must be pinned as name==version")
        requirements.append(Requirement(match["name"], match["version"]))
    return requirements


def _excluded(relative: PurePosixPath) -> bool:
    if any(part in EXCLUDED_DIRS or part.startswith(".") for part in relative.parts[:-1]):
        return True
    name = relative.name
    if name.startswith(".") or relative.suffix in EXCLUDED_SUFFIXES:
        return True
    return any(pattern.match(name) for pattern in EXCLUDED_FILE_PATTERNS)


def _refuse_compiled(arcname: str, origin: str) -> None:
    if PurePosixPath(arcname).suffix in COMPILED_SUFFIXES or ".so." in arcname:
        raise PackagingError(f"{origin} contains a compiled extension {arcname!r}; the Lambda archive is pure Python")


def package_files(source_root: Path, package: str, leave_out: Collection[str] = ()) -> Iterator[tuple[str, Path]]:
    """The package's own files, as (archive name, file on disk); `leave_out`: its modules and
    subpackages (paths relative to the package) that stay out."""
    base = source_root / package
    if not (base / "__init__.py").is_file():
        raise PackagingError(f"{base} is not a Python package")
    for path in sorted(base.rglob("*")):
        if not path.is_file():
            continue
        relative = PurePosixPath(path.relative_to(source_root).as_posix())
        if _excluded(relative) or relative.parts[1] in leave_out:
            continue
        _refuse_compiled(str(relative), package)
        yield str(relative), path


def distribution_files(requirement: Requirement) -> Iterator[tuple[str, Path]]:
    """The installed files of one pinned distribution, as (archive name, file on disk)."""
    try:
        dist = importlib.metadata.distribution(requirement.name)
    except importlib.metadata.PackageNotFoundError as e:
        raise PackagingError(f"{requirement.name} is not installed; run `make` to install the requirements") from e
    if dist.version != requirement.version:
        raise PackagingError(
            f"{requirement.name} {dist.version} is installed but handlers/requirements.txt pins {requirement.version}"
        )
    for file in dist.files or ():
        relative = PurePosixPath(file.as_posix())
        # Scripts and data installed outside site-packages (`../../bin/...`) are not importable code.
        if relative.is_absolute() or ".." in relative.parts or _excluded(relative):
            continue
        if relative.parent.name.endswith(".dist-info") and relative.name in EXCLUDED_DIST_INFO:
            continue
        _refuse_compiled(str(relative), f"{requirement.name} {requirement.version}")
        yield str(relative), Path(str(dist.locate_file(file)))


def collect_entries(
    source_root: Path, package: str, requirements: Iterable[Requirement], leave_out: Collection[str] = ()
) -> dict[str, Path]:
    """Every archive entry and its source, checked for duplicates and forbidden content."""
    entries: dict[str, Path] = {}
    sources = [package_files(source_root, package, leave_out)] + [distribution_files(r) for r in requirements]
    for source in sources:
        for arcname, path in source:
            top = PurePosixPath(arcname).parts[0]
            if top in FORBIDDEN_TOP_LEVEL or top.startswith("pulumi"):
                raise PackagingError(f"{arcname!r} must never be in the Lambda archive")
            if arcname in entries:
                raise PackagingError(f"{arcname!r} is provided twice ({entries[arcname]} and {path})")
            entries[arcname] = path
    return entries


def with_bytecode(entries: dict[str, Path], scratch: Path) -> dict[str, Path]:
    """Add `__pycache__/<module>.<tag>.pyc` for every module, compiled by this interpreter."""
    compiled = dict(entries)
    for arcname, path in entries.items():
        if not arcname.endswith(".py"):
            continue
        relative = PurePosixPath(arcname)
        pyc = relative.parent / "__pycache__" / f"{relative.stem}.{sys.implementation.cache_tag}.pyc"
        target = scratch / pyc
        py_compile.compile(
            str(path),
            cfile=str(target),
            dfile=f"/var/task/{arcname}",  # where tracebacks will say the code is
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        compiled[str(pyc)] = target
    return compiled


def source_only_warning(built_with: tuple[int, int], runtime: tuple[int, int]) -> str:
    running, wanted = ".".join(map(str, built_with)), ".".join(map(str, runtime))
    return (
        f"The Lambda archive is built by Python {running}, not the functions' runtime Python {wanted}: it carries "
        f"source only, so every cold start compiles every module (about 1.3x slower imports, docs/performance.md). "
        f"Run `pulumi up` from a Python {wanted} virtualenv (the one Pulumi.yaml's runtime points at): "
        f"python{wanted} -m venv .venv && .venv/bin/pip install -r <your requirements>; in the gateway's own "
        f"repository: make clean && make install PYTHON=python{wanted}"
    )


def archive_bytes(entries: dict[str, Path]) -> bytes:
    """A zip of the entries with sorted names, fixed metadata and no compression (see module doc)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for arcname in sorted(entries):
            info = zipfile.ZipInfo(arcname, date_time=FIXED_DATE_TIME)
            info.create_system = ZIP_UNIX
            info.external_attr = FILE_MODE << 16
            info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, entries[arcname].read_bytes())
    return buffer.getvalue()


def handlers_source_root(package: str = "handlers") -> Path:
    """The directory that holds the importable `package`: the repository root in a checkout,
    site-packages where the `payment-gateway` distribution is installed."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise PackagingError(f"the {package!r} package cannot be imported; install payment-gateway")
    return Path(spec.origin).resolve().parent.parent


def build_lambda_archive(
    source_root: Path,
    out_dir: Path | None = None,
    *,
    package: str = "handlers",
    requirements_file: Path | None = None,
    archive_name: str = "lambda.zip",
    bytecode_for: tuple[int, int] | None = None,
    simulator: bool = False,
) -> LambdaArchive:
    """Build `<out_dir>/<archive_name>` (default `build/lambda.zip`) and return its path and hash.

    The file is written to a temporary name and renamed, so a concurrent build never leaves a
    half-written archive for `pulumi up` to upload. With `bytecode_for` a version other than this
    interpreter's, the archive carries source only and a Pulumi warning says so. `simulator`: the
    stack deploys the bank simulator, whose handler then must be in the archive.
    """
    out_dir = out_dir if out_dir is not None else source_root / "build"
    requirements_file = requirements_file or source_root / package / "requirements.txt"
    requirements = parse_requirements(requirements_file.read_text()) if requirements_file.is_file() else []
    leave_out = NOT_DEPLOYED if simulator else (*NOT_DEPLOYED, SIMULATOR)
    entries = collect_entries(source_root, package, requirements, leave_out)
    with tempfile.TemporaryDirectory() as scratch:
        if bytecode_for == sys.version_info[:2]:
            entries = with_bytecode(entries, Path(scratch))
        elif bytecode_for is not None:
            pulumi.log.warn(source_only_warning((sys.version_info[0], sys.version_info[1]), bytecode_for))
        data = archive_bytes(entries)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / archive_name
    with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".lambda-", suffix=".zip", delete=False) as handle:
        handle.write(data)
    os.replace(handle.name, target)
    digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
    return LambdaArchive(path=target, sha256_base64=digest, entries=tuple(sorted(entries)))
