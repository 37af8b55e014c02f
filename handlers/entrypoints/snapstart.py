"""Lambda SnapStart: what a snapshot shares must be made unique again in every restored environment.

With SnapStart, Lambda runs a published version's init once, snapshots the process and starts
every new execution environment from that one snapshot (AWS Lambda developer guide, "Handling
uniqueness with Lambda SnapStart"). Anything random held in user space at the snapshot is then
the same in all of them:
- python-ulid's generator keeps the last id's timestamp and randomness and, within the same
  millisecond, increments them: two environments restored from one snapshot would produce the
  same next id for a payment created at the same millisecond;
- `random`'s Mersenne Twister (botocore's retry jitter) would draw the same sequence.
`os.urandom` and `secrets` (idempotency claim owners, API keys) read the kernel at each call and
need nothing. No connection is opened at init (priming builds clients, it never sends), and
botocore's credentials from the container provider refresh themselves.

`snapshot_restore_py` is provided by the Lambda Python runtime (3.12+); elsewhere it is absent
and the hooks are only kept here, so tests and `run_after_restore()` can run them.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable

import ulid

_AFTER_RESTORE: list[Callable[[], None]] = []


def after_restore(hook: Callable[[], None]) -> Callable[[], None]:
    """Run `hook` in every environment restored from a snapshot (in registration order)."""
    _AFTER_RESTORE.append(hook)
    try:
        from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found]  # noqa: PLC0415
    except ImportError:
        return hook
    register_after_restore(hook)
    return hook


def run_after_restore() -> None:
    """What the runtime does after a restore: for a simulated restore (tests, benchmarks)."""
    for hook in _AFTER_RESTORE:
        hook()


def initializing_a_snapshot(env: os._Environ[str] | dict[str, str] = os.environ) -> bool:
    """True during the init that Lambda snapshots (AWS_LAMBDA_INITIALIZATION_TYPE=snap-start)."""
    return env.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start"


@after_restore
def fresh_id_generator() -> None:
    """A new generator: no timestamp, randomness or lock carried over from the snapshot."""
    ulid.default_generator = ulid.ULIDGenerator()


@after_restore
def reseed_random() -> None:
    random.seed()  # from os.urandom
