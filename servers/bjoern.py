"""bjoern: a C server on libev, one process and one thread, keep-alive.

With more than one worker the lab forks that many processes, each with its own listening socket
bound with ``SO_REUSEPORT`` so the kernel spreads connections over them (bjoern's own advice for
using several cores).  The parent only waits and forwards SIGTERM; bjoern handles nothing but
SIGINT itself, so a worker ends on the default SIGTERM action.
"""

import functools
import os
import signal

from servers import ServerConfig, own_argv, serve_main


def serve_one(app, host: str, port: int, reuse_port: bool) -> None:
    import bjoern  # imported here so the lab can list this server on machines without libev

    bjoern.server_run(bjoern.bind_and_listen(host, port, reuse_port=reuse_port), app)


def serve(app, host: str, port: int, workers: int, variant: str = "") -> None:
    """Serve in this process, or fork ``workers`` processes sharing the port via SO_REUSEPORT."""
    if workers == 1:
        serve_one(app, host, port, reuse_port=False)
        return
    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            serve_one(app, host, port, reuse_port=True)
            os._exit(0)
        children.append(pid)

    def forward(signum, frame):
        for child in children:
            try:
                os.kill(child, signum)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for child in children:
        os.waitpid(child, 0)


CONFIGS = [
    ServerConfig(
        name="bjoern",
        distribution="bjoern",
        model="N single-threaded processes (libev event loop in C), SO_REUSEPORT when N > 1, "
        "keep-alive",
        command=functools.partial(own_argv, "servers.bjoern"),
        notes=(
            "bjoern sends no Date or Server header",
            "bjoern's last release (3.2.2) dates from 2022; its CI stops at Python 3.10",
        ),
    ),
]

if __name__ == "__main__":
    serve_main(serve)
