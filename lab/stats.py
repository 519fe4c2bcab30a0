"""The statistics behind every judgement the lab prints, as small pure functions on plain numbers.

They are unit-tested on fixed data: spread of repeats (median, min-max, coefficient of variation),
the noisy flag, a server's knee in a concurrency sweep and the verdict of a comparison.  What capped
a cell (generator, server or load) is decided in ``lab.limits`` alone.
"""

from __future__ import annotations

import statistics

#: Repeats whose rps varies more than this (coefficient of variation, %) are flagged as noisy.
NOISY_CV_PCT = 5.0
#: In a sweep, p99 rising this many times more than throughput from one step to the next marks the
#: knee (more users always queue; the knee is where they buy latency and no more throughput)...
KNEE_P99_FACTOR = 2.0
#: ...as does the share of failed requests reaching this percentage.
KNEE_ERROR_PCT = 1.0


def spread(values: list[float]) -> dict | None:
    """Median, min, max and coefficient of variation (sample stdev / mean, %) of repeated figures."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    mean = statistics.fmean(values)
    cv = statistics.stdev(values) / mean * 100 if len(values) > 1 and mean else None
    return {"n": len(values), "median": round(statistics.median(values), 3), "min": min(values), "max": max(values),
            "cv_pct": None if cv is None else round(cv, 2)}


def is_noisy(figures: dict | None, threshold_pct: float = NOISY_CV_PCT) -> bool:
    return bool(figures and figures["cv_pct"] is not None and figures["cv_pct"] > threshold_pct)


def knee(steps: list[dict]) -> dict | None:
    """The last step before p99 latency or errors rise sharply, in a sweep sorted by users.

    Sharply: at the next step p99 grew at least ``KNEE_P99_FACTOR`` times more than rps did (e.g.
    rps x1.1 while p99 x2.2), or failed requests reached ``KNEE_ERROR_PCT``.

    ``steps`` are ``{"users", "rps", "p99", "error_pct"}``; steps without a p99 (failed cells) are
    left out.  Returns the knee step, or None when no step rises sharply (the server kept up over
    the whole sweep, or was already past its knee at the first step) or there are fewer than 2.
    """
    measured = [step for step in steps if step.get("p99") is not None]  # failed steps have no figures
    ordered = sorted(measured, key=lambda step: step["users"])
    for before, after in zip(ordered, ordered[1:]):
        gain = after["rps"] / before["rps"] if before.get("rps") and after.get("rps") else 1.0
        p99_jump = before["p99"] and after["p99"] / before["p99"] >= KNEE_P99_FACTOR * max(gain, 1.0)
        errors = (after.get("error_pct") or 0) >= KNEE_ERROR_PCT > (before.get("error_pct") or 0)
        if p99_jump or errors:
            return before
    return None


def verdict(before: dict | None, after: dict | None, higher_is_better: bool) -> str:
    """``faster``, ``slower`` or ``within noise`` for one figure of two runs, judged on repeats.

    Two runs differ only when their min-max ranges over the repeats do not overlap; without at
    least two repeats on both sides there is no noise to judge against.
    """
    if not before or not after:
        return "not comparable"
    if before["n"] < 2 or after["n"] < 2:
        return "no repeats to judge noise"
    if after["min"] <= before["max"] and before["min"] <= after["max"]:
        return "within noise"
    improved = after["median"] > before["median"]
    return "faster" if improved == higher_is_better else "slower"


def change_pct(before: float | None, after: float | None) -> float | None:
    if before in (None, 0) or after is None:
        return None
    return round((after - before) / before * 100, 1)
