"""``lab.stats`` and ``lab.latency`` on fixed data, against hand-computed values.

Every judgement the lab prints (noisy, knee, faster/slower, generator ceiling, percentiles) comes
from these functions, so each rule is pinned here at and around its threshold.
"""

from __future__ import annotations

import math

import pytest

from lab import latency, stats

# ------------------------------------------------------------------------------------------------
# spread
# ------------------------------------------------------------------------------------------------


def test_spread_of_three_values():
    # mean 100, sample stdev sqrt((10² + 0² + 10²) / 2) = 10, so CV = 10 %.
    assert stats.spread([110.0, 90.0, 100.0]) == {"n": 3, "median": 100.0, "min": 90.0, "max": 110.0,
                                                  "cv_pct": 10.0}


def test_spread_of_an_even_count_takes_the_middle_mean_and_rounds_cv():
    # mean 2.5, sample stdev sqrt(5 / 3) = 1.290994..., CV = 51.6398 % -> 51.64.
    figures = stats.spread([4, 1, 3, 2])
    assert figures["median"] == 2.5
    assert (figures["min"], figures["max"], figures["n"]) == (1, 4, 4)
    assert figures["cv_pct"] == 51.64


def test_spread_uses_the_sample_not_the_population_stdev():
    # Population stdev of [1, 3] is 1 (CV 50 %); the sample stdev is sqrt(2) (CV 70.71 %).
    assert stats.spread([1.0, 3.0])["cv_pct"] == 70.71


def test_spread_of_one_value_has_no_cv():
    assert stats.spread([1234.5]) == {"n": 1, "median": 1234.5, "min": 1234.5, "max": 1234.5, "cv_pct": None}


def test_spread_skips_missing_values():
    figures = stats.spread([None, 10.0, None, 20.0])
    assert figures["n"] == 2
    assert figures["median"] == 15.0
    assert figures["cv_pct"] == round(math.sqrt(50) / 15 * 100, 2)  # 47.14


@pytest.mark.parametrize("values", [[], [None], [None, None]])
def test_spread_of_nothing_is_none(values):
    assert stats.spread(values) is None


def test_spread_of_zeros_has_no_cv():
    assert stats.spread([0.0, 0.0])["cv_pct"] is None


# ------------------------------------------------------------------------------------------------
# is_noisy
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cv, noisy", [(0.0, False), (4.99, False), (5.0, False), (5.01, True), (30.0, True)])
def test_is_noisy_threshold_is_strictly_above_five_percent(cv, noisy):
    assert stats.NOISY_CV_PCT == 5.0
    assert stats.is_noisy({"n": 3, "median": 1, "min": 1, "max": 1, "cv_pct": cv}) is noisy


def test_is_noisy_without_a_cv_or_figures():
    assert stats.is_noisy(None) is False
    assert stats.is_noisy({}) is False
    assert stats.is_noisy(stats.spread([100.0])) is False


def test_is_noisy_with_a_custom_threshold_and_real_spread():
    figures = stats.spread([90.0, 100.0, 110.0])  # CV 10 %
    assert stats.is_noisy(figures) is True
    assert stats.is_noisy(figures, threshold_pct=10.0) is False
    assert stats.is_noisy(figures, threshold_pct=9.99) is True


# ------------------------------------------------------------------------------------------------
# knee
# ------------------------------------------------------------------------------------------------


def step(users: int, p99: float, error_pct: float = 0.0, rps: float = 1000.0) -> dict:
    return {"users": users, "rps": rps, "p99": p99, "error_pct": error_pct}


def test_knee_at_a_p99_jump():
    steps = [step(8, 2.0), step(16, 3.0), step(32, 6.5), step(64, 40.0)]
    assert stats.knee(steps) == step(16, 3.0)


def test_knee_p99_factor_is_inclusive():
    assert stats.knee([step(8, 2.0), step(16, 4.0)]) == step(8, 2.0)  # exactly 2x
    assert stats.knee([step(8, 2.0), step(16, 3.99)]) is None


def test_knee_at_an_error_jump():
    steps = [step(8, 2.0), step(16, 2.1, 0.0), step(32, 2.2, 0.5), step(64, 2.3, 2.0)]
    assert stats.knee(steps) == step(32, 2.2, 0.5)


def test_knee_error_threshold_is_inclusive():
    assert stats.knee([step(8, 2.0, 0.99), step(16, 2.0, 1.0)]) == step(8, 2.0, 0.99)
    assert stats.knee([step(8, 2.0, 0.0), step(16, 2.0, 0.99)]) is None


def test_no_knee_when_the_server_keeps_up():
    steps = [step(8, 2.0), step(16, 2.4), step(32, 3.9), step(64, 7.5, 0.9)]  # each rise < 2x, errors < 1 %
    assert stats.knee(steps) is None


def test_knee_sorts_steps_by_users():
    # Walked in the given order, 32 -> 16 -> 8 never rises; sorted, 16 -> 32 jumps 5x.
    steps = [step(32, 10.0), step(8, 1.8), step(16, 2.0)]
    assert stats.knee(steps) == step(16, 2.0)


@pytest.mark.parametrize("steps", [[], [step(8, 2.0)]])
def test_no_knee_with_fewer_than_two_steps(steps):
    assert stats.knee(steps) is None


def test_knee_ignores_a_zero_p99_base():
    # A p99 of 0 cannot be multiplied into a jump; only errors can mark the knee after it.
    assert stats.knee([step(8, 0.0), step(16, 5.0)]) is None


# ------------------------------------------------------------------------------------------------
# verdict
# ------------------------------------------------------------------------------------------------


def figures(low: float, median: float, high: float, n: int = 3) -> dict:
    return {"n": n, "median": median, "min": low, "max": high, "cv_pct": 1.0}


BEFORE = figures(90, 100, 110)


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_overlapping_ranges_are_within_noise(higher_is_better):
    assert stats.verdict(BEFORE, figures(105, 112, 120), higher_is_better) == "within noise"
    assert stats.verdict(BEFORE, figures(80, 95, 100), higher_is_better) == "within noise"
    assert stats.verdict(BEFORE, figures(50, 100, 150), higher_is_better) == "within noise"  # contains it
    assert stats.verdict(BEFORE, figures(110, 115, 120), higher_is_better) == "within noise"  # touching


def test_separated_higher_figure():
    higher = figures(111, 125, 130)
    assert stats.verdict(BEFORE, higher, higher_is_better=True) == "faster"  # more rps
    assert stats.verdict(BEFORE, higher, higher_is_better=False) == "slower"  # more latency


def test_separated_lower_figure():
    lower = figures(70, 75, 89.9)
    assert stats.verdict(BEFORE, lower, higher_is_better=True) == "slower"  # fewer rps
    assert stats.verdict(BEFORE, lower, higher_is_better=False) == "faster"  # less latency


def test_verdict_is_judged_on_real_spreads():
    assert stats.verdict(stats.spread([990, 1000, 1010]), stats.spread([1190, 1200, 1210]), True) == "faster"
    assert stats.verdict(stats.spread([2.0, 2.1, 1.9]), stats.spread([5.0, 4.9, 5.1]), False) == "slower"


@pytest.mark.parametrize("n_before, n_after", [(1, 3), (3, 1), (1, 1)])
def test_verdict_needs_two_repeats_on_both_sides(n_before, n_after):
    before, after = figures(100, 100, 100, n_before), figures(500, 500, 500, n_after)
    assert stats.verdict(before, after, True) == "no repeats to judge noise"


@pytest.mark.parametrize("before, after", [(None, BEFORE), (BEFORE, None), ({}, BEFORE), (None, None)])
def test_verdict_without_figures(before, after):
    assert stats.verdict(before, after, True) == "not comparable"


# ------------------------------------------------------------------------------------------------
# change_pct
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("before, after, expected", [
    (100, 120, 20.0), (100, 80, -20.0), (3, 4, 33.3), (3, 2, -33.3), (1000, 1000, 0.0), (2.0, 5.0, 150.0),
    (0, 5, None), (0.0, 5, None), (None, 5, None), (5, None, None),
])
def test_change_pct(before, after, expected):
    assert stats.change_pct(before, after) == expected


# ------------------------------------------------------------------------------------------------
# latency.summarize on an HDR histogram
# ------------------------------------------------------------------------------------------------

#: 3 significant digits: a reported value is at most ~0.1 % above the recorded one (HDR reports the
#: highest value of a value's bucket), never below it.
HDR_PRECISION = 0.001


def within_hdr(reported_ms: float, true_ms: float) -> bool:
    return true_ms <= reported_ms <= true_ms * (1 + HDR_PRECISION) + 0.001


@pytest.fixture(scope="module")
def uniform_10ms() -> dict:
    """1 .. 10 000 µs, each once: the p-th percentile is p % of 10 ms."""
    histogram = latency.new_histogram()
    for us in range(1, 10_001):
        histogram.record_value(us)
    return latency.summarize(histogram)


def test_summary_keys(uniform_10ms):
    assert set(uniform_10ms) == {"p50", "p90", "p99", "p999", "p9999", "max", "mean"}


@pytest.mark.parametrize("name, true_ms", [("p50", 5.0), ("p90", 9.0), ("p99", 9.9), ("p999", 9.99),
                                           ("p9999", 9.999), ("max", 10.0)])
def test_percentiles_within_hdr_precision(uniform_10ms, name, true_ms):
    assert within_hdr(uniform_10ms[name], true_ms), (name, uniform_10ms[name])


def test_mean(uniform_10ms):
    assert uniform_10ms["mean"] == pytest.approx(5.0005, abs=0.005)


def test_values_below_2048_us_are_exact():
    # Below 2 048 µs HDR's buckets are 1 µs wide at 3 significant digits: nothing is rounded.
    histogram = latency.new_histogram()
    for us in range(1, 1001):
        histogram.record_value(us)
    summary = latency.summarize(histogram)
    assert summary == {"p50": 0.5, "p90": 0.9, "p99": 0.99, "p999": 0.999, "p9999": 1.0, "max": 1.0,
                       "mean": 0.5}


def test_record_ms_converts_and_clamps():
    histogram = latency.new_histogram()
    latency.record_ms(histogram, 1.5)
    latency.record_ms(histogram, 0.0001)  # below 1 µs -> 1 µs
    latency.record_ms(histogram, 120_000)  # above 60 s -> 60 s
    assert histogram.get_total_count() == 3
    summary = latency.summarize(histogram)
    assert summary["p50"] == 1.5
    assert within_hdr(summary["max"], 60_000.0)
    assert histogram.get_min_value() == 1


def test_empty_histogram_is_none():
    assert latency.summarize(latency.new_histogram()) is None


def test_knee_leaves_out_failed_steps():
    steps = [
        {"users": 1, "rps": 100.0, "p99": 1.0, "error_pct": 0.0},
        {"users": 8, "rps": 700.0, "p99": None, "error_pct": None},  # a failed cell: no figures
        {"users": 32, "rps": 110.0, "p99": 5.0, "error_pct": 0.0},
    ]
    assert stats.knee(steps)["users"] == 1


def test_latency_bought_with_throughput_is_no_knee():
    # 1 -> 16 users: p99 x2 but rps x2.75, the server scaled; 16 -> 64: rps x1.16, p99 x3: the knee.
    steps = [step(1, 5.36, rps=1259.0), step(16, 10.78, rps=3464.0), step(64, 32.58, rps=4029.0)]
    assert stats.knee(steps)["users"] == 16
