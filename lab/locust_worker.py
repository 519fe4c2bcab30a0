"""A locust worker that serves one master after another: ``python -m lab.locust_worker --master-host H``.

The lab starts a fresh locust master (``lab.locust_child --expect-workers N``) for every cell, and
a master ends its workers when it quits.  This loop therefore runs one worker process per cell, for
as long as the container or shell that started it lives.  Each worker records its requests into an
HDR histogram and ships it with every stats report (each second), which the master merges.

Run it on other cores or other hosts to add load beyond one locust core (see README, Containers).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

PAUSE_BETWEEN_MASTERS_S = 0.5


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--master-host", required=True)
    parser.add_argument("--master-port", type=int, default=5557)
    parser.add_argument("--once", action="store_true", help="serve one master, then exit")
    return parser.parse_args(argv)


def serve_one_master(host: str, port: int) -> None:
    """Connect to the master, run the users it assigns, report, and return when it quits."""
    import locust.runners
    from locust.env import Environment

    from lab.latency import new_histogram
    from lab.locust_child import HISTOGRAM_KEY, record_into
    from loadtests.scenarios import SCENARIOS

    locust.runners.WORKER_REPORT_INTERVAL = 1.0  # a tighter window than locust's default 3 s
    env = Environment(user_classes=list(SCENARIOS.values()), catch_exceptions=True)
    histogram = new_histogram()
    env.events.request.add_listener(record_into(histogram))

    def ship(client_id, data):
        data[HISTOGRAM_KEY] = histogram.encode()
        histogram.reset()

    env.events.report_to_master.add_listener(ship)
    runner = env.create_worker_runner(host, port)
    runner.greenlet.join()


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.once:
        serve_one_master(args.master_host, args.master_port)
        return
    while True:  # a fresh process per master: locust keeps global state per process
        subprocess.call([sys.executable, "-m", "lab.locust_worker", "--once", "--master-host", args.master_host,
                         "--master-port", str(args.master_port)])
        time.sleep(PAUSE_BETWEEN_MASTERS_S)


if __name__ == "__main__":
    main()
