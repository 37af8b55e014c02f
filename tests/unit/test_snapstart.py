"""SnapStart: environments restored from one snapshot must not repeat each other's payment ids.

A restore is simulated by fork(): each child starts from the parent's memory exactly as every
restored environment starts from the snapshot's, then runs the after-restore hooks (as the Lambda
runtime does through snapshot_restore_py) and creates payments.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from handlers.domain import ids
from handlers.entrypoints import snapstart

# The worst case: the restored environments create payments at the very millisecond the snapshot's
# init created its last id (python-ulid then increments the shared state instead of drawing anew).
MOMENT = datetime(2026, 12, 6, 12, 0, 0, 123000, tzinfo=UTC)
IDS_PER_ENVIRONMENT = 5


def ids_in_restored_environment(restore: Callable[[], None]) -> list[str]:
    """Fork (the restore), run `restore` in the child, and return the ids the child created."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the restored environment
        try:
            os.close(read_end)
            restore()
            created = [ids.new_payment_id(MOMENT) for _ in range(IDS_PER_ENVIRONMENT)]
            os.write(write_end, json.dumps(created).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        created = json.loads(pipe.read())
    os.waitpid(pid, 0)
    return list(created)


@pytest.fixture
def snapshot() -> None:
    """The init that Lambda snapshots: the module loaded, an id already created."""
    ids.new_payment_id(MOMENT)


@pytest.mark.usefixtures("snapshot")
def test_two_restores_of_one_snapshot_create_different_ids() -> None:
    first = ids_in_restored_environment(snapstart.run_after_restore)
    second = ids_in_restored_environment(snapstart.run_after_restore)
    assert len(set(first)) == len(set(second)) == IDS_PER_ENVIRONMENT
    assert not set(first) & set(second)


@pytest.mark.usefixtures("snapshot")
def test_without_the_hooks_two_restores_repeat_each_others_ids() -> None:
    # What the hooks are for: the simulation does reproduce the collision they prevent.
    assert ids_in_restored_environment(lambda: None) == ids_in_restored_environment(lambda: None)


def test_the_hooks_reseed_random() -> None:
    random.seed(7)
    state = random.getstate()
    snapstart.run_after_restore()
    assert random.getstate() != state


def test_a_snapshot_init_is_told_by_the_runtime_s_initialization_type() -> None:
    assert snapstart.initializing_a_snapshot({"AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"})
    assert not snapstart.initializing_a_snapshot({"AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand"})
    assert not snapstart.initializing_a_snapshot({})


PRIMED = """
import socket, sys
sent = []
real_connect = socket.socket.connect
socket.socket.connect = lambda self, address: sent.append(address) or real_connect(self, address)
from handlers.entrypoints import api, wiring
print(wiring.repository.cache_info().currsize, wiring.payment_service.cache_info().currsize, len(sent))
"""


@pytest.mark.parametrize(("initialization", "built"), [("snap-start", "1 1"), ("on-demand", "0 0")])
def test_a_snapshot_init_builds_the_clients_and_connects_nowhere(initialization: str, built: str) -> None:

    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_INITIALIZATION_TYPE": initialization,
        "AWS_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_EC2_METADATA_DISABLED": "true",
        "TABLE_NAME": "payments",
        "DYNAMODB_ENDPOINT_URL": "http://127.0.0.1:9",
        "BANK_URL": "http://127.0.0.1:9/bank",
        "FINGERPRINT_KEY": "k" * 32,
    }
    root = Path(__file__).resolve().parents[2]
    answer = subprocess.run(
        [sys.executable, "-c", PRIMED], env=env, cwd=root, capture_output=True, text=True, check=True
    ).stdout.split()
    assert " ".join(answer[:2]) == built
    assert answer[2] == "0"  # nothing sent at init: no connection to go stale in the snapshot
