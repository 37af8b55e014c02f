import itertools
from collections.abc import Callable

from bench import loadgen, profiles, suite

COLLAPSED = """\
main (app.py:1);handle (app.py:10);serialize (json.py:5) 6
main (app.py:1);handle (app.py:12);parse (json.py:9) 3
main (app.py:1);idle (app.py:3) 1
"""


def test_inclusive_counts_a_frame_once_per_stack_and_merges_line_numbers() -> None:
    rows = {row.frame: row.share for row in profiles.inclusive(COLLAPSED)}
    assert rows["main (app.py)"] == 1.0
    assert rows["handle (app.py)"] == 0.9  # lines 10 and 12 are one function
    assert rows["serialize (json.py)"] == 0.6


def test_self_time_is_the_innermost_frame() -> None:
    rows = profiles.self_time(COLLAPSED)
    assert [(row.frame, row.samples) for row in rows] == [
        ("serialize (json.py)", 6),
        ("parse (json.py)", 3),
        ("idle (app.py)", 1),
    ]


def fake_step(rate: float, p99: float, errors: int = 0) -> suite.Step:
    result = loadgen.LoadResult(rate=rate, duration=1.0)
    result.outcomes = [loadgen.Outcome("get", i / rate, i / rate + 0.01, 200) for i in range(int(rate) - 1)]
    result.outcomes.append(loadgen.Outcome("get", 0.0, p99, 200))
    result.outcomes += [loadgen.Outcome("post", 0.0, 0.01, 503) for _ in range(errors)]
    return suite.Step(result, {})


def test_a_step_passes_only_with_p99_under_a_second_and_no_errors() -> None:
    assert fake_step(200, 0.5).passed()
    assert not fake_step(200, 0.5, errors=1).passed()
    slow = fake_step(200, 0.5)
    slow.result.outcomes = [loadgen.Outcome("get", 0.0, 1.5, 200)] * 10
    assert not slow.passed()


def test_peak_search_stops_at_the_first_failure_and_tries_halfway() -> None:
    capacity = 130  # the fake system: p99 explodes above this rate
    tried: list[float] = []

    def run(rate: float) -> suite.Step:
        tried.append(rate)
        return fake_step(rate, 0.2 if rate <= capacity else 3.0)

    peak, steps = suite.find_peak(run, [50, 100, 150, 200], lambda _: None)
    assert tried == [50, 100, 150, 125]
    assert peak == 125
    assert [rate for rate, _ in steps] == tried


def test_peak_rates_grow_geometrically_within_the_limit() -> None:
    rates = suite.peak_rates(50, 1.25, 200)
    assert rates[0] == 50 and rates[-1] <= 200
    assert all(b > a for a, b in itertools.pairwise(rates))


def test_the_read_back_verdict_tells_lost_payments_from_an_undrained_stack() -> None:
    step = fake_step(50, 0.1)
    step.read_back = loadgen.ReadBack(checked=10)
    assert step.read_back is not None and "none lost." in suite._read_back_line(step)
    step.read_back.errors = 2
    assert "none lost, **2 never readable**" in suite._read_back_line(step)
    step.read_back.missing = 1
    assert "**1 lost or changed**" in suite._read_back_line(step)


def test_peaks_of_several_systems_alternate_and_each_stops_at_its_own_failure() -> None:
    tried: list[tuple[str, float]] = []

    def system(name: str, capacity: float) -> Callable[[float], suite.Step]:
        def run(rate: float) -> suite.Step:
            tried.append((name, rate))
            return fake_step(rate, 0.2 if rate <= capacity else 3.0)

        return run

    peaks = suite.find_peaks({"a": system("a", 130), "b": system("b", 60)}, [50, 100, 150, 200], lambda _: None)

    assert peaks["a"][0] == 125 and peaks["b"][0] == 50  # b: 100 fails, then 75 too
    assert tried[:4] == [("a", 50), ("b", 50), ("a", 100), ("b", 100)]  # in turn
    assert [r for n, r in tried if n == "a"] == [50, 100, 150, 125]
    assert [r for n, r in tried if n == "b"] == [50, 100, 75]
