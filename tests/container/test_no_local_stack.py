"""The image's code never imports the local stack: loading what gunicorn loads in the image
(container.app, its config and logger) pulls in nothing of local_gateway, even with the local
stack's own LOCAL_CONTROL=1, and runs from the image's files alone (the Dockerfile's COPY lines)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.container.test_image import ROOT, RUNTIME_PACKAGES, image_files

# What gunicorn imports in a task: its config file's module, the logger class it names, the app.
LOAD_THE_IMAGES_MODULES = """
import json, sys
import container.gunicorn_conf, container.gunicorn_logging, container.app
print(json.dumps(sorted({name.partition(".")[0] for name in sys.modules})))
"""


def image_tree(destination: Path) -> Path:
    """/app as the image has it: the files the Dockerfile copies, and nothing else of the repository."""
    for name in image_files(ROOT):
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, target)
    return destination


def loaded_packages(root: Path) -> set[str]:
    """The top-level packages a fresh interpreter holds after loading the image's modules from `root`."""
    env = {
        "PATH": os.environ["PATH"],
        "AWS_REGION": "eu-west-1",
        "TABLE_NAME": "payments",
        "BANK_URL": "http://127.0.0.1:9/payments",  # never called: the app is only built
        "FINGERPRINT_KEY": "no-local-stack-test-key",
        "API_KEY_MODE": "test",
        "CURSOR_KEY": "cursor-key-of-the-tests",
        "LOCAL_CONTROL": "1",  # the local stack's setting: it must not bring the local stack in either
    }
    run = subprocess.run(
        [sys.executable, "-c", LOAD_THE_IMAGES_MODULES], cwd=root, env=env, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    return set(json.loads(run.stdout.splitlines()[-1]))


@pytest.mark.parametrize("tree", ["repository", "image"])
def test_the_images_modules_import_nothing_of_the_local_stack(tree: str, tmp_path: Path) -> None:
    # In the repository local_gateway could be imported, so its absence shows nothing asked for it;
    # in the image's files alone it could not, so loading at all shows the image holds what it needs.
    root = ROOT if tree == "repository" else image_tree(tmp_path / "app")

    loaded = loaded_packages(root)

    ours = {path.name for path in ROOT.iterdir() if (path / "__init__.py").is_file()}  # local_gateway, bench...
    assert loaded & ours == RUNTIME_PACKAGES  # container, handlers, proxy_gateway
