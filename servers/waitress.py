"""waitress: one process, an asyncore-style I/O loop handing requests to a pool of threads.

It has no worker processes, so ``--workers`` does not apply; ``--threads`` sizes its pool.
"""

import sys

from servers import Launch, ServerConfig


def waitress_argv(launch: Launch) -> list[str]:
    return [
        sys.executable, "-m", "waitress",
        f"--host={launch.host}",
        f"--port={launch.port}",
        f"--threads={launch.threads}",
        launch.target,
    ]


CONFIGS = [
    ServerConfig(
        name="waitress",
        distribution="waitress",
        model="one process: an I/O loop thread plus a pool of T worker threads, keep-alive",
        command=waitress_argv,
        notes=(
            "waitress serves at most about 100 connections by default (connection_limit=100); "
            "more users wait unaccepted",
            "one process: it cannot use more than one core for Python code (GIL)",
        ),
        uses_workers=False,
        uses_threads=True,
    ),
]
