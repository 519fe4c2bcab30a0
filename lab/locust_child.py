"""Run one locust scenario against one server, in a process of its own.

``import locust`` monkey-patches the whole process with gevent, so the orchestrator never imports
it: it starts ``python -m lab.locust_child``, pinned to the generator's CPUs, and reads back one
JSON summary.  Driven through locust's library API (Environment, runner, events), not its CLI.

Every request's response time is recorded, in microseconds, into an HDR histogram from locust's
``request`` event, because locust's own percentiles are rounded to whole milliseconds.  Warm-up
requests are discarded: stats and histogram are reset when the measured window opens.

With ``--rate R`` the users send on a fixed schedule (R requests/s in total) instead of as fast as
answers come back, and each latency is counted from the request's intended start: time spent
waiting behind a slow answer is part of it (coordinated omission, handled as wrk2 does).

With ``--expect-workers N`` it is a locust master: the load comes from N ``lab.locust_worker``
processes (other cores or hosts), which send their histograms with every stats report (each
second), and the master merges them.  The measured window is then aligned to those reports.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import time
from pathlib import Path

import gevent
from hdrh.histogram import HdrHistogram
from locust.env import Environment
from locust.stats import StatsCSV

from lab.latency import PERCENTILES, new_histogram, record_ms, summarize
from loadtests.scenarios import SCENARIOS

MASTER_PORT = 5557
WORKERS_TIMEOUT_S = 60.0
HISTOGRAM_KEY = "lab_hdr"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True, help="base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--warmup", type=float, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--summary", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--csv-prefix", type=Path, required=True, help="locust CSV files prefix")
    parser.add_argument("--rate", type=float, default=None, help="fixed arrival rate, requests/s in total")
    parser.add_argument("--expect-workers", type=int, default=0,
                        help="run as a locust master for this many lab.locust_worker processes")
    return parser.parse_args(argv)


def paced(user_class, interval_s: float):
    """The scenario's user, sending on a fixed schedule of one task every ``interval_s``.

    ``wait_time`` sleeps until the next intended start; when the user is already late, it starts at
    once and ``lateness_ms`` (how late it is) travels with each request's context, to be added to
    the measured time.
    """
    class Paced(user_class):
        def on_start(self):
            super().on_start()
            self.next_start = time.perf_counter() + random.uniform(0, interval_s)  # spread the users
            self.lateness_ms = 0.0

        def wait_time(self):
            self.next_start += interval_s
            delay = self.next_start - time.perf_counter()
            self.lateness_ms = max(0.0, -delay * 1000)
            return max(0.0, delay)

        def context(self):
            return {"lateness_ms": self.lateness_ms}

    Paced.__name__ = user_class.__name__
    return Paced


def record_into(histogram: HdrHistogram):
    """A ``request`` event listener recording each response time (ms), plus any lateness, in µs."""
    def record(response_time, context=None, **_kwargs):
        record_ms(histogram, response_time + ((context or {}).get("lateness_ms") or 0.0))

    return record


def locust_latency_ms(env: Environment) -> dict[str, float] | None:
    """locust's own (bucketed, whole-ms) figures, kept beside the precise ones for comparison."""
    total = env.stats.total
    if not total.num_requests:
        return None
    figures = {name: float(total.get_response_time_percentile(p / 100)) for name, p in PERCENTILES.items()}
    figures["max"] = float(total.max_response_time)
    figures["mean"] = round(total.avg_response_time, 3)
    return figures


def failure_kinds(env: Environment) -> dict[str, int]:
    return {f"{e.method} {e.name}: {e.error}": e.occurrences for e in env.stats.errors.values()}


def write_csv(env: Environment, prefix: Path) -> None:
    """locust's own CSV files for the measured window (requests, failures, exceptions)."""
    writer = StatsCSV(env, [p / 100 for p in PERCENTILES.values()])
    for kind, write in (("stats", writer.requests_csv), ("failures", writer.failures_csv),
                        ("exceptions", writer.exceptions_csv)):
        with open(f"{prefix}_{kind}.csv", "w", newline="") as out:
            write(csv.writer(out))


def start_runner(env: Environment, histogram: HdrHistogram, expect_workers: int):
    """A local runner recording every request, or a master merging its workers' histograms."""
    if not expect_workers:
        env.events.request.add_listener(record_into(histogram))
        return env.create_local_runner()

    def merge(client_id, data):
        if data.get(HISTOGRAM_KEY):
            histogram.add(HdrHistogram.decode(data[HISTOGRAM_KEY]))

    env.events.worker_report.add_listener(merge)
    runner = env.create_master_runner(master_bind_port=MASTER_PORT)
    deadline = time.monotonic() + WORKERS_TIMEOUT_S
    while len(runner.clients.ready) < expect_workers:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(runner.clients.ready)} of {expect_workers} locust workers connected")
        gevent.sleep(0.1)
    return runner


def run(args: argparse.Namespace) -> dict:
    user_class = SCENARIOS[args.scenario]
    if args.rate:
        user_class = paced(user_class, interval_s=args.users / args.rate)
    env = Environment(user_classes=[user_class], host=args.host, catch_exceptions=True)
    histogram = new_histogram()
    runner = start_runner(env, histogram, args.expect_workers)
    runner.start(args.users, spawn_rate=args.users)
    gevent.sleep(args.warmup)
    env.stats.reset_all()
    histogram.reset()
    started = time.time()
    gevent.sleep(args.duration)
    ended = time.time()
    summary = {
        "measure_start": started,
        "measure_end": ended,
        "requests": env.stats.total.num_requests,
        "failures": env.stats.total.num_failures,
        "failure_kinds": failure_kinds(env),
        "latency_ms": summarize(histogram),
        "locust_latency_ms": locust_latency_ms(env),
        "user_exceptions": len(runner.exceptions),
        "workers": args.expect_workers,
    }
    write_csv(env, args.csv_prefix)
    runner.quit()
    return summary


def main(argv=None) -> None:
    args = parse_args(argv)
    summary = run(args)
    args.summary.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
