"""``python -m servers NAME``: serve the app with one server configuration, as a container does.

It builds the same command line the lab's local runs use and replaces itself with it (``exec``), so
the server is the container's main process and receives its signals.  Workers default to the CPUs
this process may run on (``sched_getaffinity``, which honours a container's cpuset, unlike
``os.cpu_count()``).
"""

import argparse
import os
import shlex

from app import FLAVOURS
from servers import Launch, discover

#: First line a server container logs: the exact command it then executes (the lab records it).
SERVING_WITH = "serving with: "


def main(argv: list[str] | None = None) -> None:
    configs = discover()
    parser = argparse.ArgumentParser(prog="python -m servers", description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(configs))
    parser.add_argument("--host", default=os.environ.get("LAB_HOST", "0.0.0.0"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("LAB_PORT", "8000")))
    parser.add_argument("--workers", type=int, default=0, help="0 = one per available CPU")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--app", default="raw", help="raw, flask or module:callable")
    args = parser.parse_args(argv)
    workers = args.workers or len(os.sched_getaffinity(0))
    launch = Launch(FLAVOURS.get(args.app, args.app), args.host, args.port, workers, args.threads)
    command = configs[args.name].argv(launch)
    print(f"{SERVING_WITH}{shlex.join(command)}", flush=True)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
