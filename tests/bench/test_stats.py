import math

import pytest

from bench.stats import Summary, median, percentile, ratio


def test_nearest_rank_percentiles_are_observed_values() -> None:
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile(values, 0) == 1
    assert percentile([0.1, 0.7, 0.3], 50) == 0.3


def test_percentile_does_not_depend_on_input_order() -> None:
    assert percentile([5, 1, 4, 2, 3], 80) == percentile([1, 2, 3, 4, 5], 80) == 4


def test_one_value_is_every_percentile() -> None:
    assert percentile([7.5], 1) == percentile([7.5], 99) == median([7.5]) == 7.5


def test_percentile_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1], 101)


def test_summary_orders_its_figures() -> None:
    summary = Summary.of([3, 1, 2, 10, 4])
    assert summary.count == 5
    assert summary.p50 <= summary.p95 <= summary.p99 <= summary.max == 10


def test_ratio_of_a_zero_baseline_is_infinite_not_an_error() -> None:
    assert ratio(2, 1) == 2
    assert math.isinf(ratio(1, 0))
