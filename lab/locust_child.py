"""Run one locust scenario against one server, in a process of its own.

``import locust`` monkey-patches the whole process with gevent, so the orchestrator never imports
it: it starts ``python -m lab.locust_child``, pinned to the generator's CPUs, and reads back one
JSON summary.  Driven through locust's library API (Environment, runner, events), not its CLI.

``--client`` picks the user classes: ``lean`` (``loadtests.lean``, the default) or ``fasthttp``
(locust's FastHttpUser); both run the same scenario data (``loadtests.catalog``).

The measured window is a ``Window``: it counts the requests that complete while it is open, and
records each response time, in microseconds, into an HDR histogram (locust's own percentiles are
rounded to whole milliseconds).  It opens after the warm-up and closes after ``--duration``.
It also counts ``silent_close_retries``: requests the lean client sent a second time because the
server closed a kept-alive connection without answering (uWSGI's ``--http-socket`` does).

With ``--rate R`` every request (not every task: sign-in sends two) has an intended start on a
fixed schedule, R requests/s in total (``loadtests.pacing``), and its latency is counted from that
intended start: time spent waiting behind a slow answer is part of it (coordinated omission,
handled as wrk2 does).

With ``--expect-workers N`` it is a locust master: the load comes from N ``lab.locust_worker``
processes (other cores or hosts), each with a ``Window`` of its own.  The master opens and closes
the workers' windows with locust custom messages, and each worker then sends its window's figures
(counts, failures, histogram, when it opened and closed) to the master, which adds them up.  Only
requests a worker saw complete inside its own window count: neither warm-up nor a stats report in
flight leaks in.  locust's own statistics (CSV files, ``locust_latency_ms``) are merged from the
workers' periodic reports and so stay approximate at the window's edges.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import gevent
from hdrh.histogram import HdrHistogram
from locust.env import Environment
from locust.stats import StatsCSV, StatsError

from lab.latency import PERCENTILES, new_histogram, record_ms, summarize
from loadtests.lean import SILENT_CLOSE_RETRY
from loadtests.scenarios import CLIENTS, SCENARIOS, paced

MASTER_PORT = 5557
WORKERS_TIMEOUT_S = 60.0
WINDOW_OPEN, WINDOW_CLOSE, WINDOW_FIGURES = "lab_window_open", "lab_window_close", "lab_window_figures"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True, help="base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--scenario", required=True, choices=sorted(SCENARIOS["lean"]))
    parser.add_argument("--client", choices=CLIENTS, default="lean", help="locust user classes to use")
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--warmup", type=float, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--summary", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--csv-prefix", type=Path, required=True, help="locust CSV files prefix")
    parser.add_argument("--rate", type=float, default=None, help="fixed arrival rate, requests/s in total")
    parser.add_argument("--expect-workers", type=int, default=0,
                        help="run as a locust master for this many lab.locust_worker processes")
    parser.add_argument("--web-ui", default=None, metavar="HOST:PORT",
                        help="serve locust's web UI, read-only, while this cell runs (lab.live)")
    return parser.parse_args(argv)


class Window:
    """Counts what completes while open: requests, failures by kind, and each latency (plus any
    lateness behind its intended start) in an HDR histogram.  A ``request`` event listener."""

    def __init__(self):
        self.histogram = new_histogram()
        self.counting = False
        self.opened = self.closed = self.first_done = self.last_done = None
        self.requests = self.failures = self.silent_close_retries = 0
        self.failure_kinds: dict[str, int] = {}

    def open(self) -> None:
        self.opened, self.counting = time.time(), True

    def close(self) -> dict:
        self.counting, self.closed = False, time.time()
        return self.figures()

    def record(self, request_type, name, response_time, context=None, exception=None, **_kwargs) -> None:
        if not self.counting:
            return
        self.requests += 1
        self.last_done = time.time()
        self.first_done = self.first_done or self.last_done
        context = context or {}
        record_ms(self.histogram, response_time + (context.get("lateness_ms") or 0.0))
        if SILENT_CLOSE_RETRY in context:
            self.silent_close_retries += 1
        if exception:
            self.failures += 1
            kind = f"{request_type} {name}: {StatsError.parse_error(exception)}"
            self.failure_kinds[kind] = self.failure_kinds.get(kind, 0) + 1

    def figures(self) -> dict:
        """What a worker sends its master (the histogram base64-encoded, as HdrHistogram does)."""
        return {"requests": self.requests, "failures": self.failures, "failure_kinds": self.failure_kinds,
                "silent_close_retries": self.silent_close_retries,
                "opened": self.opened, "closed": self.closed, "first_done": self.first_done,
                "last_done": self.last_done, "histogram": self.histogram.encode()}


def merged(windows: list[dict]) -> dict:
    """The workers' windows added up: counts, failure kinds and one histogram."""
    histogram = new_histogram()
    kinds: dict[str, int] = {}
    for window in windows:
        histogram.add(HdrHistogram.decode(window["histogram"]))
        for kind, count in window["failure_kinds"].items():
            kinds[kind] = kinds.get(kind, 0) + count
    return {"requests": sum(w["requests"] for w in windows), "failures": sum(w["failures"] for w in windows),
            "failure_kinds": kinds, "silent_close_retries": sum(w["silent_close_retries"] for w in windows),
            "latency_ms": summarize(histogram)}


def locust_latency_ms(env: Environment) -> dict[str, float] | None:
    """locust's own (bucketed, whole-ms) figures, kept beside the precise ones for comparison."""
    total = env.stats.total
    if not total.num_requests:
        return None
    figures = {name: float(total.get_response_time_percentile(p / 100)) for name, p in PERCENTILES.items()}
    figures["max"] = float(total.max_response_time)
    figures["mean"] = round(total.avg_response_time, 3)
    return figures


def write_csv(env: Environment, prefix: Path) -> None:
    """locust's own CSV files for the measured window (requests, failures, exceptions)."""
    writer = StatsCSV(env, [p / 100 for p in PERCENTILES.values()])
    for kind, write in (("stats", writer.requests_csv), ("failures", writer.failures_csv),
                        ("exceptions", writer.exceptions_csv)):
        with open(f"{prefix}_{kind}.csv", "w", newline="") as out:
            write(csv.writer(out))


def wait_until(condition, what: str, timeout: float) -> None:
    """Poll ``condition`` (yielding to gevent) until true; exit with ``what`` past the deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(what)
        gevent.sleep(0.05)


class LocalLoad:
    """Users in this process; the window listens to their requests here."""

    def __init__(self, env: Environment):
        self.window = Window()
        env.events.request.add_listener(self.window.record)
        self.env, self.runner = env, env.create_local_runner()

    def open(self) -> None:
        self.env.stats.reset_all()
        self.window.open()

    def close(self) -> dict:
        figures = self.window.close()
        return {**merged([figures]), "windows": [strip_histogram(figures)]}


class MasterLoad:
    """Users in ``expected`` worker processes; their windows are opened, closed and collected."""

    def __init__(self, env: Environment, expected: int):
        self.env, self.expected, self.windows = env, expected, []
        self.runner = env.create_master_runner(master_bind_port=MASTER_PORT)
        self.runner.register_message(WINDOW_FIGURES, lambda environment, msg, **_: self.windows.append(msg.data))
        wait_until(lambda: len(self.runner.clients.ready) >= expected,
                   f"only {len(self.runner.clients.ready)} of {expected} locust workers connected", WORKERS_TIMEOUT_S)

    def open(self) -> None:
        self.env.stats.reset_all()
        self.runner.send_message(WINDOW_OPEN)

    def close(self) -> dict:
        self.runner.send_message(WINDOW_CLOSE)
        wait_until(lambda: len(self.windows) >= self.expected,
                   f"{len(self.windows)} of {self.expected} locust workers sent their window", WORKERS_TIMEOUT_S)
        return {**merged(self.windows), "windows": [strip_histogram(w) for w in self.windows]}


def strip_histogram(window: dict) -> dict:
    return {key: value for key, value in window.items() if key != "histogram"}


def serve_web_ui(env: Environment, address: str):
    """locust's web UI for watching this cell (``--live``): its charts and tables.  Every request
    that would change the test (start, stop, reset, user count: all POST) is refused."""
    from flask import abort, request

    def refuse_changes():
        if request.method not in ("GET", "HEAD"):
            abort(403, "read-only: the lab drives this test")

    host, _, port = address.rpartition(":")
    sys.argv[1:] = []  # the UI parses sys.argv with locust's own parser, which refuses our flags
    web_ui = env.create_web_ui(host, int(port))
    web_ui.app.before_request(refuse_changes)
    return web_ui


def user_class(args: argparse.Namespace) -> type:
    chosen = SCENARIOS[args.client][args.scenario]
    return paced(chosen, interval_s=args.users / args.rate) if args.rate else chosen


def run(args: argparse.Namespace) -> dict:
    env = Environment(user_classes=[user_class(args)], host=args.host, catch_exceptions=True)
    load = MasterLoad(env, args.expect_workers) if args.expect_workers else LocalLoad(env)
    web_ui = serve_web_ui(env, args.web_ui) if args.web_ui else None
    load.runner.start(args.users, spawn_rate=args.users)
    gevent.sleep(args.warmup)
    load.open()
    started, cpu_started = time.time(), time.process_time()
    gevent.sleep(args.duration)
    ended, cpu_s = time.time(), time.process_time() - cpu_started
    window = load.close()
    summary = {"measure_start": started, "measure_end": ended, "client": args.client, **window,
               "process_cpu_s": round(cpu_s, 3),
               "locust_latency_ms": locust_latency_ms(env), "user_exceptions": len(load.runner.exceptions),
               "workers": args.expect_workers}
    write_csv(env, args.csv_prefix)
    load.runner.quit()
    if web_ui:
        web_ui.stop()
    return summary


def main(argv=None) -> None:
    args = parse_args(argv)
    summary = run(args)
    args.summary.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
