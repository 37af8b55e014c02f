"""The in-memory ports the domain's unit tests share (the same semantics as handlers.adapters.dynamo)."""

from __future__ import annotations

import pytest

from tests.fakes import FakeClock, MemoryRepository, ScriptedBank


@pytest.fixture
def repo() -> MemoryRepository:
    return MemoryRepository()


@pytest.fixture
def bank() -> ScriptedBank:
    return ScriptedBank()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
