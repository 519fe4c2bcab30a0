"""A locust worker that serves one master after another: ``python -m lab.locust_worker --master-host H``.

The lab starts a fresh locust master (``lab.locust_child --expect-workers N``) for every cell, and
a master ends its workers when it quits.  This loop therefore runs one worker process per cell, for
as long as the container or shell that started it lives.  Each worker counts the requests that
complete inside the measured window the master opens and closes (``lab.locust_child.Window``),
then sends that window's counts and HDR histogram to the master, which adds them up.

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
    """Connect to the master, run the users it assigns, count the window it opens and closes, send
    that window's figures, and return when the master quits."""
    import locust.runners
    from locust.env import Environment

    from lab.locust_child import WINDOW_CLOSE, WINDOW_FIGURES, WINDOW_OPEN, Window
    from loadtests.scenarios import SCENARIOS

    locust.runners.WORKER_REPORT_INTERVAL = 1.0  # locust's own merged stats: 1 s edges, not 3 s
    users = [user for by_scenario in SCENARIOS.values() for user in by_scenario.values()]
    env = Environment(user_classes=users, catch_exceptions=True)
    window = Window()
    env.events.request.add_listener(window.record)
    runner = env.create_worker_runner(host, port)
    runner.register_message(WINDOW_OPEN, lambda environment, msg, **_: window.open())
    runner.register_message(WINDOW_CLOSE,
                            lambda environment, msg, **_: runner.send_message(WINDOW_FIGURES, window.close()))
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
