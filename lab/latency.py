"""Latency percentiles from an HDR histogram of per-request times recorded in microseconds."""

from __future__ import annotations

from hdrh.histogram import HdrHistogram

#: Name in the result document -> percentile.
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9, "p9999": 99.99}
MAX_RESPONSE_US = 60_000_000


def new_histogram() -> HdrHistogram:
    """1 µs to 60 s at 3 significant digits: sub-millisecond latencies keep their precision."""
    return HdrHistogram(1, MAX_RESPONSE_US, 3)


def record_ms(histogram: HdrHistogram, milliseconds: float) -> None:
    histogram.record_value(min(MAX_RESPONSE_US, max(1, int(milliseconds * 1000))))


def summarize(histogram: HdrHistogram) -> dict[str, float] | None:
    """Percentiles, mean and max in ms (µs resolution), or None for an empty histogram."""
    if histogram.get_total_count() == 0:
        return None
    figures = {name: histogram.get_value_at_percentile(p) / 1000 for name, p in PERCENTILES.items()}
    figures["max"] = histogram.get_max_value() / 1000
    figures["mean"] = round(histogram.get_mean_value() / 1000, 3)
    return figures
