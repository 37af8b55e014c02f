"""The URNs of both stacks, both compute options, under mocks: a snapshot that refactors must keep.

A URN is a resource's identity to the engine: a component moved to another module keeps its type token
and so its URN, but a child whose parent or name changes gets a new URN, which `pulumi up` would turn
into a delete and a create unless the child carries an alias naming its old URN. `tests/infra/test_urns.py`
holds the program to this snapshot; after an intended change of resources (a new resource, one removed),
write it anew with `python -m tests.infra.urn_snapshot` and review the diff (a moved resource keeps the URN
its alias names, the one deployed stacks know it by).
"""

from __future__ import annotations

from pathlib import Path

from tests.infra.conftest import DOMAIN, FARGATE
from tests.infra.program import ProgramRun, run_program

SNAPSHOTS = Path(__file__).resolve().parent / "urns"
VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    "eu-lambda": ("eu", {}),
    "us-lambda": ("us", {}),
    "eu-lambda-domain": ("eu", DOMAIN),
    "us-lambda-domain": ("us", DOMAIN),
    "eu-fargate": ("eu", FARGATE),
    "us-fargate": ("us", FARGATE),
}


def run_variant(variant: str) -> ProgramRun:
    stack, overrides = VARIANTS[variant]
    return run_program(stack, overrides)


def snapshot_path(variant: str) -> Path:
    return SNAPSHOTS / f"{variant}.txt"


def read_snapshot(variant: str) -> set[str]:
    return set(snapshot_path(variant).read_text().split())


def unaliased(registered: dict[str, list[str]], expected: set[str]) -> list[str]:
    """URNs neither in the snapshot nor naming one of it in an alias: replacements at the next `pulumi up`."""
    return sorted(urn for urn, aliases in registered.items() if urn not in expected and not expected & set(aliases))


def missing(registered: dict[str, list[str]], expected: set[str]) -> list[str]:
    """URNs of the snapshot that no resource has or names in an alias: deletions at the next `pulumi up`."""
    known = set(registered) | {alias for aliases in registered.values() for alias in aliases}
    return sorted(expected - known)


def deployed(registered: dict[str, list[str]], previous: set[str]) -> set[str]:
    """Each resource's URN as deployed stacks know it: the previous snapshot's URN its alias names (a moved
    resource keeps its identity, and the test keeps holding its alias), else its own."""
    return {next((alias for alias in aliases if alias in previous), urn) for urn, aliases in registered.items()}


def write_snapshots() -> None:
    SNAPSHOTS.mkdir(exist_ok=True)
    for variant in VARIANTS:
        previous = read_snapshot(variant) if snapshot_path(variant).exists() else set()
        urns = sorted(deployed(run_variant(variant).mocks.urns, previous))
        snapshot_path(variant).write_text("\n".join(urns) + "\n")
        print(f"{snapshot_path(variant)}: {len(urns)} URNs")


if __name__ == "__main__":
    write_snapshots()
