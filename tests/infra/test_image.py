"""What goes into the API image, and the content hash its tag carries (components/image.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from components.image import (
    build_context_files,
    build_locations,
    context_hash,
    copied_sources,
    is_ignored,
    lifecycle_policy,
)
from container import spec
from tests.infra.program import ROOT

DOCKERFILE = """\
# syntax=docker/dockerfile:1
FROM python:3.13-slim AS build
COPY --from=build /wheels /wheels
COPY handlers/requirements.txt handlers/requirements.txt
RUN pip install -r handlers/requirements.txt
COPY handlers/ handlers/
COPY ["container/", "container/"]
ADD https://example.com/x.tar.gz /opt/
CMD ["true"]
"""


def tree(tmp_path: Path, dockerignore: str = "**/__pycache__\n*.md\n!KEEP.md\n") -> Path:
    for path, content in {
        "handlers/api.py": "x = 1\n",
        "handlers/requirements.txt": "attrs==26.1.0\n",
        "handlers/__pycache__/api.cpython-313.pyc": "bytecode",
        "handlers/README.md": "notes",
        "container/app.py": "application = None\n",
        "container/Dockerfile": DOCKERFILE,
        "tests/test_x.py": "not copied",
        "KEEP.md": "kept",
    }.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(content)
    (tmp_path / ".dockerignore").write_text(dockerignore)
    return tmp_path


def test_copy_and_add_sources_exclude_other_stages_and_urls() -> None:
    assert copied_sources(DOCKERFILE) == ["handlers/requirements.txt", "handlers/", "container/"]


def test_the_context_is_what_the_dockerfile_copies_less_what_dockerignore_excludes(tmp_path: Path) -> None:
    root = tree(tmp_path)
    assert build_context_files(root, "container/Dockerfile") == [
        ".dockerignore",
        "container/Dockerfile",
        "container/app.py",
        "handlers/README.md",  # `*.md` matches at the root only, as in Docker
        "handlers/api.py",
        "handlers/requirements.txt",
    ]


def test_dockerignore_patterns_as_docker_reads_them() -> None:
    rules = [(True, "**/__pycache__"), (True, "*.md"), (False, "KEEP.md"), (True, "build")]
    assert is_ignored("handlers/__pycache__/x.pyc", rules) and is_ignored("__pycache__/x.pyc", rules)
    assert is_ignored("README.md", rules) and not is_ignored("KEEP.md", rules)
    assert not is_ignored("handlers/README.md", rules)  # `*` does not cross a directory
    assert is_ignored("build/lambda.zip", rules) and not is_ignored("handlers/build.py", rules)


def test_an_unchanged_tree_gives_the_same_hash_and_a_copied_change_a_new_one(tmp_path: Path) -> None:
    root = tree(tmp_path)
    first = context_hash(root, "container/Dockerfile")
    (root / "tests/test_x.py").write_text("changed, but not copied")
    (root / "handlers/__pycache__/api.cpython-313.pyc").write_text("recompiled")
    assert context_hash(root, "container/Dockerfile") == first
    (root / "handlers/api.py").write_text("x = 2\n")
    assert context_hash(root, "container/Dockerfile") != first


def test_the_dockerfile_itself_is_part_of_the_hash(tmp_path: Path) -> None:
    root = tree(tmp_path)
    first = context_hash(root, "container/Dockerfile")
    (root / "container/Dockerfile").write_text(DOCKERFILE.replace("3.13", "3.14"))
    assert context_hash(root, "container/Dockerfile") != first


def test_the_hash_follows_the_content_not_the_location(tmp_path: Path) -> None:
    one, two = tree(tmp_path / "one"), tmp_path / "two"
    shutil.copytree(one, two)
    assert context_hash(one, "container/Dockerfile") == context_hash(two, "container/Dockerfile")


def test_this_repositorys_image_holds_the_handlers_and_the_container_package() -> None:
    files = build_context_files(ROOT)
    assert spec.DOCKERFILE in files and "container/spec.py" in files and "handlers/entrypoints/api.py" in files
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc") or f.startswith("tests/")]


def test_the_lifecycle_policy_keeps_the_last_images() -> None:
    assert '"countNumber": 7' in lifecycle_policy(7)


def test_keep_at_least_two_images() -> None:
    from components.image import ContainerImageArgs  # noqa: PLC0415

    with pytest.raises(ValueError, match="at least 2"):
        ContainerImageArgs(region="eu-west-1", context=ROOT, repository_name="x", kms_key_arn="k", keep_images=1)


def test_the_build_locations_are_relative_so_every_checkout_gives_docker_build_the_same_inputs(tmp_path: Path) -> None:
    """docker-build compares `context.location` as a string: an absolute path would rebuild and re-push an
    unchanged image from another checkout, which the immutable tag refuses."""
    one, two = tree(tmp_path / "one"), tree(tmp_path / "two")
    assert build_locations(one, "container/Dockerfile", one) == (".", "container/Dockerfile")
    assert build_locations(one, "container/Dockerfile", one) == build_locations(two, "container/Dockerfile", two)
    assert build_locations(one / "container", "Dockerfile", one) == ("container", "container/Dockerfile")
