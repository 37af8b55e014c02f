"""Shared by every suite. Hypothesis profiles live here because pytest must know them before it
reads `--hypothesis-profile` (only this top-level conftest is loaded that early).

- default: hypothesis' own (100 examples); suites bound their tests with @settings(max_examples=...).
- soak: `make soak` (`pytest -m slow --hypothesis-profile=soak`): the @pytest.mark.slow copies of the
  property tests run with the profile's example count, no deadline.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile(
    "soak",
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    print_blob=True,
)
