"""granian: a Rust HTTP server (hyper on tokio) with a WSGI interface.

A main process starts ``--workers`` worker processes, each a Python interpreter with its own Rust
I/O runtime (one runtime thread, granian's default) that parses HTTP and hands each request to a
pool of ``--blocking-threads`` Python threads running the app; keep-alive.  The lab sizes that pool
with ``--threads``, as for gunicorn's gthread.  Backpressure (how many connections a worker
accepts before it leaves the rest in the kernel's queue) stays at granian's default and is stated
in the notes.  Access logs are off (granian's default) and its own log stays at warnings.
"""

import sys

from servers import Launch, ServerConfig

#: granian's default listen backlog; its default backpressure per worker is this divided by workers.
BACKLOG = 1024


def granian_argv(launch: Launch) -> list[str]:
    return [
        sys.executable, "-m", "granian",
        "--interface", "wsgi",
        "--host", launch.host,
        "--port", str(launch.port),
        "--workers", str(launch.workers),
        "--blocking-threads", str(launch.threads),
        "--log-level", "warning",
        launch.target,
    ]


CONFIGS = [
    ServerConfig(
        name="granian",
        distribution="granian",
        model="main process + N worker processes, each a Rust I/O runtime handing requests to "
        "T blocking Python threads, keep-alive",
        command=granian_argv,
        notes=(
            f"granian's backpressure is left at its default, backlog / workers = {BACKLOG} / N "
            "connections per worker: connections beyond it wait unaccepted in the kernel queue",
            "the main process is counted in CPU and RSS",
        ),
        uses_threads=True,
    ),
]
