from __future__ import annotations

import pytest

from local_gateway.gateway import Gateway
from tests.local import fake_handlers


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def gateway(clock: FakeClock) -> Gateway:
    fake_handlers.AUTHORIZER_EVENTS.clear()
    return Gateway(
        region="eu-west-1",
        routes=fake_handlers.ROUTES,
        authorizer=fake_handlers.AUTHORIZER,
        authorizer_cache_seconds=300,
        clock=clock,
    )
