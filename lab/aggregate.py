"""From measured rounds to a cell's figures: one round's raw summary, then the medians of rounds.

A cell is measured once per round (``--repeat``).  Each round's figures are kept in
``cell.repeats``; the cell's own figures are their medians (totals for counts), with the spread of
rps, p99 and wrk rps, so no round is hidden and none is picked as "the best".
"""

from __future__ import annotations

import statistics
from collections import Counter

from lab import limits, stats
from lab.results import Cell
from lab.sampler import cpu_seconds_between, mean

#: Little's law: a closed loop of N users keeps N requests in flight (rps x mean latency = N).
#: A cell whose achieved concurrency differs from its users by more than this is flagged.
LITTLES_LAW_TOLERANCE_PCT = 20.0

MEDIAN_FIGURES = ("duration_s", "rps", "server_cpu_pct", "server_rss_mb", "server_processes",
                  "server_rss_per_process_mb", "cpu_us_per_request", "concurrency", "littles_law_gap_pct",
                  "server_cores_busy_pct", "server_wait_pct", "generator_cpu_pct", "generator_wait_pct", "generator_cores_busy_pct", "wrk_rps")
MEDIAN_LATENCIES = ("latency_ms", "locust_latency_ms", "wrk_latency_ms")
TOTALS = ("requests", "failures", "wrk_errors")
FIRST_ROUND = ("samples", "csv_prefix", "wrk_note", "locust_workers")


def cpu_us_per_request(samples: list[dict], summary: dict) -> float | None:
    """Server CPU time (user + system, every process) per request, in µs.

    The CPU seconds come from the samples that bracket the measured window, and are divided by the
    requests sent over that same (slightly longer) interval at the window's rate.  Unlike rps, this
    ranks efficiency even when the load generator is the limit.
    """
    used = cpu_seconds_between(samples, summary["measure_start"], summary["measure_end"])
    duration = summary["measure_end"] - summary["measure_start"]
    if not used or not summary["requests"] or used[1] <= 0:
        return None
    requests_in_interval = summary["requests"] / duration * used[1]
    return round(used[0] / requests_in_interval * 1e6, 1)


def achieved_concurrency(requests_per_s: float, latency_ms: dict | None) -> float | None:
    """Requests in flight on average, by Little's law: arrival rate x mean time in the system."""
    if not latency_ms or latency_ms.get("mean") is None:
        return None
    return round(requests_per_s * latency_ms["mean"] / 1000, 2)


def littles_law_gap_pct(concurrency: float | None, users: int, rate: float | None) -> float | None:
    """How far the achieved concurrency is from the users in a closed loop (None in rate mode)."""
    if concurrency is None or rate:
        return None
    return round((concurrency - users) / users * 100, 1)


def round_figures(summary: dict, measured: list[dict], samples: list[dict], users: int,
                  rate: float | None) -> dict:
    """One round: the generator's summary and the resources sampled inside its measured window."""
    duration = summary["measure_end"] - summary["measure_start"]
    answered = summary["requests"] - summary["failures"]
    rss, processes = mean(measured, "server_rss_mb"), mean(measured, "server_processes")
    concurrency = achieved_concurrency(summary["requests"] / duration, summary["latency_ms"])
    return {
        "duration_s": round(duration, 3),
        "requests": summary["requests"],
        "failures": summary["failures"] + summary["user_exceptions"],
        "failure_kinds": summary["failure_kinds"],
        "locust_workers": summary["workers"],
        "rps": round(answered / duration, 1),
        "latency_ms": summary["latency_ms"],
        "locust_latency_ms": summary["locust_latency_ms"],
        "server_cpu_pct": mean(measured, "server_cpu_pct"),
        "server_rss_mb": rss,
        "server_processes": processes,
        "server_rss_per_process_mb": round(rss / processes, 1) if rss and processes else None,
        "cpu_us_per_request": cpu_us_per_request(samples, summary),
        "concurrency": concurrency,
        "littles_law_gap_pct": littles_law_gap_pct(concurrency, users, rate),
        "server_cores_busy_pct": mean(measured, "server_cores_busy_pct"),
        "server_wait_pct": mean(measured, "server_wait_pct"),
        "generator_cpu_pct": mean(measured, "generator_cpu_pct"),
        "generator_wait_pct": mean(measured, "generator_wait_pct"),
        "generator_cores_busy_pct": mean(measured, "generator_cores_busy_pct"),
    }


def median_of(values: list) -> float | None:
    present = [value for value in values if value is not None]
    return round(statistics.median(present), 3) if present else None


def median_latency(rounds: list[dict], key: str) -> dict | None:
    tables = [r[key] for r in rounds if r.get(key)]
    if not tables:
        return None
    return {name: median_of([table.get(name) for table in tables]) for name in tables[0]}


def apply_rounds(cell: Cell, setting: limits.Setting) -> None:
    """Set the cell's figures from its rounds: medians, totals, spread, the noisy flag, and the limit
    of every round and of the cell (``lab.limits``, with the run's CPU sets and calibration)."""
    rounds = cell.repeats
    for key in MEDIAN_FIGURES:
        setattr(cell, key, median_of([r.get(key) for r in rounds]))
    for key in MEDIAN_LATENCIES:
        setattr(cell, key, median_latency(rounds, key))
    for key in TOTALS:
        values = [r[key] for r in rounds if r.get(key) is not None]
        setattr(cell, key, sum(values) if values else None)
    for key in FIRST_ROUND:
        setattr(cell, key, rounds[0].get(key))
    cell.failure_kinds = dict(sum((Counter(r.get("failure_kinds") or {}) for r in rounds), Counter()))
    cell.spread = {"rps": stats.spread([r.get("rps") for r in rounds]),
                   "p99": stats.spread([(r.get("latency_ms") or {}).get("p99") for r in rounds]),
                   "wrk_rps": stats.spread([r.get("wrk_rps") for r in rounds])}
    cell.noisy = stats.is_noisy(cell.spread["rps"])
    limits.apply(cell, setting)


def noise_floor(cells: list[Cell]) -> dict | None:
    """The run's noise floor: how far apart the A/A pair (one cell measured twice) came out.

    Differences between servers smaller than this are not evidence of anything.
    """
    twins = [cell for cell in cells if cell.aa_twin and cell.ok]
    if not twins:
        return None
    twin = twins[0]
    originals = [cell for cell in cells if not cell.aa_twin and cell.ok and
                 (cell.server, cell.scenario, cell.users, cell.workers, cell.threads) ==
                 (twin.server, twin.scenario, twin.users, twin.workers, twin.threads)]
    if not originals:
        return None
    original = originals[0]

    def gap(a: float | None, b: float | None) -> float | None:
        return round(abs(a - b) / ((a + b) / 2) * 100, 2) if a and b else None

    return {"server": twin.server, "scenario": twin.scenario, "users": twin.users,
            "rps_diff_pct": gap(original.rps, twin.rps),
            "p99_diff_pct": gap((original.latency_ms or {}).get("p99"), (twin.latency_ms or {}).get("p99")),
            "cpu_us_per_request_diff_pct": gap(original.cpu_us_per_request, twin.cpu_us_per_request)}
