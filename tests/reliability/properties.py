"""Each property test twice: bounded for `make test`, and a @pytest.mark.slow copy for `make soak`
that takes its example count from the `soak` profile (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.strategies import SearchStrategy

# The fixtures (moto table, fault bank) are per test and shared by its examples on purpose: each
# example checks that nothing was stored and the bank was not called, so it leaves them as it found them.
_SHARED_FIXTURES = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]

Test = Callable[..., Any]


def property_test(examples: int, **strategies: SearchStrategy[Any]) -> Callable[[Test], tuple[Test, Test]]:
    """`test_x, test_x_soak = property_test(examples=100, body=...)(check)`."""

    def decorate(check: Test) -> tuple[Test, Test]:
        bounded = settings(max_examples=examples, deadline=None, suppress_health_check=_SHARED_FIXTURES)
        # No max_examples: the profile loaded on the command line (soak) decides.
        soaking = settings(deadline=None, suppress_health_check=_SHARED_FIXTURES)
        return bounded(given(**strategies)(check)), pytest.mark.slow(soaking(given(**strategies)(check)))

    return decorate
